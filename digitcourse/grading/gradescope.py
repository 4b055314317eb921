"""``digitcourse export gradescope``: an assignment as a Gradescope autograder, in its documented layout.

::

    export_gradescope("notebooks/hw3_regularization.ipynb", "autograder.zip")

The zip's root is Gradescope's /autograder/source: `setup.sh` (run once to build the image: a venv,
pip with the pinned constraints.txt, never conda), an executable `run_autograder` (run per
submission), this project (pyproject.toml, constraints.txt, digitcourse/) and the instructor's notebook
in assignment/. `run_autograder` calls `main`: the notebook in /autograder/submission is graded by
`digitcourse grade` in the grading profile (each test cell decided in the grader's process, outside
the student's kernel; inside Gradescope the container is the sandbox), and the result goes to
/autograder/results/results.json: `score`, `execution_time`, `output`, and one test per graded cell
(`name`, `score`, `max_score`, `status`, `output`, `visibility`; a test cell with hidden tests shows
`after_published`; a written answer has no score and no status: it is graded by hand in Gradescope).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from ..course import GRADING_PROFILE, ROOT
from ..errors import ConfigError
from ..files import atomic_path, atomic_write
from ..pdf import read_notebook
from .cells import HIDDEN_TESTS, cell_role, grade_id, graded_cells
from .student import sandbox

ASSIGNMENT = "assignment"  # the folder of the instructor's notebook in /autograder/source
PROJECT_FILES = ("pyproject.toml", "constraints.txt", "README.md")
EXECUTABLE = 0o755

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root in /autograder/source, to build the autograder's image.
# pip with the pinned, tested set (constraints.txt), torch's CPU build first; no conda, no mamba.
set -euo pipefail
cd /autograder/source
apt-get update -q
apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q -c constraints.txt --index-url https://download.pytorch.org/whl/cpu torch
/autograder/venv/bin/pip install -q -c constraints.txt ".[course]"
/autograder/venv/bin/python -m ipykernel install --sys-prefix --name python3
# The instructor's notebook once in the grading profile: its data sets are downloaded into the image
# and the image is proven to grade.
/autograder/venv/bin/python -c "from digitcourse.execute import execute_notebook; \\
execute_notebook('{notebook}', '/tmp/check.ipynb', profile='{profile}')"
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this per submission: the notebook in $ROOT/submission is graded into
# $ROOT/results/results.json. ROOT is /autograder (AUTOGRADER_ROOT sets another, for tests).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"
exec "${PYTHON:-$ROOT/venv/bin/python}" -m digitcourse.grading.gradescope "$ROOT"
"""


