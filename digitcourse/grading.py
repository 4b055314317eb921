"""The instructor's workflow on top of nbgrader: release student versions, grade submissions, validate.

::

    release(["notebooks/hw3_regularization.ipynb"])  # -> release/hw3_regularization/hw3_regularization.ipynb
    grade("submissions", jobs=2)                     # -> grading/grades.csv and grading/feedback/
    validate("hw3_regularization.ipynb")             # what a student runs before submitting

Each notebook of notebooks/ is one assignment, named after the notebook. A submissions folder holds
``<student>/<assignment>.ipynb`` (or nbgrader's ``<student>/<assignment>/<assignment>.ipynb``).

`grade` runs nbgrader's ``generate_assignment`` once per assignment (a template course folder with the
gradebook), then grades each submission in its own child process (`grading_worker`) with its own
copy of that gradebook, `jobs` at a time. A child runs with the network off and is killed with every
process it started if it overruns the notebook's time limit (`grading_sandbox`). Its kernel runs the
notebook in the given profile (DIGITCOURSE_PROFILE). One bad submission (not a notebook, an endless
loop, ``os._exit``) gets its row and notes in grades.csv; the others are graded all the same.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .checks import check_choice, check_number
from .course import PROFILE_VARIABLE, PROFILES, STUDENT_BRANCH, student_colab_links
from .errors import ConfigError, DigitcourseError
from .grading_nbgrader import GradedCell, course_config, generate_assignment, graded_cells
from .grading_nbgrader import validate as run_validate
from .grading_sandbox import run_limited
from .grading_worker import RESULT

GRACE = 120  # seconds a worker may take beyond the notebook's limit: start, nbgrader, feedback
# nbgrader's delimiters: what lies between them is removed from the student version
_REGIONS = (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # in the tracebacks nbgrader reports
@dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment."""
    student: str
    assignment: str
    path: Path


def release(notebooks: Sequence[str | os.PathLike] = (), *, out: str | os.PathLike = "release",
            source: str | os.PathLike = "notebooks") -> list[Path]:
    """Write the student version of each notebook (default: every notebook in `source`).

    Solutions and hidden tests are removed and read-only cells locked (nbgrader's
    generate_assignment); each goes to ``out/<name>/<name>.ipynb``, its "Open in Colab" links pointed
    at that copy on the STUDENT_BRANCH (`student_colab_links`). Before writing, every released
    notebook is checked for the solution markers and for any solution line of its source:
    DigitcourseError if one is left. Returns the released notebooks.
    """
    sources = [Path(notebook) for notebook in notebooks] or _source_notebooks(Path(source))
    for path in sources:
        if not path.is_file():
            raise ConfigError(f"No notebook {path}.")
    written = []
    with tempfile.TemporaryDirectory(prefix="digitcourse-release-") as work:
        for path in sources:
            student_source = Path(work) / "sources" / path.name
            student_source.parent.mkdir(exist_ok=True)
            student_source.write_text(student_colab_links(path.read_text()))
            released = generate_assignment(student_source, Path(work) / path.stem)
            leaks = leaked_solution_lines(nbformat.read(path, as_version=4),
                                          nbformat.read(released, as_version=4))
            if leaks:
                raise DigitcourseError(f"The student version of {path} still holds solution lines, "
                                       f"e.g. {leaks[0]!r}: nothing was released.")
            target = Path(out) / path.stem / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(released, target)
            written.append(target)
    return written


