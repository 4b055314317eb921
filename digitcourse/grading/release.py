"""``digitcourse release``: the student version of each notebook, checked for leaks before it is written.

Besides nbgrader's solutions and hidden tests, the cells tagged `instructor` (closing notes with the
full run's numbers, "what we saw" narrative that answers a graded question) are left out, and the
repository links point at the course's home (`digitcourse.course.home`).

::

    release(["notebooks/hw3_regularization.ipynb"])  # -> release/hw3_regularization/hw3_regularization.ipynb
"""
from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from ..course import course_links, notebooks, student_colab_links
from ..errors import ConfigError, DigitcourseError
from ..files import atomic_write
from .cells import HIDDEN_TESTS, MARKERS, SOLUTION, marked_lines
from .nbgrader_glue import generate_assignment

INSTRUCTOR_TAG = "instructor"  # a cell only the instructor's version and book show


def release(sources: Sequence[str | os.PathLike] = (), *, out: str | os.PathLike = "release",
            folder: str | os.PathLike | None = None) -> list[Path]:
    """Write the student version of each notebook (default: every course notebook in `folder`).

    Solutions and hidden tests are removed and read-only cells locked (nbgrader's
    generate_assignment), and the cells tagged INSTRUCTOR_TAG left out; each goes to
    ``out/<name>/<name>.ipynb``, its repository links pointed at the course's home and its "Open in
    Colab" links at that copy on the student branch (`digitcourse.course`). Before writing, every
    released notebook is checked for the solution markers and for any solution, hidden-test or
    instructor-only line of its source: DigitcourseError if one is left, and nothing is written.
    Returns the released notebooks.
    """
    paths = [Path(source) for source in sources] or notebooks(folder)
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"No notebook {path}.")
    released = {}
    with tempfile.TemporaryDirectory(prefix="digitcourse-release-") as work:
        for path in paths:
            student_source = Path(work) / "sources" / path.name
            student_source.parent.mkdir(exist_ok=True)
            nbformat.write(student_source_of(nbformat.read(path, as_version=4)), student_source)
            version = generate_assignment(student_source, Path(work) / path.stem)
            leaks = leaked_solution_lines(nbformat.read(path, as_version=4), nbformat.read(version, as_version=4))
            if leaks:
                raise DigitcourseError(f"The student version of {path} still holds what only the instructor "
                                       f"may see, e.g. {leaks[0]!r}: nothing was released.")
            released[path] = version.read_bytes()
    return [atomic_write(Path(out) / path.stem / path.name, text) for path, text in released.items()]


def student_source_of(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`source` as nbgrader should release it: without its instructor-only cells, and with its links
    pointed at the course's home and the student branch."""
    student = copy.deepcopy(source)
    student.cells = [cell for cell in student.cells if not is_instructor_only(cell)]
    for cell in student.cells:
        cell.source = student_colab_links(course_links(cell.source))
    return student


def is_instructor_only(cell: nbformat.NotebookNode) -> bool:
    return INSTRUCTOR_TAG in cell.metadata.get("tags", [])


def leaked_solution_lines(source: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """The lines of `released` that are a marker, a cell tagged INSTRUCTOR_TAG, or a solution,
    hidden-test or instructor-only line of `source` (and that `source` has nowhere else)."""
    secret, public = set(), set()
    for cell in source.cells:
        is_answer = (cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
                     or is_instructor_only(cell))
        inside = {number for region in marked_lines(cell.source, SOLUTION, HIDDEN_TESTS) for number in region}
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if line.strip() and not any(marker in line for marker in MARKERS):
                (secret if number in inside or is_answer else public).add(line.strip())
    secret -= public
    tagged = [f"a cell tagged {INSTRUCTOR_TAG!r}" for cell in released.cells if is_instructor_only(cell)]
    return tagged + [line.strip() for cell in released.cells for line in cell.source.splitlines()
                     if line.strip() in secret or any(marker in line for marker in MARKERS)]
