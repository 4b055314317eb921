"""Figures: learning curves, comparisons with standard errors, means against a number per setting, search
scores, confusion matrices, class balance, image grids, surfaces.

Every function returns a matplotlib Figure and shows nothing itself: a notebook cell whose last line is
the call displays it once; a script saves it with `fig.savefig(path)`. pyplot does not keep these
figures open (no plt.show or plt.close needed).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from .checks import check_choice, nearest
from .data import target_function
from .errors import ConfigError
from .search import SearchResult
from .training import History
from .trials import Trials

SPLITS = {"train": "training", "val": "validation", "test": "test"}
UNITS = {"accuracy": "accuracy (fraction correct)", "loss": "loss (mean per example)"}
LABELS = {"gap": "generalization gap (train - test accuracy)", "seconds": "training time per seed (s)",
          "lr": "learning rate", "epochs": "epochs run", "best_epoch": "best epoch"}
X_LABELS = {"epoch": "epoch", "time": "wall-clock training time (s)", "updates": "updates (optimizer steps)"}
MARKED_POINTS = 60  # a line of more points is drawn without a marker on each


def _figure(width: float, height: float) -> Figure:
    """A new figure that pyplot lets go of at once, so that a notebook shows it only as the result."""
    fig = plt.figure(figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig


def _axes(width: float, height: float) -> Axes:
    """One seaborn-styled (white grid) axes on a new figure."""
    with sns.axes_style("whitegrid"):
        return _figure(width, height).subplots()


def _label(metric: str, units: bool = True) -> str:
    """'val_accuracy' -> 'validation accuracy (fraction correct)' (without the unit: units=False)."""
    split, _, quantity = metric.partition("_")
    if metric in LABELS or split not in SPLITS:
        return LABELS.get(metric, metric)
    return f"{SPLITS[split]} {UNITS.get(quantity, quantity) if units else quantity}"


def _axis_label(metrics: list[str]) -> str:
    """The metric's label, or the unit of the quantity several metrics share (e.g. accuracy)."""
    if len(metrics) == 1:
        return _label(metrics[0])
    quantities = {m.partition("_")[2] for m in metrics}
    return UNITS.get(quantities.pop(), "value") if len(quantities) == 1 else "value"


def _metrics(metric: str | Sequence[str], columns: pd.Index) -> list[str]:
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for m in metrics:
        if m not in columns:
            known = [c for c in columns if c not in ("seed", "epoch", "stopped")]
            raise ConfigError(f"metric {m!r} is not recorded{nearest(m, known)}; "
                              f"choose from: {', '.join(known)}.")
    return metrics


