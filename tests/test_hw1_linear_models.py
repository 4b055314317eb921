"""The quick run of hw1_linear_models: graded cells, tables and figures, report 002's numbers; and a
missing data set stopping a run.
"""
from __future__ import annotations

import re

import pytest

from digitcourse.course import NOTEBOOKS
from digitcourse.errors import DigitcourseError
from digitcourse.execute import execute_notebook
from digitcourse.results import read_results
from notebook_checks import (assert_compares_every_report_number, assert_graded_tests_passed, assert_shows, read,
                             shown, tagged, text_of)

pytestmark = pytest.mark.xdist_group("hw1_linear_models")  # one worker executes the notebook, and tests it
HW1 = "hw1_linear_models"
# tag of a cell -> the outputs it must show: mime type -> how many
OUTPUTS = {
    "data-figure": {"image/png": 1},
    "perceptron-results": {"text/html": 1, "image/png": 1},
    "logistic-results": {"text/html": 1, "image/png": 1},
    "mlp-results": {"text/html": 1, "image/png": 2},
    "trajectory-table": {"text/html": 1},
    "logistic-torch-table": {"text/html": 1},
    "logistic-torch-figures": {"image/png": 3},
    "batch-size-table": {"text/html": 1, "image/png": 1},
    "ffn-learning-rate-table": {"text/html": 1, "image/png": 1},
    "regularization-table": {"text/html": 1},
    "regularization-figure": {"image/png": 3},  # one per setting
    "confusion-figure": {"text/html": 1, "image/png": 1},
    "separable-figure": {"text/html": 1, "image/png": 1},
    "nets-table": {"text/html": 1},
    "comparison-table": {"text/html": 1},
}
# Every number of report 002: Tables 1-4 and 6-8, the defaults of Table 5, the settings of 2.2 (c), and
# its choices (best learning rates by validation accuracy; best regularization by validation and by test).
REPORT_NUMBERS = [
    0.4654, 0.4610, 0.3422,                                  # Table 1
    0.6205, 0.6229, 0.4556, 0.6564, 0.6575, 0.6068,          # Table 2
    0.7984, 0.7888, 0.7656,                                  # Table 3
    0.6503, 0.6163, 0.6200, 0.6535, 0.5577, 0.6224, 0.01,    # Table 4 and its best learning rate
    20, 0.1, 200, 2, 0.0, 16, "ReLU", "SGD",                 # Table 5
    0.7429, 151.21, 0.7202, 37.41,                           # Table 6
    0.4726, 0.4721, 0.8195, 0.7486, 0.8200, 0.7391, 0.7230,  # Table 7
    150, 0.2, 0.0001, 0.7561, 0.8651, 0.7845, 0.8596, 0.8536, "none", "dropout 0.2",       # Table 8
]


@pytest.mark.slow
def test_hw1_quick_run_passes_every_graded_test_cell(executed_notebooks):
    assert_graded_tests_passed(executed_notebooks[HW1], [
        "test_perceptron_update", "test_logistic_regression_step", "test_mlp_loss_and_gradients",
        "test_sign_net_weights", "test_relu_net_weights"])


@pytest.mark.slow
def test_hw1_quick_run_shows_every_table_and_figure(executed_notebooks):
    assert_shows(executed_notebooks[HW1], OUTPUTS)


@pytest.mark.slow
def test_hw1_numpy_models_follow_dc_fit_from_the_same_weights(executed_notebooks):
    printed = text_of(tagged(read(executed_notebooks[HW1]), "trajectory-table"))
    gaps = dict(re.findall(r"^(.+?): after \d+ epoch\(s\) the weights of numpy and dc.fit differ by at most (\S+)$",
                           printed, re.M))
    assert set(gaps) == {"logistic regression", "MLP"}, printed
    assert all(float(gap) < 1e-12 for gap in gaps.values()), gaps


@pytest.mark.slow
def test_hw1_part_2_tables_give_standard_errors_and_count_diverged_seeds(executed_notebooks):
    notebook = read(executed_notebooks[HW1])
    for tag in ("logistic-torch-table", "ffn-learning-rate-table", "regularization-table"):
        html = shown(notebook, tag, "text/html")[0]
        assert "SE" in html and "diverged" in html and " of 3" in html, tag
    batch = shown(notebook, "batch-size-table", "text/html")[0]
    assert all(column in batch for column in ("updates per epoch", "ms per update", "training time SE (s)")), batch


@pytest.mark.slow
def test_hw1_report_relu_net_needs_sign_of_zero_to_be_one_and_ours_does_not(executed_notebooks):
    html = shown(read(executed_notebooks[HW1]), "nets-table", "text/html")[0]
    header = re.findall(r"<th>([^<]*right \(%\))</th>", html)
    rows = [[float(value) for value in re.findall(r"<td>([^<]*)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)]
    rows = [row for row in rows if row]
    assert len(header) == 8 and len(rows) == 4, (header, rows)
    for row in rows:
        shares = dict(zip(header, row, strict=True))
        assert all(share == 100 for name, share in shares.items() if not name.startswith("report's ReLU")), shares
        assert shares["report's ReLU net: right (%)"] < 100, shares


@pytest.mark.slow
def test_hw1_comparison_puts_every_number_of_the_report_beside_ours(executed_notebooks):
    assert_compares_every_report_number(executed_notebooks[HW1], REPORT_NUMBERS)
    results = read_results(executed_notebooks[HW1]).set_index("headline")
    assert results.loc["data set", "ours"] == "fashion_mnist"
    assert "not named" in results.loc["data set", "reference"]
    assert "±" in results.loc["Table 7: lr 0.1, test accuracy", "ours"]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["octmnist", "kmnist"])
def test_hw1_missing_data_set_stops_the_run_with_one_line_and_no_substitute(tmp_path, dataset):
    with pytest.raises(DigitcourseError) as error:
        execute_notebook(NOTEBOOKS / f"{HW1}.ipynb", tmp_path / "out.ipynb", profile="tiny",
                         parameters={"dataset": dataset})
    failing_cell = "(`data = dc.data.load(P.dataset, seed=P.seed, subset=P.q1_subset)`)"
    assert f"{failing_cell}: DataError: dataset '{dataset}'" in str(error.value)
    failed = [cell for cell in read(tmp_path / "out.ipynb").cells if cell.get("outputs")
              and cell.outputs[-1].output_type == "error"]
    assert len(failed) == 1 and len(failed[0].outputs[-1].traceback) == 1
    assert failed[0].outputs[-1].traceback[0].startswith(f"DataError: dataset '{dataset}': ")