def leaked_solution_lines(source: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """The lines of `released` that are a marker or a solution/hidden-test line of `source` (and
    that `source` has nowhere else)."""
    markers = [marker for region in _REGIONS for marker in region]
    secret, public = set(), set()
    for cell in source.cells:
        is_answer = cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
        inside = False
        for line in cell.source.splitlines():
            if any(begin in line for begin, _ in _REGIONS):
                inside = True
            elif any(end in line for _, end in _REGIONS):
                inside = False
            elif line.strip():
                (secret if inside or is_answer else public).add(line.strip())
    secret -= public
    return [line.strip() for cell in released.cells for line in cell.source.splitlines()
            if line.strip() in secret or any(marker in line for marker in markers)]


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
          source: str | os.PathLike = "notebooks", jobs: int = 2, cell_timeout: int = 600,
          timeout: int = 1800, profile: str = "quick") -> Path:
    """Autograde every submission in the folder `submissions`; returns the path of grades.csv.

    source: the folder of the instructor's notebooks (the solutions), `<assignment>.ipynb` each.
    jobs: submissions graded at once, each in its own process.
    cell_timeout, timeout: seconds one cell, and the whole notebook, may run.
    profile: the notebook profile the kernel runs (DIGITCOURSE_PROFILE).
    Writes `out/grades.csv` (one row per submission: student, assignment, status, the points of
    each graded cell, total and max of the autograded points, manual_max, notes) and each student's
    feedback, `out/feedback/<student>/<assignment>/<assignment>.html`.
    """
    check_number("jobs", jobs, integer=True, low=1)
    check_number("cell_timeout", cell_timeout, integer=True, low=1)
    check_number("timeout", timeout, integer=True, low=1)
    check_choice("profile", profile, PROFILES)
    found = find_submissions(submissions)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="digitcourse-grade-") as work:
        work = Path(work)
        cells = {}  # assignment -> its graded cells, for the assignments with a source notebook
        for assignment in sorted({submission.assignment for submission in found}):
            path = Path(source) / f"{assignment}.ipynb"
            if path.is_file():
                released = generate_assignment(path, work / "templates" / assignment)
                cells[assignment] = graded_cells(nbformat.read(released, as_version=4))
        limits = dict(cell_timeout=cell_timeout, notebook_timeout=timeout)
        env = _worker_environment(profile, jobs)
        rows = []
        with ThreadPoolExecutor(jobs) as pool:
            futures = {pool.submit(_grade_one, submission, work, limits, env): submission
                       for submission in found if submission.assignment in cells}
            for submission in found:
                if submission.assignment not in cells:
                    rows.append(_row(submission, [], _failure(
                        "ungradeable", f"no source notebook {Path(source) / submission.path.name}")))
                    _report(rows[-1])
            for future in as_completed(futures):
                submission = futures[future]
                result = future.result()
                if result.get("feedback"):
                    target = out / "feedback" / submission.student / submission.assignment
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(result["feedback"], target / f"{submission.assignment}.html")
                rows.append(_row(submission, cells[submission.assignment], result))
                _report(rows[-1])
    return _write_grades(rows, cells, out / "grades.csv")


def _grade_one(submission: Submission, work: Path, limits: dict, env: dict) -> dict:
    """Grade one submission in a worker process; its result, or a failure if the worker died."""
    folder = work / "workers" / f"{submission.student}--{submission.assignment}"
    folder.mkdir(parents=True)
    task = dict(student=submission.student, assignment=submission.assignment,
                submission=str(submission.path.resolve()),
                template=str(work / "templates" / submission.assignment),
                course=str(folder / "course"), **limits)
    (folder / "task.json").write_text(json.dumps(task))
    limit = limits["notebook_timeout"] + GRACE
    code = run_limited([sys.executable, "-m", "digitcourse.grading_worker", str(folder / "task.json")],
                       timeout=limit, env={**env, "JUPYTER_RUNTIME_DIR": str(folder / "runtime")},
                       log=folder / "worker.log")
    if (folder / RESULT).exists():
        return json.loads((folder / RESULT).read_text())
    if code is None:
        return _failure("failed", f"grading was stopped at its limit of {limit} s")
    lines = (folder / "worker.log").read_text(errors="replace").strip().splitlines()
    return _failure("failed", f"the grader crashed (exit code {code}): {lines[-1] if lines else ''}")


