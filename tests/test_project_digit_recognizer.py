"""The quick run of project_digit_recognizer: graded cells, tables and figures, the submission written,
report 004's numbers; and a tiny run on a Kaggle download.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from digitcourse.course import NOTEBOOKS, ROOT, data_root
from digitcourse.execute import execute_notebook
from notebook_checks import (assert_compares_every_report_number, assert_graded_tests_passed, assert_shows, read,
                             shown, tagged, text_of)

pytestmark = pytest.mark.xdist_group("project_digit_recognizer")  # one worker executes the notebook, and tests it
PROJECT = "project_digit_recognizer"
# tag of a cell -> the outputs it must show: mime type -> how many
OUTPUTS = {
    "data-figures": {"image/png": 3},  # class balance, samples, mean images
    "pixel-table": {"text/html": 1},
    "training-table": {"text/html": 1}, "curves-figure": {"image/png": 2}, "epochs-table": {"text/html": 1},
    "more-models-table": {"text/html": 1},
    "per-class-table": {"text/html": 1}, "confusion-figure": {"image/png": 1},
    "mistakes-figure": {"image/png": 1},
    "cv-table": {"text/html": 1},
    "submission-file": {"text/html": 1}, "models-table": {"text/html": 1},
    "comparison-table": {"text/html": 1},
}
# Every number report 004 gives: its 80/20 split, Adam's default rate, and for each of its two models the
# final training and validation accuracy, the Kaggle score and rank; the leaderboard's 1437 teams.
REPORT_NUMBERS = [0.2, 0.001, 0.9912, 0.9854, 0.98585, 709, 0.9884, 0.9890, 0.98614, 693, 1437]


@pytest.mark.slow
def test_project_quick_run_passes_every_graded_test_cell(executed_notebooks):
    assert_graded_tests_passed(executed_notebooks[PROJECT], ["test_macro_f1", "test_predictions_to_submission"])


@pytest.mark.slow
def test_project_quick_run_shows_every_table_and_figure(executed_notebooks):
    assert_shows(executed_notebooks[PROJECT], OUTPUTS)


@pytest.mark.slow
def test_project_quick_run_writes_a_valid_submission_outside_the_repository(executed_notebooks):
    printed = text_of(tagged(read(executed_notebooks[PROJECT]), "submission-file"))
    match = re.search(r"wrote (\S+submission\.csv): 500 rows; scored against solution\.csv as Kaggle would: "
                      r"([01]\.\d{5})", printed)
    assert match, printed
    path = Path(match.group(1))
    assert ROOT not in path.resolve().parents
    lines = path.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 1 + 500
    rows = [line.split(",") for line in lines[1:]]
    assert [int(image) for image, _ in rows] == list(range(1, 501))
    assert {label for _, label in rows} <= set("0123456789")
    assert sorted(p.name for p in path.parent.iterdir()) == ["digit-recognizer", "solution.csv", "submission.csv"]
    assert sorted(p.name for p in (path.parent / "digit-recognizer").iterdir()) == ["test.csv", "train.csv"]


@pytest.mark.slow
def test_project_quick_run_cross_validates_the_chosen_model_on_three_of_five_folds(executed_notebooks):
    notebook = read(executed_notebooks[PROJECT])
    assert re.search(r"Cross-validation of the (simple|improved) CNN on 3 of 5 folds: \d+\.\d\d ± \d+\.\d\d% "
                     r"validation accuracy", text_of(tagged(notebook, "cv-table")))
    table = shown(notebook, "models-table", "text/html")[0]
    for row in ("simple CNN (fold 1)", "improved CNN (fold 1)", "3 fold models (mean ± SE)",
                "ensemble of the 3 fold models", "ensemble + TTA of the 3 fold models (the submission)"):
        assert row in table, row


@pytest.mark.slow
def test_project_quick_run_adds_an_mlp_baseline_and_the_simple_cnn_with_early_stopping(executed_notebooks):
    html = shown(read(executed_notebooks[PROJECT]), "more-models-table", "text/html")[0]
    table = pd.read_html(io.StringIO(html), index_col=0)[0].droplevel(1, axis=1)  # level 1: the index's name row
    assert list(table.index) == ["simple CNN", "improved CNN", "MLP 784-256-128-10 (baseline)",
                                 "simple CNN, early stopping"]
    epochs = table["epochs run"]
    assert (epochs["improved CNN"], epochs["MLP 784-256-128-10 (baseline)"]) == (3, 2)  # the quick profile's
    early, simple = table.loc["simple CNN, early stopping"], table.loc["simple CNN"]
    assert 1 <= early["best epoch"] <= early["epochs run"] <= 3  # never past the simple CNN's epochs
    # it stops 2 epochs after its best one (patience 2), or runs all of them
    assert early["epochs run"] == {"early_stopping": early["best epoch"] + 2, "completed": 3}[early["stopped"]]
    # the same seed, the same model: its epochs are the first of the simple CNN's, whose lowest loss it cannot beat
    assert early["lowest validation loss"] >= simple["lowest validation loss"] - 1e-9


@pytest.mark.slow
def test_project_comparison_puts_every_number_of_the_report_beside_ours(executed_notebooks):
    assert_compares_every_report_number(executed_notebooks[PROJECT], REPORT_NUMBERS)


@pytest.mark.slow
def test_project_tiny_run_reads_a_kaggle_download_and_says_it_cannot_score_the_submission(tmp_path):
    from digitcourse.data import export_kaggle

    folder = export_kaggle(tmp_path / "kaggle", root=data_root(), n_train=500, n_test=150, seed=1)
    (folder / "solution.csv").unlink()  # a Kaggle download has no answers
    output = execute_notebook(NOTEBOOKS / f"{PROJECT}.ipynb", tmp_path / "out.ipynb", profile="tiny",
                              parameters={"train_csv": str(folder / "train.csv"), "test_csv": str(folder / "test.csv")})
    notebook = read(output)
    data_cell = next(cell for cell in notebook.cells if cell.get("id") == "data")
    assert "100 test images (test.csv)" in text_of([data_cell])
    assert "no solution.csv: the submission can only be scored by Kaggle" in text_of([data_cell])
    printed = text_of(tagged(notebook, "submission-file"))
    path = Path(re.search(r"wrote (\S+submission\.csv): 100 rows; upload it to Kaggle", printed).group(1))
    lines = path.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 101 and lines[-1].startswith("100,")
