"""Bad configuration fails at the door with a ConfigError naming the key, shown as one line."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import digitcourse as dc
from digitcourse.checks import check_choice, check_keys, check_number, nearest
from digitcourse.errors import ConfigError, DataError, DigitcourseError, _brief_excepthook

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return dc.data.load("digits", subset=100)


BAD_FIT_CONFIGS = [
    (dict(optimizer="adamm"), ["optimizer='adamm'", "did you mean 'adam'", "adam, sgd"]),
    (dict(optimizer="sdg"), ["optimizer='sdg'", "did you mean 'sgd'"]),
    (dict(epochs=-1), ["epochs=-1", "[1, inf]"]),
    (dict(epochs=2.5), ["epochs must be an integer", "2.5"]),
    (dict(batch_size=0), ["batch_size=0", "[1, inf]"]),
    (dict(lr=0), ["lr=0", "(0, inf]"]),
    (dict(epoch=3), ["unknown keyword 'epoch'", "did you mean 'epochs'"]),
    (dict(l2=-1e-4), ["l2=-0.0001"]),
    (dict(momentum=1.0), ["momentum=1.0"]),
    (dict(loss="mae"), ["loss='mae'", "cross_entropy, mse"]),
    (dict(precision="fp16"), ["precision='fp16'", "float32, bfloat16, auto"]),
    (dict(schedule="cosin"), ["schedule='cosin'", "did you mean 'cosine'"]),
    (dict(schedule=dict(step_size=2)), ["schedule needs a 'kind'"]),
    (dict(schedule=dict(kind="step", step_sise=2)), ["schedule 'step'", "'step_sise'",
                                                     "did you mean 'step_size'"]),
    (dict(schedule=3), ["schedule must be a name"]),
    (dict(early_stopping=dict(patiense=2)), ["early_stopping", "'patiense'",
                                             "did you mean 'patience'"]),
    (dict(early_stopping=0), ["early_stopping patience=0"]),
    (dict(early_stopping=dict(patience=2, min_delta=-1)), ["min_delta=-1"]),
    (dict(early_stopping="5"), ["early_stopping must be a patience"]),
    (dict(augment=dict(rotate=10)), ["augment", "'rotate'", "did you mean 'rotation'"]),
    (dict(augment="yes"), ["augment must be True, False or dict"]),
    (dict(attack="fgsm"), ["attack must be a function"]),
    (dict(device="gpu"), ["device='gpu'"]),
    (dict(seed=1.5), ["seed must be an integer"]),
]


@pytest.mark.parametrize("config, fragments", BAD_FIT_CONFIGS,
                         ids=[" ".join(f"{k}={v!r}" for k, v in c.items()) for c, _ in BAD_FIT_CONFIGS])
def test_fit_rejects_bad_configuration_naming_the_key(digits, config, fragments):
    model = dc.models.mlp(64, (8,), 10)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ConfigError) as error:
        dc.fit(model, digits, **config)
    message = str(error.value)
    assert all(fragment in message for fragment in fragments), message
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # nothing trained


def test_run_trials_rejects_seed_and_points_to_seeds(digits):
    with pytest.raises(ConfigError, match=r"run_trials takes seeds=\.\.\., not seed="):
        dc.run_trials(lambda: dc.models.mlp(64, (8,), 10), digits, seed=3, epochs=1)


def test_run_trials_names_itself_for_an_unknown_keyword(digits):
    with pytest.raises(ConfigError, match=r"run_trials got an unknown keyword 'lr_rate'"):
        dc.run_trials(lambda: dc.models.mlp(64, (8,), 10), digits, seeds=2, lr_rate=0.1)


@pytest.mark.parametrize("seeds, fragment", [(0, "seeds=0"), ([], "seeds is empty"),
                                             ([0, 1.5], "seed must be an integer")])
def test_run_trials_rejects_bad_seeds(digits, seeds, fragment):
    with pytest.raises(ConfigError, match=fragment):
        dc.run_trials(lambda: dc.models.mlp(64, (8,), 10), digits, seeds=seeds, epochs=1)


def test_run_trials_refuses_to_vectorize_batch_norm_when_told_to(digits):
    with pytest.raises(ConfigError, match="vectorize=True needs"):
        dc.run_trials(lambda: dc.models.mlp(64, (8,), 10, norm="batch"), digits, seeds=2, epochs=1,
                      vectorize=True)


@pytest.mark.parametrize("build, fragments", [
    (lambda: dc.models.mlp(64, activation="rellu"), ["activation='rellu'", "did you mean 'relu'"]),
    (lambda: dc.models.mlp(64, norm="batchnorm"), ["norm='batchnorm'", "did you mean 'batch'"]),
    (lambda: dc.models.mlp(64, dropout=1.0), ["dropout=1.0", "[0, 1)"]),
    (lambda: dc.models.init_weights(dc.models.mlp(64), "kaiming"), ["scheme='kaiming'", "he"]),
    (lambda: dc.evaluate(dc.models.mlp(64), dc.data.load("digits").test, loss="l1"), ["loss='l1'"]),
])
def test_model_builders_reject_unknown_choices(build, fragments):
    with pytest.raises(ConfigError) as error:
        build()
    assert all(fragment in str(error.value) for fragment in fragments), str(error.value)


def test_nearest_suggests_a_close_name_and_nothing_for_a_far_one():
    assert nearest("epoch", ["epochs", "lr"]) == " (did you mean 'epochs'?)"
    assert nearest("zzz", ["epochs", "lr"]) == ""


def test_check_keys_names_the_first_unknown_key_and_lists_the_accepted():
    check_keys({"a": 1}, ["a", "b"], "f")
    with pytest.raises(ConfigError, match=r"^f got an unknown keyword 'bb' \(did you mean 'b'\?\); "
                                          r"it accepts: a, b\.$"):
        check_keys({"a": 1, "bb": 2}, ["b", "a"], "f")


def test_check_choice_returns_the_value_or_lists_the_choices():
    assert check_choice("kind", "x", ["x", "y"]) == "x"
    with pytest.raises(ConfigError, match=r"^kind=3 is not known; choose one of: x, y\.$"):
        check_choice("kind", 3, ["x", "y"])


def test_check_number_honours_open_and_closed_ends_and_rejects_bools():
    assert check_number("p", 0, low=0, high=1) == 0
    assert check_number("p", 1.0, low=0, high=1) == 1.0
    with pytest.raises(ConfigError, match=r"p=0 is out of range; it must lie in \(0, 1\]"):
        check_number("p", 0, low=0, high=1, low_open=True)
    with pytest.raises(ConfigError, match=r"p=1 is out of range; it must lie in \[0, 1\)"):
        check_number("p", 1, low=0, high=1, high_open=True)
    with pytest.raises(ConfigError, match=r"n must be an integer, got True \(bool\)"):
        check_number("n", True, integer=True)
    with pytest.raises(ConfigError, match=r"x must be a number, got '1' \(str\)"):
        check_number("x", "1")


def test_error_family_shares_one_base_and_config_errors_are_value_errors():
    assert issubclass(ConfigError, DigitcourseError) and issubclass(DataError, DigitcourseError)
    assert issubclass(ConfigError, ValueError)


def test_a_script_with_bad_configuration_prints_one_line_without_traceback():
    script = ("import digitcourse as dc; data = dc.data.load('digits', subset=50); "
              "dc.fit(dc.models.mlp(64), data, epoch=3)")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ConfigError: fit got an unknown keyword 'epoch' (did you mean 'epochs'?); it accepts: "
        "attack, augment, batch_size, device, early_stopping, epochs, grad_noise, l1, l2, loss, lr, "
        "momentum, optimizer, precision, progress, schedule, seed, weight_decay."]


def test_brief_hook_passes_other_exceptions_to_the_previous_hook(monkeypatch):
    seen = []
    hook = _brief_excepthook(lambda kind, error, traceback: seen.append(kind))
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    hook(ZeroDivisionError, ZeroDivisionError("division by zero"), None)
    hook(DataError, DataError("no such file"), None)
    assert seen == [ZeroDivisionError]
    assert stderr.getvalue() == "DataError: no such file\n"


def test_ipython_renders_a_digitcourse_error_as_its_one_line():
    assert ConfigError("epochs=-1 is out of range")._render_traceback_() == [
        "ConfigError: epochs=-1 is out of range"]


def test_importing_digitcourse_installs_the_brief_hook():
    assert getattr(sys.excepthook, "digitcourse", False)
