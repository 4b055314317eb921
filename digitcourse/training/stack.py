"""S plain MLPs trained as batched matrix products, faster than vmap on the CPU.

A `LinearStack` runs a team of S copies of one `nn.Sequential` made of Flatten, Linear, Dropout and
elementwise activations only (what `dc.models.mlp` builds without a norm). Activations travel
feature-major, h: [S, features, B], so that each layer is one ``baddbmm(bias, W, h)`` with W as stored,
[S, out, in]. Autograd then computes each weight's gradient as ``grad @ h.T``, [S, out, in]: the
layout of the weight itself. vmap's ``x @ W.T`` instead yields the transposed gradient, which
autograd copies into the weight's layout every step; for the first layer of 784-128-10 that copy
took a quarter of the step. The input's gradient is computed only where autograd needs it (never for
the first layer: the images need none).

The numbers are vmap's up to float rounding. Dropout draws its masks on [S, B, features] in the
order vmap does (randomness="different"), so a seed gives the same masks either way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import WeightDropLinear

ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Identity)


class LinearStack:
    """The forward pass of S stacked copies of `base` (see the module's docstring)."""

    def __init__(self, base: nn.Sequential):
        self.layers = [(name, layer) for name, layer in base.named_children()]

    @staticmethod
    def fits(base: nn.Module) -> bool:
        """Whether `base` is a Sequential this stack can run: Flatten (of all but the batch dim), Linear
        (plain, or dropping its weights), Dropout and elementwise activations."""
        return isinstance(base, nn.Sequential) and all(
            type(layer) in (nn.Linear, WeightDropLinear, nn.Dropout) or isinstance(layer, ELEMENTWISE)
            or (isinstance(layer, nn.Flatten) and (layer.start_dim, layer.end_dim) == (1, -1))
            for layer in base)

    def __call__(self, params: dict[str, torch.Tensor], x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """x: [S, B, ...] (or [B, ...] seen by every member when `shared`) -> [S, B, K]."""
        size = len(next(iter(params.values())))
        h = x.flatten(1).T.expand(size, -1, -1) if shared else x.flatten(2).transpose(1, 2)  # [S, D, B]
        for name, layer in self.layers:
            if isinstance(layer, nn.Linear):
                weight, bias = params[f"{name}.weight"], params.get(f"{name}.bias")
                if isinstance(layer, WeightDropLinear):  # a mask per member: [S, out, in]
                    weight = F.dropout(weight, layer.p, layer.training)
                h = torch.bmm(weight, h) if bias is None else torch.baddbmm(bias.unsqueeze(2), weight, h)
            elif isinstance(layer, nn.Dropout):
                h = F.dropout(h.transpose(1, 2).contiguous(), layer.p, layer.training).transpose(1, 2)
            elif not isinstance(layer, nn.Flatten):
                h = layer(h)
        return h.transpose(1, 2)
