"""digitcourse.training: `fit` learns, every option does what it says, `evaluate` reports true numbers.

Most tests train on scikit-learn's 8x8 digits (bundled, no files): a run takes a fraction of a second.
Gradient options are checked exactly with one full-batch SGD step at lr=1 from identical weights.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_recall_fscore_support
from torch import nn

import digitcourse as dc
from digitcourse.data import DigitData, Split
from digitcourse.training import FitConfig

QUIET = dict(progress=False)


@pytest.fixture(scope="module")
def digits() -> DigitData:
    return dc.data.load("digits")


def small_mlp() -> nn.Sequential:
    """The same 64-32-10 MLP, with the same starting weights, at every call."""
    torch.manual_seed(0)
    return dc.models.mlp(64, (32,), 10)


def test_fit_learns_digits(digits):
    history = dc.fit(small_mlp(), digits, epochs=10, lr=3e-3, batch_size=32, **QUIET)
    assert history.stopped == "completed" and len(history.epochs) == 10
    assert history.epochs["train_loss"].iloc[-1] < 0.5 * history.epochs["train_loss"].iloc[0]
    assert dc.evaluate(history.model, digits.test)["accuracy"] > 0.93


@pytest.mark.slow
def test_mlp_passes_97_percent_on_mnist_test_in_two_epochs():
    try:
        mnist = dc.data.load("mnist", download=False)
    except dc.DataError:
        pytest.skip(f"MNIST is not in {dc.data.data_root()}; set DIGITCOURSE_DATA to a folder that has it")
    torch.manual_seed(0)
    history = dc.fit(dc.models.mlp(784, (512, 512), 10), mnist, epochs=2, batch_size=64, **QUIET)
    assert len(history.epochs) == 2
    assert dc.evaluate(history.model, mnist.test)["accuracy"] > 0.97


def test_fit_with_sgd_follows_a_plain_loop_step_for_step_in_float64(digits):
    # the plain loop visits the batches in fit's order: one generator seeded with the seed, one
    # permutation per epoch; then each step is p <- p - lr * grad, as torch.optim.SGD (fused) does
    data = digits.to(dtype=torch.float64)
    model = small_mlp().double()
    reference = copy.deepcopy(model)
    dc.fit(model, data, epochs=3, lr=0.1, batch_size=16, optimizer="sgd", seed=5, **QUIET)
    order = torch.Generator().manual_seed(5)
    for _ in range(3):
        for x, y in data.train.batches(16, generator=order):
            reference.zero_grad()
            F.cross_entropy(reference(x), y).backward()
            with torch.no_grad():
                for p in reference.parameters():
                    p -= 0.1 * p.grad
    gap = max((a - b).abs().max().item() for a, b in zip(model.parameters(), reference.parameters()))
    assert gap < 1e-12


def test_data_to_float64_converts_the_inputs_and_keeps_the_labels(digits):
    data = digits.to(dtype=torch.float64)
    assert data.train.x.dtype == torch.float64 and data.train.y.dtype == torch.int64
    assert torch.equal(data.test.x, digits.test.x.double()) and len(data.val) == len(digits.val)


def test_history_has_one_row_per_epoch_with_the_documented_columns(digits):
    history = dc.fit(small_mlp(), digits, epochs=3, **QUIET)
    assert list(history.epochs.columns) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                                            "val_accuracy", "lr", "seconds"]
    assert history.epochs["epoch"].tolist() == [1, 2, 3]
    assert history.best_epoch == int(history.epochs["val_loss"].idxmin()) + 1
    assert not history.diverged


def test_reported_val_metrics_are_those_of_the_returned_model(digits):
    history = dc.fit(small_mlp(), digits, epochs=2, **QUIET)
    result = dc.evaluate(history.model, digits.val)
    last = history.epochs.iloc[-1]
    assert result["loss"] == pytest.approx(last["val_loss"], abs=1e-6)
    assert result["accuracy"] == pytest.approx(last["val_accuracy"], abs=1e-9)


def sgd_step(data: DigitData, **options) -> nn.Module:
    """The model after one full-batch SGD step with lr=1 from the weights of small_mlp()."""
    model = small_mlp()
    dc.fit(model, data, epochs=1, batch_size=len(data.train), optimizer="sgd", lr=1.0, **QUIET,
           **options)
    return model


def test_batch_size_at_least_n_takes_one_full_batch_gradient_step_per_epoch(digits):
    start = small_mlp()
    loss = F.cross_entropy(start(digits.train.x), digits.train.y)
    gradients = torch.autograd.grad(loss, list(start.parameters()))
    for batch_size in (len(digits.train), 10 * len(digits.train)):
        model = small_mlp()
        history = dc.fit(model, digits, epochs=1, batch_size=batch_size, optimizer="sgd", lr=0.5,
                         **QUIET)
        assert history.epochs["train_loss"].iloc[0] == pytest.approx(loss.item(), abs=1e-6)
        for after, before, gradient in zip(model.parameters(), start.parameters(), gradients):
            torch.testing.assert_close(after, before - 0.5 * gradient, rtol=0, atol=1e-6)


@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.05), (0.01, 0.05)])
def test_l1_l2_add_l1_sign_w_plus_2_l2_w_to_weight_gradients_only(digits, l1, l2):
    start, plain, penalised = small_mlp(), sgd_step(digits), sgd_step(digits, l1=l1, l2=l2)
    for (name, w0), w_plain, w_penalised in zip(start.named_parameters(), plain.parameters(),
                                                penalised.parameters()):
        if name.endswith("weight"):
            torch.testing.assert_close(w_penalised - w_plain, -(l1 * w0.sign() + 2 * l2 * w0),
                                       rtol=0, atol=1e-6)
        else:
            assert torch.equal(w_penalised, w_plain), f"{name} (a bias) was penalised"


def test_sgd_weight_decay_shrinks_every_parameter_by_lr_times_decay(digits):
    start, plain, decayed = small_mlp(), sgd_step(digits), sgd_step(digits, weight_decay=0.1)
    for p0, p_plain, p_decayed in zip(start.parameters(), plain.parameters(), decayed.parameters()):
        torch.testing.assert_close(p_decayed - p_plain, -0.1 * p0, rtol=0, atol=1e-6)


def test_grad_noise_adds_gaussian_noise_of_the_given_sigma_to_gradients(digits):
    plain, noisy = sgd_step(digits), sgd_step(digits, grad_noise=0.1)
    step = torch.cat([(a - b).flatten() for a, b in zip(noisy.parameters(), plain.parameters())])
    assert len(step) == 64 * 32 + 32 + 32 * 10 + 10
    assert step.std().item() == pytest.approx(0.1, rel=0.1)
    assert abs(step.mean().item()) < 4 * 0.1 / math.sqrt(len(step))


def test_frozen_layers_stay_fixed_under_penalties_and_gradient_noise(digits):
    model = small_mlp()
    model[1].requires_grad_(False)
    frozen, head = model[1].weight.clone(), model[3].weight.clone()
    dc.fit(model, digits, epochs=1, l1=1e-3, l2=1e-3, grad_noise=0.01, weight_decay=1e-3, **QUIET)
    assert torch.equal(model[1].weight, frozen)
    assert not torch.equal(model[3].weight, head)


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_stops_after_patience_epochs_without_min_delta_gain(digits, patience):
    # No epoch can beat the first by min_delta=10 (the loss starts near 2.3), so training must stop
    # after epoch 1 + patience and hand back the weights of epoch 1.
    history = dc.fit(small_mlp(), digits, epochs=20, lr=3e-3,
                     early_stopping=dict(patience=patience, min_delta=10.0), **QUIET)
    assert history.stopped == "early_stopping"
    assert len(history.epochs) == 1 + patience
    assert history.best_epoch == 1
    losses = history.epochs["val_loss"]
    assert losses.iloc[-1] < losses.iloc[0] - 1e-3  # the last epoch was better, but not by 10
    assert dc.evaluate(history.model, digits.val)["loss"] == pytest.approx(losses.iloc[0], abs=1e-6)


def test_early_stopping_restores_the_weights_of_the_lowest_val_loss(digits):
    # Adam at lr=0.1 overshoots: val loss rises after an early minimum, and patience 2 ends the run.
    history = dc.fit(small_mlp(), digits, epochs=30, lr=0.1, batch_size=32, early_stopping=2,
                     **QUIET)
    losses = history.epochs["val_loss"]
    assert history.stopped == "early_stopping" and len(losses) < 30
    assert history.best_epoch == int(losses.idxmin()) + 1 == len(losses) - 2
    assert dc.evaluate(history.model, digits.val)["loss"] == pytest.approx(losses.min(), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_learning_rate_10_diverges_without_raising(digits, optimizer, seed):
    torch.manual_seed(seed)
    model = dc.models.mlp(64, (256, 256), 10)
    history = dc.fit(model, digits, epochs=5, lr=10.0, optimizer=optimizer, seed=seed, **QUIET)
    assert history.diverged and history.stopped == "diverged"
    assert len(history.epochs) < 5


def test_same_seed_gives_identical_history(digits):
    first = dc.fit(small_mlp(), digits, epochs=3, seed=4, **QUIET).epochs
    second = dc.fit(small_mlp(), digits, epochs=3, seed=4, **QUIET).epochs
    pd.testing.assert_frame_equal(first.drop(columns="seconds"), second.drop(columns="seconds"))


def test_different_seeds_give_different_histories(digits):
    first = dc.fit(small_mlp(), digits, epochs=3, seed=4, **QUIET).epochs
    other = dc.fit(small_mlp(), digits, epochs=3, seed=5, **QUIET).epochs
    assert (first["train_loss"] - other["train_loss"]).abs().max() > 1e-4


def lr_column(data: DigitData, schedule, epochs: int = 6, lr: float = 0.1) -> list[float]:
    history = dc.fit(small_mlp(), data, epochs=epochs, lr=lr, optimizer="sgd", schedule=schedule,
                     **QUIET)
    return history.epochs["lr"].tolist()


def test_step_schedule_multiplies_lr_by_gamma_every_step_size_epochs(digits):
    assert lr_column(digits, "step") == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert lr_column(digits, dict(kind="step", step_size=1, gamma=0.5), epochs=3) == \
        pytest.approx([0.1, 0.05, 0.025])


def test_cosine_schedule_follows_half_a_cosine_over_the_epochs(digits):
    expected = [0.1 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]
    assert lr_column(digits, "cosine") == pytest.approx(expected)


def test_onecycle_schedule_warms_up_to_lr_then_anneals(digits):
    lrs = lr_column(digits, "onecycle")
    assert lrs[0] == pytest.approx(0.1 / 25)  # starts at lr / div_factor
    peak = int(np.argmax(lrs))
    assert 0 < peak < 5 and 0.5 * 0.1 < lrs[peak] <= 0.1
    assert lrs[:peak + 1] == sorted(lrs[:peak + 1]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)


def test_plateau_schedule_halves_lr_when_val_loss_stops_improving(digits):
    # threshold=10 (absolute): after the first epoch no epoch counts as an improvement.
    schedule = dict(kind="plateau", patience=0, threshold=10.0, threshold_mode="abs")
    assert lr_column(digits, schedule, epochs=5) == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125])


def small_cnn() -> nn.Sequential:
    """The same batch-norm CNN for 8x8 images, with the same starting weights, at every call."""
    torch.manual_seed(0)
    return dc.models.cnn(batch_norm=True, width=8, image_size=8)


def test_bfloat16_runs_the_forward_pass_in_bfloat16_keeps_float32_weights_and_learns(digits):
    model = small_cnn()
    seen = []
    model[0].register_forward_hook(lambda layer, inputs, output: seen.append((layer.training, output.dtype)))
    history = dc.fit(model, digits, epochs=6, lr=3e-3, precision="bfloat16", **QUIET)
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    assert {dtype for training, dtype in seen if not training} == {torch.float32}  # validation
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    # autocast keeps its bfloat16 copy of each weight until its block ends: a block around the whole
    # epoch would train on the starting weights all epoch long and stay near chance
    plain = dc.fit(small_cnn(), digits, epochs=6, lr=3e-3, **QUIET).epochs
    assert history.epochs["train_accuracy"].tolist() == pytest.approx(plain["train_accuracy"].tolist(), abs=0.05)
    assert (plain["train_loss"] - history.epochs["train_loss"]).abs().max() > 1e-4
    assert dc.evaluate(history.model, digits.test)["accuracy"] > 0.9
    again = dc.fit(small_cnn(), digits, epochs=6, lr=3e-3, precision="bfloat16", **QUIET).epochs
    pd.testing.assert_frame_equal(history.epochs.drop(columns="seconds"), again.drop(columns="seconds"))


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_takes_bfloat16_where_the_cpu_computes_it_natively(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    config = FitConfig.check(dict(precision="auto"))
    assert config.bfloat16(torch.device("cpu")) is native
    assert FitConfig.check(dict(precision="bfloat16")).bfloat16(torch.device("cpu"))
    assert not FitConfig.check({}).bfloat16(torch.device("cpu"))


def test_augment_trains_reproducibly_with_the_seed(digits):
    runs = [dc.fit(small_mlp(), digits, epochs=4, lr=3e-3, augment=True, seed=seed, **QUIET).epochs
            for seed in (0, 0, 1)]
    plain = dc.fit(small_mlp(), digits, epochs=4, lr=3e-3, **QUIET).epochs
    pd.testing.assert_frame_equal(runs[0].drop(columns="seconds"), runs[1].drop(columns="seconds"))
    assert (runs[0]["train_loss"] - runs[2]["train_loss"]).abs().max() > 1e-4
    assert (runs[0]["train_loss"] - plain["train_loss"]).abs().max() > 1e-3
    assert runs[0]["val_accuracy"].iloc[-1] > 0.7


def test_augment_with_an_empty_dict_uses_the_default_transform(digits):
    default = dc.fit(small_mlp(), digits, epochs=1, augment=True, **QUIET).epochs
    empty = dc.fit(small_mlp(), digits, epochs=1, augment={}, **QUIET).epochs
    pd.testing.assert_frame_equal(default.drop(columns="seconds"), empty.drop(columns="seconds"))


def test_attack_is_called_with_model_and_each_batch_and_training_still_learns(digits):
    calls = []

    def fgsm(model, x, y):
        calls.append((model, x.shape, y.clone()))
        x = x.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
        return (x + 0.05 * gradient.sign()).clamp(0, 1)

    model = small_mlp()
    history = dc.fit(model, digits, epochs=5, lr=3e-3, batch_size=100, attack=fgsm, **QUIET)
    assert len(calls) == 5 * math.ceil(len(digits.train) / 100)
    assert all(called is model and shape[1:] == (1, 8, 8) for called, shape, _ in calls)
    first_epoch = torch.cat([y for _, _, y in calls[:math.ceil(len(digits.train) / 100)]])
    assert torch.equal(first_epoch.sort().values, digits.train.y.sort().values)
    plain = dc.fit(small_mlp(), digits, epochs=5, lr=3e-3, batch_size=100, **QUIET)
    assert (history.epochs["train_loss"] - plain.epochs["train_loss"]).abs().max() > 1e-3
    assert history.epochs["val_accuracy"].iloc[-1] > 0.8


def test_mse_regression_learns_the_target_function():
    data = dc.data.regression_data(300, val_fraction=0.2, grid=50)
    torch.manual_seed(0)
    model = dc.models.mlp(2, (32, 32), 1, activation="tanh")
    history = dc.fit(model, data, epochs=40, lr=1e-2, batch_size=32, loss="mse", **QUIET)
    assert "val_accuracy" not in history.epochs and "train_accuracy" not in history.epochs
    baseline = (data.test.y ** 2).mean().item()  # the mse of always predicting 0
    result = dc.evaluate(history.model, data.test, loss="mse")
    assert set(result) == {"loss"}
    assert result["loss"] < 0.1 * baseline


class FixedPredictions(nn.Module):
    """Returns the row of `logits` [N, K] whose index is stored in x[:, 0]."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x[:, 0].long()]


