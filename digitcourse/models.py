"""Builders for the networks the course trains. Each returns a plain `torch.nn.Module`.

Every model takes images x: [N, C, H, W] (or features [N, D]) and returns logits [N, num_classes]
(or predictions [N, 1] for regression).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_choice, check_number

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
NORMS = {None: None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}
INIT_SCHEMES = ("normal", "uniform", "xavier", "he")


class WeightDropLinear(nn.Linear):
    """A Linear layer with dropout on its weights (DropConnect): in training, each step multiplies the
    weight matrix [out, in] by a fresh Bernoulli(1 - p) mask and divides it by 1 - p (as inverted
    dropout does for units), so the whole weight is used as it is at evaluation. x: [N, in] -> [N, out].
    """

    def __init__(self, in_features: int, out_features: int, p: float):
        super().__init__(in_features, out_features)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, F.dropout(self.weight, self.p, self.training), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


def mlp(in_features: int, hidden: Sequence[int] = (256, 256), out_features: int = 10, *,
        activation: str = "relu", dropout: float = 0.0, weight_dropout: float = 0.0,
        norm: str | None = None) -> nn.Sequential:
    """A feed-forward net: flatten, then per hidden width Linear -> [norm] -> activation -> [dropout].

    norm: None, "batch" (BatchNorm1d) or "layer" (LayerNorm). dropout: the drop probability of the
    hidden units in [0, 1). weight_dropout: the drop probability of each weight of every Linear layer
    in [0, 1), a new mask at each training step (`WeightDropLinear`, report 001's dropout).
    """
    check_choice("activation", activation, ACTIVATIONS)
    if norm not in NORMS:
        check_choice("norm", norm, [k for k in NORMS if k])
    check_number("dropout", dropout, low=0, high=1, high_open=True)
    check_number("weight_dropout", weight_dropout, low=0, high=1, high_open=True)

    def linear(cin: int, cout: int) -> nn.Linear:
        return WeightDropLinear(cin, cout, weight_dropout) if weight_dropout else nn.Linear(cin, cout)

    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for size in hidden:
        layers.append(linear(width, size))
        if norm:
            layers.append(NORMS[norm](size))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(linear(width, out_features))
    return nn.Sequential(*layers)


def logistic_regression(in_features: int, num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression: flatten, one Linear layer; softmax lives in the loss."""
    return mlp(in_features, (), num_classes)


def cnn(in_channels: int = 1, num_classes: int = 10, *, image_size: int = 28,
        batch_norm: bool = False, width: int = 32) -> nn.Sequential:
    """The two CNNs of the Digit Recognizer project (report 004).

    batch_norm=False, the simple CNN: [conv3x3 -> ReLU -> maxpool2] with `width` then 2*`width`
    channels, then Linear(128) -> ReLU -> Linear(num_classes).
    batch_norm=True, the improved CNN: each block is two conv3x3 -> BatchNorm -> ReLU, then maxpool2
    and dropout 0.25; the head is Linear(256) -> BatchNorm -> ReLU -> dropout 0.5 -> Linear.
    image_size: H (= W) of the input, e.g. 28 for MNIST or 16 for USPS.
    """
    def block(cin: int, cout: int) -> list[nn.Module]:
        if not batch_norm:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.MaxPool2d(2), nn.Dropout(0.25)]

    flat = 2 * width * (image_size // 4) ** 2
    if batch_norm:
        head = [nn.Linear(flat, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
                nn.Linear(256, num_classes)]
    else:
        head = [nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, num_classes)]
    return nn.Sequential(*block(in_channels, width), *block(width, 2 * width), nn.Flatten(), *head)


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str, *, std: float = 0.01) -> nn.Module:
    """Re-initialise every Linear and Conv weight of `model` in place; biases become zero.

    normal: N(0, std^2) ("random" initialisation); uniform: U(-sqrt(3) std, sqrt(3) std), the same
    variance; xavier: Glorot uniform; he: Kaiming normal for ReLU. Returns the model.
    """
    check_choice("scheme", scheme, INIT_SCHEMES)
    for layer in model.modules():
        if not isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            continue
        weight = layer.weight
        if scheme == "normal":
            nn.init.normal_(weight, 0.0, std)
        elif scheme == "uniform":
            nn.init.uniform_(weight, -std * 3 ** 0.5, std * 3 ** 0.5)
        elif scheme == "xavier":
            nn.init.xavier_uniform_(weight)
        else:
            nn.init.kaiming_normal_(weight, nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return model


def has_batch_norm(model: nn.Module) -> bool:
    """Whether any layer keeps running statistics (which rules out training seeds with vmap)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
