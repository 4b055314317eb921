"""One exception family whose messages a student can act on.

Every error raised for bad user input is a :class:`DigitcourseError`. Its message is one or two lines
that say what was wrong and how to fix it, so the traceback adds nothing: :func:`show_briefly` makes
Python and IPython print just ``DataError: <message>`` for these errors (and the usual traceback for
every other exception).
"""
from __future__ import annotations

import sys


class DigitcourseError(Exception):
    """Base class of every error digitcourse raises for bad input."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of the traceback: an error output of one line, which a
        notebook runner (papermill, nbclient, nbgrader) records as the cell's error."""
        return [f"{type(self).__name__}: {self}"]


class DataError(DigitcourseError):
    """Missing, corrupt or unknown data: files, checksums, formats, dataset names."""


class ConfigError(DigitcourseError, ValueError):
    """A parameter of the wrong name, type or value."""


class GradebookError(DigitcourseError):
    """A gradebook that cannot be read or written (newer, corrupt, locked), or a grade it refuses
    (points out of range, an unknown student or question); nothing was written."""


def _brief_excepthook(previous):
    def hook(kind, error, traceback):
        if issubclass(kind, DigitcourseError):
            print(f"{kind.__name__}: {error}", file=sys.stderr)
        else:
            previous(kind, error, traceback)

    hook.digitcourse = True
    return hook


def show_briefly() -> None:
    """Print digitcourse errors as one line, without the traceback, in scripts.

    In IPython and notebooks `DigitcourseError._render_traceback_` does the same.
    """
    if not getattr(sys.excepthook, "digitcourse", False):
        sys.excepthook = _brief_excepthook(sys.excepthook)
