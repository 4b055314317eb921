"""Headline numbers a notebook records, beside the reference report's, for the book's results page.

::

    dc.record_results(pd.DataFrame({"ours": [0.981], "reference": [0.97]}, index=["test accuracy"]))

`record_results` shows the table and records it in the notebook's output, where `results_table`
(the book's results page) reads it back from the executed notebooks.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .errors import ConfigError

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
    import nbformat  # here, not at the top: every notebook's kernel imports this module, and nbformat
    #                  (with jsonschema's format checkers) costs it 2.5 s of CPU it never needs

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
