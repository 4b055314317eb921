"""The course book: the executed notebooks rendered by jupyter-book.

`build(profile, student)` is what `make book` runs::

    notebooks/<name>.ipynb --papermill, profile--> book/executed/<name>.ipynb --jupyter-book--> book/_build/html

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

import nbformat
import yaml

from .checks import check_choice
from .course import PROFILES, ROOT, notebooks
from .errors import DigitcourseError
from .execute import execute_notebook

BOOK = ROOT / "book"
EXECUTED = BOOK / "executed"
STUDENT_BOOK = BOOK / "_build" / "student"


def executed_profile(notebook: Path) -> str | None:
    """The profile papermill ran `notebook` with, or None if it did not run it to the end."""
    run = nbformat.read(notebook, as_version=4).metadata.get("papermill", {})
    return None if run.get("exception") else run.get("parameters", {}).get("profile")


def is_fresh(executed: Path, source: Path, profile: str) -> bool:
    """Whether `executed` ran to the end with `profile` from the current version of `source`."""
    return (executed.exists() and executed.stat().st_mtime >= source.stat().st_mtime
            and executed_profile(executed) == profile)


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


def build(profile: str = "full", student: bool = False, *, reuse: bool = False) -> Path:
    """Build the book from every notebook in notebooks/; returns the site's index.html.

    `profile` ("full", "quick" or "tiny", see digitcourse.params) is what papermill runs each notebook
    with. `student` builds the student edition instead (no execution, so `profile` plays no part).
    `reuse` keeps the executed copies that already ran to the end with `profile` from an unchanged
    source (the test suite's executed notebooks) and executes only the others.

    A notebook that fails stops the build: DigitcourseError names it and its failing cell, and its
    executed copy stays in book/executed/ for reading.
    """
    check_choice("profile", profile, PROFILES)
    sources = notebooks()
    if student:
        return _build_student_edition(sources)
    EXECUTED.mkdir(exist_ok=True)
    for orphan in set(EXECUTED.glob("*.ipynb")) - {EXECUTED / source.name for source in sources}:
        orphan.unlink()
    for source in sources:
        executed = EXECUTED / source.name
        if not (reuse and is_fresh(executed, source, profile)):
            execute_notebook(source, executed, profile=profile, log=True)
    return render(BOOK)


def _build_student_edition(sources: list[Path]) -> Path:
    """Copy the book's pages to STUDENT_BOOK, with the released notebooks as its executed/, and render it."""
    from .grading.release import release  # nbgrader: loaded only for the student edition

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
