"""The one training loop: `fit` trains a model (or a stack of them) and returns its `History`.

Data stays on the device as tensors and is batched by indexing; metrics accumulate on the device and
are read once per epoch; evaluation runs under `torch.no_grad`.
"""
from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler
from tqdm.auto import tqdm

from .augment import RandomAffine
from .config import check_choice, check_keys, check_number
from .data.splits import DigitData, Split, check_device
from .errors import ConfigError
from .stacking import Single, Stacked

SCHEDULES = {"step": lr_scheduler.StepLR, "cosine": lr_scheduler.CosineAnnealingLR,
             "onecycle": lr_scheduler.OneCycleLR, "plateau": lr_scheduler.ReduceLROnPlateau}
EXPLODED = 20  # a batch loss this many times the starting loss counts as diverged


@dataclass(frozen=True)
class FitConfig:
    """Every keyword `fit` accepts, checked once (see `FitConfig.check`)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    grad_noise: float = 0.0
    schedule: str | dict | None = None
    early_stopping: int | dict | None = None
    augment: bool | dict | None = None
    attack: Callable | None = None
    loss: str = "cross_entropy"
    seed: int = 0
    device: str | torch.device | None = None
    progress: bool | None = None

    @classmethod
    def check(cls, options: dict[str, Any], where: str = "fit") -> FitConfig:
        """Build a config from `where`'s keyword arguments, failing on the first bad key or value."""
        check_keys(options, [f.name for f in fields(cls)], where)
        config = cls(**options)
        check_number("epochs", config.epochs, integer=True, low=1)
        check_number("batch_size", config.batch_size, integer=True, low=1)
        check_number("lr", config.lr, low=0, low_open=True)
        check_choice("optimizer", config.optimizer, ("adam", "sgd"))
        check_number("momentum", config.momentum, low=0, high=1, high_open=True)
        for name in ("weight_decay", "l1", "l2", "grad_noise"):
            check_number(name, getattr(config, name), low=0)
        check_choice("loss", config.loss, ("cross_entropy", "mse"))
        check_number("seed", config.seed, integer=True)
        if config.schedule is not None:
            options = config.schedule_options()
            kind = check_choice("schedule", options.pop("kind"), SCHEDULES)
            fixed = ("optimizer", "last_epoch", "verbose")
            check_keys(options, [p for p in inspect.signature(SCHEDULES[kind]).parameters
                                 if p not in fixed], f"schedule {kind!r}")
        if config.early_stopping is not None:
            config.stopping_options()
        if config.augment is not None and not isinstance(config.augment, (bool, dict)):
            raise ConfigError(f"augment must be True, False or dict(rotation=, shift=, zoom=), "
                              f"got {config.augment!r}.")
        if isinstance(config.augment, dict):
            check_keys(config.augment, [f.name for f in fields(RandomAffine)], "augment")
        if config.device is not None:
            check_device(config.device)
        if config.attack is not None and not callable(config.attack):
            raise ConfigError("attack must be a function attack(model, x, y) -> x_adversarial.")
        return config

    def schedule_options(self) -> dict:
        """schedule="cosine" or dict(kind="step", step_size=5, gamma=0.5) -> dict with 'kind'."""
        if not isinstance(self.schedule, (str, dict)):
            raise ConfigError(f"schedule must be a name or a dict with 'kind', got {self.schedule!r}.")
        options = {"kind": self.schedule} if isinstance(self.schedule, str) else dict(self.schedule)
        if "kind" not in options:
            raise ConfigError(f"schedule needs a 'kind', one of {', '.join(SCHEDULES)}.")
        return options

    def stopping_options(self) -> dict:
        """early_stopping=5 (patience) or dict(patience=1, min_delta=1e-3) -> full dict."""
        if not isinstance(self.early_stopping, (int, dict)):
            raise ConfigError(f"early_stopping must be a patience (an int) or dict(patience=, "
                              f"min_delta=), got {self.early_stopping!r}.")
        given = {"patience": self.early_stopping} if isinstance(self.early_stopping, int) \
            else dict(self.early_stopping)
        check_keys(given, ("patience", "min_delta"), "early_stopping")
        options = {"patience": 5, "min_delta": 0.0, **given}
        check_number("early_stopping patience", options["patience"], integer=True, low=1)
        check_number("early_stopping min_delta", options["min_delta"], low=0)
        return options

    def augmentation(self) -> RandomAffine | None:
        """The random affine transform augment=True or augment=dict(...) asks for; None without."""
        if self.augment is None or self.augment is False:
            return None
        return RandomAffine(**(self.augment if isinstance(self.augment, dict) else {}))


@dataclass
class History:
    """What happened in one run of `fit`, Keras-style.

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


def resolve_device(device: str | torch.device | None, data: DigitData) -> torch.device:
    """None -> the data's device; "auto" -> CUDA when available, else CPU."""
    return data.device if device is None else check_device(device)


