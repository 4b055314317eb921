"""Seeded random affine augmentation of whole batches, on the batch's device."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RandomAffine:
    """Random rotation (degrees), shift (fraction of the image) and zoom (relative), per image."""

    rotation: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, C, H, W], each image moved by its own draw from `generator`."""
        n = len(x)

        def uniform(half_width: float) -> torch.Tensor:
            u = torch.rand(n, generator=generator, device=generator.device).to(x.device)
            return (2 * u - 1) * half_width

        angle = uniform(math.radians(self.rotation))
        scale = 1 / (1 + uniform(self.zoom))
        shift_x, shift_y = 2 * uniform(self.shift), 2 * uniform(self.shift)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos, -sin, shift_x], 1),
                             torch.stack([sin, cos, shift_y], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
