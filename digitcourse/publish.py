"""The course book: executed notebooks rendered by jupyter-book, and the numbers its results page shows.

`build(profile, student)` is what `make book` runs::

    notebooks/<name>.ipynb --papermill, profile--> book/executed/<name>.ipynb --jupyter-book--> book/_build/html

The student edition executes nothing: every source notebook is released the way students receive it
(`digitcourse.grading.release`: solutions replaced by the stub, hidden tests and outputs removed,
checked for leaks) into a copy of the book in book/_build/student/, which jupyter-book renders the
same way.

Inside a notebook, `record_results(table)` shows the headline numbers and records them in the executed
notebook, where the book's results page (`results_table`) collects them.

The grading module (nbgrader) is imported where it is used: a notebook in Colab imports this module for
`record_results` without it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from .config import check_choice
from .errors import ConfigError, DigitcourseError
from .execute import NOTEBOOKS, ROOT, execute_notebook
from .params import PROFILES

BOOK = ROOT / "book"
EXECUTED = BOOK / "executed"
STUDENT_BOOK = BOOK / "_build" / "student"
RESULTS_KEY = "digitcourse_results"
COLUMNS = ["ours", "reference"]
NOT_GIVEN = "—"  # how a table shows a number the reference report does not give


def record_results(table: pd.DataFrame) -> None:
    """Show a notebook's headline numbers and record them for the book's results page.

    `table` has one row per headline number, indexed by what was measured ("test accuracy, dropout
    0.2"), and exactly the columns "ours" (this run's number) and "reference" (the reference report's
    number, None or NaN where it has none, shown as NOT_GIVEN); values are numbers or short strings ("0.981 ± 0.002").

    The table is displayed as HTML; the output's metadata carries it as JSON (under `RESULTS_KEY`),
    which the executed notebook keeps.
    """
    if not isinstance(table, pd.DataFrame) or list(table.columns) != COLUMNS:
        got = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise ConfigError(f"record_results needs a DataFrame with the columns {COLUMNS}, got {got}.")
    from IPython.display import display

    split = json.loads(table.to_json(orient="split"))  # numpy numbers -> JSON numbers, NaN -> null
    rows = [{"headline": str(name), "ours": ours, "reference": reference}
            for name, (ours, reference) in zip(split["index"], split["data"])]
    shown = {"text/html": table.to_html(na_rep=NOT_GIVEN), "text/plain": table.to_string(na_rep=NOT_GIVEN)}
    display(shown, metadata={RESULTS_KEY: rows}, raw=True)


def read_results(notebook: Path) -> pd.DataFrame:
    """The rows every `record_results` call left in an executed notebook: columns headline, ours, reference."""
    rows = [row for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"
            for output in cell.outputs for row in output.get("metadata", {}).get(RESULTS_KEY, [])]
    return pd.DataFrame(rows, columns=["headline", *COLUMNS])


def results_table(notebooks: list[Path]) -> pd.DataFrame:
    """All notebooks' headline numbers in one table: columns assignment (the notebook's name), headline,
    ours, reference; notebooks that recorded nothing have no row."""
    columns = ["assignment", "headline", *COLUMNS]
    rows = [row for notebook in notebooks
            for row in read_results(notebook).assign(assignment=notebook.stem)[columns].to_dict("records")]
    return pd.DataFrame(rows, columns=columns)


def notebooks() -> list[Path]:
    """The course's source notebooks (the .ipynb files in notebooks/), in name order."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def executed_profile(notebook: Path) -> str | None:
    """The profile papermill ran `notebook` with, or None if it did not run it to the end."""
    run = nbformat.read(notebook, as_version=4).metadata.get("papermill", {})
    return None if run.get("exception") else run.get("parameters", {}).get("profile")


def is_fresh(executed: Path, source: Path, profile: str) -> bool:
    """Whether `executed` ran to the end with `profile` from the current version of `source`."""
    return (executed.exists() and executed.stat().st_mtime >= source.stat().st_mtime
            and executed_profile(executed) == profile)


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


def build(profile: str = "full", student: bool = False, *, reuse: bool = False) -> Path:
    """Build the book from every notebook in notebooks/; returns the site's index.html.

    `profile` ("full", "quick" or "tiny", see digitcourse.params) is what papermill runs each notebook
    with. `student` builds the student edition instead (no execution, so `profile` plays no part).
    `reuse` keeps the executed copies that already ran to the end with `profile` from an unchanged
    source (the test suite's executed notebooks) and executes only the others.

    A notebook that fails stops the build: DigitcourseError names it and its failing cell, and its
    executed copy stays in book/executed/ for reading.
    """
    check_choice("profile", profile, PROFILES)
    sources = notebooks()
    if not sources:
        raise DigitcourseError(f"No notebook to publish: {NOTEBOOKS} holds no .ipynb file.")
    if student:
        return _build_student_edition(sources)
    EXECUTED.mkdir(exist_ok=True)
    for orphan in set(EXECUTED.glob("*.ipynb")) - {EXECUTED / source.name for source in sources}:
        orphan.unlink()
    for source in sources:
        executed = EXECUTED / source.name
        if not (reuse and is_fresh(executed, source, profile)):
            execute_notebook(source, executed, profile=profile, log=True)
    return render(BOOK)


def _build_student_edition(sources: list[Path]) -> Path:
    """Copy the book's pages to STUDENT_BOOK, with the released notebooks as its executed/, and render it."""
    from .grading import release

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
