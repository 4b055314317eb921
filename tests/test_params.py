"""digitcourse.params: a notebook's parameters checked at the door, generators seeded, sizes chosen."""
from __future__ import annotations

import os
import random
from types import SimpleNamespace

import IPython
import numpy as np
import pytest
import torch

from digitcourse import params
from digitcourse.course import PROFILES
from digitcourse.errors import ConfigError

SIZES = {"full": dict(epochs=20, seeds=10), "quick": dict(epochs=3, seeds=3), "tiny": dict(epochs=1, seeds=2)}


@pytest.fixture(autouse=True)
def no_profile_override(monkeypatch):
    monkeypatch.delenv(params.PROFILE_VARIABLE, raising=False)


def setup(**given):
    """params.setup with valid defaults for whatever `given` leaves out."""
    return params.setup(**{"seed": 0, "profile": "full", "device": "cpu", "data_root": None, "sizes": SIZES,
                           **given})


def in_papermill(monkeypatch, injected: str) -> None:
    """Pretend to run in a kernel whose input history holds papermill's injected cell."""
    shell = SimpleNamespace(user_ns={"In": ["", "import digitcourse", "seed = 0\n", injected]})
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)


def test_setup_returns_the_parameters_knobs_and_the_profiles_sizes():
    P = setup(seed=3, profile="quick", knobs=dict(lr=params.real(0.1, low=0)))
    assert (P.seed, P.profile, P.device, P.lr, P.epochs, P.seeds) == (3, "quick", torch.device("cpu"), 0.1, 3, 3)
    assert "started" not in repr(P) and "profile='quick'" in repr(P) and "device='cpu'" in repr(P)


def test_setup_seeds_random_numpy_and_torch():
    setup(seed=7)
    drawn = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    assert drawn == (random.random(), np.random.rand(), torch.rand(1).item())


def test_unknown_profile_stops_with_one_line_listing_the_profiles():
    with pytest.raises(ConfigError) as error:
        setup(profile="fast")
    assert str(error.value) == "profile='fast' is not known; choose one of: full, quick, tiny."


@pytest.mark.parametrize("seed, message", [
    ("abc", "seed must be an integer, got 'abc' (str)."),
    (1.5, "seed must be an integer, got 1.5 (float)."),
    (True, "seed must be an integer, got True (bool)."),
    (-1, "seed=-1 is out of range; it must lie in [0, 4294967296)."),
])
def test_seed_must_be_an_integer_numpy_accepts(seed, message):
    with pytest.raises(ConfigError) as error:
        setup(seed=seed)
    assert str(error.value) == message


def test_environment_variable_overrides_the_profile_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv(params.PROFILE_VARIABLE, "tiny")
    P = setup(profile="full")
    assert (P.profile, P.epochs) == ("tiny", 1)
    assert capsys.readouterr().out == "profile 'tiny': DIGITCOURSE_PROFILE overrides the notebook's profile 'full'.\n"


def test_environment_variable_must_name_a_profile(monkeypatch):
    monkeypatch.setenv(params.PROFILE_VARIABLE, "fast")
    with pytest.raises(ConfigError, match=r"^DIGITCOURSE_PROFILE='fast' is not known; choose one of"):
        setup()


def test_auto_device_takes_the_gpu_only_when_there_is_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert setup(device="auto").device.type == expected


def test_unknown_device_is_refused():
    with pytest.raises(ConfigError, match=r"^device='gpu' is not known"):
        setup(device="gpu")


def test_data_root_is_exported_as_digitcourse_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITCOURSE_DATA", "/elsewhere")
    setup(data_root=str(tmp_path))
    assert os.environ["DIGITCOURSE_DATA"] == str(tmp_path.resolve())


@pytest.mark.parametrize("data_root, fragment", [("/no/such/folder", "data_root='/no/such/folder' is not a folder"),
                                                 (3, "data_root must be a folder path or None, got 3 (int)")])
def test_data_root_must_be_an_existing_folder(data_root, fragment):
    with pytest.raises(ConfigError) as error:
        setup(data_root=data_root)
    assert str(error.value).startswith(fragment)


