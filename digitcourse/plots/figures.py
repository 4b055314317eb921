"""What every figure module shares: new figures that pyplot lets go of, axis labels for the recorded
metrics, and long tables for seaborn.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..checks import nearest
from ..errors import ConfigError

SPLITS = {"train": "training", "val": "validation", "test": "test"}
UNITS = {"accuracy": "accuracy (fraction correct)", "loss": "loss (mean per example)"}
LABELS = {"gap": "generalization gap (train - test accuracy)", "seconds": "training time per seed (s)",
          "lr": "learning rate", "epochs": "epochs run", "best_epoch": "best epoch"}


def new_figure(width: float, height: float) -> Figure:
    """A new figure that pyplot lets go of at once, so that a notebook shows it only as the result."""
    fig = plt.figure(figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig


def new_axes(width: float, height: float) -> Axes:
    """One seaborn-styled (white grid) axes on a new figure."""
    with sns.axes_style("whitegrid"):
        return new_figure(width, height).subplots()


def metric_label(metric: str, units: bool = True) -> str:
    """'val_accuracy' -> 'validation accuracy (fraction correct)' (without the unit: units=False)."""
    split, _, quantity = metric.partition("_")
    if metric in LABELS or split not in SPLITS:
        return LABELS.get(metric, metric)
    return f"{SPLITS[split]} {UNITS.get(quantity, quantity) if units else quantity}"


def axis_label(metrics: list[str]) -> str:
    """The metric's label, or the unit of the quantity several metrics share (e.g. accuracy)."""
    if len(metrics) == 1:
        return metric_label(metrics[0])
    quantities = {m.partition("_")[2] for m in metrics}
    return UNITS.get(quantities.pop(), "value") if len(quantities) == 1 else "value"


def metric_names(metric: str | Sequence[str], columns: pd.Index) -> list[str]:
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for m in metrics:
        if m not in columns:
            known = [c for c in columns if c not in ("seed", "epoch", "stopped")]
            raise ConfigError(f"metric {m!r} is not recorded{nearest(m, known)}; "
                              f"choose from: {', '.join(known)}.")
    return metrics


def long_table(tables: dict[str, pd.DataFrame], metrics: list[str], keep: list[str]) -> pd.DataFrame:
    """One row per (setting, metric, kept columns...), the metric's name (no unit) in 'metric'."""
    parts = [table[keep + metrics].melt(keep, var_name="metric").assign(setting=name)
             for name, table in tables.items()]
    long = pd.concat(parts, ignore_index=True)
    return long.assign(metric=long["metric"].map(lambda m: metric_label(m, units=False)))


def require_columns(table: pd.DataFrame, names: list[str]) -> None:
    for name in names:
        if name not in table.columns:
            raise ConfigError(f"the table has no column {name!r}{nearest(name, list(map(str, table.columns)))}; "
                              f"its columns: {', '.join(map(str, table.columns))}.")