@dataclass(frozen=True)
class Test:
    """One entry of results.json's tests[] (score and status None for a written answer)."""

    name: str
    max_score: float
    score: float | None
    status: str | None
    output: str
    visibility: str

    def to_json(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def export_gradescope(notebook: str | os.PathLike, out: str | os.PathLike = "autograder.zip") -> Path:
    """Write the Gradescope autograder of the instructor's `notebook` to `out`; returns its path.

    ConfigError for a missing notebook or one without graded cells. The zip is written whole or not at all.
    """
    path = Path(notebook)
    if not graded_cells(read_notebook(path)):
        raise ConfigError(f"{path} has no graded cells: export an assignment's instructor notebook.")
    scripts = {"setup.sh": SETUP.format(notebook=f"{ASSIGNMENT}/{path.name}", profile=GRADING_PROFILE),
               "run_autograder": RUN}
    with atomic_path(out) as partial, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in scripts.items():
            entry = zipfile.ZipInfo(name)
            entry.external_attr = (0o100000 | EXECUTABLE) << 16  # a regular file, rwxr-xr-x
            bundle.writestr(entry, text, zipfile.ZIP_DEFLATED)
        for name in PROJECT_FILES:
            bundle.write(ROOT / name, name)
        for file in sorted((ROOT / "digitcourse").rglob("*.py")):
            bundle.write(file, file.relative_to(ROOT).as_posix())
        bundle.write(path, f"{ASSIGNMENT}/{path.name}")
    return Path(out)


def main(root: str | os.PathLike) -> Path:
    """Grade the submission under `root`/submission into `root`/results/results.json (Gradescope's
    layout, `root` standing for /autograder); returns the path of results.json."""
    from .grade import grade

    root, started = Path(root), time.monotonic()
    source = next((root / "source" / ASSIGNMENT).glob("*.ipynb"))
    instructors = nbformat.read(source, as_version=4)
    submitted, why = _find_submission(root / "submission", source.name)
    row = {}
    if submitted:
        with tempfile.TemporaryDirectory(prefix="digitcourse-gradescope-") as work:
            student = Path(work) / "submissions" / "student"
            student.mkdir(parents=True)
            shutil.copyfile(submitted, student / source.name)
            [graded] = grade(student.parent, out=Path(work) / "grading", source=source.parent, jobs=1,
                             isolate=sandbox.available())
            row = graded.line()  # as grades.csv writes it
        why = "" if row["status"] == "graded" else f"The notebook could not be graded ({row['status']})."
    tests = results_tests(instructors, row)
    scored = [test for test in tests if test.score is not None]
    manual = [test for test in tests if test.score is None]
    summary = (f"Graded in the {GRADING_PROFILE} profile: {sum(t.score for t in scored):g} of "
               f"{sum(t.max_score for t in scored):g} autograded points."
               + (f" Written answers, graded by hand: {len(manual)} ({sum(t.max_score for t in manual):g} "
                  "points)." if manual else ""))
    results = {"score": sum(test.score for test in scored), "execution_time": round(time.monotonic() - started),
               "output": "\n".join(filter(None, [why, summary, *_general_notes(row, tests)])),
               "tests": [test.to_json() for test in tests]}
    return atomic_write(root / "results" / "results.json", json.dumps(results, indent=1))


def results_tests(instructors: nbformat.NotebookNode, row: dict[str, str]) -> list[Test]:
    """A Test per graded cell of the instructor's notebook, scored from `row` (a grades.csv row; {} or
    a row that is not "graded": every test failed)."""
    graded, notes = row.get("status") == "graded", _notes(row)
    hidden = {grade_id(cell) for cell in instructors.cells
              if cell_role(cell) == "test" and HIDDEN_TESTS[0] in cell.source}
    tests = []
    for cell in graded_cells(instructors):
        if not cell.auto:
            tests.append(Test(f"{cell.name} (written answer)", cell.points, None, None,
                              "Graded by hand in Gradescope.", "visible"))
            continue
        score = float(row[cell.name]) if graded and row.get(cell.name) else 0.0
        why = next((note for note in notes if note.startswith(f"{cell.name} failed")), "")
        tests.append(Test(cell.name, cell.points, score, "passed" if graded and score == cell.points else "failed",
                          why, "after_published" if cell.name in hidden else "visible"))
    return tests


def _find_submission(folder: Path, name: str) -> tuple[Path | None, str]:
    """The submitted notebook: `name` in `folder` (or below it), else the only notebook there (hidden
    folders such as .ipynb_checkpoints aside); or None and why not."""
    found = sorted(path for path in folder.rglob("*.ipynb") if not any(part.startswith(".") for part in
                                                                        path.relative_to(folder).parts))
    named = [path for path in found if path.name == name]
    if named or len(found) == 1:
        return (named or found)[0], ""
    if not found:
        return None, f"No notebook was submitted: upload {name}."
    return None, f"Several notebooks were submitted ({', '.join(p.name for p in found)}): upload only {name}."


def _notes(row: dict[str, str]) -> list[str]:
    return [note for note in row.get("notes", "").split("; ") if note]


def _general_notes(row: dict[str, str], tests: list[Test]) -> list[str]:
    """The notes that belong to no test: those of a test stay in its own output, which Gradescope
    shows only as the test's visibility allows."""
    return [note for note in _notes(row) if not any(note.startswith(f"{test.name} failed") for test in tests)]


if __name__ == "__main__":
    main(sys.argv[1])