def test_sizes_need_every_profile():
    with pytest.raises(ConfigError, match=r"sizes needs one entry per profile \(full, quick, tiny\); got \['full', 'quick'\]"):
        setup(sizes={"full": {}, "quick": {}})


def test_sizes_need_the_same_names_in_every_profile():
    uneven = {**SIZES, "tiny": dict(epochs=1)}
    with pytest.raises(ConfigError, match=r"sizes\['tiny'\] names \['epochs'\], but sizes\['full'\] names"):
        setup(sizes=uneven)


def test_a_size_may_not_take_a_parameters_name():
    with pytest.raises(ConfigError, match="size 'lr' has the name of a parameter"):
        setup(knobs=dict(lr=params.real(0.1, low=0)), sizes={profile: {"lr": 0.2} for profile in PROFILES})


def test_unknown_name_given_to_papermill_stops_with_the_nearest_valid_one(monkeypatch):
    in_papermill(monkeypatch, '# Parameters\nseed = 3\nlearning_rate = 0.5\n')
    with pytest.raises(ConfigError) as error:
        setup(knobs=dict(lr=params.real(0.1), learning_rte=params.integer(1)))
    assert str(error.value) == ("unknown parameter 'learning_rate' (did you mean 'learning_rte'?); this notebook's "
                                "parameters are: seed, profile, device, data_root, lr, learning_rte.")


def test_known_names_given_to_papermill_pass(monkeypatch):
    in_papermill(monkeypatch, '# Parameters\nseed = 3\nprofile = "quick"\nlr = 0.5\n')
    assert setup(seed=3, profile="quick", knobs=dict(lr=params.real(0.5))).lr == 0.5


@pytest.mark.parametrize("knob, message", [
    (params.integer(2.5, low=1), "hidden must be an integer, got 2.5 (float)."),
    (params.integer(0, low=1), "hidden=0 is out of range; it must lie in [1, inf]."),
    (params.real(0.0, low=0, low_open=True), "hidden=0.0 is out of range; it must lie in (0, inf]."),
    (params.choice("minst", ("mnist", "kmnist")), "hidden='minst' is not known (did you mean 'mnist'?); "
                                                  "choose one of: mnist, kmnist."),
    (params.flag("yes"), "hidden must be True or False, got 'yes' (str)."),
    (params.file("no/such/train.csv"), "hidden='no/such/train.csv' is not a file; give the path of an "
                                       "existing file, or None."),
    (params.database("no/such/search.db"), "hidden='no/such/search.db' is neither a SQLite file in an "
                                           "existing folder nor a database URL "
                                           "(postgresql+psycopg://user@host/database); or give None."),
    (256, "knob 'hidden' needs to say what it accepts: declare it as dc.params.integer(hidden, low=...), "
          "real, choice, flag, file or database."),
])
def test_a_knob_is_checked_against_what_it_declares(knob, message):
    with pytest.raises(ConfigError) as error:
        setup(knobs=dict(hidden=knob))
    assert str(error.value) == message


def test_declared_knobs_pass_through_checked(tmp_path):
    (tmp_path / "train.csv").write_text("label\n")
    P = setup(knobs=dict(hidden=params.integer(64, low=1), data=params.choice("mnist", ("mnist",)),
                         bn=params.flag(True), csv=params.file(tmp_path / "train.csv"), none=params.file(None)))
    assert (P.hidden, P.data, P.bn, P.csv, P.none) == (64, "mnist", True, str(tmp_path / "train.csv"), None)


def test_a_database_knob_takes_a_sqlite_file_a_url_or_none(tmp_path):
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/course"
    P = setup(knobs=dict(file=params.database(tmp_path / "search.db"), url=params.database(url),
                         none=params.database(None)))
    assert (P.file, P.url, P.none) == (str(tmp_path / "search.db"), url, None)


def test_run_info_reports_profile_seed_device_and_minutes(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    info = setup(seed=4, profile="tiny").run_info()
    assert (info["profile"], info["seed"], info["device"], info["torch"]) == ("tiny", 4, "cpu (2 threads)", torch.__version__)
    assert 0 <= info["minutes"] < 1 and 0 <= info["cpu_minutes"] < 1


def test_a_single_thread_is_named_in_the_singular(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert params.describe_device(torch.device("cpu")) == "cpu (1 thread)"
