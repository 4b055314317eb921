"""``digitcourse grade``: every submission graded in its own sandbox, `jobs` at a time.

::

    grade("submissions", jobs=2)   # -> grading/gradebook.db, then exported from it: grading/grades.csv,
                                   #    grading/feedback/<student>/<a>/<a>.html, grading/report.html

A submissions folder holds ``<student>/<assignment>.ipynb`` (or nbgrader's
``<student>/<assignment>/<assignment>.ipynb``); each assignment is graded against the instructor's
notebook ``<source>/<assignment>.ipynb``. Per assignment, the released version is made once into a
private template folder. Each submission is graded `jobs` at a time here, or on a Dask cluster
(`scheduler`), through one executor (`dispatch.py`): a worker process (`worker.py`) gets the bytes of
the submitted file and of the template, in a folder of its own, and its kernel runs in its own sandbox:
no submission can see or change the templates, another submission, the outputs or the grader. Only
this process writes the outputs, each through a fresh temporary file renamed into place. A worker that
crashes or overruns its limit gets a row saying so; the others are graded all the same.

Each result is filed in the gradebook (`gradebook.py`) as it arrives, so a run that is stopped loses
only the submissions in flight; a submission whose notebook, instructor's notebook and profile are
unchanged since it was filed is not graded again (unless `regrade`). grades.csv, the feedback pages
and the class report are then exported from the gradebook, a grader's marks included.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from ..checks import check_choice, check_number
from ..course import GRADING_PROFILE, PROFILES
from ..errors import ConfigError, DigitcourseError
from . import dispatch
from .class_report import write_report
from .feedback import write_feedback
from .gradebook import Gradebook, Question
from .limits import Limits
from .report import Graded, Row, write_grades
from .student import sandbox

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
          profile: str = GRADING_PROFILE, isolate: bool = True, gradebook: str | os.PathLike | None = None,
          regrade: bool = False, scheduler: str | None = None) -> list[Row]:
    """Autograde every submission in the folder `submissions`; returns their rows (`report.Row`).

    source: the folder of the instructor's notebooks (the solutions), `<assignment>.ipynb` each.
    jobs: submissions graded at once. limits: time and memory per submission.
    profile: the notebook profile the kernels run (DIGITCOURSE_PROFILE).
    isolate: False grades without bubblewrap (student code can then read and write what the grader
    can); by default grading refuses to start where the sandbox is not available.
    gradebook: a file or an SQLAlchemy URL (default `out/gradebook.db`). regrade: grade again the
    submissions the gradebook holds unchanged (a grader's marks stay). scheduler: the address of a Dask
    scheduler (tcp://HOST:8786) whose workers grade instead of this machine (`jobs` is then unused).
    Writes, from the whole gradebook: `out/grades.csv` (one row per submission: student, assignment,
    status, the points of each graded cell, total and max of the autograded points, manual_max,
    notes), each student's feedback `out/feedback/<student>/<assignment>/<assignment>.html`, and the
    class report `out/report.html` with `out/summary.csv`.
    """
    check_number("jobs", jobs, integer=True, low=1)
    check_choice("profile", profile, PROFILES)
    found = find_submissions(submissions)
    sources = {s.assignment: Path(source) / f"{s.assignment}.ipynb" for s in found}
    if not any(path.is_file() for path in sources.values()):
        raise ConfigError(f"{source} holds no instructor's notebook for the submitted assignments "
                          f"({', '.join(sorted(sources))}): pass --source with the folder of "
                          "<assignment>.ipynb.")
    if isolate and scheduler is None and not sandbox.available():  # after the arguments: a typo stays a typo
        raise DigitcourseError(f"{sandbox.WHY_NOT}.")
    out = Path(out)
    hashes = {assignment: _hash(path.read_bytes()) for assignment, path in sources.items() if path.is_file()}
    with Gradebook.open(gradebook or out / "gradebook.db") as book:
        fingerprints = {s: dict(notebook_hash=_hash(_read_submission(s.path)[0]),
                                source_hash=hashes.get(s.assignment, ""), profile=profile) for s in found}
        pending = [s for s in found if regrade or not book.unchanged(s.student, s.assignment, **fingerprints[s])]
        if len(pending) < len(found):
            print(f"{len(found) - len(pending)} of {len(found)} submissions are unchanged since they were "
                  "graded: not graded again (--regrade grades them)", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="digitcourse-grade-") as work:
            work = Path(work)
            for assignment in sorted({s.assignment for s in pending if s.assignment in hashes}):
                book.set_questions(assignment, _template(sources[assignment], work / "templates" / assignment))
            with dispatch.executor(jobs, scheduler, isolate) as (pool, threads):
                futures = {}
                for submission in pending:
                    content, refused = _read_submission(submission.path)
                    if submission.assignment not in hashes:
                        _file(book, submission, Graded.failure(
                            "ungradeable", f"no source notebook {sources[submission.assignment]}"), fingerprints)
                    elif refused:
                        _file(book, submission, Graded.failure("ungradeable", refused), fingerprints)
                    else:
                        job = _job(submission, content, work / "templates", limits, profile, isolate, threads)
                        futures[pool.submit(dispatch.grade_job, job)] = submission
                for future in as_completed(futures):
                    _file(book, futures[future], dispatch.outcome(future, scheduler), fingerprints)
        export(book, out)
        return [row for s in found for row in book.rows(s.assignment, student=s.student)]


def export(book: Gradebook, out: Path) -> Path:
    """Write what the gradebook holds as files: `out/grades.csv`, the feedback pages and the class
    report; returns the path of grades.csv."""
    write_feedback(book, out)
    write_report(book, out)
    return write_grades(book.rows(), {a: [q.name for q in book.questions(a)] for a in book.assignments()},
                        out / "grades.csv")


def _file(book: Gradebook, submission: Submission, graded: Graded,
          fingerprints: dict[Submission, dict[str, str]]) -> None:
    """File one result in the gradebook and say so."""
    book.record(submission.student, submission.assignment, graded, **fingerprints[submission])
    row = book.rows(submission.assignment, student=submission.student)[0]
    notes = f" ({'; '.join(row.notes)})" if row.notes else ""
    print(f"{row.student}/{row.assignment}: {row.status}, {row.total:g}/{row.max:g}{notes}", file=sys.stderr)


def _template(source: Path, folder: Path) -> list[Question]:
    """The assignment's private template: the instructor's notebook and its released version, side by
    side in `folder`; returns its graded cells with their prompts and model answers."""
    import nbformat  # here and in the worker, what grading needs: a run with nothing to grade starts faster

    from .cells import cell_role, grade_id, graded_cells
    from .nbgrader_glue import generate_assignment

    released = generate_assignment(source, folder / "nbgrader")
    shutil.copyfile(source, folder / "source.ipynb")
    shutil.copyfile(released, folder / "release.ipynb")
    instructors = nbformat.read(folder / "source.ipynb", as_version=4)
    models, prompts, prompt = {}, {}, ""
    for cell in instructors.cells:
        if cell_role(cell) == "answer":
            models[grade_id(cell)], prompts[grade_id(cell)] = cell.source, prompt
        elif cell.cell_type == "markdown":
            prompt = cell.source
    return [Question(source.stem, cell.name, cell.points, cell.auto, prompts.get(cell.name, ""),
                     models.get(cell.name, ""))
            for cell in graded_cells(nbformat.read(folder / "release.ipynb", as_version=4))]


def _job(submission: Submission, content: bytes, templates: Path, limits: Limits, profile: str, isolate: bool,
         threads: int) -> str:
    """The `dispatch.Job` that grades `submission` (its notebook's bytes `content`), as JSON."""
    template = templates / submission.assignment
    return dispatch.Job(submission.student, submission.assignment, content, (template / "source.ipynb").read_bytes(),
                        (template / "release.ipynb").read_bytes(), limits, profile, isolate, threads).to_json()


def _read_submission(path: Path) -> tuple[bytes, str]:
    """The submitted file's bytes, refusing anything but a regular file reached without a symbolic
    link (a link could make the grader read, say, the instructor's notebook): (content, "") or
    (b"", why it was refused)."""
    for part in (path.parent, path):
        if part.is_symlink():
            return b"", f"{part.name} is a symbolic link, not a notebook: it was not read"
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        return b"", f"the notebook could not be opened: {error.strerror}"
    with os.fdopen(handle, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return b"", "not a regular file: it was not read"
        return file.read(), ""


def _hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
