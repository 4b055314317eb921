"""Where the course lives and what its runs share (torch-free, so the command line starts fast).

- the repository (`ROOT`) and its notebooks (`notebooks()`: one assignment each, named after it);
- the profiles a notebook runs in, and `GRADING_PROFILE`, the one the grader uses;
- the environment variables digitcourse reads (`DATA_VARIABLE`, `PROFILE_VARIABLE`) and
  `environment()`, which sets variables for the child processes started inside it;
- where students open their notebooks: `student_colab_links` points the "Open in Colab" links of a
  released notebook at its copy on the `STUDENT_BRANCH`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

PACKAGE = Path(__file__).resolve().parent  # this digitcourse
ROOT = PACKAGE.parent  # the repository (or the folder the package was installed into)
NOTEBOOKS = ROOT / "notebooks"

PROFILES = ("full", "quick", "tiny")  # the real experiment, CI's run (minutes), the grader's (seconds)
GRADING_PROFILE = "tiny"
PROFILE_VARIABLE = "DIGITCOURSE_PROFILE"  # overrides a notebook's profile (the grader sets it)
DATA_VARIABLE = "DIGITCOURSE_DATA"  # the folder that holds the data sets
# Kernels draw figures inline (ipykernel's default backend), whatever MPLBACKEND says outside.
INLINE_FIGURES = "module://matplotlib_inline.backend_inline"

# Students open release/'s folders from this branch of the course repository (see the instructors' page).
STUDENT_BRANCH = "student"
_COLAB_SOURCE = re.compile(
    r"(colab\.research\.google\.com/github/[\w.-]+/[\w.-]+)/blob/[\w.-]+/notebooks/([\w.-]+)\.ipynb")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """`root`, else $DIGITCOURSE_DATA, else ~/.cache/digitcourse (honouring $XDG_CACHE_HOME)."""
    if root is None:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = os.environ.get(DATA_VARIABLE) or Path(cache) / "digitcourse"
    return Path(root).expanduser()


def notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The course notebooks in `folder` (default NOTEBOOKS): its .ipynb files, in name order;
    ConfigError when it has none."""
    folder = Path(NOTEBOOKS if folder is None else folder)
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise ConfigError(f"No notebook in {folder}/: name the notebooks, or run from the repository root.")
    return found


def python_path() -> str:
    """PYTHONPATH for a child process (a kernel, a grading worker) that must import this digitcourse,
    the repository's, whether it is installed or not."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set the environment variables `values` (None removes one) for the block, then restore them.

    Child processes started inside the block (kernels, nbgrader's steps) inherit the variables.
    """
    previous = {name: os.environ.get(name) for name in values}
    _assign(values)
    try:
        yield
    finally:
        _assign(previous)


def _assign(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def student_colab_links(text: str) -> str:
    """`text` with every Colab link to the instructor's ``notebooks/<name>.ipynb`` pointed at the student
    version, ``<name>/<name>.ipynb`` on the STUDENT_BRANCH (where the instructor publishes release/)."""
    return _COLAB_SOURCE.sub(rf"\1/blob/{STUDENT_BRANCH}/\2/\2.ipynb", text)
