"""3-D surfaces over a square grid of the plane: a regression model's prediction beside the truth."""
from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure
from torch import nn

from ..data import target_function
from ..errors import ConfigError
from .figures import new_figure


def surface(x: torch.Tensor, panels: dict[str, torch.Tensor], *,
            zlabel: str | dict[str, str] = "f(x1, x2)") -> Figure:
    """3-D surfaces side by side, title -> z [G*G] over the grid x [G*G, 2] of regression_data(m).test.x.

    zlabel: the z-axis label of every panel, or title -> label (panels not named keep "f(x1, x2)"),
    e.g. {"error": "prediction - f(x1, x2)"}.
    """
    side = math.isqrt(len(x))
    fig = new_figure(5 * len(panels), 4.5)
    for position, (title, z) in enumerate(panels.items(), start=1):
        if side * side != len(x) or z.numel() != len(x):
            raise ConfigError(f"a surface needs the G*G points of a square grid and one value per point; "
                              f"got {len(x)} points and {z.numel()} values for {title!r}.")
        grid = [t.detach().cpu().reshape(side, side).numpy() for t in (x[:, 0], x[:, 1], z)]
        ax = fig.add_subplot(1, len(panels), position, projection="3d")
        ax.plot_surface(*grid, cmap="viridis", linewidth=0)
        label = zlabel.get(title, "f(x1, x2)") if isinstance(zlabel, dict) else zlabel
        ax.set(xlabel="x1", ylabel="x2", zlabel=label, title=title)
    return fig


@torch.no_grad()
def regression_surface(model_or_values: nn.Module | torch.Tensor, x: torch.Tensor, *,
                       truth: bool = True) -> Figure:
    """What a regression model predicts on the grid x: [G*G, 2], beside the true x1*exp(-x1^2-x2^2).

    model_or_values: a model mapping x to [G*G, 1] (run in eval mode on its device), or the predicted
    values [G*G] themselves. truth=False draws the prediction alone.
    """
    if isinstance(model_or_values, nn.Module):
        model_or_values = model_or_values.eval()(x.to(next(model_or_values.parameters()).device))
    panels = {"Predicted f(x1, x2)": torch.as_tensor(model_or_values).cpu()}
    if truth:
        panels["True f(x1, x2) = x1 exp(-x1² - x2²)"] = target_function(x.cpu())
    return surface(x, panels)
