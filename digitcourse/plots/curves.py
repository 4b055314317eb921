"""Learning curves: metrics against the epoch, the wall-clock time or another recorded column."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..checks import nearest
from ..errors import ConfigError
from ..training import History
from ..trials import Trials
from .figures import axis_label, long_table, metric_names, new_axes

X_LABELS = {"epoch": "epoch", "time": "wall-clock training time (s)", "updates": "updates (optimizer steps)"}
MARKED_POINTS = 60  # a line of more points is drawn without a marker on each
Run = History | Trials | pd.DataFrame


def learning_curves(runs: Run | dict[str, Run], metric: str | Sequence[str] = "val_accuracy", *,
                    x: str = "epoch", title: str | None = None) -> Figure:
    """`metric` (one or several, e.g. ["train_loss", "val_loss"]) against the epoch, or against `x`.

    runs: one History (one line), one Trials (the mean over seeds with a ± standard-error band), a
    table with one row per epoch (an "epoch" column and the metrics, as History.epochs; with a "seed"
    column, as Trials.curves, the seeds are averaged), or a dict name -> any of these (one line per
    setting, overlaid).
    x: "epoch"; "time", the wall-clock seconds of training so far (each seed's epoch `seconds` added
    up; with several seeds an epoch's point sits at their mean time); or another column of the
    tables, e.g. "updates" that the caller added.
    """
    runs = runs if isinstance(runs, dict) else {"": runs}
    curves = {name: _per_seed(run) for name, run in runs.items()}
    if x == "time":
        curves = {name: _with_time(table) for name, table in curves.items()}
    columns = next(iter(curves.values())).columns
    metrics = metric_names(metric, columns)
    if x not in columns:
        known = ["epoch", "time", *(c for c in columns if c not in ("epoch", "seed", "stopped"))]
        raise ConfigError(f"x={x!r} is not recorded{nearest(x, known)}; choose from: {', '.join(known)}.")
    long = long_table(curves, metrics, list(dict.fromkeys(["epoch", "seed", x])))
    hue = "setting" if len(runs) > 1 else ("metric" if len(metrics) > 1 else None)
    style = "metric" if hue == "setting" and len(metrics) > 1 else None
    seeds = {len(run.final) for run in runs.values() if isinstance(run, Trials)}
    points = long.groupby(["setting", "metric"])[x].nunique().max()
    ax = new_axes(6.4, 4)
    sns.lineplot(long, x=x, y="value", hue=hue, style=style, errorbar="se",
                 marker="o" if points <= MARKED_POINTS else None, ax=ax)
    if style:  # a legend of settings and metrics would cover the lines
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    ax.set(xlabel=X_LABELS.get(x, x), ylabel=axis_label(metrics), title=title or "Learning curves" + (
        f" (mean ± standard error over {seeds.pop()} seeds)" if len(seeds) == 1 else ""))
    return ax.figure


def _per_seed(run: Run) -> pd.DataFrame:
    """One row per (seed, epoch): Trials.curves, or a History's (or a table's) epochs as seed 0 unless
    the table names its seeds."""
    if isinstance(run, Trials):
        return run.curves
    table = run if isinstance(run, pd.DataFrame) else run.epochs
    return table if "seed" in table else table.assign(seed=0)


def _with_time(curves: pd.DataFrame) -> pd.DataFrame:
    """curves with a "time" column: per seed the running sum of the epochs' seconds, then averaged
    over the seeds of each epoch (so that a line's points line up across seeds)."""
    elapsed = curves.groupby("seed")["seconds"].cumsum()
    return curves.assign(time=elapsed.groupby(curves["epoch"]).transform("mean"))
