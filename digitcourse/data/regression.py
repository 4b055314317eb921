"""A two-input regression problem: learn f(x) = x1 * exp(-x1^2 - x2^2) on [-2, 2]^2 from m samples."""
from __future__ import annotations

import torch

from ..checks import check_device, check_number
from ..errors import ConfigError
from .splits import DigitData, Split


def target_function(x: torch.Tensor) -> torch.Tensor:
    """f(x) = x1 * exp(-x1^2 - x2^2). x: [N, 2] float -> [N] float."""
    return x[:, 0] * torch.exp(-x[:, 0] ** 2 - x[:, 1] ** 2)


def regression_data(m: int, *, seed: int = 0, grid: int = 1000, val_fraction: float = 0.0,
                    device: str | torch.device = "cpu") -> DigitData:
    """m noise-free samples of :func:`target_function` at points uniform on [-2, 2]^2, and a test grid.

    train: x [m - m_val, 2] float32, y [m - m_val] float32, with m_val = round(val_fraction * m)
    points held out as val (the points are i.i.d., so the first m_val are a random sample);
    test: the grid * grid points of linspace(-2, 2, grid) in both coordinates, x [grid^2, 2].
    The same seed gives the same points.
    """
    check_number("m", m, integer=True, low=1)
    check_number("seed", seed, integer=True)
    check_number("grid", grid, integer=True, low=2)
    check_number("val_fraction", val_fraction, low=0, high=1, high_open=True)
    device = check_device(device)
    n_val = round(val_fraction * m)
    if n_val == m:
        raise ConfigError(f"impossible split: val_fraction={val_fraction} of m={m} points leaves no "
                          "training points; lower val_fraction or raise m.")
    x = torch.rand(m, 2, generator=torch.Generator().manual_seed(seed)) * 4 - 2
    axis = torch.linspace(-2, 2, grid)
    x_test = torch.cartesian_prod(axis, axis)
    train, val = Split(x[n_val:], target_function(x[n_val:])), Split(x[:n_val], target_function(x[:n_val]))
    return DigitData("regression", train, val, Split(x_test, target_function(x_test)), ()).to(device)