def test_evaluate_per_class_metrics_match_hand_counts_and_sklearn():
    truth = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    predicted = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])  # class 3 is predicted but never true
    model = FixedPredictions(F.one_hot(predicted, 4).float() * 5)
    result = dc.evaluate(model, Split(torch.arange(8.0)[:, None], truth), per_class=True)
    assert result["accuracy"] == pytest.approx(5 / 8)
    table = result["per_class"]
    assert table["precision"].tolist() == pytest.approx([1, 1 / 2, 2 / 3, 0])
    assert table["recall"].tolist() == pytest.approx([2 / 3, 1 / 2, 2 / 3, 0])
    assert table["support"].tolist() == [3, 2, 3, 0]
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, labels=range(4),
                                                               zero_division=0)
    np.testing.assert_allclose(table[["precision", "recall", "f1"]].to_numpy(),
                               np.stack([precision, recall, f1], 1))
    confusion = result["confusion"]
    assert confusion.shape == (4, 4) and confusion.sum() == 8
    assert confusion[0].tolist() == [2, 1, 0, 0] and confusion[2].tolist() == [0, 0, 2, 1]


def test_evaluate_loss_is_the_mean_cross_entropy(digits):
    model = small_mlp().eval()
    expected = F.cross_entropy(model(digits.test.x), digits.test.y).item()
    result = dc.evaluate(model, digits.test, batch_size=100)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)


def test_evaluate_names_rows_after_the_classes(digits):
    result = dc.evaluate(small_mlp(), digits.test, per_class=True, classes=digits.classes)
    assert result["per_class"].index.tolist() == list(digits.classes)
    assert result["per_class"]["support"].sum() == result["confusion"].sum() == len(digits.test)


def test_fit_trains_the_model_it_was_given(digits):
    model = small_mlp()
    before = copy.deepcopy(model.state_dict())
    history = dc.fit(model, digits, epochs=1, **QUIET)
    assert history.model is model
    assert not torch.equal(model.state_dict()["1.weight"], before["1.weight"])
