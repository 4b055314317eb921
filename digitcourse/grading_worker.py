"""Grade one submission in a course folder of its own: the child process of ``digitcourse grade``.

::

    python -m digitcourse.grading_worker TASK.json

TASK.json names the student, the assignment, the submitted file, the assignment's template (the
course folder where ``generate_assignment`` ran: its gradebook and released notebook), a new course
folder to grade in, and the time limits. The worker copies the template's gradebook, puts back the
read-only and graded cells the student deleted, autogrades the submission with nbgrader (which
restores the instructor's version of those cells) and writes ``result.json`` beside TASK.json::

    {"status": "graded" | "ungradeable", "scores": {cell: points or null}, "notes": [...],
     "feedback": path of the feedback HTML or null}

Each worker has its own gradebook, so parallel workers never share a SQLite file. The notes say
what the student changed in cells they may not change and which cells hit a time limit or did not
run.
"""
from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_locked

from .errors import DigitcourseError
from .grading_nbgrader import NOT_RUN, autograde, course_config, scores

RESULT = "result.json"


def grade_submission(task: dict) -> dict:
    """Grade the submission that `task` describes (see the module's docstring); the result as a dict."""
    student, assignment = task["student"], task["assignment"]
    template, root = Path(task["template"]), Path(task["course"])
    try:
        submitted = nbformat.read(task["submission"], as_version=4)
    except Exception as error:  # not JSON, or JSON that is no notebook
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return _ungradeable(f"not a readable notebook: {first_line}")
    released, instructors = (nbformat.read(template / step / assignment / f"{assignment}.ipynb", as_version=4)
                             for step in ("release", "source"))
    notes = changed_cells(released, instructors, submitted)
    put_back_deleted_cells(released, submitted)

    root.mkdir(parents=True)
    shutil.copy(template / "gradebook.db", root / "gradebook.db")
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(submitted, folder / f"{assignment}.ipynb")
    config = course_config(root, cell_timeout=task["cell_timeout"],
                           notebook_timeout=task["notebook_timeout"])
    try:
        autograded = autograde(root, assignment, student, config)
    except DigitcourseError as error:
        return _ungradeable(str(error), notes)
    notes += run_notes(nbformat.read(autograded, as_version=4), task["cell_timeout"])
    feedback = root / "feedback" / student / assignment / f"{assignment}.html"
    return {"status": "graded", "scores": scores(root, assignment, student), "notes": notes,
            "feedback": str(feedback) if feedback.exists() else None}


def _ungradeable(why: str, notes: list[str] = ()) -> dict:
    return {"status": "ungradeable", "scores": {}, "notes": [*notes, why], "feedback": None}


def changed_cells(released: NotebookNode, instructors: NotebookNode,
                  submitted: NotebookNode) -> list[str]:
    """What the student changed in the cells they may not change: read-only cells and graded cells.

    A read-only cell may read as released or as in the instructor's notebook (with hidden tests).
    The grade uses the instructor's version of these cells (`put_back_deleted_cells`, then nbgrader
    restores edited read-only cells and the points of graded cells); these notes say so.
    """
    theirs, originals = ({cell.metadata.nbgrader["grade_id"]: cell for cell in notebook.cells
                          if "grade_id" in cell.metadata.get("nbgrader", {})}
                         for notebook in (submitted, instructors))
    notes = []
    for cell in released.cells:
        if not (is_locked(cell) or is_grade(cell)):
            continue
        name = cell.metadata.nbgrader["grade_id"]
        mine = theirs.get(name)
        if mine is None:
            notes.append(f"cell {name!r} was deleted: the instructor's copy was put back")
        elif mine.cell_type != cell.cell_type:
            notes.append(f"cell {name!r} was changed to {mine.cell_type}: graded as {cell.cell_type}")
        elif is_locked(cell) and mine.source not in (cell.source, originals[name].source):
            notes.append(f"read-only cell {name!r} was edited: graded with the instructor's version")
        elif is_grade(cell) and _points(mine) != _points(cell):
            notes.append(f"the points of cell {name!r} were changed to {_points(mine):g}: "
                         f"graded out of {_points(cell):g}")
    return notes


def put_back_deleted_cells(released: NotebookNode, submitted: NotebookNode) -> None:
    """Insert into `submitted` the released copy of each read-only or graded cell it lacks, after the
    cell that precedes it in the released notebook; nbgrader then restores the instructor's version.

    (nbgrader's own OverwriteCells.add_missing_cells puts back graded cells only, and fails when the
    cell before a deleted one is a read-only cell that is not graded.)
    """
    position = 0  # where the next missing cell goes: after the last released cell found so far
    for cell in released.cells:
        name = cell.metadata.get("nbgrader", {}).get("grade_id")
        found = [index for index, theirs in enumerate(submitted.cells)
                 if name and theirs.metadata.get("nbgrader", {}).get("grade_id") == name]
        if found:
            position = found[0] + 1
        elif name and (is_locked(cell) or is_grade(cell)):
            submitted.cells.insert(position, copy.deepcopy(cell))
            position += 1


def _points(cell: NotebookNode) -> float:
    return float(cell.metadata.nbgrader.get("points", 0))


def run_notes(autograded: NotebookNode, cell_timeout: int) -> list[str]:
    """Which cells of the autograded notebook hit the per-cell time limit, and why cells did not run."""
    notes = []
    for number, cell in enumerate(autograded.cells, start=1):
        errors = {output.ename: output.evalue for output in cell.get("outputs", [])
                  if output.output_type == "error"}
        if "CellTimeoutError" in errors:
            notes.append(f"cell {number} ran out of time (at most {cell_timeout} s a cell) "
                         "and was interrupted")
        if NOT_RUN in errors:
            notes.append(f"{errors[NOT_RUN]}: no later cell ran")
            break
    return notes


def main(task_file: str) -> None:
    task = json.loads(Path(task_file).read_text())
    result = grade_submission(task)
    (Path(task_file).parent / RESULT).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
