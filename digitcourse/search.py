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
SQLite file as they finish: calling `run` again with the same arguments resumes the search, scoring
only the settings that have not completed.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from .checks import check_choice, check_keys, check_number
from .errors import ConfigError

METHODS = ("random", "grid")


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
        direction: str = "maximize") -> SearchResult:
    """Score `objective(params) -> validation score` over `space`; every setting tried, best first.

    space: name -> a list of choices, a (low, high) tuple (a float drawn uniformly) or
    dict(low=, high=, log=True) (drawn log-uniformly). method="grid" tries every combination of
    lists (tuples and dicts are refused); method="random" draws n_settings settings (setting k from
    `seed` and k alone, so a resumed search draws what an uninterrupted one would).
    n_settings: the number of completed settings wanted; None means every combination (grid) or 20.
    storage: a SQLite file path (or a database URL); the study `study_name` there is resumed.
    Settings that failed or were interrupted are scored again; completed ones never.
    """
    check_choice("method", method, METHODS)
    check_choice("direction", direction, ("maximize", "minimize"))
    check_number("seed", seed, integer=True, low=0)
    distributions = _distributions(space, grid=method == "grid")
    if n_settings is None:
        n_settings = math.prod(len(d.choices) for d in distributions.values()) if method == "grid" else 20
    check_number("n_settings", n_settings, integer=True, low=1)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    grid = optuna.samplers.GridSampler(space, seed=seed) if method == "grid" else None
    study = optuna.create_study(storage=_storage_url(storage), study_name=study_name, direction=direction,
                                sampler=grid, load_if_exists=True)
    _check_same_space(study, distributions, study_name)
    retry = _failed_points(study) if grid is not None else []

    def score(trial: Trial) -> float:
        return objective({name: _suggest(trial, name, d) for name, d in distributions.items()})

    for _ in range(n_settings - len(study.get_trials(states=(TrialState.COMPLETE,)))):
        if grid is not None and grid.is_exhausted(study):
            if not retry:
                break
            study.enqueue_trial(retry.pop(0))
        elif grid is None:
            study.sampler = optuna.samplers.RandomSampler(seed=_setting_seed(seed, len(study.trials)))
        study.optimize(score, n_trials=1)
    return _result(study, distributions)


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


def _storage_url(storage: str | os.PathLike | None) -> str | None:
    if storage is None or "://" in str(storage):
        return None if storage is None else str(storage)
    return f"sqlite:///{os.fspath(storage)}"


def _check_same_space(study: optuna.Study, distributions: dict[str, BaseDistribution], name: str) -> None:
    for trial in study.trials:
        if trial.distributions and trial.distributions != distributions:
            raise ConfigError(f"the stored study {name!r} searched another space; pass a new study_name "
                              "or another storage file.")


def _failed_points(study: optuna.Study) -> list[dict[str, Any]]:
    """Parameters of failed grid settings that no completed one has covered (to score again)."""
    done = [t.params for t in study.get_trials(states=(TrialState.COMPLETE,))]
    failed = [t.params for t in study.get_trials(states=(TrialState.FAIL,)) if t.params not in done]
    return [p for i, p in enumerate(failed) if p not in failed[:i]]


def _result(study: optuna.Study, distributions: dict[str, BaseDistribution]) -> SearchResult:
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1

    def rank(trial: FrozenTrial) -> tuple:
        scored = trial.value is not None and not math.isnan(trial.value)
        return (not scored, sign * trial.value if scored else 0.0, trial.number)

    names = list(distributions)
    trials = sorted(study.trials, key=rank)
    table = pd.DataFrame([{**{n: t.params.get(n) for n in names}, "value": t.value, "setting": t.number,
                           "state": t.state.name,
                           "seconds": t.duration.total_seconds() if t.duration else float("nan")}
                          for t in trials], columns=[*names, "value", "setting", "state", "seconds"])
    best = next((t for t in trials if t.state == TrialState.COMPLETE), None)
    scales = {name: "choice" if isinstance(d, CategoricalDistribution) else "log" if d.log else "linear"
              for name, d in distributions.items()}
    return SearchResult(table, dict(best.params) if best else {}, best.value if best else float("nan"),
                        scales)
