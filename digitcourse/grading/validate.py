"""``digitcourse validate``: what a student runs before submitting.

The notebook runs as nbgrader's validate runs it, in the student's own kernel: the visible tests must
pass and the read-only cells must be as released. The hidden tests are not in the student's copy, so
passing here is no full mark; and since the tests run beside the student's code, this is a check for
the student, not a grade (`digitcourse grade` decides grades outside the student's kernel).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..checks import check_choice
from ..course import GRADING_PROFILE, PROFILE_VARIABLE, PROFILES, environment
from ..errors import ConfigError, DigitcourseError
from . import nbgrader_glue
from .limits import Limits

_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # in the tracebacks nbgrader reports


def validate(notebook: str | os.PathLike, *, profile: str = GRADING_PROFILE, limits: Limits = Limits()) -> bool:
    """Run `notebook` as the grader would and print what fails; True if nothing does."""
    path = Path(notebook)
    results = problems(path, profile=profile, limits=limits)
    for kind, message in (("type_changed", "cells whose type was changed (change them back)"),
                          ("changed", "read-only cells that were edited (the grader uses the originals)"),
                          ("failed", "graded cells that fail")):
        cells = results.get(kind, [])
        if cells:
            print(f"{len(cells)} {message}:")
        for number, cell in enumerate(cells, start=1):
            lines = cell["source"].splitlines() or ["(empty)"]
            print(f"  {number}. {lines[0]}")
            if last_error_line(cell):
                print(f"     {last_error_line(cell)}")
    if not results:
        print(f"{path}: every visible test passes.")
    return not results


def problems(path: Path, *, profile: str = GRADING_PROFILE,
             limits: Limits = Limits()) -> dict[str, list[dict[str, str]]]:
    """nbgrader's validate of `path` in `profile`: the cells that fail (``failed``) or were changed
    (``changed``, ``type_changed``), each with its ``source`` (and ``raw_error``); {} when none."""
    if not path.is_file():
        raise ConfigError(f"No notebook {path}.")
    check_choice("profile", profile, PROFILES)
    config = nbgrader_glue.course_config(path.parent.resolve(), limits)
    try:
        with environment(**{PROFILE_VARIABLE: profile}):
            return nbgrader_glue.failing_cells(path, config)
    except Exception as error:  # nbgrader's reading and metadata checks: one line for the student
        raise DigitcourseError(f"{path} cannot be validated: {error}") from None


def last_error_line(cell: dict[str, str]) -> str:
    """The last line of a failing cell's error, without terminal colours ('' for none)."""
    error = _ANSI_COLOUR.sub("", cell.get("raw_error", "")).strip().splitlines()
    return error[-1] if error else ""
