"""What every course notebook's tests read from it: its graded cells, its tagged outputs, its results.

The quick run of each notebook is the `executed_notebooks` fixture (conftest.py); the test module of a
notebook states what that run must show (graded test cells, tables and figures by tag, every number of
its reference report) and checks it with these functions.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from digitcourse.results import RESULTS_KEY, read_results


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def grading(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and grading(cell).get("grade") and not grading(cell).get("solution")


def tagged(notebook, tag: str) -> list:
    cells = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert cells, f"no cell is tagged {tag!r}"
    return cells


def text_of(cells) -> str:
    """All stream and error text the cells printed."""
    return "".join(output.get("text", "") + output.get("evalue", "") for cell in cells for output in cell.outputs)


def shown(notebook, tag: str, mime: str) -> list[str]:
    """The outputs of type `mime` (e.g. "text/html") of the cells tagged `tag`, in order."""
    return [output["data"][mime] for cell in tagged(notebook, tag) for output in cell.outputs
            if mime in output.get("data", {})]


def assert_graded_tests_passed(executed: Path, grade_ids: list[str]) -> None:
    """The run executed exactly these graded test cells, in this order, and each printed its pass line."""
    tests = [cell for cell in read(executed).cells if is_test_cell(cell)]
    assert [grading(cell)["grade_id"] for cell in tests] == grade_ids
    for cell in tests:
        assert cell.execution_count is not None, grading(cell)["grade_id"]
        assert not [o for o in cell.outputs if o.output_type == "error"], grading(cell)["grade_id"]
        assert "visible tests passed" in text_of([cell]), grading(cell)["grade_id"]


def assert_shows(executed: Path, expected: dict[str, dict[str, int]]) -> None:
    """Each tagged cell shows as many outputs of each type as `expected` says; every HTML one a table."""
    notebook = read(executed)
    for tag, counts in expected.items():
        for mime, count in counts.items():
            outputs = shown(notebook, tag, mime)
            assert len(outputs) == count, (tag, mime, len(outputs))
            if mime == "text/html":
                assert all("<table" in html for html in outputs), tag


def assert_compares_every_report_number(executed: Path, report_numbers: list) -> None:
    """The comparison cell records its table, which holds every number of the report beside one of ours."""
    notebook = read(executed)
    comparison = tagged(notebook, "comparison-table")[0]
    assert [RESULTS_KEY in output.get("metadata", {}) for output in comparison.outputs] == [True]
    results = read_results(executed)
    for number in report_numbers:
        assert number in results["reference"].tolist(), number
    assert results["ours"].notna().all()
    assert "This run: profile 'quick'" in text_of(tagged(notebook, "run-info"))
