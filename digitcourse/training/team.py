"""A team: the S models one run of the training loop trains, behind one small interface.

The loop (`loop.py`) hands a team index tensors [S, B] and gets outputs [S, B, K]. `Single` wraps one
ordinary module (S = 1, any layers, batch-norm included). `Vectorized` holds S copies of one
architecture (one per seed) as stacked tensors ([S, ...] per parameter) and runs them with
`torch.func.vmap` (plain MLPs as batched matrix products, `stack.py`), so ten seeds cost about one
larger matrix product.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .stack import LinearStack


class Single:
    """A team of one: the module itself, trained and evaluated directly."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.size = 1
        self.trainable = [p for p in model.parameters() if p.requires_grad]  # frozen layers stay out
        self.penalized = [p for p in self.trainable if p.dim() > 1]

    def parameters(self) -> list[torch.Tensor]:
        return self.trainable

    def prefer_channels_last(self) -> None:
        """Store convolution weights channels-last, the layout bfloat16 convolutions run fastest in
        (the parameters stay the same tensors: only their storage changes)."""
        self.model.to(memory_format=torch.channels_last)

    def train(self, mode: bool) -> None:
        self.model.train(mode)

    def gather(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x: [N, ...], index: [1, B] -> [B, ...] (index_select: twice as fast as x[index] on the CPU)."""
        return x.index_select(0, index[0])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, ...] -> [1, B, K]."""
        return self.model(x).unsqueeze(0)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The same inputs for every member: x: [N, ...] -> [1, N, K]."""
        return self(x)

    def grads(self, p: torch.Tensor) -> Iterator[torch.Tensor]:
        """The gradient of `p` for each member (here just one)."""
        yield p.grad

    def snapshot(self, member: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def modules(self, snapshots: list[dict | None]) -> list[nn.Module]:
        """The trained module, with its snapshot loaded where one was kept."""
        if snapshots[0] is not None:
            self.model.load_state_dict(snapshots[0])
        return [self.model]


class Vectorized:
    """S modules of one architecture (no batch-norm), run together: plain MLPs as batched matrix
    products (`LinearStack`), other architectures with vmap.

    Dropout draws different masks per member (`randomness="different"`).
    """

    def __init__(self, models: list[nn.Module]):
        self.originals = models
        self.size = len(models)
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")
        self.stack = LinearStack(self.base) if LinearStack.fits(self.base) else None
        self.trainable = [p for p in self.params.values() if p.requires_grad]  # frozen layers stay out
        self.penalized = [p for p in self.trainable if p.dim() > 2]

    def parameters(self) -> list[torch.Tensor]:
        return self.trainable

    def prefer_channels_last(self) -> None:
        """Nothing: stacked weights [S, ...] have no channels-last layout."""

    def train(self, mode: bool) -> None:
        self.base.train(mode)

    def gather(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x: [N, ...], index: [S, B] -> [S, B, ...], each member its own batch (index_select: twice as
        fast as x[index] on the CPU)."""
        return x.index_select(0, index.flatten()).view(*index.shape, *x.shape[1:])

    def _forward(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: [S, B, ...] -> [S, B, K]."""
        if self.stack is not None:
            return self.stack(self.params, x)
        return vmap(self._forward, randomness="different")(self.params, self.buffers, x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The same inputs for every member: x: [N, ...] -> [S, N, K]."""
        if self.stack is not None:
            return self.stack(self.params, x, shared=True)
        return vmap(self._forward, in_dims=(0, 0, None), randomness="different")(
            self.params, self.buffers, x)

    def grads(self, p: torch.Tensor) -> Iterator[torch.Tensor]:
        yield from p.grad

    def snapshot(self, member: int) -> dict[str, torch.Tensor]:
        return {name: p[member].detach().clone() for name, p in self.params.items()}

    @torch.no_grad()
    def modules(self, snapshots: list[dict | None]) -> list[nn.Module]:
        """The S trained modules: each member's stacked weights (or its snapshot) copied back."""
        for member, (model, snapshot) in enumerate(zip(self.originals, snapshots)):
            for name, p in model.named_parameters():
                p.copy_(snapshot[name] if snapshot is not None else self.params[name][member])
        return self.originals
