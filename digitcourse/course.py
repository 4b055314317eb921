"""Where the course lives and what its runs share (torch-free, so the command line starts fast).

- the repository (`ROOT`) and its notebooks (`notebooks()`: one assignment each, named after it);
- the profiles a notebook runs in, and `GRADING_PROFILE`, the one the grader uses;
- the environment variables digitcourse reads (`DATA_VARIABLE`, `PROFILE_VARIABLE`) and
  `environment()`, which sets variables for the child processes started inside it;
- the course's home (`home()`): its repository on GitHub and the branch students open released
  notebooks from, named once in pyproject.toml's ``[tool.digitcourse]``; `course_links` points the
  repository links of a notebook or a book page there, and `student_colab_links` points the "Open in
  Colab" links of a released notebook at its copy on the student branch.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package (pytest depends on it there)
    import tomli as tomllib

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

# The course's home. The notebooks' sources name UPSTREAM in their Colab badge and set-up cell; what
# students and the book see names the repository of `home()` instead (see `course_links`).
UPSTREAM = "digitcourse/digitcourse"
REPOSITORY_VARIABLE = "DIGITCOURSE_REPOSITORY"  # owner/name: overrides the configured repository
# Students open release/'s folders from this branch of the course repository (see the instructors' page).
STUDENT_BRANCH = "student"
_REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")
_GITHUB_REMOTE = re.compile(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$")
_UPSTREAM_LINK = re.compile(rf"(github\.com/|colab\.research\.google\.com/github/){re.escape(UPSTREAM)}\b")
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


@dataclass(frozen=True)
class Home:
    """Where the course lives: `repository` ("owner/name" on GitHub), and `student_branch`, the branch
    of it that holds the released notebooks."""

    repository: str
    student_branch: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}"


def home() -> Home:
    """The course's home, from pyproject.toml's ``[tool.digitcourse]`` (`repository`, `student_branch`).

    The repository is, in order: $DIGITCOURSE_REPOSITORY, the configured `repository`, the git remote
    "origin" where it is on GitHub, else UPSTREAM. The student branch defaults to STUDENT_BRANCH.
    ConfigError for a repository that is not "owner/name".
    """
    configured = _configuration()
    repository = (os.environ.get(REPOSITORY_VARIABLE) or configured.get("repository")
                  or _github_remote() or UPSTREAM)
    if not _REPOSITORY.fullmatch(repository):
        raise ConfigError(f"The course repository must be named as owner/name on GitHub, got {repository!r} "
                          f"(pyproject.toml's [tool.digitcourse] or ${REPOSITORY_VARIABLE}).")
    return Home(repository, str(configured.get("student_branch", STUDENT_BRANCH)))


@lru_cache(maxsize=1)
def _configuration() -> dict:
    """pyproject.toml's ``[tool.digitcourse]`` table ({} where the package is installed without it)."""
    project = ROOT / "pyproject.toml"
    if not project.is_file():
        return {}
    return tomllib.loads(project.read_text()).get("tool", {}).get("digitcourse", {})


@lru_cache(maxsize=1)
def _github_remote() -> str | None:
    """owner/name of the repository's git remote "origin" where it is on GitHub, else None."""
    try:
        found = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True,
                               text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _GITHUB_REMOTE.search(found.stdout.strip()) if found.returncode == 0 else None
    return match.group(1) if match else None


def course_links(text: str) -> str:
    """`text` with every link to UPSTREAM on GitHub or Colab (the badge, the set-up cell's pip source)
    pointed at the repository of `home()`."""
    return _UPSTREAM_LINK.sub(rf"\g<1>{home().repository}", text)


def student_colab_links(text: str) -> str:
    """`text` with every Colab link to the instructor's ``notebooks/<name>.ipynb`` pointed at the student
    version, ``<name>/<name>.ipynb`` on the student branch (where the instructor publishes release/)."""
    return _COLAB_SOURCE.sub(rf"\1/blob/{home().student_branch}/\2/\2.ipynb", text)
