"""Grid and random search: coverage, reproducibility, ordering, resuming from SQLite, errors, and
several processes sharing one study in SQLite and PostgreSQL."""
import io
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import digitcourse as dc
from digitcourse import search
from digitcourse.course import python_path

GRID = {"hidden": [16, 32, 64], "activation": ["relu", "tanh"]}


def score(params):
    """A made-up validation score, highest for hidden=64 with tanh."""
    return params["hidden"] / 100 + (0.5 if params["activation"] == "tanh" else 0.0)


class Counting:
    """An objective that records every call, and can raise on a chosen call to imitate an interrupt."""

    def __init__(self, interrupt_on: int | None = None):
        self.calls, self.interrupt_on = [], interrupt_on

    def __call__(self, params):
        self.calls.append(params)
        if len(self.calls) == self.interrupt_on:
            raise KeyboardInterrupt
        return score(params)


def test_grid_tries_every_combination_exactly_once():
    objective = Counting()
    result = search.run(objective, GRID, method="grid")
    tried = sorted((p["hidden"], p["activation"]) for p in objective.calls)
    assert tried == sorted(itertools.product(GRID["hidden"], GRID["activation"]))
    assert len(result.table) == 6 and set(result.table["state"]) == {"COMPLETE"}


def test_results_are_sorted_best_first_with_the_best_params():
    result = search.run(score, GRID, method="grid")
    assert list(result.table.columns) == ["hidden", "activation", "value", "setting", "state", "seconds"]
    assert result.table["value"].tolist() == sorted(result.table["value"], reverse=True)
    assert result.best_params == {"hidden": 64, "activation": "tanh"}
    assert result.best_value == pytest.approx(1.14)
    assert (result.table["seconds"] >= 0).all()


def test_minimize_puts_the_lowest_value_first():
    result = search.run(score, GRID, method="grid", direction="minimize")
    assert result.best_params == {"hidden": 16, "activation": "relu"}
    assert result.table["value"].is_monotonic_increasing


def test_random_search_is_reproducible_with_its_seed():
    space = {"lr": dict(low=1e-4, high=1e-1, log=True), "dropout": (0.0, 0.5), "hidden": [16, 32]}
    def objective(p):
        return p["dropout"]
    first = search.run(objective, space, n_settings=5, seed=3).table.drop(columns="seconds")
    again = search.run(objective, space, n_settings=5, seed=3).table.drop(columns="seconds")
    other = search.run(objective, space, n_settings=5, seed=4).table.drop(columns="seconds")
    assert first.equals(again)
    assert not first["lr"].isin(other["lr"]).any()
    assert first["lr"].between(1e-4, 1e-1).all() and first["dropout"].between(0.0, 0.5).all()
    assert len(first) == 5 and len(first["lr"].unique()) == 5


def test_random_search_draws_twenty_trials_by_default():
    assert len(search.run(lambda p: p["x"], {"x": (0.0, 1.0)}).table) == 20


def test_a_stored_search_resumes_with_only_the_remaining_trials(tmp_path):
    storage = tmp_path / "search.db"
    first, rest = Counting(), Counting()
    search.run(first, GRID, method="grid", n_settings=3, storage=storage)
    result = search.run(rest, GRID, method="grid", n_settings=6, storage=storage)
    assert (len(first.calls), len(rest.calls)) == (3, 3)
    assert {tuple(p.values()) for p in first.calls}.isdisjoint(tuple(p.values()) for p in rest.calls)
    assert len(result.table) == 6 and result.best_params == {"hidden": 64, "activation": "tanh"}


def test_an_interrupted_grid_search_reruns_the_interrupted_trial(tmp_path):
    storage = tmp_path / "search.db"
    interrupted, resumed = Counting(interrupt_on=2), Counting()
    with pytest.raises(KeyboardInterrupt):
        search.run(interrupted, GRID, method="grid", storage=storage)
    result = search.run(resumed, GRID, method="grid", storage=storage)
    assert len(resumed.calls) == 5
    assert interrupted.calls[1] in resumed.calls
    assert (result.table["state"] == "COMPLETE").sum() == 6
    assert result.table["state"].iloc[-1] == "FAIL"


