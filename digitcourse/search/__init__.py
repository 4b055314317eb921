"""Grid and random search over hyper-parameters, run by optuna::

    space = {"lr": dict(low=1e-4, high=1e-1, log=True), "hidden": [64, 128, 256]}
    def objective(params):
        model = dc.models.mlp(784, (params["hidden"],), 10)
        return dc.fit(model, data, lr=params["lr"], epochs=3).epochs["val_accuracy"].max()
    result = dc.search.run(objective, space, method="random", n_settings=20, storage="search.db")
    result.table          # one row per setting tried, best first
    result.best_params    # {"lr": 0.0031..., "hidden": 256}

A *setting* is one point of the space, scored once by the objective (optuna calls it a trial; in this
library a trial is one seed's run, see `run_trials`). With `storage` the settings are written to a
database as they finish: a SQLite file, or any database optuna can use, such as a PostgreSQL server
(``postgresql+psycopg://user@host/database``). Calling `run` again with the same arguments resumes the
search, scoring only the settings that have not completed. Several processes, on one machine or many,
that call `run` with the same storage and study name share the search: each claims a setting before
scoring it (`claims`), so none is scored twice, and a process that dies mid-setting stops its
heartbeat, after which another one scores that setting again. Each returns when every setting is done.
"""
from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.samplers import BaseSampler, PartialFixedSampler, RandomSampler
from optuna.trial import FrozenTrial, Trial, TrialState

from ..checks import check_choice, check_keys, check_number
from ..errors import ConfigError
from .claims import DatabaseClaims, MemoryClaims, created_in_a_race

METHODS = ("random", "grid")
STALE_HEARTBEATS = 3  # a running setting silent for this many heartbeats is given up and scored again


@dataclass
class SearchResult:
    """table: one row per setting tried, best first, with a column per parameter and value, setting
    (its number, in the order tried), state ("COMPLETE", "FAIL", ...), seconds. best_params: the
    parameters of the best completed setting. scales: per parameter, how it was drawn ("linear",
    "log" or "choice"), which `dc.plots.search_scores` follows."""

    table: pd.DataFrame
    best_params: dict[str, Any]
    best_value: float
    scales: dict[str, str]

    def __repr__(self) -> str:
        return (f"SearchResult({len(self.table)} settings, best value {self.best_value:.4f} "
                f"with {self.best_params})")

    def _repr_html_(self) -> str:
        return self.table.to_html()


def run(objective: Callable[[dict[str, Any]], float], space: dict[str, Any], *,
        method: str = "random", n_settings: int | None = None, seed: int = 0,
        storage: str | os.PathLike | None = None, study_name: str = "search",
        direction: str = "maximize", heartbeat: int = 10) -> SearchResult:
    """Score `objective(params) -> validation score` over `space`; every setting tried, best first.

    space: name -> a list of choices, a (low, high) tuple (a float drawn uniformly) or
    dict(low=, high=, log=True) (drawn log-uniformly). method="grid" tries every combination of
    lists (tuples and dicts are refused), in the order of itertools.product; method="random" draws
    n_settings settings (setting k from `seed` and k alone, so a resumed or shared search draws what
    an uninterrupted one would).
    n_settings: the number of settings to score; None means every combination (grid) or 20.
    storage: None (in memory), a SQLite file path, or a database URL; the study `study_name` there is
    resumed, and shared with every process that runs it at the same time.
    Settings that failed or were interrupted are scored again; completed ones never.
    heartbeat: seconds between the signs of life a stored setting gives while it is scored; one silent
    for STALE_HEARTBEATS of them (its process died) is scored again by a process still running.
    """
    check_choice("method", method, METHODS)
    check_choice("direction", direction, ("maximize", "minimize"))
    check_number("seed", seed, integer=True, low=0)
    check_number("heartbeat", heartbeat, integer=True, low=1)
    distributions = _distributions(space, grid=method == "grid")
    if n_settings is None:
        n_settings = math.prod(len(d.choices) for d in distributions.values()) if method == "grid" else 20
    check_number("n_settings", n_settings, integer=True, low=1)
    samplers = _samplers(distributions, method, n_settings, seed)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    database = _database(storage, heartbeat)
    study = optuna.create_study(storage=database, study_name=study_name, direction=direction,
                                load_if_exists=True)
    _check_same_space(study, distributions, study_name)
    claims = MemoryClaims() if database is None else DatabaseClaims(database.engine, study_name)
    while True:
        if database is not None:
            with _stable_enough():
                optuna.storages.fail_stale_trials(study)  # marks the settings of dead processes failed
        free, running = _free_settings(study, claims, len(samplers))
        if free:
            setting, holder = free[0]
            study.sampler = samplers[setting]
            study.optimize(_claiming(objective, distributions, claims, setting, holder), n_trials=1)
        elif running:
            time.sleep(heartbeat)  # other processes score the last settings: wait for them
        else:
            return _result(study, distributions)


def _samplers(distributions: dict[str, BaseDistribution], method: str, n_settings: int,
              seed: int) -> list[BaseSampler]:
    """What draws setting k, for each k < n_settings: the grid's k-th point in itertools.product's order
    (fewer when the grid is smaller), or a random sampler seeded by (seed, k)."""
    with _stable_enough():
        if method == "grid":
            points = itertools.islice(itertools.product(*(d.choices for d in distributions.values())), n_settings)
            return [PartialFixedSampler(dict(zip(distributions, point)), RandomSampler()) for point in points]
        return [RandomSampler(seed=_setting_seed(seed, k)) for k in range(n_settings)]