def _long(tables: dict[str, pd.DataFrame], metrics: list[str], keep: list[str]) -> pd.DataFrame:
    """One row per (setting, metric, kept columns...), the metric's name (no unit) in 'metric'."""
    parts = [table[keep + metrics].melt(keep, var_name="metric").assign(setting=name)
             for name, table in tables.items()]
    long = pd.concat(parts, ignore_index=True)
    return long.assign(metric=long["metric"].map(lambda m: _label(m, units=False)))


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
    metrics = _metrics(metric, columns)
    if x not in columns:
        known = ["epoch", "time", *(c for c in columns if c not in ("epoch", "seed", "stopped"))]
        raise ConfigError(f"x={x!r} is not recorded{nearest(x, known)}; choose from: {', '.join(known)}.")
    long = _long(curves, metrics, list(dict.fromkeys(["epoch", "seed", x])))
    hue = "setting" if len(runs) > 1 else ("metric" if len(metrics) > 1 else None)
    style = "metric" if hue == "setting" and len(metrics) > 1 else None
    seeds = {len(run.final) for run in runs.values() if isinstance(run, Trials)}
    points = long.groupby(["setting", "metric"])[x].nunique().max()
    ax = _axes(6.4, 4)
    sns.lineplot(long, x=x, y="value", hue=hue, style=style, errorbar="se",
                 marker="o" if points <= MARKED_POINTS else None, ax=ax)
    if style:  # a legend of settings and metrics would cover the lines
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    ax.set(xlabel=X_LABELS.get(x, x), ylabel=_axis_label(metrics), title=title or "Learning curves" + (
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


def compare(trials: dict[str, Trials], metric: str | Sequence[str] = "test_accuracy", *,
            kind: str = "point", title: str | None = None) -> Figure:
    """The mean of `metric` per setting with ± standard-error bars, from each Trials' final table.

    metric: one name or several side by side, e.g. ["train_accuracy", "test_accuracy"] to show the
    generalization gap. kind: "point" (differences stay visible) or "bar" (bars start at zero).
    """
    check_choice("kind", kind, ("point", "bar"))
    if not isinstance(trials, dict) or not trials:
        raise ConfigError("compare needs a dict name -> Trials, e.g. {'dropout': trials_a, 'L2': trials_b}.")
    metrics = _metrics(metric, next(iter(trials.values())).final.columns)
    long = _long({name: t.final for name, t in trials.items()}, metrics, ["seed"])
    several = len(metrics) > 1
    seeds = {len(t.final) for t in trials.values()}
    ax = _axes(max(4.0, 1.2 * len(trials) + 2), 4)
    options = dict(x="setting", y="value", hue="metric" if several else None, errorbar="se", capsize=0.15)
    if kind == "bar":
        sns.barplot(long, ax=ax, **options)
    else:
        sns.pointplot(long, ax=ax, dodge=0.3 if several else False, linestyle="none", **options)
    if several:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    over = f"{seeds.pop()} seeds" if len(seeds) == 1 else "several seeds"
    ax.set(xlabel="setting", ylabel=_axis_label(metrics), title=title or f"Mean ± standard error, {over}")
    return ax.figure


def means_against(trials: dict[str, Trials], x: dict[str, float],
                  metric: str | Sequence[str] = "test_accuracy", *, xlabel: str,
                  groups: dict[str, str] | None = None, log_x: bool = False,
                  title: str | None = None) -> Figure:
    """Each setting's mean `metric` (± standard-error bars over its seeds) against a number of its own.

    trials: name -> Trials; x: name -> the setting's number, e.g. its parameter count (every name of
    `trials` needs one); metric: one name or several (one colour each, e.g. ["train_accuracy",
    "test_accuracy"]); groups: name -> a group label (one marker each, e.g. "depth 2"); log_x: a
    logarithmic x axis.
    """
    if not isinstance(trials, dict) or not trials:
        raise ConfigError("means_against needs a dict name -> Trials, e.g. {'128': trials_a, '512': trials_b}.")
    missing = [name for name in trials if name not in x]
    if missing:
        raise ConfigError(f"x has no number for {missing[0]!r}; give one per setting, e.g. its parameter count.")
    metrics = _metrics(metric, next(iter(trials.values())).final.columns)
    groups = groups or {name: "" for name in trials}
    group_names = list(dict.fromkeys(groups[name] for name in trials))
    colours = sns.color_palette(n_colors=len(metrics))
    markers = "osD^vP*X"
    ax = _axes(7, 4.2)
    for colour, m in zip(colours, metrics):
        for marker, group in zip(markers * len(group_names), group_names):
            names = [name for name in trials if groups[name] == group]
            values = [trials[name].final[m] for name in names]
            sem = [v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
            label = ", ".join(filter(None, [_label(m, units=False) if len(metrics) > 1 else "", group]))
            ax.errorbar([float(x[name]) for name in names], [float(v.mean()) for v in values], yerr=sem, fmt=marker,
                        color=colour, capsize=3, label=label or None)
    if len(metrics) > 1 or len(group_names) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    seeds = {len(t.final) for t in trials.values()}
    over = f"{seeds.pop()} seeds" if len(seeds) == 1 else "several seeds"
    ax.set(xlabel=xlabel, ylabel=_axis_label(metrics), xscale="log" if log_x else "linear",
           title=title or f"Mean ± standard error over {over}")
    return ax.figure


def search_scores(result: SearchResult, *, labels: dict[str, str] | None = None,
                  score: str = "validation score", title: str | None = None) -> Figure:
    """One panel per searched parameter: each setting's score against that parameter's value (on a
    log axis where the search drew it log-uniformly), panels sharing the score axis.

    labels: axis labels per parameter, e.g. {"lr": "learning rate"}; score: the y-axis label.
    """
    names = list(result.scales)
    labels = {**LABELS, **(labels or {})}
    with sns.axes_style("whitegrid"):
        axes = np.atleast_1d(_figure(4 * len(names), 3.6).subplots(1, len(names), sharey=True))
    for ax, name in zip(axes, names):
        sns.scatterplot(result.table, x=name, y="value", ax=ax)
        ax.set(xlabel=labels.get(name, name), ylabel=score,
               xscale="log" if result.scales[name] == "log" else "linear")
    scored = int(result.table["value"].notna().sum())
    axes[0].figure.suptitle(title or f"Search: {scored} settings scored, one run each")
    return axes[0].figure


def confusion_matrix(matrix: np.ndarray | torch.Tensor, classes: Sequence[str] | None = None, *,
                     title: str = "Confusion matrix") -> Figure:
    """matrix: [K, K] counts, rows the true class, columns the predicted one (as `evaluate` returns)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ConfigError(f"the confusion matrix must be square [K, K]; got shape {matrix.shape}.")
    names = list(classes) if classes is not None else [str(k) for k in range(len(matrix))]
    ax = _axes(0.45 * len(matrix) + 1.5, 0.45 * len(matrix) + 1.2)
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, square=True,
                xticklabels=names, yticklabels=names, ax=ax)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    ax.tick_params(axis="x", labelrotation=45 if max(map(len, names)) > 2 else 0)
    return ax.figure


def class_balance(labels: torch.Tensor | np.ndarray | dict[str, torch.Tensor | np.ndarray],
                  classes: Sequence[str] | None = None, *, title: str = "Class balance") -> Figure:
    """The share of each class, in percent: one bar per class, side by side for several sets of labels.

    labels: [N] class indices 0..K-1, or a dict name -> [N] (e.g. {"train": ..., "validation": ...});
    the legend gives each set's size. A dashed line marks a perfectly balanced share, 100 / K.
    classes: the name of each class (default "0", "1", ...).
    """
    sets = labels if isinstance(labels, dict) else {"": labels}
    arrays = {name: np.asarray(torch.as_tensor(y).cpu()) for name, y in sets.items()}
    if not arrays or any(y.ndim != 1 or not len(y) or y.dtype.kind not in "iu" or y.min() < 0
                         for y in arrays.values()):
        raise ConfigError("class_balance needs [N] integer class indices >= 0 (or a dict of them), "
                          "each with N >= 1.")
    k = max(int(y.max()) + 1 for y in arrays.values()) if classes is None else len(classes)
    names = list(classes) if classes is not None else [str(c) for c in range(k)]
    long = pd.DataFrame([{"class": names[c], "set": f"{name} ({len(y):,})".strip(),
                          "share": 100 * np.count_nonzero(y == c) / len(y)}
                         for name, y in arrays.items() for c in range(k)])
    ax = _axes(max(5.0, 0.3 * k * len(arrays) + 2.5), 3.6)
    sns.barplot(long, x="class", y="share", hue="set" if len(arrays) > 1 else None, ax=ax)
    if len(arrays) > 1:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    ax.axhline(100 / k, color="black", linestyle="--", linewidth=1)
    ax.set(xlabel="class", ylabel="share of the images (%)", title=title)
    return ax.figure


def image_grid(x: torch.Tensor | np.ndarray, labels: Sequence[int] | torch.Tensor | None = None,
               predictions: Sequence[int] | torch.Tensor | None = None, *,
               classes: Sequence[str] | None = None, title: str = "", ncols: int = 10) -> Figure:
    """Images x: [N, C, H, W] in [0, 1] (C = 1 or 3), each titled with its label and/or prediction.

    With both labels and predictions each title reads "true / predicted", in red where they differ
    (misclassified or adversarial examples). Pass at most a few dozen images.
    """
    images = torch.as_tensor(x).detach().cpu().float()
    if images.dim() != 4 or images.shape[1] not in (1, 3) or not len(images):
        raise ConfigError(f"image_grid needs x: [N, C, H, W] with C = 1 or 3; got {tuple(images.shape)}.")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    fig = _figure(1.2 * ncols, 1.35 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for i, (image, ax) in enumerate(zip(images, axes)):
        ax.imshow(image.permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        shown = [str(int(v[i])) if classes is None else classes[int(v[i])]
                 for v in (labels, predictions) if v is not None]
        wrong = len(shown) == 2 and int(labels[i]) != int(predictions[i])
        ax.set_title(" / ".join(shown), fontsize=9, color="red" if wrong else "black")
    fig.suptitle(title + (" (true / predicted)" if labels is not None and predictions is not None else ""))
    return fig


def surface(x: torch.Tensor, panels: dict[str, torch.Tensor], *,
            zlabel: str | dict[str, str] = "f(x1, x2)") -> Figure:
    """3-D surfaces side by side, title -> z [G*G] over the grid x [G*G, 2] of regression_data(m).test.x.

    zlabel: the z-axis label of every panel, or title -> label (panels not named keep "f(x1, x2)"),
    e.g. {"error": "prediction - f(x1, x2)"}.
    """
    side = math.isqrt(len(x))
    fig = _figure(5 * len(panels), 4.5)
    for position, (title, z) in enumerate(panels.items(), start=1):
        if side * side != len(x) or z.numel() != len(x):
            raise ConfigError(f"a surface needs the G*G points of a square grid and one value per point; "
                              f"got {len(x)} points and {z.numel()} values for {title!r}.")
        grid = [t.detach().cpu().reshape(side, side).numpy() for t in (x[:, 0], x[:, 1], z)]
        ax = fig.add_subplot(1, len(panels), position, projection="3d")
        ax.plot_surface(*grid, cmap="viridis", linewidth=0)
        label = zlabel.get(title, "f(x1, x2)") if isinstance(zlabel, dict) else zlabel
        ax.set(xlabel="x1", ylabel="x2", zlabel=label, title=title)
    return fig


@torch.no_grad()
def regression_surface(model_or_values: nn.Module | torch.Tensor, x: torch.Tensor, *,
                       truth: bool = True) -> Figure:
    """What a regression model predicts on the grid x: [G*G, 2], beside the true x1*exp(-x1^2-x2^2).

    model_or_values: a model mapping x to [G*G, 1] (run in eval mode on its device), or the predicted
    values [G*G] themselves. truth=False draws the prediction alone.
    """
    if isinstance(model_or_values, nn.Module):
        model_or_values = model_or_values.eval()(x.to(next(model_or_values.parameters()).device))
    panels = {"Predicted f(x1, x2)": torch.as_tensor(model_or_values).cpu()}
    if truth:
        panels["True f(x1, x2) = x1 exp(-x1² - x2²)"] = target_function(x.cpu())
    return surface(x, panels)
