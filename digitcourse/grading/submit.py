"""``digitcourse submit``: what a student runs at the end, one zip ready to upload.

::

    submit("hw3_regularization.ipynb")   # -> hw3_regularization.zip: the notebook and its PDF report

The notebook is validated as the grader runs it (`validate.problems`, in the grading profile); a test
cell that fails is a warning naming the cell, not a refusal: the student may still hand in what they
have. Then the PDF report is written (`digitcourse.pdf`) and both go into one zip named for the
assignment (the notebook's name), written whole or not at all.
"""
from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

from ..course import GRADING_PROFILE
from ..errors import ConfigError
from ..files import atomic_path
from ..pdf import read_notebook, write_pdf
from .cells import grade_id, graded_cells
from .validate import last_error_line, problems

PROBLEMS = {"failed": "fails", "changed": "is a read-only cell that was edited (the grader uses the original)",
            "type_changed": "had its type changed (change it back)"}


def submit(notebook: str | os.PathLike, *, out: str | os.PathLike | None = None,
           profile: str = GRADING_PROFILE) -> Path:
    """Validate `notebook`, render its PDF and zip both as ``<assignment>.zip`` in `out` (default: the
    notebook's folder); returns the zip's path. Prints a warning per failing or changed graded cell.

    ConfigError for a missing notebook or one without graded cells (not an assignment).
    """
    path = Path(notebook)
    source = read_notebook(path)
    if not graded_cells(source):
        raise ConfigError(f"{path} has no graded cells: submit the assignment's notebook, as released.")
    assignment = path.stem
    names = {cell.source: grade_id(cell) for cell in source.cells if grade_id(cell)}
    for kind, cells in problems(path, profile=profile).items():
        for cell in cells:
            name = names.get(cell["source"]) or (cell["source"].splitlines() or ["(empty)"])[0]
            why = f": {last_error_line(cell)}" if kind == "failed" and last_error_line(cell) else ""
            print(f"warning: {name} {PROBLEMS.get(kind, kind)}{why}", file=sys.stderr)
    target = Path(out or path.parent) / f"{assignment}.zip"
    with tempfile.TemporaryDirectory(prefix="digitcourse-submit-") as work:
        report = write_pdf(path, Path(work) / f"{assignment}.pdf")
        with atomic_path(target) as partial, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
            bundle.write(path, f"{assignment}.ipynb")
            bundle.write(report, f"{assignment}.pdf")
    return target
