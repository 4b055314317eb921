"""Figures about images and classes: a confusion matrix, the class balance, a grid of images."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

from ..errors import ConfigError
from .figures import new_axes, new_figure


def confusion_matrix(matrix: np.ndarray | torch.Tensor, classes: Sequence[str] | None = None, *,
                     title: str = "Confusion matrix") -> Figure:
    """matrix: [K, K] counts, rows the true class, columns the predicted one (as `evaluate` returns)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ConfigError(f"the confusion matrix must be square [K, K]; got shape {matrix.shape}.")
    names = list(classes) if classes is not None else [str(k) for k in range(len(matrix))]
    ax = new_axes(0.45 * len(matrix) + 1.5, 0.45 * len(matrix) + 1.2)
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
    ax = new_axes(max(5.0, 0.3 * k * len(arrays) + 2.5), 3.6)
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
    fig = new_figure(1.2 * ncols, 1.35 * nrows + 0.4)
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
