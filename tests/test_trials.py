"""digitcourse.trials: vmap and one-after-another training agree; the summary statistics are right."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import digitcourse as dc
from digitcourse.data import DigitData
from digitcourse.training import Vectorized
from digitcourse.training.stack import LinearStack

QUIET = dict(progress=False)


@pytest.fixture(scope="module")
def digits() -> DigitData:
    return dc.data.load("digits")


def small_mlp(**options) -> torch.nn.Module:
    return dc.models.mlp(64, (32,), 10, **options)


def test_vmap_and_sequential_trials_agree(digits):
    # SGD with momentum, L2, gradient noise, a cosine schedule, and early stopping that ends the
    # seeds at different epochs (members that stopped keep training inside the stack).
    config = dict(epochs=12, batch_size=64, lr=0.02, optimizer="sgd", momentum=0.9, l2=1e-3,
                  grad_noise=0.01, schedule="cosine", early_stopping=dict(patience=1, min_delta=0.02),
                  **QUIET)
    stacked = dc.run_trials(small_mlp, digits, seeds=4, vectorize=True, **config)
    one_by_one = dc.run_trials(small_mlp, digits, seeds=4, vectorize=False, **config)
    assert stacked.vectorized and not one_by_one.vectorized
    assert (stacked.final["stopped"] == "early_stopping").all() and stacked.final["epochs"].min() < 12
    pd.testing.assert_frame_equal(stacked.curves.drop(columns="seconds"),
                                  one_by_one.curves.drop(columns="seconds"), rtol=0, atol=1e-5)
    pd.testing.assert_frame_equal(stacked.final.drop(columns="seconds"),
                                  one_by_one.final.drop(columns="seconds"), rtol=0, atol=1e-5)


@pytest.mark.parametrize("make_model", [small_mlp, lambda: dc.models.cnn(width=4, image_size=8)],
                         ids=["batched matrix products", "vmap"])
def test_stacked_trials_train_in_bfloat16_close_to_float32(digits, make_model):
    config = dict(seeds=3, epochs=4, lr=3e-3, vectorize=True, **QUIET)
    half = dc.run_trials(make_model, digits, precision="bfloat16", **config)
    full = dc.run_trials(make_model, digits, **config)
    for lower, exact in zip(half.histories, full.histories):
        difference = (lower.epochs["train_loss"] - exact.epochs["train_loss"]).abs()
        assert 0 < difference.max() < 0.05 * exact.epochs["train_loss"].iloc[0]  # rounded, not broken
    assert half.final["test_accuracy"].mean() > 0.8


def test_sequential_trial_equals_fit_after_seeding_the_build(digits):
    trials = dc.run_trials(small_mlp, digits, seeds=[3], epochs=2, **QUIET)
    torch.manual_seed(3)
    history = dc.fit(small_mlp(), digits, epochs=2, seed=3, **QUIET)
    pd.testing.assert_frame_equal(trials.histories[0].epochs.drop(columns="seconds"),
                                  history.epochs.drop(columns="seconds"))


def identical_builds(dropout: float):
    """make_model for run_trials that ignores the seed: every member starts from the same weights."""
    def build() -> torch.nn.Module:
        torch.manual_seed(123)
        return small_mlp(dropout=dropout)
    return build


def member_spread(trials: dc.Trials) -> float:
    """The largest difference between the first layer's weights of any member and member 0."""
    weights = [model[1].weight for model in trials.models]
    return max((w - weights[0]).abs().max().item() for w in weights)


def test_vmap_members_draw_different_dropout_masks(digits):
    # Same start, full batch (the seed's shuffle cannot matter): only dropout can tell them apart.
    config = dict(seeds=3, vectorize=True, epochs=2, batch_size=len(digits.train), lr=0.01, **QUIET)
    without = dc.run_trials(identical_builds(0.0), digits, **config)
    with_dropout = dc.run_trials(identical_builds(0.3), digits, **config)
    assert member_spread(without) < 1e-6
    assert member_spread(with_dropout) > 1e-3
    assert with_dropout.final["train_loss"].nunique() == 3


def test_summary_sem_is_sample_std_over_sqrt_n(digits):
    trials = dc.run_trials(small_mlp, digits, seeds=3, epochs=1, **QUIET)
    values = trials.final["test_accuracy"].to_numpy()
    row = trials.summary().loc["test_accuracy"]
    assert row["n"] == 3 and row["mean"] == pytest.approx(values.mean())
    assert row["std"] == pytest.approx(np.std(values, ddof=1))
    assert row["sem"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(3))
    assert row["sem"] > 0