def _loss_per_member(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """out: [S, B, K], y: [S, B] -> mean loss per member [S]."""
    if kind == "mse":
        return ((out.squeeze(-1) - y) ** 2).mean(-1)
    return F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(-1)


def _optimizer(params: list[torch.Tensor], config: FitConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, config: FitConfig, steps_per_epoch: int):
    """The learning-rate schedule (None without one). One-cycle steps per batch, the rest per epoch."""
    if config.schedule is None:
        return None
    options = config.schedule_options()
    kind = options.pop("kind")
    defaults = {"step": {"step_size": max(1, config.epochs // 3), "gamma": 0.1},
                "cosine": {"T_max": config.epochs},
                "onecycle": {"max_lr": config.lr, "epochs": config.epochs,
                             "steps_per_epoch": steps_per_epoch},
                "plateau": {"factor": 0.5, "patience": 2}}[kind]
    return SCHEDULES[kind](optimizer, **{**defaults, **options})


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return not os.environ.get("CI") and ("ipykernel" in sys.modules or sys.stderr.isatty())


@torch.no_grad()
def _evaluate_team(team, split: Split, kind: str, batch_size: int = 4096) -> tuple[torch.Tensor, ...]:
    """Mean loss [S] and accuracy [S] of every member on `split` (NaN when the split is empty)."""
    team.train(False)
    total = torch.zeros(team.size, device=split.device)
    correct = torch.zeros(team.size, device=split.device)
    for x, y in split.batches(batch_size, shuffle=False):
        out = team.predict(x)
        target = y.expand(team.size, -1)
        total += _loss_per_member(out, target, kind) * len(y)
        if kind == "cross_entropy":
            correct += (out.argmax(-1) == target).sum(-1)
    n = len(split) or float("nan")
    return total / n, correct / n


def train_team(team: Single | Stacked, data: DigitData, config: FitConfig,
               seeds: list[int]) -> list[History]:
    """Train every member of `team` on `data`; member s draws all its randomness from seeds[s].

    Returns one History per member. The loop is the same for one model and for a vmap stack.
    """
    split, kind, size = data.train, config.loss, team.size
    device = split.device
    orders = [torch.Generator().manual_seed(seed) for seed in seeds]
    noises = [torch.Generator(device).manual_seed(seed) for seed in seeds]
    augmenting = torch.Generator(device).manual_seed(seeds[0] + 1)
    augment = config.augmentation()
    torch.manual_seed(seeds[0])
    params = team.parameters()
    optimizer = _optimizer(params, config)
    steps = math.ceil(len(split) / config.batch_size)
    scheduler = _scheduler(optimizer, config, steps)
    stopping = config.stopping_options() if config.early_stopping is not None else None
    monitor = "val_loss" if len(data.val) else "train_loss"

    rows: list[list[dict]] = [[] for _ in range(size)]
    best = [math.inf] * size
    best_epoch, waited = [0] * size, [0] * size
    snapshots: list[dict | None] = [None] * size
    stopped: list[str | None] = [None] * size
    team.train(False)
    with torch.no_grad():
        probe = torch.arange(min(len(split), 256), device=device).expand(size, -1)
        start_loss = _loss_per_member(team(team.gather(split.x, probe)), split.y[probe], kind).tolist()
    bar = tqdm(range(1, config.epochs + 1), desc="fit", unit="epoch",
               disable=not _show_progress(config.progress), leave=False)
    for epoch in bar:
        started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        team.train(True)
        loss_sum = torch.zeros(size, device=device)
        peak = torch.zeros(size, device=device)
        correct = torch.zeros(size, device=device)
        order = torch.stack([torch.randperm(len(split), generator=g) for g in orders]).to(device)
        for start in range(0, len(split), config.batch_size):
            index = order[:, start:start + config.batch_size]
            x, y = team.gather(split.x, index), split.y[index]
            if augment is not None:
                x = augment(x, augmenting)
            out = team(x)
            losses = _loss_per_member(out, y, kind)
            objective = losses.sum()
            if config.attack is not None:
                adversarial = config.attack(team.model, x, y[0]).detach()
                objective = (objective + _loss_per_member(team(adversarial), y, kind).sum()) / 2
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if config.l1 or config.l2:
                with torch.no_grad():
                    for p in team.penalized:
                        p.grad.add_(config.l1 * p.sign() + 2 * config.l2 * p)
            if config.grad_noise:
                with torch.no_grad():
                    for p in params:
                        for g, generator in zip(team.grads(p), noises):
                            g.add_(torch.randn(g.shape, generator=generator, device=device),
                                   alpha=config.grad_noise)
            optimizer.step()
            if isinstance(scheduler, lr_scheduler.OneCycleLR):
                scheduler.step()
            loss_sum += losses.detach() * index.shape[1]
            peak = torch.maximum(peak, losses.detach())
            if kind == "cross_entropy":
                correct += (out.detach().argmax(-1) == y).sum(-1)

        train_loss, train_accuracy = (loss_sum / len(split)).tolist(), (correct / len(split)).tolist()
        peak_loss = peak.tolist()
        val_loss, val_accuracy = (t.tolist() for t in _evaluate_team(team, data.val, kind))
        seconds = time.perf_counter() - started
        if scheduler is not None and not isinstance(scheduler, lr_scheduler.OneCycleLR):
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(float(np.nanmean(val_loss if len(data.val) else train_loss)))
            else:
                scheduler.step()
        for s in range(size):
            if stopped[s]:
                continue
            row = dict(epoch=epoch, train_loss=train_loss[s], train_accuracy=train_accuracy[s],
                       val_loss=val_loss[s], val_accuracy=val_accuracy[s], lr=lr, seconds=seconds)
            if kind == "mse":
                del row["train_accuracy"], row["val_accuracy"]
            rows[s].append(row)
            watched = row[monitor]
            if not math.isfinite(peak_loss[s]) or peak_loss[s] > EXPLODED * start_loss[s]:
                stopped[s] = "diverged"
            elif watched < best[s] - (stopping["min_delta"] if stopping else 0.0):
                best[s], best_epoch[s], waited[s] = watched, epoch, 0
                if stopping:
                    snapshots[s] = team.snapshot(s)
            elif stopping:
                waited[s] += 1
                if waited[s] >= stopping["patience"]:
                    stopped[s] = "early_stopping"
        bar.set_postfix({k: f"{v:.4f}" for k, v in rows[0][-1].items()
                         if k in ("train_loss", "val_loss", "val_accuracy")})
        if all(stopped):
            break
    bar.close()
    models = team.modules([None if stopped[s] == "diverged" else snapshots[s] for s in range(size)])
    return [History(pd.DataFrame(rows[s]), best_epoch[s], stopped[s] or "completed", models[s])
            for s in range(size)]


def fit(model: nn.Module, data: DigitData, **config: Any) -> History:
    """Train `model` on data.train, watching data.val; return the History of the run.

    Keywords (checked, with defaults in FitConfig): epochs, batch_size (>= len(train) means full batch),
    lr, optimizer ("adam" | "sgd"), momentum, weight_decay, l1, l2 (penalties on weights, added to the
    gradient as l1 * sign(w) + 2 * l2 * w), grad_noise (sigma of N(0, sigma^2) added to every gradient),
    schedule ("step" | "cosine" | "onecycle" | "plateau", or a dict with "kind" and the scheduler's
    arguments), early_stopping (patience, or dict(patience=, min_delta=): stop when the monitored loss
    has not improved by min_delta for `patience` epochs; the best weights are restored), augment (True
    or dict(rotation=, shift=, zoom=)), attack (attack(model, x, y) -> x_adv: train on the mean of the
    clean and adversarial loss), loss ("cross_entropy" | "mse"), seed, device, progress.
    A loss that turns NaN or explodes stops the run and marks it diverged; nothing is raised.
    """
    options = FitConfig.check(config)
    device = resolve_device(options.device, data)
    return train_team(Single(model.to(device)), data.to(device), options, [options.seed])[0]


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, *, loss: str = "cross_entropy", per_class: bool = False,
             classes: tuple[str, ...] | None = None, batch_size: int = 4096) -> dict[str, Any]:
    """Loss and accuracy of `model` on `split` (eval mode, no gradients).

    per_class=True adds "per_class" (a DataFrame of precision, recall, F1 and support per class, from
    scikit-learn) and "confusion" ([K, K] counts, rows the true class). Regression returns the loss only.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    check_choice("loss", loss, ("cross_entropy", "mse"))
    device = next(model.parameters()).device
    team = Single(model)
    split = split.to(device)
    mean_loss, accuracy = _evaluate_team(team, split, loss, batch_size)
    result: dict[str, Any] = {"loss": float(mean_loss[0])}
    if loss == "mse":
        return result
    result["accuracy"] = float(accuracy[0])
    if per_class:
        logits = torch.cat([model(x) for x, _ in split.batches(batch_size, shuffle=False)])
        truth, predicted = split.y.cpu().numpy(), logits.argmax(-1).cpu().numpy()
        labels = np.arange(len(classes) if classes else logits.shape[-1])
        precision, recall, f1, support = precision_recall_fscore_support(
            truth, predicted, labels=labels, zero_division=0)
        names = list(classes) if classes else [str(k) for k in labels]
        result["per_class"] = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1,
                                            "support": support}, index=pd.Index(names, name="class"))
        result["confusion"] = confusion_matrix(truth, predicted, labels=labels)
    return result
