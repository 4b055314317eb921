"""What one run of `fit` returns: its epochs as a table, Keras-style."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from torch import nn


@dataclass
class History:
    """What happened in one run of `fit`.

    epochs: one row per epoch: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds
    (no accuracy columns for regression). best_epoch: the epoch with the lowest monitored loss.
    stopped: "completed", "early_stopping" or "diverged". model: the trained module.
    """

    epochs: pd.DataFrame
    best_epoch: int
    stopped: str
    model: nn.Module = field(repr=False)

    @property
    def diverged(self) -> bool:
        return self.stopped == "diverged"

    def __repr__(self) -> str:
        last = self.epochs.iloc[-1] if len(self.epochs) else {}
        metric = "val_accuracy" if "val_accuracy" in self.epochs else "val_loss"
        return (f"History({len(self.epochs)} epochs, stopped: {self.stopped}, best epoch "
                f"{self.best_epoch}, last {metric} {last.get(metric, float('nan')):.4f})")
