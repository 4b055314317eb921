"""``digitcourse grade``: every submission graded in its own sandbox, `jobs` at a time.

::

    grade("submissions", jobs=2)   # -> grading/grades.csv and grading/feedback/<student>/<a>/<a>.html

A submissions folder holds ``<student>/<assignment>.ipynb`` (or nbgrader's
``<student>/<assignment>/<assignment>.ipynb``); each assignment is graded against the instructor's
notebook ``<source>/<assignment>.ipynb``. Per assignment, the released version is made once into a
private template folder. Per submission, a worker process (`worker.py`) gets its own copy of the
submitted file and its own scratch folder, and its kernel runs in its own sandbox: no submission can
see or change the templates, another submission, the outputs or the grader. Only this process writes
the outputs, each through a fresh temporary file renamed into place. A worker that crashes or overruns
its limit gets a row saying so; the others are graded all the same.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from ..checks import check_choice, check_number
from ..course import GRADING_PROFILE, PROFILES
from ..errors import ConfigError, DigitcourseError
from ..files import atomic_write
from .cells import GradedCell, graded_cells
from .limits import Limits
from .nbgrader_glue import generate_assignment
from .report import Graded, row, write_grades
from .student import sandbox
from .worker import RESULT, run_logged

# Each worker is forked from a server process that imported what every worker needs (torch, nbformat,
# nbconvert, the grading modules: 3 to 4 s of CPU per worker otherwise) and ran nothing else; no
# student code ever runs in a worker or in the server.
WORKERS = multiprocessing.get_context("forkserver")
WORKERS.set_forkserver_preload(["digitcourse.grading.worker", "torch", "nbconvert"])


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment."""

    student: str
    assignment: str
    path: Path


