"""Settings side by side: means with standard errors per setting, against a number, along a sweep, on a
grid, and the scores of a search.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..checks import check_choice
from ..errors import ConfigError
from ..search import SearchResult
from ..trials import Trials
from .figures import (LABELS, axis_label, long_table, metric_label, metric_names, new_axes, new_figure,
                      require_columns)


def compare(trials: dict[str, Trials | pd.DataFrame], metric: str | Sequence[str] = "test_accuracy", *,
            kind: str = "point", title: str | None = None) -> Figure:
    """The mean of `metric` per setting with ± standard-error bars, from each Trials' final table.

    trials: name -> a Trials, or a table with one row per seed like Trials.final (a "seed" column and
    the metrics), e.g. the accuracies of an ensemble built from each seed's models.
    metric: one name or several side by side, e.g. ["train_accuracy", "test_accuracy"] to show the
    generalization gap. kind: "point" (differences stay visible) or "bar" (bars start at zero).
    """
    check_choice("kind", kind, ("point", "bar"))
    if not isinstance(trials, dict) or not trials:
        raise ConfigError("compare needs a dict name -> Trials, e.g. {'dropout': trials_a, 'L2': trials_b}.")
    finals = {name: t.final if isinstance(t, Trials) else t for name, t in trials.items()}
    metrics = metric_names(metric, next(iter(finals.values())).columns)
    long = long_table(finals, metrics, ["seed"])
    several = len(metrics) > 1
    seeds = {len(final) for final in finals.values()}
    ax = new_axes(max(4.0, 1.2 * len(trials) + 2), 4)
    options = dict(x="setting", y="value", hue="metric" if several else None, errorbar="se", capsize=0.15)
    if kind == "bar":
        sns.barplot(long, ax=ax, **options)
    else:
        sns.pointplot(long, ax=ax, dodge=0.3 if several else False, linestyle="none", **options)
    if several:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    over = f"{seeds.pop()} seeds" if len(seeds) == 1 else "several seeds"
    ax.set(xlabel="setting", ylabel=axis_label(metrics), title=title or f"Mean ± standard error, {over}")
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
    metrics = metric_names(metric, next(iter(trials.values())).final.columns)
    groups = groups or {name: "" for name in trials}
    group_names = list(dict.fromkeys(groups[name] for name in trials))
    colours = sns.color_palette(n_colors=len(metrics))
    markers = "osD^vP*X"
    ax = new_axes(7, 4.2)
    for colour, m in zip(colours, metrics):
        for marker, group in zip(markers * len(group_names), group_names):
            names = [name for name in trials if groups[name] == group]
            values = [trials[name].final[m] for name in names]
            sem = [v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
            label = ", ".join(filter(None, [metric_label(m, units=False) if len(metrics) > 1 else "", group]))
            ax.errorbar([float(x[name]) for name in names], [float(v.mean()) for v in values], yerr=sem, fmt=marker,
                        color=colour, capsize=3, label=label or None)
    if len(metrics) > 1 or len(group_names) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    seeds = {len(t.final) for t in trials.values()}
    over = f"{seeds.pop()} seeds" if len(seeds) == 1 else "several seeds"
    ax.set(xlabel=xlabel, ylabel=axis_label(metrics), xscale="log" if log_x else "linear",
           title=title or f"Mean ± standard error over {over}")
    return ax.figure


def sweep(table: pd.DataFrame, x: str, y: str, *, hue: str | None = None, log_x: bool = False,
          xlabel: str | None = None, ylabel: str | None = None, title: str | None = None) -> Figure:
    """`y` against a swept quantity `x` (an attack's epsilon, a learning rate), one line per value of
    `hue`, with the mean ± standard error over the rows that share x and hue (one row per seed).

    table: one row per (seed, x[, hue]), e.g. columns seed, epsilon, model, accuracy.
    """
    require_columns(table, [x, y] + ([hue] if hue else []))
    ax = new_axes(6.4, 4)
    sns.lineplot(table, x=x, y=y, hue=hue, errorbar="se", marker="o", ax=ax)
    seeds = table.groupby([x] + ([hue] if hue else [])).size()
    over = f" over {seeds.iloc[0]} seeds" if seeds.nunique() == 1 and seeds.iloc[0] > 1 else ""
    against = f"{metric_label(y, units=False)} against {metric_label(x, units=False)}"
    ax.set(xlabel=xlabel or metric_label(x), ylabel=ylabel or metric_label(y), xscale="log" if log_x else "linear",
           title=title or f"{against} (mean ± standard error{over})")
    return ax.figure


def heatmap(table: pd.DataFrame, *, rows: str, columns: str, value: str, panels: str | None = None,
            scale: float = 1.0, digits: int = 1, label: str | None = None, title: str | None = None) -> Figure:
    """The mean of `value` on a grid of `rows` x `columns`, one panel per value of `panels`, each cell
    annotated with its mean and ± standard error over the rows that fall in it (one row per seed).

    table: one row per (seed, setting), e.g. columns layers, width, activation, seed, test_accuracy.
    scale: multiplies the values (100 shows fractions as percentages); digits: decimals shown.
    The panels share one colour scale, so equal colours mean equal values.
    """
    require_columns(table, [rows, columns, value] + ([panels] if panels else []))
    keys = [name for name in (panels, rows, columns) if name]
    cells = table.groupby(keys)[value].agg(["mean", "sem"]) * scale
    groups = list(dict.fromkeys(table[panels])) if panels else [None]
    with sns.axes_style("white"):
        axes = np.atleast_1d(new_figure(4.2 * len(groups) + 1, 3.8).subplots(1, len(groups), sharey=True))
    for ax, group in zip(axes, groups):
        part = cells if group is None else cells.xs(group, level=panels)
        means, sems = part["mean"].unstack(columns), part["sem"].unstack(columns)
        text = means.map(lambda m: f"{m:.{digits}f}") + sems.map(
            lambda s: "" if np.isnan(s) else f"\n± {s:.{digits}f}")
        sns.heatmap(means, annot=text, fmt="", cmap="viridis", vmin=cells["mean"].min(),
                    vmax=cells["mean"].max(), cbar=ax is axes[-1], ax=ax,
                    cbar_kws={"label": label or metric_label(value)} if ax is axes[-1] else None)
        ax.set(xlabel=columns, ylabel=rows if ax is axes[0] else "",
               title="" if group is None else f"{panels} = {group}")
    axes[0].figure.suptitle(title or f"{label or metric_label(value)}: mean ± standard error per cell")
    return axes[0].figure


def search_scores(result: SearchResult, *, labels: dict[str, str] | None = None,
                  score: str = "validation score", title: str | None = None) -> Figure:
    """One panel per searched parameter: each setting's score against that parameter's value (on a
    log axis where the search drew it log-uniformly, or chose among positive numbers spanning a factor
    of 10 or more, such as learning rates), panels sharing the score axis.

    labels: axis labels per parameter, e.g. {"lr": "learning rate"}; score: the y-axis label.
    """
    names = list(result.scales)
    labels = {**LABELS, **(labels or {})}
    with sns.axes_style("whitegrid"):
        axes = np.atleast_1d(new_figure(4 * len(names), 3.6).subplots(1, len(names), sharey=True))
    for ax, name in zip(axes, names):
        sns.scatterplot(result.table, x=name, y="value", ax=ax)
        ax.set(xlabel=labels.get(name, name), ylabel=score,
               xscale="log" if _log_scale(result, name) else "linear")
    scored = int(result.table["value"].notna().sum())
    axes[0].figure.suptitle(title or f"Search: {scored} settings scored, one run each")
    return axes[0].figure


def _log_scale(result: SearchResult, name: str) -> bool:
    """Whether a parameter's panel reads best on a log axis: drawn log-uniformly, or chosen among
    positive numbers (those tried) spanning a factor of 10 or more."""
    if result.scales[name] != "choice":
        return result.scales[name] == "log"
    values = result.table[name].dropna()
    numbers = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return bool(numbers and len(values) and values.min() > 0 and values.max() >= 10 * values.min())
