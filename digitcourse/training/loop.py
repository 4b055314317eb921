"""The one training loop: `train_team` trains every member of a team (one model, or S copies under vmap).

An epoch is a few named steps: draw each member's batch order, take a batch step per batch (augment,
forward, loss, attack, backward, penalties, gradient noise, optimizer step; under bfloat16 autocast
when the config asks for it), evaluate on the validation split (always in float32), step the
learning-rate schedule, and let each member's stopper decide (best epoch, patience, divergence).
Metrics accumulate on the device and are read once per epoch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.splits import DigitData, Split
from .history import History
from .options import FitConfig, Stopping
from .team import Single, Vectorized

Team = Single | Vectorized
EXPLODED = 20  # a batch loss this many times the starting loss counts as diverged


def train_team(team: Team, data: DigitData, config: FitConfig, seeds: list[int]) -> list[History]:
    """Train every member of `team` on data.train, watching data.val; member s draws its batch order
    and gradient noise from seeds[s]. Returns one History per member."""
    split, kind = data.train, config.loss
    bfloat16 = config.bfloat16(split.device)
    if bfloat16:
        team.prefer_channels_last()  # before the optimizer sees the parameters
    generators = _Generators(seeds, split.device)
    torch.manual_seed(seeds[0])  # dropout masks, and whatever else draws from torch's own generator
    optimizer = _optimizer(team.parameters(), config)
    steps = math.ceil(len(split) / config.batch_size)
    scheduler = config.schedule.build(optimizer, config.epochs, config.lr, steps) if config.schedule else None
    monitor = "val_loss" if len(data.val) else "train_loss"
    stoppers = [_Stopper(config.early_stopping, start) for start in _start_losses(team, split, kind)]
    rows: list[list[dict]] = [[] for _ in seeds]
    bar = tqdm(range(1, config.epochs + 1), desc="fit", unit="epoch", disable=not config.progress,
               leave=False)
    for epoch in bar:
        started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        train = _train_epoch(team, split, config, optimizer, scheduler, generators, bfloat16)
        val_loss, val_accuracy = (t.tolist() for t in evaluate_team(team, data.val, kind))
        seconds = time.perf_counter() - started
        if scheduler is not None and not config.schedule.per_batch:
            if config.schedule.watches_loss:
                scheduler.step(float(np.nanmean(val_loss if len(data.val) else train.loss)))
            else:
                scheduler.step()
        for member, stopper in enumerate(stoppers):
            if stopper.stopped:
                continue
            row = dict(epoch=epoch, train_loss=train.loss[member], train_accuracy=train.accuracy[member],
                       val_loss=val_loss[member], val_accuracy=val_accuracy[member], lr=lr, seconds=seconds)
            if kind == "mse":
                del row["train_accuracy"], row["val_accuracy"]
            rows[member].append(row)
            stopper.update(epoch, row[monitor], train.peak[member], team, member)
        bar.set_postfix({k: f"{v:.4f}" for k, v in rows[0][-1].items()
                         if k in ("train_loss", "val_loss", "val_accuracy")})
        if all(stopper.stopped for stopper in stoppers):
            break
    bar.close()
    models = team.modules([stopper.snapshot for stopper in stoppers])
    return [History(pd.DataFrame(member_rows), stopper.best_epoch, stopper.stopped or "completed", model)
            for member_rows, stopper, model in zip(rows, stoppers, models)]


class _Generators:
    """The seeded random streams of a run: per member, its batch order (drawn on the CPU, so a seed
    gives the same order on every device) and its gradient noise; one stream for augmentation."""

    def __init__(self, seeds: list[int], device: torch.device):
        self.orders = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.noises = [torch.Generator(device).manual_seed(seed) for seed in seeds]
        self.augmenting = torch.Generator(device).manual_seed(seeds[0] + 1)

    def batch_orders(self, n: int, device: torch.device) -> torch.Tensor:
        """One permutation of range(n) per member: [S, n] int64 on `device`."""
        return torch.stack([torch.randperm(n, generator=order) for order in self.orders]).to(device)


@dataclass
class _EpochStats:
    """Per member [S]: mean training loss and accuracy over the epoch, and the largest batch loss."""

    loss: list[float]
    accuracy: list[float]
    peak: list[float]


def _train_epoch(team: Team, split: Split, config: FitConfig, optimizer: torch.optim.Optimizer,
                 scheduler, generators: _Generators, bfloat16: bool) -> _EpochStats:
    """One pass over `split` in each member's own order, a batch step per batch.

    The step only collects each batch's losses [S] and predictions [S, B]; the epoch's sums are taken
    once at the end (in float64), which keeps the per-step work to the training itself.
    """
    team.train(True)
    n = len(split)
    order = generators.batch_orders(n, split.device)
    losses, predictions = [], []
    for start in range(0, n, config.batch_size):
        index = order[:, start:start + config.batch_size]
        x, y = team.gather(split.x, index), split.y[index]
        batch_losses, out = _batch_step(team, x, y, config, optimizer, generators, bfloat16)
        if scheduler is not None and config.schedule.per_batch:
            scheduler.step()
        losses.append(batch_losses)
        if config.loss == "cross_entropy":
            predictions.append(out.argmax(-1))
    losses = torch.stack(losses)  # [steps, S]
    sizes = torch.full((len(losses), 1), config.batch_size, dtype=torch.float64, device=split.device)
    sizes[-1] = n - (len(losses) - 1) * config.batch_size
    loss = (losses.double() * sizes).sum(0) / n
    correct = (torch.cat(predictions, 1) == split.y[order]).sum(-1) if predictions else torch.zeros(team.size)
    return _EpochStats(loss.tolist(), (correct / n).tolist(), losses.max(0).values.tolist())


def _batch_step(team: Team, x: torch.Tensor, y: torch.Tensor, config: FitConfig,
                optimizer: torch.optim.Optimizer, generators: _Generators,
                bfloat16: bool) -> tuple[torch.Tensor, ...]:
    """One optimizer step on a batch x: [S, B, ...], y: [S, B]; returns the detached losses [S] and
    outputs [S, B, K]. With `bfloat16`, the forward passes run under autocast, entered anew each step:
    autocast keeps its bfloat16 copies of the weights until its block ends."""
    if config.augment is not None:
        x = config.augment(x, generators.augmenting)
    with torch.autocast(x.device.type, torch.bfloat16, enabled=bfloat16):
        out = team(x)
        losses = loss_per_member(out, y, config.loss)
        objective = losses.sum()
        if config.attack is not None:
            adversarial = config.attack(team.model, x, y[0]).detach()
            objective = (objective + loss_per_member(team(adversarial), y, config.loss).sum()) / 2
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    with torch.no_grad():
        if config.l1 or config.l2:
            for p in team.penalized:
                p.grad.add_(config.l1 * p.sign() + 2 * config.l2 * p)
        if config.grad_noise:
            for p in team.parameters():
                for grad, generator in zip(team.grads(p), generators.noises):
                    grad.add_(torch.randn(grad.shape, generator=generator, device=grad.device),
                              alpha=config.grad_noise)
    optimizer.step()
    return losses.detach(), out.detach()


class _Stopper:
    """One member's watch over its monitored loss: the best epoch, its weights (with early stopping),
    the epochs waited since, and whether (and why) the member stopped."""

    def __init__(self, stopping: Stopping | None, start_loss: float):
        self.stopping, self.start_loss = stopping, start_loss
        self.best, self.best_epoch, self.waited = math.inf, 0, 0
        self.kept: dict | None = None
        self.stopped: str | None = None  # "diverged" or "early_stopping"

    def update(self, epoch: int, watched: float, peak_loss: float, team: Team, member: int) -> None:
        """Take note of an epoch: its monitored loss `watched` and its largest batch loss."""
        if not math.isfinite(peak_loss) or peak_loss > EXPLODED * self.start_loss:
            self.stopped = "diverged"
        elif watched < self.best - (self.stopping.min_delta if self.stopping else 0.0):
            self.best, self.best_epoch, self.waited = watched, epoch, 0
            if self.stopping:
                self.kept = team.snapshot(member)
        elif self.stopping:
            self.waited += 1
            if self.waited >= self.stopping.patience:
                self.stopped = "early_stopping"

    @property
    def snapshot(self) -> dict | None:
        """The weights to end with: the best epoch's (early stopping), else None for the last ones;
        a diverged member keeps its last weights."""
        return None if self.stopped == "diverged" else self.kept


def _start_losses(team: Team, split: Split, kind: str) -> list[float]:
    """Each member's loss on the first 256 training examples before training: the divergence yardstick."""
    team.train(False)
    with torch.no_grad():
        probe = torch.arange(min(len(split), 256), device=split.device).expand(team.size, -1)
        return loss_per_member(team(team.gather(split.x, probe)), split.y[probe], kind).tolist()


