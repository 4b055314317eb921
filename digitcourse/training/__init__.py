"""Training and evaluation: `fit` trains a model and returns its `History`; `evaluate` scores it.

::

    history = fit(model, data, epochs=5, lr=1e-3)      # -> History: one row per epoch
    evaluate(history.model, data.test, per_class=True)  # -> loss, accuracy, per-class table, confusion

The package: `options` (the keywords, checked and parsed once), `team` (one model, or many copies
trained together with vmap), `loop` (the one training loop), `history` (what a run returns).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..checks import check_choice
from ..data.splits import DigitData, Split
from .history import History
from .loop import evaluate_team, train_team
from .options import FitConfig
from .team import Single, Vectorized

__all__ = ["fit", "evaluate", "History", "FitConfig", "train_team", "Single", "Vectorized", "resolve_device"]


def resolve_device(device: torch.device | None, data: DigitData) -> torch.device:
    """The device a run trains on: the config's, else the data's."""
    return data.device if device is None else device


def fit(model: nn.Module, data: DigitData, **config: Any) -> History:
    """Train `model` on data.train, watching data.val; return the History of the run.

    Keywords (checked, with defaults in FitConfig): epochs, batch_size (>= len(train) means full batch),
    lr, optimizer ("adam" | "sgd", fused where torch can), momentum, weight_decay, l1, l2 (penalties on
    weights, added to the gradient as l1 * sign(w) + 2 * l2 * w), grad_noise (sigma of N(0, sigma^2)
    added to every gradient), schedule ("step" | "cosine" | "onecycle" | "plateau", or a dict with
    "kind" and the scheduler's arguments), early_stopping (patience, or dict(patience=, min_delta=):
    stop when the monitored loss has not improved by min_delta for `patience` epochs; the best weights
    are restored), augment (True or dict(rotation=, shift=, zoom=)), attack (attack(model, x, y) ->
    x_adv: train on the mean of the clean and adversarial loss), loss ("cross_entropy" | "mse"),
    precision ("float32"; "bfloat16": the training steps under bfloat16 autocast, convolution weights
    channels-last, about twice as fast on a CPU with AVX-512 BF16 and on recent GPUs; "auto": bfloat16
    where the device computes it natively; validation stays float32), seed, device, progress. A loss
    that turns NaN or explodes stops the run and marks it diverged; nothing is raised.
    """
    options = FitConfig.check(config)
    device = resolve_device(options.device, data)
    return train_team(Single(model.to(device)), data.to(device), options, [options.seed])[0]


def evaluate(model: nn.Module, split: Split, *, loss: str = "cross_entropy", per_class: bool = False,
             classes: tuple[str, ...] | None = None, batch_size: int = 4096) -> dict[str, Any]:
    """Loss and accuracy of `model` on `split` (eval mode, no gradients), in one pass over it.

    per_class=True adds "per_class" (a DataFrame of precision, recall, F1 and support per class, from
    scikit-learn) and "confusion" ([K, K] counts, rows the true class). Regression returns the loss only.
    """
    check_choice("loss", loss, ("cross_entropy", "mse"))
    split = split.to(next(model.parameters()).device)
    outputs: list[torch.Tensor] | None = [] if per_class else None
    mean_loss, accuracy = evaluate_team(Single(model), split, loss, batch_size, outputs)
    result: dict[str, Any] = {"loss": float(mean_loss[0])}
    if loss == "mse":
        return result
    result["accuracy"] = float(accuracy[0])
    if per_class:
        logits = torch.cat(outputs, 1)[0]
        result.update(_per_class(split.y.cpu().numpy(), logits.argmax(-1).cpu().numpy(),
                                 classes or tuple(str(k) for k in range(logits.shape[-1]))))
    return result


def _per_class(truth: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Precision, recall, F1 and support per class, and the confusion matrix, from scikit-learn.
    truth, predicted: [N] class indices; classes: the name of each class."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(classes))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    return {"per_class": pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                                      index=pd.Index(list(classes), name="class")),
            "confusion": confusion_matrix(truth, predicted, labels=labels)}
