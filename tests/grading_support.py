"""What the grading tests share: the toy assignment, the course's notebooks, and small helpers to read
notebooks, make submissions and run the command line."""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from student_answers import answered

from digitcourse import cli
from digitcourse.course import notebooks

ROOT = Path(__file__).resolve().parent.parent
TOY = Path(__file__).parent / "fixtures_grading" / "toy_assignment.ipynb"
NOTEBOOKS = notebooks()
needs_sandbox = pytest.mark.needs("sandbox")

# One wrong answer per exercise of the toy assignment: exercise -> (text of the solution, wrong text).
# The course notebooks' wrong answers are in student_answers.py.
TOY_WRONG = {"standard_error": ("ddof=1", "ddof=0"),
             "relu_backward": ("return grad_out * (x > 0)", "return -grad_out * (x > 0)")}


def wrong_answer(notebook, exercise: str):
    """The toy `notebook` with the answer to `exercise` wrong (TOY_WRONG)."""
    return answered(notebook, {exercise: TOY_WRONG[exercise]})


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def cell_named(notebook, name: str):
    return next(cell for cell in notebook.cells if nbgrader(cell).get("grade_id") == name)


def exercises(notebook) -> dict[str, list[str]]:
    """Autograded exercise (solution code cell) -> the test cells after it, up to the next exercise."""
    found: dict[str, list[str]] = {}
    for cell in notebook.cells:
        meta = nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            found[meta["grade_id"]] = tests = []
        elif cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and found:
            tests.append(meta["grade_id"])
    return found


def points(notebook) -> dict[str, float]:
    """Autograded test cell -> its points."""
    return {nbgrader(cell)["grade_id"]: float(nbgrader(cell)["points"]) for cell in notebook.cells
            if cell.cell_type == "code" and nbgrader(cell).get("grade") and not nbgrader(cell).get("solution")}


def read(path: Path):
    return nbformat.read(path, as_version=4)


def submit(folder: Path, student: str, assignment: str, notebook) -> Path:
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / student / f"{assignment}.ipynb")
    return folder / student / f"{assignment}.ipynb"


def run_cli(*args: str) -> None:
    assert cli.main(list(args)) == 0


def grade_rows(csv_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(csv_path, newline="") as file:
        return {(row["student"], row["assignment"]): row for row in csv.DictReader(file)}


def release_all(sources: list[Path], out: Path) -> dict[str, object]:
    """`digitcourse release` into `out`; the released notebooks by name."""
    run_cli("release", *map(str, sources), "--out", str(out))
    return {path.stem: read(out / path.stem / path.name) for path in sources}


def toy_sources(work: Path) -> tuple[Path, object, object]:
    """The toy assignment copied to `work/source` and released into `work/release`: (the copy's path,
    the toy notebook, its released version)."""
    source = work / "source" / TOY.name
    source.parent.mkdir()
    source.write_bytes(TOY.read_bytes())
    return source, read(TOY), release_all([TOY], work / "release")[TOY.stem]
