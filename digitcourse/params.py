"""Notebook parameters: one call checks them, seeds every generator and picks the profile's sizes.

The cell after a notebook's `parameters` cell reads::

    P = dc.params.setup(seed=seed, profile=profile, device=device, data_root=data_root,
                        knobs=dict(lr=dc.params.real(lr, low=0, low_open=True),
                                   hidden=dc.params.integer(hidden, low=1)),
                        sizes={"full":  dict(subset=None, epochs=20, seeds=10),
                               "quick": dict(subset=2000, epochs=3, seeds=3),
                               "tiny":  dict(subset=300, epochs=1, seeds=2)})
    P.epochs, P.seeds, P.device, P.lr

A knob (a parameter of the notebook's own) is declared with what it accepts: `integer`, `real`,
`choice`, `flag` or `file`; `setup` checks it with the other parameters.

A profile only scales sizes: every profile names the same sizes, so the code path is the same.
`full` is the real experiment, `quick` the CI run (minutes), `tiny` the grader's run (seconds).
The environment variable DIGITCOURSE_PROFILE, when set, overrides the notebook's `profile` (the
grader sets it so that a submission never trains for the full time).
"""
from __future__ import annotations

import ast
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .checks import check_choice, check_device, check_number, unknown_parameter
from .course import DATA_VARIABLE, PROFILE_VARIABLE, PROFILES
from .errors import ConfigError

COMMON = ("seed", "profile", "device", "data_root")  # the parameters every notebook has
INJECTED_MARK = "# Parameters"  # how papermill's injected-parameters cell starts


class Params(SimpleNamespace):
    """The checked parameters of one run: seed, profile, device (a torch.device), data_root, the
    notebook's knobs and the profile's sizes as attributes; `started` and `cpu_started` are the
    wall-clock and CPU-time clocks at the start."""

    def __repr__(self) -> str:
        shown = {name: str(value) if isinstance(value, torch.device) else value
                 for name, value in vars(self).items() if name not in ("started", "cpu_started")}
        return f"Params({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def run_info(self) -> dict[str, Any]:
        """What a closing note reports: profile, seed, device, minutes so far (wall clock, and CPU
        time of this process over all its threads, which other programs on the machine do not
        inflate), torch version."""
        return {"profile": self.profile, "seed": self.seed, "device": describe_device(self.device),
                "minutes": round((time.time() - self.started) / 60, 2),
                "cpu_minutes": round((time.process_time() - self.cpu_started) / 60, 2),
                "torch": torch.__version__}


def describe_device(device: torch.device) -> str:
    """'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


@dataclass(frozen=True)
class Knob:
    """A notebook's own parameter and what it accepts: `check(name, value)` returns the checked value
    or raises a one-line ConfigError."""

    value: Any
    check: Callable[[str, Any], Any]


def integer(value: Any, *, low: int | None = None, high: int | None = None) -> Knob:
    """An integer knob within [low, high]."""
    return Knob(value, partial(check_number, integer=True, low=low, high=high))


def real(value: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False) -> Knob:
    """A number knob within [low, high] (an end left open when asked, e.g. a learning rate > 0)."""
    return Knob(value, partial(check_number, low=low, high=high, low_open=low_open, high_open=high_open))


def choice(value: Any, options: Sequence[str]) -> Knob:
    """A knob that is one of `options`, e.g. a data set's name."""
    return Knob(value, partial(check_choice, choices=options))


def flag(value: Any) -> Knob:
    """A True or False knob."""
    return Knob(value, _check_flag)


def file(value: Any) -> Knob:
    """A knob naming a file that must exist, or None (the notebook then makes or finds its own)."""
    return Knob(value, _check_file)


