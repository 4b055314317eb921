"""Checks applied once, where configuration enters the library (torch-free: the command line uses them).

Keyword arguments are checked at the door: an unknown key fails naming the nearest valid one, a value
of the wrong type or range fails naming the parameter and what it accepts. Code below the door trusts
its inputs.
"""
from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def nearest(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelt `name`, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_keys(given: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Fail on the first key of `given` that `where` does not accept."""
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            raise ConfigError(f"{where} got an unknown keyword {key!r}{nearest(key, allowed)}; "
                              f"it accepts: {', '.join(sorted(allowed))}.")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """`value` if it is one of `choices`, else a ConfigError listing them."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        hint = nearest(value, choices) if isinstance(value, str) else ""
        raise ConfigError(f"{name}={value!r} is not known{hint}; choose one of: {', '.join(choices)}.")
    return value


def check_number(name: str, value: Any, *, integer: bool = False, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False) -> Any:
    """`value` if it is a number (an int when `integer`) within [low, high] (ends open when asked)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{name} must be {'an integer' if integer else 'a number'}, "
                          f"got {value!r} ({type(value).__name__}).")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        span = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ConfigError(f"{name}={value!r} is out of range; it must lie in {span}.")
    return value


def check_device(device: Any) -> torch.device:
    """"cpu", "cuda", "auto" (CUDA when available, else CPU) or a torch.device, as a torch.device."""
    import torch  # here, not at the top: the command line checks names without loading torch

    if not isinstance(device, torch.device) and device not in DEVICES:
        raise ConfigError(f"device={device!r} is not known; choose 'cpu', 'cuda', 'auto' or a torch.device.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} asks for a GPU, but torch sees none; use device='auto' to "
                          "take the GPU only when there is one.")
    return torch.device(device)


def unknown_parameter(name: str, known: list[str]) -> ConfigError:
    """The one-line error for a parameter `name` that a notebook does not have."""
    return ConfigError(f"unknown parameter {name!r}{nearest(name, known)}; this notebook's parameters "
                       f"are: {', '.join(known)}.")