def _failure(status: str, why: str) -> dict:
    return {"status": status, "scores": {}, "notes": [why], "feedback": None}


def _worker_environment(profile: str, jobs: int) -> dict[str, str]:
    """The environment of the workers and their kernels: this digitcourse importable, the profile,
    and the CPU cores shared between the `jobs` kernels (torch reads OMP_NUM_THREADS)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    return {**os.environ,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
            PROFILE_VARIABLE: profile, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _row(submission: Submission, cells: list[GradedCell], result: dict) -> dict[str, object]:
    """One line of grades.csv. Autograded cells that did not run score 0; an answer to grade by hand
    is left empty."""
    scores = result["scores"]
    graded = result["status"] == "graded"
    row: dict[str, object] = {"student": submission.student, "assignment": submission.assignment,
                              "status": result["status"]}
    for cell in cells:
        score = scores.get(cell.name)
        row[cell.name] = "" if score is None or not graded else _number(score)
    row["total"] = _number(sum(scores.get(cell.name) or 0.0 for cell in cells if cell.auto))
    row["max"] = _number(sum(cell.points for cell in cells if cell.auto))
    row["manual_max"] = _number(sum(cell.points for cell in cells if not cell.auto))
    row["notes"] = "; ".join(result["notes"])
    return row


def _number(value: float) -> str:
    return f"{value:g}"


def _report(row: dict[str, object]) -> None:
    notes = f" ({row['notes']})" if row["notes"] else ""
    print(f"{row['student']}/{row['assignment']}: {row['status']}, {row['total']}/{row['max']}{notes}",
          file=sys.stderr)


def _write_grades(rows: list[dict], cells: dict[str, list[GradedCell]], path: Path) -> Path:
    """Write grades.csv atomically (a temporary file, then a rename): a reader never sees half of it."""
    names = list(dict.fromkeys(cell.name for assignment in sorted(cells) for cell in cells[assignment]))
    columns = ["student", "assignment", "status", *names, "total", "max", "manual_max", "notes"]
    rows = sorted(rows, key=lambda row: (row["assignment"], row["student"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as file:
        writer = csv.DictWriter(file, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)
    return path


def validate(notebook: str | os.PathLike, *, profile: str = "quick", cell_timeout: int = 600,
             timeout: int = 1800) -> bool:
    """Run `notebook` as the grader would (nbgrader's validate) and print what fails; True if nothing.

    What a student runs before submitting: the visible tests must pass and the read-only cells must
    be as released. The hidden tests are not in the student's copy, so passing here is no full mark.
    """
    path = Path(notebook)
    if not path.is_file():
        raise ConfigError(f"No notebook {path}.")
    check_choice("profile", profile, PROFILES)
    config = course_config(path.parent.resolve(), cell_timeout=cell_timeout, notebook_timeout=timeout)
    try:
        with _environment(PROFILE_VARIABLE, profile):
            results = run_validate(path, config)
    except Exception as error:  # nbgrader's reading and metadata checks: one line for the student
        raise DigitcourseError(f"{path} cannot be validated: {error}") from None
    for kind, message in (("type_changed", "cells whose type was changed (change them back)"),
                          ("changed", "read-only cells that were edited (the grader uses the originals)"),
                          ("failed", "graded cells that fail")):
        cells = results.get(kind, [])
        if cells:
            print(f"{len(cells)} {message}:")
        for number, cell in enumerate(cells, start=1):
            lines = cell["source"].splitlines() or ["(empty)"]
            print(f"  {number}. {lines[0]}")
            error = _ANSI_COLOUR.sub("", cell.get("raw_error", "")).strip().splitlines()
            if error:
                print(f"     {error[-1]}")
    if not results:
        print(f"{path}: every visible test passes.")
    return not results


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _source_notebooks(folder: Path) -> list[Path]:
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise ConfigError(f"No notebook in {folder}/: name the notebooks, or run from the repository root.")
    return notebooks