def database(value: Any) -> Knob:
    """A knob naming where a search keeps its settings (`dc.search.run`'s storage): None (in memory), a
    SQLite file (made if missing, in an existing folder) or a database URL (postgresql+psycopg://...)."""
    return Knob(value, _check_database)


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def _check_file(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not Path(value).expanduser().is_file():
        raise ConfigError(f"{name}={value!r} is not a file; give the path of an existing file, or None.")
    return str(Path(value).expanduser())


def _check_database(name: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and "://" in value):
        return value
    if not isinstance(value, (str, os.PathLike)) or not Path(value).expanduser().parent.is_dir():
        raise ConfigError(f"{name}={value!r} is neither a SQLite file in an existing folder nor a database "
                          "URL (postgresql+psycopg://user@host/database); or give None.")
    return str(Path(value).expanduser())


def setup(*, seed: Any, profile: Any, device: Any = "auto", data_root: Any = None,
          sizes: dict[str, dict[str, Any]], knobs: dict[str, Knob] | None = None) -> Params:
    """Check a notebook's parameters and prepare the run; stop with a one-line ConfigError if wrong.

    seed: an integer in [0, 2**32) that seeds `random`, numpy and torch. profile: one of PROFILES
    (DIGITCOURSE_PROFILE overrides it, and a line says so). device: "auto" (CUDA when available),
    "cpu" or "cuda". data_root: None or a folder holding the data sets, exported as DIGITCOURSE_DATA.
    sizes: profile -> {size name: value}, the same names for every profile.
    knobs: the notebook's own parameters, name -> a Knob (`integer`, `real`, `choice`, `flag`, `file`,
    `database`).
    A name that papermill was given but the notebook does not have stops the run too.
    """
    knobs = dict(knobs or {})
    _check_injected_names([*COMMON, *knobs])
    values = {}
    for name, knob in knobs.items():
        if not isinstance(knob, Knob):
            raise ConfigError(f"knob {name!r} needs to say what it accepts: declare it as "
                              f"dc.params.integer({name}, low=...), real, choice, flag, file or database.")
        values[name] = knob.check(name, knob.value)
    check_number("seed", seed, integer=True, low=0, high=2**32, high_open=True)
    check_choice("profile", profile, PROFILES)
    chosen = os.environ.get(PROFILE_VARIABLE)
    if chosen:
        check_choice(PROFILE_VARIABLE, chosen, PROFILES)
        if chosen != profile:
            print(f"profile {chosen!r}: {PROFILE_VARIABLE} overrides the notebook's profile {profile!r}.")
        profile = chosen
    device = check_device(device)
    if data_root is not None:
        os.environ[DATA_VARIABLE] = str(_check_folder(data_root))
    chosen_sizes = _check_sizes(sizes, [*COMMON, *knobs])[profile]

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return Params(seed=seed, profile=profile, device=device, data_root=data_root, **values,
                  **chosen_sizes, started=time.time(), cpu_started=time.process_time())


def _check_folder(data_root: Any) -> Path:
    if not isinstance(data_root, (str, os.PathLike)):
        raise ConfigError(f"data_root must be a folder path or None, got {data_root!r} "
                          f"({type(data_root).__name__}).")
    folder = Path(data_root).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"data_root={str(data_root)!r} is not a folder; give the folder that holds "
                          "the data sets (e.g. MNIST/raw/...), or None for the default.")
    return folder


def _check_sizes(sizes: Any, taken: list[str]) -> dict[str, dict[str, Any]]:
    """Every profile present, each with the same size names, none clashing with a parameter."""
    if not isinstance(sizes, dict) or set(sizes) != set(PROFILES):
        got = sorted(sizes) if isinstance(sizes, dict) else type(sizes).__name__
        raise ConfigError(f"sizes needs one entry per profile ({', '.join(PROFILES)}); got {got}.")
    names = set(sizes[PROFILES[0]])
    for profile in PROFILES:
        if set(sizes[profile]) != names:
            raise ConfigError(f"sizes[{profile!r}] names {sorted(sizes[profile])}, but "
                              f"sizes[{PROFILES[0]!r}] names {sorted(names)}; every profile needs the same.")
    clash = names.intersection(taken)
    if clash:
        raise ConfigError(f"size {sorted(clash)[0]!r} has the name of a parameter; rename one of them.")
    return sizes


def _check_injected_names(known: list[str]) -> None:
    """Fail on a name in papermill's injected cell that is not one of the notebook's parameters.

    papermill only warns about such names; this reads the injected cell from IPython's input history
    (the latest cell starting with '# Parameters'). Outside IPython, or without papermill, nothing to do.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    history = shell.user_ns.get("In", []) if shell is not None else []
    injected = next((cell for cell in reversed(history) if cell.startswith(INJECTED_MARK)), None)
    if injected is None:
        return
    for node in ast.parse(injected).body:
        for target in node.targets if isinstance(node, ast.Assign) else []:
            if isinstance(target, ast.Name) and target.id not in known:
                raise unknown_parameter(target.id, known)
