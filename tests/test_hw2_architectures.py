"""The quick run of hw2_architectures: graded cells, tables and figures, LeCun's five nets, report 000's
numbers.
"""
from __future__ import annotations

import re

import pytest

from notebook_checks import (assert_compares_every_report_number, assert_graded_tests_passed, assert_shows, read,
                             tagged, text_of)

pytestmark = pytest.mark.xdist_group("hw2_architectures")  # one worker executes the notebook, and tests it
HW2 = "hw2_architectures"
# tag of a cell -> the outputs it must show: mime type -> how many
OUTPUTS = {
    "usps-figure": {"image/png": 1}, "parameters-table": {"text/html": 1},
    "architectures-figure": {"image/png": 1}, "architectures-table": {"text/html": 1},
    "init-check-table": {"text/html": 1}, "init-table": {"text/html": 1}, "init-figure": {"image/png": 1},
    "lr-results": {"text/html": 1, "image/png": 1},
    "ensemble-table": {"text/html": 2}, "ensemble-figure": {"image/png": 1},
    "dropout-results": {"text/html": 1, "image/png": 1},
    "robustness-results": {"text/html": 1, "image/png": 1}, "adversarial-figure": {"image/png": 1},
    "tradeoff-results": {"text/html": 1, "image/png": 1},
    "search-table": {"text/html": 1}, "search-figure": {"image/png": 1}, "search-best-table": {"text/html": 1},
    "grid-figure": {"image/png": 1}, "grid-table": {"text/html": 1},
    "lecun-parameters": {"text/html": 1}, "lecun-table": {"text/html": 1},
    "comparison-table": {"text/html": 1},
}
# Every number report 000 gives: Table 1 (random, Xavier, He), the best learning rate and the fate of
# 0.1, Table 2 (dropout 0, 0.5, 0.9), the ensemble, the best architecture of Task I, the random
# search's best setting (lr, batch size, dropout), and Table 3 with its best row.
REPORT_NUMBERS = [94.5, 95.3, 95.7, 0.001, "diverges", 96.1, 97.3, 91.2, 95.57, "CNN", 32, 0.2,
                  93.2, 97.1, 96.3, "3 x 512 sigmoid"]
LECUN_PARAMETERS = {"Net-1": 2570, "Net-2": 3214, "Net-3": 1226, "Net-4": 1132, "Net-5": 1060}


def plain_text(cell) -> str:
    return "".join(output["data"]["text/plain"] for output in cell.outputs if "text/plain" in output.get("data", {}))


@pytest.mark.slow
def test_hw2_quick_run_passes_every_graded_test_cell(executed_notebooks):
    assert_graded_tests_passed(executed_notebooks[HW2], [
        "test_LocallyConnected2d", "test_locally_connected_parameters", "test_init_std", "test_ensemble_average",
        "test_fgsm"])


@pytest.mark.slow
def test_hw2_quick_run_shows_every_table_and_figure(executed_notebooks):
    assert_shows(executed_notebooks[HW2], OUTPUTS)


@pytest.mark.slow
def test_hw2_quick_run_compares_the_four_architectures_and_counts_local_weights(executed_notebooks):
    notebook = read(executed_notebooks[HW2])
    table = tagged(notebook, "architectures-table")[0].outputs[0]["data"]["text/html"]
    for name in ("FCN", "LocalNet", "CNN", "BN-CNN (augmented)"):
        assert f"<th>{name}</th>" in table, name
    assert "LocalNet's locally connected layers: [40960, 296960] parameters; counted: [40960, 296960]" in text_of(
        tagged(notebook, "parameters-table"))


@pytest.mark.slow
def test_hw2_lecun_nets_have_exactly_his_numbers_of_free_parameters(executed_notebooks):
    shown = plain_text(tagged(read(executed_notebooks[HW2]), "lecun-parameters")[0])
    for name, count in LECUN_PARAMETERS.items():
        assert re.search(rf"^{name}\s+{count}\s+{count}$", shown, re.M), (name, shown)


@pytest.mark.slow
def test_hw2_comparison_puts_every_number_of_the_report_beside_ours(executed_notebooks):
    assert_compares_every_report_number(executed_notebooks[HW2], REPORT_NUMBERS)


@pytest.mark.slow
def test_hw2_quick_run_trains_adversarially_at_several_steps_and_tests_clean_and_attacked(executed_notebooks):
    cell = tagged(read(executed_notebooks[HW2]), "tradeoff-results")[0]
    table = next(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    for eps in ("0.00", "0.05", "0.10", "0.20", "0.30"):
        assert f"<th>{eps}</th>" in table, eps
    for column in ("clean", "FGSM at ε = 0.1", "FGSM at the training ε"):
        assert column in table, column
    assert re.search(r"\d+\.\d\d ± \d+\.\d\d", table)
