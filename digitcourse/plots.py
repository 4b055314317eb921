"""Figures: learning curves, comparisons with standard errors, sweeps, heat maps, search scores,
confusion matrices, image grids, surfaces.

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
                    title: str | None = None) -> Figure:
    """`metric` (one or several, e.g. ["train_loss", "val_loss"]) against the epoch.

    runs: one History (one line), one Trials (the mean over seeds with a ± standard-error band), a
    table with one row per epoch (an "epoch" column and the metrics, as History.epochs), or a dict
    name -> any of these (one line per setting, overlaid).
    """
    runs = runs if isinstance(runs, dict) else {"": runs}
    curves = {name: run.curves if isinstance(run, Trials) else _epochs(run).assign(seed=0)
              for name, run in runs.items()}
    metrics = _metrics(metric, next(iter(curves.values())).columns)
    long = _long(curves, metrics, ["epoch", "seed"])
    hue = "setting" if len(runs) > 1 else ("metric" if len(metrics) > 1 else None)
    style = "metric" if hue == "setting" and len(metrics) > 1 else None
    seeds = {len(run.final) for run in runs.values() if isinstance(run, Trials)}
    ax = _axes(6.4, 4)
    sns.lineplot(long, x="epoch", y="value", hue=hue, style=style, errorbar="se", marker="o", ax=ax)
    ax.set(xlabel="epoch", ylabel=_axis_label(metrics), title=title or "Learning curves" + (
        f" (mean ± standard error over {seeds.pop()} seeds)" if len(seeds) == 1 else ""))
    return ax.figure


def _epochs(run: History | pd.DataFrame) -> pd.DataFrame:
    return run if isinstance(run, pd.DataFrame) else run.epochs


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
    metrics = _metrics(metric, next(iter(finals.values())).columns)
    long = _long(finals, metrics, ["seed"])
    several = len(metrics) > 1
    seeds = {len(final) for final in finals.values()}
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
        axes = np.atleast_1d(_figure(4 * len(names), 3.6).subplots(1, len(names), sharey=True))
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


def surface(x: torch.Tensor, panels: dict[str, torch.Tensor]) -> Figure:
    """3-D surfaces side by side, title -> z [G*G] over the grid x [G*G, 2] of regression_data(m).test.x."""
    side = math.isqrt(len(x))
    fig = _figure(5 * len(panels), 4.5)
    for position, (title, z) in enumerate(panels.items(), start=1):
        if side * side != len(x) or z.numel() != len(x):
            raise ConfigError(f"a surface needs the G*G points of a square grid and one value per point; "
                              f"got {len(x)} points and {z.numel()} values for {title!r}.")
        grid = [t.detach().cpu().reshape(side, side).numpy() for t in (x[:, 0], x[:, 1], z)]
        ax = fig.add_subplot(1, len(panels), position, projection="3d")
        ax.plot_surface(*grid, cmap="viridis", linewidth=0)
        ax.set(xlabel="x1", ylabel="x2", zlabel="f(x1, x2)", title=title)
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


def _columns(table: pd.DataFrame, names: list[str]) -> None:
    for name in names:
        if name not in table.columns:
            raise ConfigError(f"the table has no column {name!r}{nearest(name, list(map(str, table.columns)))}; "
                              f"its columns: {', '.join(map(str, table.columns))}.")


def sweep(table: pd.DataFrame, x: str, y: str, *, hue: str | None = None, log_x: bool = False,
          xlabel: str | None = None, ylabel: str | None = None, title: str | None = None) -> Figure:
    """`y` against a swept quantity `x` (an attack's epsilon, a learning rate), one line per value of
    `hue`, with the mean ± standard error over the rows that share x and hue (one row per seed).

    table: one row per (seed, x[, hue]), e.g. columns seed, epsilon, model, accuracy.
    """
    _columns(table, [x, y] + ([hue] if hue else []))
    ax = _axes(6.4, 4)
    sns.lineplot(table, x=x, y=y, hue=hue, errorbar="se", marker="o", ax=ax)
    seeds = table.groupby([x] + ([hue] if hue else [])).size()
    over = f" over {seeds.iloc[0]} seeds" if seeds.nunique() == 1 and seeds.iloc[0] > 1 else ""
    ax.set(xlabel=xlabel or _label(x), ylabel=ylabel or _label(y), xscale="log" if log_x else "linear",
           title=title or f"{_label(y, units=False)} against {_label(x, units=False)} (mean ± standard error{over})")
    return ax.figure


def heatmap(table: pd.DataFrame, *, rows: str, columns: str, value: str, panels: str | None = None,
            scale: float = 1.0, digits: int = 1, label: str | None = None, title: str | None = None) -> Figure:
    """The mean of `value` on a grid of `rows` x `columns`, one panel per value of `panels`, each cell
    annotated with its mean and ± standard error over the rows that fall in it (one row per seed).

    table: one row per (seed, setting), e.g. columns layers, width, activation, seed, test_accuracy.
    scale: multiplies the values (100 shows fractions as percentages); digits: decimals shown.
    The panels share one colour scale, so equal colours mean equal values.
    """
    _columns(table, [rows, columns, value] + ([panels] if panels else []))
    keys = [name for name in (panels, rows, columns) if name]
    cells = table.groupby(keys)[value].agg(["mean", "sem"]) * scale
    groups = list(dict.fromkeys(table[panels])) if panels else [None]
    with sns.axes_style("white"):
        axes = np.atleast_1d(_figure(4.2 * len(groups) + 1, 3.8).subplots(1, len(groups), sharey=True))
    for ax, group in zip(axes, groups):
        part = cells if group is None else cells.xs(group, level=panels)
        means, sems = part["mean"].unstack(columns), part["sem"].unstack(columns)
        text = means.map(lambda m: f"{m:.{digits}f}") + sems.map(
            lambda s: "" if np.isnan(s) else f"\n± {s:.{digits}f}")
        sns.heatmap(means, annot=text, fmt="", cmap="viridis", vmin=cells["mean"].min(),
                    vmax=cells["mean"].max(), cbar=ax is axes[-1], ax=ax,
                    cbar_kws={"label": label or _label(value)} if ax is axes[-1] else None)
        ax.set(xlabel=columns, ylabel=rows if ax is axes[0] else "",
               title="" if group is None else f"{panels} = {group}")
    axes[0].figure.suptitle(title or f"{label or _label(value)}: mean ± standard error per cell")
    return axes[0].figure