def test_summary_interval_uses_the_t_quantile(digits):
    trials = dc.run_trials(small_mlp, digits, seeds=3, epochs=1, **QUIET)
    for confidence in (0.95, 0.9):
        row = trials.summary(confidence).loc["test_loss"]
        half = stats.t.ppf((1 + confidence) / 2, df=2) * row["sem"]  # 4.30 sem at 95%, not 1.96
        assert row["ci_low"] == pytest.approx(row["mean"] - half)
        assert row["ci_high"] == pytest.approx(row["mean"] + half)


def test_final_has_one_row_per_seed_with_gap_train_minus_test(digits):
    trials = dc.run_trials(small_mlp, digits, seeds=[5, 7], epochs=2, **QUIET)
    final = trials.final
    assert final["seed"].tolist() == [5, 7] and final["epochs"].tolist() == [2, 2]
    np.testing.assert_allclose(final["gap"], final["train_accuracy"] - final["test_accuracy"])
    for model, row in zip(trials.models, final.itertuples()):
        assert dc.evaluate(model, digits.test)["accuracy"] == pytest.approx(row.test_accuracy)
    assert trials.curves[["seed", "epoch"]].values.tolist() == [[5, 1], [5, 2], [7, 1], [7, 2]]


def test_seed_count_means_seeds_zero_to_n_minus_one(digits):
    trials = dc.run_trials(small_mlp, digits, seeds=3, epochs=1, **QUIET)
    assert trials.final["seed"].tolist() == [0, 1, 2]


def test_plain_mlps_train_vectorized_by_default(digits):
    assert dc.run_trials(small_mlp, digits, seeds=2, epochs=1, **QUIET).vectorized


def test_batch_norm_models_fall_back_to_sequential(digits):
    trials = dc.run_trials(lambda: small_mlp(norm="batch"), digits, seeds=2, epochs=1, **QUIET)
    assert trials.vectorized is False
    assert len(trials.final) == 2 and trials.final["test_accuracy"].notna().all()


@pytest.mark.parametrize("option", [dict(augment=True), dict(schedule="plateau"),
                                    dict(attack=lambda model, x, y: x)])
def test_options_that_need_one_model_at_a_time_fall_back_to_sequential(digits, option):
    assert not dc.run_trials(small_mlp, digits, seeds=2, epochs=1, **option, **QUIET).vectorized


def test_models_that_differ_only_in_activation_are_not_stacked(digits):
    activations = itertools.cycle(["relu", "tanh"])
    trials = dc.run_trials(lambda: small_mlp(activation=next(activations)), digits, seeds=2,
                           epochs=1, **QUIET)
    assert not trials.vectorized
    assert [type(model[2]).__name__ for model in trials.models] == ["ReLU", "Tanh"]


def test_mlps_with_weight_dropout_learn_as_a_stack(digits):
    trials = dc.run_trials(lambda: small_mlp(weight_dropout=0.3), digits, seeds=2, epochs=5, **QUIET)
    assert trials.vectorized and (trials.final["test_accuracy"] > 0.5).all()


def test_frozen_layers_stay_fixed_when_trials_are_stacked(digits):
    def build() -> torch.nn.Module:
        model = small_mlp()
        model[1].requires_grad_(False)
        return model

    trials = dc.run_trials(build, digits, seeds=2, epochs=1, l2=1e-3, grad_noise=0.01, **QUIET)
    assert trials.vectorized
    for seed, model in zip((0, 1), trials.models):
        torch.manual_seed(seed)
        assert torch.equal(model[1].weight, small_mlp()[1].weight)


@pytest.mark.parametrize("dropout", [dict(dropout=0.0), dict(dropout=0.3), dict(weight_dropout=0.3)])
def test_stacked_mlps_compute_what_vmap_computes_with_the_same_dropout_masks(dropout):
    models = []
    for seed in range(4):
        torch.manual_seed(seed)
        models.append(dc.models.mlp(784, (64, 32), 10, activation="tanh", **dropout))
    team = Vectorized(models)
    assert team.stack is not None
    team.train(True)
    x = torch.rand(4, 16, 1, 28, 28)
    outputs, gradients = [], []
    for stack in (team.stack, None):  # batched matrix products, then vmap
        team.stack = stack
        torch.manual_seed(5)
        out = team(x)
        outputs.append(out)
        gradients.append(torch.autograd.grad(out.square().sum(), list(team.params.values())))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-6)  # other masks: differences of 0.5
    for stacked, vmapped in zip(*gradients):
        torch.testing.assert_close(stacked, vmapped, rtol=1e-5, atol=1e-5)


def test_only_plain_mlps_train_as_batched_matrix_products():
    assert LinearStack.fits(dc.models.mlp(784, (32,), 10, dropout=0.2))
    assert LinearStack.fits(dc.models.mlp(784, (32,), 10, weight_dropout=0.2))
    assert not LinearStack.fits(dc.models.mlp(784, (32,), 10, norm="layer"))
    assert not LinearStack.fits(dc.models.cnn())
