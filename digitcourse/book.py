"""The course book: the executed notebooks rendered by jupyter-book.

`build(profile, student)` is what `make book` runs::

    notebooks/<name>.ipynb --papermill, profile--> book/executed/<name>.ipynb --jupyter-book--> book/_build/html

A notebook is executed again only when its executed copy is missing, failed, or was computed from
another source, parameters, library or data than now (`digitcourse.book_cache`: the key stored with
the copy); `force=True` executes every one. `jobs` notebooks execute side by side, each kernel with
its share of the cores; the book is then rendered once. A line per notebook says when it starts,
when it finishes (minutes) or that its copy is reused.

The student edition executes nothing: every source notebook is released the way students receive it
(`digitcourse.grading.release`: solutions replaced by the stub, hidden tests and outputs removed,
checked for leaks) into a copy of the book in book/_build/student/, which jupyter-book renders the
same way.

The book's results page collects what each notebook recorded with `digitcourse.results.record_results`.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

import yaml

from .book_cache import CacheKey, stale_parts, stamp
from .checks import check_choice, check_number
from .course import PROFILES, ROOT, environment, notebooks
from .errors import DigitcourseError
from .execute import execute_notebook

BOOK = ROOT / "book"
EXECUTED = BOOK / "executed"
STUDENT_BOOK = BOOK / "_build" / "student"
THREADS = "OMP_NUM_THREADS"  # torch's threads in a kernel: the cores shared out among the jobs


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


def build(profile: str = "full", student: bool = False, *, force: bool = False, jobs: int = 1) -> Path:
    """Build the book from every notebook in notebooks/; returns the site's index.html.

    `profile` ("full", "quick" or "tiny", see digitcourse.params) is what papermill runs each notebook
    with. `student` builds the student edition instead (no execution, so `profile` plays no part).
    `force` executes every notebook, even those whose executed copy is still valid. `jobs`: how many
    notebooks execute at once (1: one after another, their cells' output streamed here).

    A notebook that fails stops the build (after those running beside it end): DigitcourseError
    names it and its failing cell, and its executed copy stays in book/executed/ for reading.
    """
    check_choice("profile", profile, PROFILES)
    check_number("jobs", jobs, integer=True, low=1)
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
    _execute_all(stale, parameters, jobs)
    return render(BOOK)


def run_notebook(source: Path, executed: Path, parameters: dict, *, log: bool = False) -> Path:
    """Execute `source` into `executed` with `parameters` (the profile among them) and store the cache
    key of the run in the copy; returns `executed`. DigitcourseError when a cell fails."""
    key = CacheKey.of(source, parameters)  # taken before the run: what the copy is computed from
    execute_notebook(source, executed, profile=parameters["profile"],
                     parameters={k: v for k, v in parameters.items() if k != "profile"}, log=log)
    stamp(executed, key)
    return executed


def _execute_all(stale: list[tuple[Path, list[str]]], parameters: dict, jobs: int) -> None:
    """Execute each stale (source, what changed) into EXECUTED, `jobs` at a time; the first failure is
    raised once the notebooks running beside it have ended."""
    if jobs == 1 or len(stale) <= 1:
        for source, changed in stale:
            _execute_with_progress(source, EXECUTED / source.name, parameters, changed, log=True)
        return
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    with environment(**{THREADS: os.environ.get(THREADS, threads)}), \
            ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = [pool.submit(_execute_with_progress, source, EXECUTED / source.name, parameters, changed)
                   for source, changed in stale]
        done, _ = wait(running, return_when=FIRST_EXCEPTION)
        failed = next((future for future in done if future.exception()), None)
        if failed is not None:
            for future in running:
                future.cancel()
            wait(running)
            failed.result()


def _execute_with_progress(source: Path, executed: Path, parameters: dict, changed: list[str], *,
                           log: bool = False) -> None:
    """run_notebook with a line when it starts (and why) and one when it ends (and after how long)."""
    print(f"{source.stem}: started ({', '.join(changed)})", flush=True)
    started = time.perf_counter()
    try:
        run_notebook(source, executed, parameters, log=log)
    except DigitcourseError:
        print(f"{source.stem}: failed after {(time.perf_counter() - started) / 60:.1f} min", flush=True)
        raise
    print(f"{source.stem}: finished in {(time.perf_counter() - started) / 60:.1f} min", flush=True)


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
