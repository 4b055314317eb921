"""The same configuration over many seeds, with standard errors.

When every seed's model has the same architecture and nothing in the configuration needs one model
at a time (batch-norm, augmentation, an attack, a plateau schedule), all seeds train at once with
`torch.func.vmap`; otherwise one after another. Both give the same numbers for the same seeds.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from scipy import stats
from torch import nn

from .checks import check_number
from .data.splits import DigitData
from .errors import ConfigError
from .models import has_batch_norm
from .training import FitConfig, History, Single, Vectorized, evaluate, resolve_device, train_team


@dataclass
class Trials:
    """Results of one setting over many seeds.

    final: one row per seed (seed, epochs, best_epoch, stopped, train/val/test loss and accuracy,
    gap = train_accuracy - test_accuracy, seconds). curves: every epoch of every seed, one row per
    (seed, epoch), ready for seaborn. histories: the History of each seed, models included.
    """

    final: pd.DataFrame
    curves: pd.DataFrame
    histories: list[History] = field(repr=False)
    vectorized: bool = False

    @property
    def models(self) -> list[nn.Module]:
        return [h.model for h in self.histories]

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Per metric: n, mean, std (ddof=1), sem = std / sqrt(n), and the t-based interval."""
        metrics = self.final.drop(columns=["seed", "stopped"]).astype(float)
        n = metrics.count()
        table = pd.DataFrame({"n": n, "mean": metrics.mean(), "std": metrics.std(ddof=1),
                              "sem": metrics.std(ddof=1) / n ** 0.5})
        half = table["sem"] * stats.t.ppf((1 + confidence) / 2, (n - 1).clip(lower=1))
        table["ci_low"], table["ci_high"] = table["mean"] - half, table["mean"] + half
        return table

    def __repr__(self) -> str:
        column = "test_accuracy" if "test_accuracy" in self.final else "test_loss"
        row = self.summary().loc[column]
        return (f"Trials({int(row['n'])} seeds, {column} {row['mean']:.4f} ± {row['sem']:.4f} (sem), "
                f"{'vmap' if self.vectorized else 'sequential'})")


def _same_architecture(models: list[nn.Module]) -> bool:
    """Same layers (as printed: types, sizes, activations, dropout) and same parameter shapes."""
    shapes = [[(k, v.shape) for k, v in m.state_dict().items()] for m in models]
    return all(s == shapes[0] and repr(m) == repr(models[0]) for s, m in zip(shapes, models))


def can_vectorize(models: list[nn.Module], config: FitConfig) -> bool:
    """Whether these models can train as one vmap stack under this configuration."""
    return (len(models) > 1 and not config.one_at_a_time and _same_architecture(models)
            and not any(map(has_batch_norm, models)))


def run_trials(make_model: Callable[[], nn.Module], data: DigitData, seeds: int | Iterable[int] = 10,
               *, vectorize: bool | None = None, **config: Any) -> Trials:
    """Train `make_model()` once per seed (torch.manual_seed(seed) before each build) with `fit`'s
    keywords, then evaluate every model on data.test.

    seeds: a count n (seeds 0..n-1) or the seeds themselves. vectorize: None decides by itself, False
    forces one model after another, True insists on vmap (an error where it cannot be used).
    """
    if "seed" in config:
        raise ConfigError("run_trials takes seeds=..., not seed=...: pass the list of seeds to run.")
    if isinstance(seeds, int):
        check_number("seeds", seeds, integer=True, low=1)
        seeds = range(seeds)
    seeds = [check_number("seed", s, integer=True) for s in seeds]
    if not seeds:
        raise ConfigError("seeds is empty: pass at least one seed, e.g. seeds=10.")
    options = FitConfig.check({**config, "seed": seeds[0]}, "run_trials")
    device = resolve_device(options.device, data)
    data = data.to(device)
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(make_model().to(device))
    possible = can_vectorize(models, options)
    if vectorize and not possible:
        raise ConfigError("vectorize=True needs models of one architecture without batch-norm, and no "
                          "augment, attack or plateau schedule; pass vectorize=None to fall back.")
    vectorized = possible if vectorize is None else vectorize
    started = time.perf_counter()
    if vectorized:
        histories = train_team(Vectorized(models), data, options, seeds)
    else:
        histories = [train_team(Single(m), data, options, [s])[0] for m, s in zip(models, seeds)]
    seconds = (time.perf_counter() - started) / len(seeds)
    return Trials(_final_table(histories, seeds, data, options.loss, seconds),
                  pd.concat([h.epochs.assign(seed=s) for h, s in zip(histories, seeds)],
                            ignore_index=True),
                  histories, vectorized)


def _final_table(histories: list[History], seeds: list[int], data: DigitData, loss: str,
                 seconds: float) -> pd.DataFrame:
    rows = []
    for seed, history in zip(seeds, histories):
        row = {"seed": seed, "epochs": len(history.epochs), "best_epoch": history.best_epoch,
               "stopped": history.stopped}
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
            if len(split):
                for metric, value in evaluate(history.model, split, loss=loss).items():
                    row[f"{name}_{metric}"] = value
        if "test_accuracy" in row:
            row["gap"] = row["train_accuracy"] - row["test_accuracy"]
        row["seconds"] = seconds
        rows.append(row)
    return pd.DataFrame(rows)
