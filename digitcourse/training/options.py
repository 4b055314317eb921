"""The door of `fit` and `run_trials`: every keyword checked once and parsed into a `FitConfig`.

After `FitConfig.check`, the config holds parsed values (a `Schedule`, `Stopping` options, a
`RandomAffine` or None, a torch.device, a yes-or-no progress bar); the training loop reads them as
they are. `FitConfig.one_at_a_time` says whether a run must train its models one after another.
"""
from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch.optim import lr_scheduler

from ..augment import RandomAffine
from ..checks import check_choice, check_device, check_keys, check_number
from ..errors import ConfigError

SCHEDULES = {"step": lr_scheduler.StepLR, "cosine": lr_scheduler.CosineAnnealingLR,
             "onecycle": lr_scheduler.OneCycleLR, "plateau": lr_scheduler.ReduceLROnPlateau}
_FIXED = ("optimizer", "last_epoch", "verbose")  # scheduler arguments that fit sets itself
PRECISIONS = ("float32", "bfloat16", "auto")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: its `kind` (a key of SCHEDULES) and the scheduler's keyword arguments
    given on top of the defaults (`build`)."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def per_batch(self) -> bool:
        """One-cycle steps after every batch; the others after every epoch."""
        return self.kind == "onecycle"

    @property
    def watches_loss(self) -> bool:
        """Plateau steps on the monitored loss (so every member must see its own scheduler)."""
        return self.kind == "plateau"

    def build(self, optimizer: torch.optim.Optimizer, epochs: int, lr: float, steps_per_epoch: int):
        defaults = {"step": {"step_size": max(1, epochs // 3), "gamma": 0.1},
                    "cosine": {"T_max": epochs},
                    "onecycle": {"max_lr": lr, "epochs": epochs, "steps_per_epoch": steps_per_epoch},
                    "plateau": {"factor": 0.5, "patience": 2}}[self.kind]
        return SCHEDULES[self.kind](optimizer, **{**defaults, **self.options})


@dataclass(frozen=True)
class Stopping:
    """Early stopping: stop when the monitored loss has not improved by `min_delta` for `patience`
    epochs, and keep the weights of the best epoch."""

    patience: int = 5
    min_delta: float = 0.0


@dataclass(frozen=True)
class FitConfig:
    """Every keyword `fit` accepts, parsed (see `FitConfig.check` for the raw forms)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    grad_noise: float = 0.0
    schedule: Schedule | None = None
    early_stopping: Stopping | None = None
    augment: RandomAffine | None = None
    attack: Callable | None = None
    loss: str = "cross_entropy"
    precision: str = "float32"
    seed: int = 0
    device: torch.device | None = None
    progress: bool = False

    @classmethod
    def check(cls, options: dict[str, Any], where: str = "fit") -> FitConfig:
        """Parse `where`'s keyword arguments, failing on the first bad key or value.

        Raw forms: schedule "cosine" or dict(kind="step", step_size=5, gamma=0.5); early_stopping a
        patience or dict(patience=, min_delta=); augment True or dict(rotation=, shift=, zoom=); device
        "auto", "cpu", "cuda" or a torch.device; progress None (a bar in notebooks and terminals, not
        in CI) or a bool.
        """
        check_keys(options, [f.name for f in fields(cls)], where)
        raw = {**{f.name: f.default for f in fields(cls)}, "progress": None, **options}
        check_number("epochs", raw["epochs"], integer=True, low=1)
        check_number("batch_size", raw["batch_size"], integer=True, low=1)
        check_number("lr", raw["lr"], low=0, low_open=True)
        check_choice("optimizer", raw["optimizer"], ("adam", "sgd"))
        check_number("momentum", raw["momentum"], low=0, high=1, high_open=True)
        for name in ("weight_decay", "l1", "l2", "grad_noise"):
            check_number(name, raw[name], low=0)
        check_choice("loss", raw["loss"], ("cross_entropy", "mse"))
        check_choice("precision", raw["precision"], PRECISIONS)
        check_number("seed", raw["seed"], integer=True)
        if raw["attack"] is not None and not callable(raw["attack"]):
            raise ConfigError("attack must be a function attack(model, x, y) -> x_adversarial.")
        return cls(**{**raw, "schedule": _schedule(raw["schedule"]),
                      "early_stopping": _stopping(raw["early_stopping"]),
                      "augment": _augmentation(raw["augment"]),
                      "device": None if raw["device"] is None else check_device(raw["device"]),
                      "progress": _progress(raw["progress"])})

    def bfloat16(self, device: torch.device) -> bool:
        """Whether the training steps run under bfloat16 autocast on `device`: asked for, or "auto" on a
        device that computes bfloat16 natively (a CUDA GPU from Ampere on, a CPU with AVX-512 BF16); an
        older GPU or CPU would only emulate it, more slowly than float32."""
        if self.precision != "auto":
            return self.precision == "bfloat16"
        if device.type == "cuda":
            return torch.cuda.is_bf16_supported(including_emulation=False)
        return device.type == "cpu" and torch.cpu._is_avx512_bf16_supported()

    @property
    def one_at_a_time(self) -> bool:
        """Whether the models of a run must train one after another (no vmap): augmentation and
        attacks act on one model's batch, and a plateau schedule follows one model's loss."""
        return (self.augment is not None or self.attack is not None
                or (self.schedule is not None and self.schedule.watches_loss))


def _schedule(schedule: Any) -> Schedule | None:
    if schedule is None:
        return None
    if not isinstance(schedule, (str, dict)):
        raise ConfigError(f"schedule must be a name or a dict with 'kind', got {schedule!r}.")
    options = {"kind": schedule} if isinstance(schedule, str) else dict(schedule)
    if "kind" not in options:
        raise ConfigError(f"schedule needs a 'kind', one of {', '.join(SCHEDULES)}.")
    kind = check_choice("schedule", options.pop("kind"), SCHEDULES)
    accepted = [name for name in inspect.signature(SCHEDULES[kind]).parameters if name not in _FIXED]
    check_keys(options, accepted, f"schedule {kind!r}")
    return Schedule(kind, options)


def _stopping(early_stopping: Any) -> Stopping | None:
    if early_stopping is None:
        return None
    if not isinstance(early_stopping, (int, dict)):
        raise ConfigError(f"early_stopping must be a patience (an int) or dict(patience=, min_delta=), "
                          f"got {early_stopping!r}.")
    given = {"patience": early_stopping} if isinstance(early_stopping, int) else dict(early_stopping)
    check_keys(given, [f.name for f in fields(Stopping)], "early_stopping")
    stopping = Stopping(**given)
    check_number("early_stopping patience", stopping.patience, integer=True, low=1)
    check_number("early_stopping min_delta", stopping.min_delta, low=0)
    return stopping


def _augmentation(augment: Any) -> RandomAffine | None:
    if augment is None or augment is False:
        return None
    if augment is True:
        return RandomAffine()
    if not isinstance(augment, dict):
        raise ConfigError(f"augment must be True, False or dict(rotation=, shift=, zoom=), got {augment!r}.")
    check_keys(augment, [f.name for f in fields(RandomAffine)], "augment")
    return RandomAffine(**augment)


def _progress(progress: Any) -> bool:
    """A progress bar where someone watches: in a notebook or a terminal, and never in CI."""
    if progress is not None:
        return bool(progress)
    return not os.environ.get("CI") and ("ipykernel" in sys.modules or sys.stderr.isatty())
