"""digitcourse.models: the layers each builder makes, output shapes, and weight initialisation."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import digitcourse as dc


def layer_types(model: nn.Module) -> list[type]:
    return [type(layer) for layer in model]


def test_mlp_has_linear_activation_pairs_and_a_linear_head():
    model = dc.models.mlp(64, (32, 16), 10, activation="tanh")
    assert layer_types(model) == [nn.Flatten, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)] == \
        [(64, 32), (32, 16), (16, 10)]
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_mlp_with_batch_norm_and_dropout_puts_norm_before_activation_and_dropout_after():
    model = dc.models.mlp(784, (128, 64), 10, norm="batch", dropout=0.3)
    assert layer_types(model) == [nn.Flatten,
                                  nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout,
                                  nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout,
                                  nn.Linear]
    assert [m.num_features for m in model if isinstance(m, nn.BatchNorm1d)] == [128, 64]
    assert all(m.p == 0.3 for m in model if isinstance(m, nn.Dropout))


def test_mlp_with_weight_dropout_masks_every_weight_matrix_in_training_only():
    model = dc.models.mlp(64, (32,), 10, weight_dropout=0.5)
    assert layer_types(model) == [nn.Flatten, dc.models.WeightDropLinear, nn.ReLU, dc.models.WeightDropLinear]
    x = torch.rand(7, 64)
    model.eval()
    first = model[1]
    assert torch.allclose(first(x), x @ first.weight.T + first.bias)  # evaluation: the whole weight
    model.train()
    torch.manual_seed(0)
    masked = first(x)
    torch.manual_seed(0)
    mask = torch.nn.functional.dropout(torch.ones_like(first.weight), 0.5, True)  # the same draw: 0 or 2
    assert torch.allclose(masked, x @ (first.weight * mask).T + first.bias, atol=1e-6)
    assert 0.4 < float((mask == 0).float().mean()) < 0.6
    assert not torch.allclose(first(x), masked)  # a new mask at each step


def test_mlp_refuses_a_weight_dropout_of_one():
    with pytest.raises(dc.ConfigError, match="weight_dropout"):
        dc.models.mlp(64, (32,), 10, weight_dropout=1.0)


def test_mlp_with_layer_norm_normalises_each_hidden_width():
    model = dc.models.mlp(784, (128, 64), 10, norm="layer")
    assert layer_types(model) == [nn.Flatten, nn.Linear, nn.LayerNorm, nn.ReLU,
                                  nn.Linear, nn.LayerNorm, nn.ReLU, nn.Linear]
    assert [m.normalized_shape for m in model if isinstance(m, nn.LayerNorm)] == [(128,), (64,)]


def test_logistic_regression_is_one_linear_layer():
    model = dc.models.logistic_regression(784, 10)
    assert layer_types(model) == [nn.Flatten, nn.Linear]
    assert sum(p.numel() for p in model.parameters()) == 784 * 10 + 10


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("size", [28, 16, 8])
def test_cnn_maps_square_images_of_its_size_to_logits(size, batch_norm):
    model = dc.models.cnn(1, 10, image_size=size, batch_norm=batch_norm).eval()
    assert model(torch.zeros(3, 1, size, size)).shape == (3, 10)
    head = next(m for m in model if isinstance(m, nn.Linear))
    assert head.in_features == 64 * (size // 4) ** 2


def test_simple_cnn_has_two_conv_blocks_of_width_and_twice_width():
    model = dc.models.cnn(1, 10, width=16)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 16, (3, 3)),
                                                                               (16, 32, (3, 3))]
    assert [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)] == \
        [(32 * 7 * 7, 128), (128, 10)]
    assert not dc.models.has_batch_norm(model)


def test_batch_norm_cnn_has_double_convs_normalised_and_dropout():
    model = dc.models.cnn(1, 10, batch_norm=True)
    types = layer_types(model)
    assert types.count(nn.Conv2d) == 4 and types.count(nn.BatchNorm2d) == 4
    assert types.count(nn.BatchNorm1d) == 1 and types.count(nn.MaxPool2d) == 2
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.25, 0.25, 0.5]
    assert all(m.bias is None for m in model if isinstance(m, nn.Conv2d))
    assert dc.models.has_batch_norm(model)


def big_linear() -> nn.Sequential:
    """Two 1000 x 500 layers: 10^6 weights, enough for sample statistics within 1%."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(500, 1000), nn.ReLU(), nn.Linear(1000, 500))


@pytest.mark.parametrize("scheme", ["normal", "uniform", "xavier", "he"])
def test_init_weights_zeroes_every_bias(scheme):
    model = dc.models.init_weights(big_linear(), scheme)
    assert all(torch.count_nonzero(m.bias) == 0 for m in model if isinstance(m, nn.Linear))


def test_normal_init_has_the_requested_std():
    model = dc.models.init_weights(big_linear(), "normal", std=0.05)
    weight = model[0].weight
    assert abs(weight.mean().item()) < 1e-3
    assert weight.std().item() == pytest.approx(0.05, rel=0.01)


def test_uniform_init_has_the_same_variance_as_normal():
    weight = dc.models.init_weights(big_linear(), "uniform", std=0.05)[0].weight
    assert weight.abs().max().item() <= 0.05 * math.sqrt(3)
    assert weight.abs().max().item() > 0.99 * 0.05 * math.sqrt(3)
    assert weight.std().item() == pytest.approx(0.05, rel=0.01)


def test_xavier_init_is_uniform_within_the_glorot_bound():
    weight = dc.models.init_weights(big_linear(), "xavier")[0].weight  # fan_in 500, fan_out 1000
    bound = math.sqrt(6 / (500 + 1000))
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.99 * bound
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def test_he_init_has_std_sqrt_two_over_fan_in():
    model = dc.models.init_weights(big_linear(), "he")
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / 500), rel=0.01)
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / 1000), rel=0.01)


def test_init_weights_reaches_conv_layers():
    model = dc.models.init_weights(dc.models.cnn(1, 10), "normal", std=1e-3)
    conv = model[0]
    assert conv.weight.abs().max().item() < 1e-2
    assert torch.count_nonzero(conv.bias) == 0
