"""The course book: the executed notebooks rendered by jupyter-book.

`build(profile, student)` is what `make book` runs::

    notebooks/<name>.ipynb --papermill, profile--> book/executed/<name>.ipynb --jupyter-book--> book/_build/html

A notebook is executed again only when its executed copy is missing, failed, or was computed from
another source, parameters, library or data than now (`cache`: the key stored with the copy);
`force=True` executes every one. `jobs` notebooks execute side by side here, each kernel with its
share of the cores, or, given a `scheduler`, on the workers of a Dask cluster (`runs`); the book is
then rendered once, here. A line per notebook says when it starts, when it finishes (minutes) or
that its copy is reused.

The student edition executes nothing: every source notebook is released the way students receive it
(`digitcourse.grading.release`: solutions replaced by the stub, hidden tests and outputs removed,
checked for leaks) into a copy of the book in book/_build/student/, which jupyter-book renders the
same way.

The book's results page collects what each notebook recorded with `digitcourse.results.record_results`.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ..checks import check_choice, check_number
from ..course import PROFILES, ROOT, notebooks
from ..errors import ConfigError, DigitcourseError
from .cache import CacheKey, stale_parts
from .runs import execute_all

BOOK = ROOT / "book"
EXECUTED = BOOK / "executed"
STUDENT_BOOK = BOOK / "_build" / "student"


def render(book: Path) -> Path:
    """Run `jupyter-book build` on the folder `book` (it executes nothing); returns the site's index.html.

    jupyter-book prints its progress and warnings; a failed build raises DigitcourseError.
    """
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book)]
    finished = subprocess.run(command, check=False)
    if finished.returncode != 0:
        raise DigitcourseError(f"jupyter-book build {book} failed (exit code {finished.returncode}); "
                               "its messages are above.")
    return book / "_build" / "html" / "index.html"


def build(profile: str = "full", student: bool = False, *, force: bool = False, jobs: int = 1,
          scheduler: str | None = None) -> Path:
    """Build the book from every notebook in notebooks/; returns the site's index.html.

    `profile` ("full", "quick" or "tiny", see digitcourse.params) is what papermill runs each notebook
    with. `student` builds the student edition instead (no execution, so `profile` plays no part).
    `force` executes every notebook, even those whose executed copy is still valid. `jobs`: how many
    notebooks execute at once here (1: one after another, their cells' output streamed here).
    `scheduler`: the address of a Dask scheduler whose workers execute the notebooks instead.

    A notebook that fails stops the build (after those running beside it end): DigitcourseError
    names it and its failing cell, and its executed copy stays in book/executed/ for reading.
    """
    check_choice("profile", profile, PROFILES)
    check_number("jobs", jobs, integer=True, low=1)
    if student and scheduler:
        raise ConfigError("The student edition executes nothing: leave out --scheduler (or --student).")
    sources = notebooks()
    if student:
        return _build_student_edition(sources)
    EXECUTED.mkdir(exist_ok=True)
    for orphan in set(EXECUTED.glob("*.ipynb")) - {EXECUTED / source.name for source in sources}:
        orphan.unlink()
    parameters = {"profile": profile}
    stale = []
    for source in sources:
        executed = EXECUTED / source.name
        changed = ["forced"] if force else stale_parts(source, executed, CacheKey.of(source, parameters))
        if changed:
            stale.append((source, changed))
        else:
            print(f"{source.stem}: reused (nothing changed since its {profile} run)", flush=True)
    execute_all(stale, EXECUTED, parameters, jobs=jobs, scheduler=scheduler)
    return render(BOOK)


def _build_student_edition(sources: list[Path]) -> Path:
    """Copy the book's pages to STUDENT_BOOK, with the released notebooks as its executed/, and render it."""
    from ..grading.release import release  # nbgrader: loaded only for the student edition

    shutil.rmtree(STUDENT_BOOK, ignore_errors=True)
    shutil.copytree(BOOK, STUDENT_BOOK, ignore=shutil.ignore_patterns("_build", "_ext", EXECUTED.name))
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {name: str((BOOK / path).resolve())
                                  for name, path in sphinx["local_extensions"].items()}
    sphinx["config"]["course_edition"] = "student"
    (STUDENT_BOOK / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (STUDENT_BOOK / EXECUTED.name).mkdir()
    with tempfile.TemporaryDirectory() as folder:
        for released in release(sources, out=folder):
            shutil.copyfile(released, STUDENT_BOOK / EXECUTED.name / released.name)
    return render(STUDENT_BOOK)