def _claiming(objective: Callable[[dict[str, Any]], float], distributions: dict[str, BaseDistribution],
              claims: MemoryClaims | DatabaseClaims, setting: int, holder: int | None) -> Callable[[Trial], float]:
    """optuna's objective for one trial: claim `setting` from `holder`, then score it (or, when another
    process claimed it first, end the trial as pruned: it is left out of the results)."""
    def score(trial: Trial) -> float:
        if not claims.take(setting, trial.number, holder):
            raise optuna.TrialPruned(f"another process took setting {setting} first")
        return objective({name: _suggest(trial, name, d) for name, d in distributions.items()})
    return score


def _database(storage: str | os.PathLike | None, heartbeat: int) -> optuna.storages.RDBStorage | None:
    """None (in memory), or the database at a URL (a plain path: a SQLite file) with heartbeats."""
    if storage is None:
        return None
    url = str(storage) if "://" in str(storage) else f"sqlite:///{os.fspath(storage)}"
    with _stable_enough():
        return created_in_a_race(lambda: optuna.storages.RDBStorage(
            url, heartbeat_interval=heartbeat, grace_period=STALE_HEARTBEATS * heartbeat))


@contextmanager
def _stable_enough() -> Iterator[None]:
    """Silence optuna's ExperimentalWarning for the parts used here (fixed samplers, heartbeats), which
    the tests of this module cover."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _free_settings(study: optuna.Study, claims: MemoryClaims | DatabaseClaims,
                   n: int) -> tuple[list[tuple[int, int | None]], bool]:
    """The settings among 0..n-1 that a trial may claim now, each with its holder (None: unclaimed, else
    a failed trial), and whether any other is still being scored."""
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    holders = claims.holders()
    held = {k: states.get(holders[k]) for k in range(n) if k in holders}  # setting -> its holder's state
    free = [(k, holders.get(k)) for k in range(n) if k not in held or held[k] == TrialState.FAIL]
    return free, TrialState.RUNNING in held.values()


def _distributions(space: dict[str, Any], grid: bool) -> dict[str, BaseDistribution]:
    """Check `space` and turn each entry into an optuna distribution."""
    if not isinstance(space, dict) or not space:
        raise ConfigError("space is empty: give a dict name -> list of choices, (low, high) or "
                          "dict(low=, high=, log=True).")
    distributions: dict[str, BaseDistribution] = {}
    for name, entry in space.items():
        if isinstance(entry, list):
            if not entry:
                raise ConfigError(f"space[{name!r}] is an empty list: give at least one choice.")
            distributions[name] = CategoricalDistribution(entry)
            continue
        if grid:
            raise ConfigError(f"grid search needs a list of values for every parameter; space[{name!r}] "
                              f"is {entry!r}. List the values, e.g. [0.001, 0.01, 0.1].")
        if isinstance(entry, tuple) and len(entry) == 2:
            entry = {"low": entry[0], "high": entry[1]}
        if not isinstance(entry, dict):
            raise ConfigError(f"space[{name!r}] = {entry!r} is not a list, a (low, high) tuple or "
                              "dict(low=, high=, log=).")
        check_keys(entry, ("low", "high", "log"), f"space[{name!r}]")
        low = check_number(f"space[{name!r}] low", entry.get("low"))
        high = check_number(f"space[{name!r}] high", entry.get("high"))
        log = bool(entry.get("log", False))
        if not low < high or (log and low <= 0):
            raise ConfigError(f"space[{name!r}] needs low < high{' and low > 0 (log scale)' if log else ''}; "
                              f"got low={low}, high={high}.")
        distributions[name] = FloatDistribution(low, high, log=log)
    return distributions


def _suggest(trial: Trial, name: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


def _setting_seed(seed: int, number: int) -> int:
    """The random sampler's seed for setting `number`: independent streams per (seed, number)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _check_same_space(study: optuna.Study, distributions: dict[str, BaseDistribution], name: str) -> None:
    for trial in study.trials:
        if trial.distributions and trial.distributions != distributions:
            raise ConfigError(f"the stored study {name!r} searched another space; pass a new study_name "
                              "or another storage file.")


def _result(study: optuna.Study, distributions: dict[str, BaseDistribution]) -> SearchResult:
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1

    def rank(trial: FrozenTrial) -> tuple:
        scored = trial.value is not None and not math.isnan(trial.value)
        return (not scored, sign * trial.value if scored else 0.0, trial.number)

    names = list(distributions)
    trials = sorted(study.get_trials(states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING)), key=rank)
    table = pd.DataFrame([{**{n: t.params.get(n) for n in names}, "value": t.value, "setting": t.number,
                           "state": t.state.name,
                           "seconds": t.duration.total_seconds() if t.duration else float("nan")}
                          for t in trials], columns=[*names, "value", "setting", "state", "seconds"])
    best = next((t for t in trials if t.state == TrialState.COMPLETE), None)
    scales = {name: "choice" if isinstance(d, CategoricalDistribution) else "log" if d.log else "linear"
              for name, d in distributions.items()}
    return SearchResult(table, dict(best.params) if best else {}, best.value if best else float("nan"),
                        scales)
