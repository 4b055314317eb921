"""How long and how much one submission may take: the limits, defined once."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..checks import check_number
from ..errors import ConfigError

_UNITS = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


@dataclass(frozen=True)
class Limits:
    """cell: seconds one cell (or one test cell) may run; notebook: seconds the whole notebook may
    run; memory: bytes the kernel and every process it starts may hold together. A worker may take
    `GRACE` seconds beyond the notebook's limit (start-up, the feedback page) before it is stopped."""

    cell: int = 600
    notebook: int = 1800
    memory: int = 4 * 2 ** 30

    GRACE = 120

    def __post_init__(self):
        check_number("cell_timeout", self.cell, integer=True, low=1)
        check_number("timeout", self.notebook, integer=True, low=1)
        check_number("memory", self.memory, integer=True, low=64 * 2 ** 20)


def parse_memory(text: str) -> int:
    """'4G', '512M', '2.5GiB' or a number of bytes -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ConfigError(f"memory={text!r} is not a size; write e.g. 4G, 512M or 2.5GiB.")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def describe_memory(size: int) -> str:
    """4294967296 -> '4 GiB'."""
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:g} {unit}iB"
    return f"{size} bytes"
