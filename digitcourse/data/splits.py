"""In-memory splits and the seeded, stratified permutations that make them."""
from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ..checks import check_number


@dataclass(frozen=True)
class Split:
    """One split of a data set, held as tensors on one device.

    x: [N, C, H, W] float32 in [0, 1] (or [N, D] features for regression).
    y: [N] int64 class labels (-1 where unknown) or [N] float32 targets for regression.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Split:
        """This split on `device`, with x (and real regression targets y) in the floating `dtype`;
        class labels stay int64."""
        y_dtype = dtype if self.y.is_floating_point() else None
        return Split(self.x.to(device=device, dtype=dtype), self.y.to(device=device, dtype=y_dtype))

    def batches(self, batch_size: int, shuffle: bool = True,
                generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x, y) batches by indexing the tensors; batch_size >= N gives one full batch.

        The permutation is drawn on the CPU from `generator` (so a seed fixes it on every device)
        and moved to the data's device once per pass.
        """
        n = len(self)
        if batch_size >= n and not shuffle:
            yield self.x, self.y
            return
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            yield self.x[index], self.y[index]

    def take(self, index: torch.Tensor) -> Split:
        """The rows at `index` ([K] int64), as a new split."""
        index = index.to(self.device)
        return Split(self.x[index], self.y[index])


def stratified_order(y: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded permutation of range(len(y)) in which every prefix keeps the class proportions.

    Every prefix of length k holds each class c k * n_c / N times to within one (see
    :func:`_class_pattern`); which member of a class comes at its turn is drawn from `seed`.
    y: [N] int64. Returns [N] int64 on the CPU.
    """
    generator = torch.Generator().manual_seed(seed)
    y = y.cpu().numpy()  # numpy: torch's multi-threaded small ops crawl when the cores are busy
    labels, counts = np.unique(y, return_counts=True)
    pattern = _class_pattern(tuple(counts.tolist()))
    order = np.empty(len(y), dtype=np.int64)
    for turn, label in enumerate(labels):
        members = np.flatnonzero(y == label)
        order[pattern == turn] = members[torch.randperm(len(members), generator=generator).numpy()]
    return torch.from_numpy(order)


def stratified_folds(y: torch.Tensor, k: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """k stratified folds for cross-validation: [(train_index, val_index)] * k, int64 on the CPU.

    The validation parts are k consecutive pieces of stratified_order(y, seed), of sizes within one of
    len(y) / k: every example is validated exactly once, and each piece holds each class in proportion
    to within two. train_index is the rest, in the same order. y: [N] int64 labels; 2 <= k <= N.
    """
    check_number("k", k, integer=True, low=2, high=len(y))
    order = stratified_order(y, seed)
    bounds = [round(i * len(y) / k) for i in range(k + 1)]
    return [(torch.cat([order[:start], order[end:]]), order[start:end])
            for start, end in zip(bounds[:-1], bounds[1:])]


@functools.lru_cache(maxsize=16)
def _class_pattern(counts: tuple[int, ...]) -> np.ndarray:
    """The class at each position ([N] int64) of a sequence holding counts[c] members of each class c.

    Every prefix of length k holds k * counts[c] / N of class c to within 1 - 1/(2C - 2): Tijdeman's
    solution of the chairman assignment problem (1980). Among the classes due (behind their share by at
    least 1/(2C - 2)), take the one whose next member is due soonest. A heap of the classes not due
    yet, by the position where each will be, feeds a heap of those due, by urgency.
    """
    total, scale = sum(counts), max(2 * len(counts) - 2, 1)

    def due_at(c: int, taken: int) -> int:  # the first position k where class c, `taken` placed, is due
        return -(-total * (scale * taken + 1) // (scale * counts[c]))

    taken = [0] * len(counts)
    waiting = [(due_at(c, 0), c) for c in range(len(counts))]
    heapq.heapify(waiting)
    due: list[tuple[float, int]] = []
    pattern = np.empty(total, dtype=np.int64)
    for k in range(1, total + 1):
        while waiting and waiting[0][0] <= k:
            c = heapq.heappop(waiting)[1]
            heapq.heappush(due, ((scale * (taken[c] + 1) - 1) / counts[c], c))
        turn = heapq.heappop(due)[1]
        taken[turn] += 1
        pattern[k - 1] = turn
        if taken[turn] < counts[turn]:
            heapq.heappush(waiting, (due_at(turn, taken[turn]), turn))
    pattern.flags.writeable = False
    return pattern


@dataclass(frozen=True)
class DigitData:
    """A data set ready for training: three splits and what their labels mean."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 28, 28)."""
        return tuple(self.train.x.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.train.device

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> DigitData:
        """The data set on `device`, its inputs in `dtype`, e.g. ``data.to(dtype=torch.float64)``."""
        return DigitData(self.name, *(split.to(device, dtype) for split in (self.train, self.val, self.test)),
                         self.classes)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.image_shape))
        classes = ", ".join(self.classes) if self.num_classes <= 10 else f"{self.num_classes} classes"
        kind, labels = ("images", f"classes: {classes}") if self.classes else ("points", "real targets")
        return (f"DigitData({self.name!r}: train {len(self.train):,} / val {len(self.val):,} / "
                f"test {len(self.test):,} {kind} of {shape} on {self.device}; {labels})")