def find_submissions(folder: str | os.PathLike) -> list[Submission]:
    """The submissions in `folder`: ``<student>/<assignment>.ipynb`` or
    ``<student>/<assignment>/<assignment>.ipynb``, sorted by assignment then student."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"No submissions folder {folder}.")
    found: dict[tuple[str, str], Path] = {}
    for student in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        paths = [*student.glob("*.ipynb"), *(p for p in student.glob("*/*.ipynb") if p.parent.name == p.stem)]
        for path in paths:
            key = (path.stem, student.name)
            if key in found:
                raise ConfigError(f"Two submissions of {path.stem} by {student.name}: {found[key]} "
                                  f"and {path}; keep one.")
            found[key] = path
    if not found:
        raise ConfigError(f"No submission in {folder}: expected {folder}/<student>/<assignment>.ipynb.")
    return [Submission(student, assignment, path) for (assignment, student), path in sorted(found.items())]


def grade(submissions: str | os.PathLike, *, out: str | os.PathLike = "grading",
          source: str | os.PathLike = "notebooks", jobs: int = 2, limits: Limits = Limits(),
          profile: str = GRADING_PROFILE, isolate: bool = True) -> Path:
    """Autograde every submission in the folder `submissions`; returns the path of grades.csv.

    source: the folder of the instructor's notebooks (the solutions), `<assignment>.ipynb` each.
    jobs: submissions graded at once. limits: time and memory per submission.
    profile: the notebook profile the kernels run (DIGITCOURSE_PROFILE).
    isolate: False grades without bubblewrap (student code can then read and write what the grader
    can); by default grading refuses to start where the sandbox is not available.
    Writes `out/grades.csv` (one row per submission: student, assignment, status, the points of each
    graded cell, total and max of the autograded points, manual_max, notes) and each student's
    feedback, `out/feedback/<student>/<assignment>/<assignment>.html`.
    """
    check_number("jobs", jobs, integer=True, low=1)
    check_choice("profile", profile, PROFILES)
    found = find_submissions(submissions)
    sources = {s.assignment: Path(source) / f"{s.assignment}.ipynb" for s in found}
    if not any(path.is_file() for path in sources.values()):
        raise ConfigError(f"{source} holds no instructor's notebook for the submitted assignments "
                          f"({', '.join(sorted(sources))}): pass --source with the folder of "
                          "<assignment>.ipynb.")
    if isolate and not sandbox.available():  # after the arguments: a typo is reported as a typo
        raise DigitcourseError(f"{sandbox.WHY_NOT}.")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="digitcourse-grade-") as work:
        work = Path(work)
        cells = {assignment: _template(path, work / "templates" / assignment)
                 for assignment, path in sorted(sources.items()) if path.is_file()}
        threads = max(1, (os.cpu_count() or 1) // jobs)
        rows = []
        with ThreadPoolExecutor(jobs) as pool:
            futures = {pool.submit(_grade_one, submission, number, work, limits, profile, isolate,
                                   threads): submission
                       for number, submission in enumerate(found) if submission.assignment in cells}
            for submission in found:
                if submission.assignment not in cells:
                    graded = Graded.failure("ungradeable", f"no source notebook {sources[submission.assignment]}")
                    rows.append(_report(row(submission.student, submission.assignment, [], graded)))
            for future in as_completed(futures):
                submission = futures[future]
                graded = future.result()
                if graded.feedback:
                    target = out / "feedback" / submission.student / submission.assignment
                    atomic_write(target / f"{submission.assignment}.html", Path(graded.feedback).read_bytes())
                rows.append(_report(row(submission.student, submission.assignment,
                                        cells[submission.assignment], graded)))
    return write_grades(rows, cells, out / "grades.csv")


def _template(source: Path, folder: Path) -> list[GradedCell]:
    """The assignment's private template: the instructor's notebook and its released version, side by
    side in `folder`; returns its graded cells."""
    released = generate_assignment(source, folder / "nbgrader")
    shutil.copyfile(source, folder / "source.ipynb")
    shutil.copyfile(released, folder / "release.ipynb")
    return graded_cells(nbformat.read(folder / "release.ipynb", as_version=4))


def _grade_one(submission: Submission, number: int, work: Path, limits: Limits, profile: str,
               isolate: bool, threads: int) -> Graded:
    """Grade one submission in a worker process; its result, or a failure if the worker could not."""
    folder = work / "workers" / str(number)
    folder.mkdir(parents=True, mode=0o700)
    copied = folder / "submitted.ipynb"
    refused = _copy_submission(submission.path, copied)
    if refused:
        return Graded.failure("ungradeable", refused)
    task = dict(student=submission.student, assignment=submission.assignment, submission=str(copied),
                template=str(work / "templates" / submission.assignment), folder=str(folder),
                scratch=str(folder / "scratch"), limits=asdict(limits), profile=profile,
                isolate=isolate, threads=threads)
    (folder / "task.json").write_text(json.dumps(task))
    limit = limits.notebook + Limits.GRACE
    worker = WORKERS.Process(target=run_logged, args=(str(folder / "task.json"), str(folder / "worker.log")))
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        try:
            os.killpg(worker.pid, 9)  # the worker leads a session of its own: its kernel and sandbox too
        except ProcessLookupError:
            worker.kill()
        worker.join()
        return Graded.failure("failed", f"grading was stopped at its limit of {limit} s")
    code = worker.exitcode
    if (folder / RESULT).exists():
        return Graded.from_json((folder / RESULT).read_text())
    lines = (folder / "worker.log").read_text(errors="replace").strip().splitlines()
    return Graded.failure("failed", f"the grader crashed (exit code {code}): {lines[-1] if lines else ''}")


def _copy_submission(path: Path, target: Path) -> str:
    """Copy the submitted file, refusing anything but a regular file reached without a symbolic link
    (a link could make the grader read, say, the instructor's notebook); '' or why it was refused."""
    for part in (path.parent, path):
        if part.is_symlink():
            return f"{part.name} is a symbolic link, not a notebook: it was not read"
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        return f"the notebook could not be opened: {error.strerror}"
    with os.fdopen(handle, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return "not a regular file: it was not read"
        target.write_bytes(file.read())
    return ""


def _report(line: dict[str, str]) -> dict[str, str]:
    notes = f" ({line['notes']})" if line["notes"] else ""
    print(f"{line['student']}/{line['assignment']}: {line['status']}, {line['total']}/{line['max']}{notes}",
          file=sys.stderr)
    return line
