"""A submission as the grader reads it: which cells earn points, and what the student may change.

`merge(released, instructors, submitted)` makes the notebook that is graded:

- a read-only or test cell is the instructor's, whatever the student did to it (a test cell shows its
  released text; its code, hidden tests included, runs in the grader: `verdict.Verdicts`);
- a cell the student deleted is put back where it was released;
- an exercise or a written answer is the student's text, with the instructor's metadata (points);
- a copy of a graded cell (the same grade_id again, as copy and paste makes) and a cell with a
  grade_id the assignment does not have are kept as ordinary cells of the student's.

Every such change is named in the notes that go to the student's row.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from nbformat import NotebookNode


# nbgrader's delimiters, one pair per region: what lies between them is removed from the student version
SOLUTION = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TESTS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARKERS = (*SOLUTION, *HIDDEN_TESTS)


def marked_lines(source: str, *regions: tuple[str, str]) -> list[range]:
    """The numbers (1-based) of the lines strictly between a begin and an end marker of `regions`, one
    range per region in the order of the cell `source`."""
    found, begin = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        if any(start in line for start, _ in regions):
            begin = number
        elif begin is not None and any(end in line for _, end in regions):
            found.append(range(begin + 1, number))
            begin = None
    return found


@dataclass(frozen=True)
class GradedCell:
    """A cell that earns points: `auto` when the grader scores it (a test cell), else it is graded by
    hand (a written answer)."""

    name: str
    points: float
    auto: bool


def invalid(notebook: NotebookNode) -> str:
    """Why `notebook` (as nbformat read it) cannot be graded, in one line; '' if it can: every cell a
    code, markdown or raw cell whose source is text and whose metadata (nbgrader's too) is a mapping."""
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        return "it has no list of cells"
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return f"cell {number} is not a code, markdown or raw cell"
        if not isinstance(cell.get("source"), str):
            return f"the source of cell {number} is not text (it is {type(cell.get('source')).__name__})"
        if not isinstance(cell.get("metadata"), dict) or not isinstance(cell.metadata.get("nbgrader", {}), dict):
            return f"the metadata of cell {number} is not a mapping"
    return ""


def cell_role(cell: NotebookNode) -> str:
    """"exercise" (a solution code cell), "test" (an autograded cell), "answer" (a written answer,
    graded by hand), "locked" (read-only), or "" for an ordinary cell."""
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution") and cell.cell_type == "code":
        return "exercise"
    if meta.get("grade") and cell.cell_type == "code":
        return "test"
    if meta.get("solution"):
        return "answer"
    return "locked" if meta.get("locked") else ""


def graded_cells(notebook: NotebookNode) -> list[GradedCell]:
    """The cells of `notebook` that earn points, in notebook order."""
    return [GradedCell(grade_id(cell), points(cell), auto=cell_role(cell) == "test")
            for cell in notebook.cells if _meta(cell).get("grade") and cell_role(cell) != "exercise"]


def points(cell: NotebookNode) -> float:
    return float(_meta(cell).get("points", 0) or 0)


def merge(released: NotebookNode, instructors: NotebookNode,
          submitted: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The notebook to grade, and the notes on what the student changed (see the module's docstring)."""
    releases = {grade_id(cell): cell for cell in released.cells if grade_id(cell)}
    originals = {grade_id(cell): cell for cell in instructors.cells if grade_id(cell)}
    merged, notes, seen = copy.deepcopy(released), [], set()
    merged.cells = []
    for cell in submitted.cells:
        name = grade_id(cell)
        if name not in releases or name in seen:
            if name:
                notes.append(f"cell {name!r} {'appears twice' if name in seen else 'is not part of the assignment'}"
                             ": graded as an ordinary cell")
            merged.cells.append(_ordinary(cell))
            continue
        seen.add(name)
        merged.cells.append(_graded_version(cell, releases[name], originals[name], notes))
    _put_back(released, merged, notes)
    return merged, notes


def _graded_version(theirs: NotebookNode, release: NotebookNode, original: NotebookNode,
                    notes: list[str]) -> NotebookNode:
    """The cell that is graded in place of the student's copy `theirs` of a released cell."""
    name, role = grade_id(release), cell_role(release)
    if theirs.cell_type != release.cell_type:
        notes.append(f"cell {name!r} was changed to {theirs.cell_type}: graded as {release.cell_type}")
    if role in ("test", "locked"):
        if theirs.source not in (release.source, original.source) and theirs.cell_type == release.cell_type:
            notes.append(f"read-only cell {name!r} was edited: graded with the instructor's version")
        kept = copy.deepcopy(release if role == "test" else original)
    else:  # an exercise or a written answer: the student's text
        kept = copy.deepcopy(release)
        kept.source = theirs.source
    if _meta(theirs).get("grade") and points(theirs) != points(release):
        notes.append(f"the points of cell {name!r} were changed to {points(theirs):g}: graded out of "
                     f"{points(release):g}")
    if kept.cell_type == "code":
        kept.outputs, kept.execution_count = [], None
    return kept


def _put_back(released: NotebookNode, merged: NotebookNode, notes: list[str]) -> None:
    """Insert the released copy of each read-only or graded cell the student deleted, after the cell
    that precedes it in the released notebook."""
    position = 0  # where the next missing cell goes: after the last released cell found so far
    present = {grade_id(cell): index for index, cell in enumerate(merged.cells) if grade_id(cell)}
    for cell in released.cells:
        name = grade_id(cell)
        if not name:
            continue
        if name in present:
            position = present[name] + 1
        elif cell_role(cell) in ("test", "locked") or _meta(cell).get("grade"):
            merged.cells.insert(position, copy.deepcopy(cell))
            notes.append(f"cell {name!r} was deleted: the instructor's copy was put back")
            present = {grade_id(c): index for index, c in enumerate(merged.cells) if grade_id(c)}
            position += 1
        elif cell_role(cell) == "exercise":
            notes.append(f"exercise cell {name!r} was deleted")


def _ordinary(cell: NotebookNode) -> NotebookNode:
    kept = copy.deepcopy(cell)
    kept.metadata.pop("nbgrader", None)
    return kept


def _meta(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def grade_id(cell: NotebookNode) -> str:
    """The cell's nbgrader grade_id ('' for a cell without one)."""
    return str(_meta(cell).get("grade_id", ""))