def _optimizer(params: list[torch.Tensor], config: FitConfig) -> torch.optim.Optimizer:
    """Adam or SGD, fused (one kernel a step for all parameters) where this torch and device can."""
    if config.optimizer == "sgd":
        kind, options = torch.optim.SGD, dict(momentum=config.momentum)
    else:
        kind, options = torch.optim.Adam, {}
    options.update(lr=config.lr, weight_decay=config.weight_decay)
    try:
        return kind(params, fused=True, **options)
    except (TypeError, RuntimeError):  # torch < 2.4 on the CPU, or a device without fused kernels
        return kind(params, **options)


def loss_per_member(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """out: [S, B, K], y: [S, B] -> mean loss per member [S]."""
    if kind == "mse":
        return ((out.squeeze(-1) - y) ** 2).mean(-1)
    return F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(-1)


@torch.no_grad()
def evaluate_team(team: Team, split: Split, kind: str, batch_size: int = 4096,
                  outputs: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss [S] and accuracy [S] of every member on `split` (NaN when the split is empty).

    outputs: a list that receives each batch's outputs [S, B, K], for a caller that needs them too.
    """
    team.train(False)
    total = torch.zeros(team.size, device=split.device)
    correct = torch.zeros(team.size, device=split.device)
    for x, y in split.batches(batch_size, shuffle=False):
        out = team.predict(x)
        target = y.expand(team.size, -1)
        total += loss_per_member(out, target, kind) * len(y)
        if kind == "cross_entropy":
            correct += (out.argmax(-1) == target).sum(-1)
        if outputs is not None:
            outputs.append(out)
    n = len(split) or float("nan")
    return total / n, correct / n