def test_a_resumed_random_search_draws_what_an_uninterrupted_one_would(tmp_path):
    space = {"x": (0.0, 1.0)}
    storage = tmp_path / "search.db"
    search.run(lambda p: p["x"], space, n_settings=3, storage=storage)
    calls = []
    resumed_table = search.run(lambda p: calls.append(p) or p["x"], space, n_settings=6, storage=storage).table
    whole = search.run(lambda p: p["x"], space, n_settings=6).table
    assert len(calls) == 3
    assert resumed_table["x"].tolist() == whole["x"].tolist()


def test_a_stored_study_refuses_another_space(tmp_path):
    storage = tmp_path / "search.db"
    search.run(score, GRID, method="grid", n_settings=1, storage=storage)
    with pytest.raises(dc.ConfigError, match="another space"):
        search.run(score, {"hidden": [16]}, method="grid", storage=storage)


@pytest.mark.parametrize("space, message", [
    ({}, "space is empty"),
    ({"lr": (0.1, 0.01)}, "low < high"),
    ({"lr": dict(low=0.0, high=1.0, log=True)}, "low > 0"),
    ({"lr": []}, "empty list"),
    ({"lr": dict(low=0.0, hihg=1.0)}, "did you mean 'high'"),
    ({"lr": 0.1}, "not a list"),
])
def test_a_bad_space_is_a_config_error(space, message):
    with pytest.raises(dc.ConfigError, match=message):
        search.run(score, space)


def test_grid_search_needs_lists():
    with pytest.raises(dc.ConfigError, match="grid search needs a list"):
        search.run(score, {"lr": (0.001, 0.1)}, method="grid")


def test_an_unknown_method_names_the_nearest():
    with pytest.raises(dc.ConfigError, match="did you mean 'grid'"):
        search.run(score, GRID, method="gird")


# Several processes sharing one stored study (tests/search_process.py), in a SQLite file and on a real
# PostgreSQL server (tests/servers.py).
SHARED_GRID = [(hidden, activation) for hidden in (16, 32, 64, 128) for activation in ("relu", "tanh", "gelu")]
PROCESS_S = 120  # a generous bound for one process of the shared search


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_storage(request, tmp_path) -> str:
    """The URL of an empty database that several processes can share."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgresql_url")


def start_search_process(storage: str, log: Path, hang_on: int | None = None) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).with_name("search_process.py")), storage, str(log)]
    return subprocess.Popen(command + (["--hang-on", str(hang_on)] if hang_on else []),
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": python_path()})


def scored(log: Path) -> list[tuple[str, tuple[int, str]]]:
    """(pid, (hidden, activation)) for every setting a process started scoring, in order."""
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return [(pid, (int(hidden), activation)) for pid, hidden, activation in lines]


def finished_table(process: subprocess.Popen) -> pd.DataFrame:
    out, _ = process.communicate(timeout=PROCESS_S)
    assert process.returncode == 0
    return pd.read_json(io.StringIO(out.splitlines()[-1]), orient="records")


def test_two_processes_split_a_stored_grid_and_score_no_setting_twice(shared_storage, tmp_path):
    log = tmp_path / "scored.log"
    processes = [start_search_process(shared_storage, log) for _ in range(2)]
    tables = [finished_table(process) for process in processes]

    settings = [setting for _, setting in scored(log)]
    assert sorted(settings) == sorted(SHARED_GRID)  # each setting scored once, by one of the two
    assert {pid for pid, _ in scored(log)} == {str(process.pid) for process in processes}
    for table in tables:  # each process returns the whole search
        assert (table["state"] == "COMPLETE").sum() == len(SHARED_GRID) == len(table)
        assert table.iloc[0][["hidden", "activation"]].tolist() == [128, "tanh"]


def test_the_setting_of_a_killed_process_is_scored_again_by_another(shared_storage, tmp_path):
    log = tmp_path / "scored.log"
    doomed = start_search_process(shared_storage, log, hang_on=16)
    deadline = time.monotonic() + PROCESS_S
    while not scored(log):  # it claims setting 0, (16, "relu"), and hangs there
        assert doomed.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    survivor = start_search_process(shared_storage, log)
    doomed.kill()
    doomed.wait()
    table = finished_table(survivor)

    assert scored(log)[0] == (str(doomed.pid), (16, "relu"))
    assert sorted(setting for pid, setting in scored(log) if pid == str(survivor.pid)) == sorted(SHARED_GRID)
    assert (table["state"] == "COMPLETE").sum() == len(SHARED_GRID)
    failed = table[table["state"] == "FAIL"]
    assert failed[["hidden", "activation"]].values.tolist() == [[16, "relu"]] and failed["setting"].tolist() == [0]
