"""The quick run of hw4_capacity: graded cells, tables and figures, report 003's numbers."""
from __future__ import annotations

import pytest

from notebook_checks import assert_compares_every_report_number, assert_graded_tests_passed, assert_shows, read, shown

pytestmark = pytest.mark.xdist_group("hw4_capacity")  # one worker executes the notebook, and tests it
HW4 = "hw4_capacity"
# tag of a cell -> the outputs it must show: mime type -> how many
OUTPUTS = {
    "batch-epoch-figures": {"image/png": 2}, "batch-time-figures": {"image/png": 2},  # loss and accuracy each
    "batch-timing-table": {"text/html": 1},
    "followup-figure": {"image/png": 1}, "followup-table": {"text/html": 1},
    "penalty-table": {"text/html": 1}, "penalty-figures": {"image/png": 2},  # L1 and L2
    "norms-figure": {"image/png": 1, "text/html": 1},
    "collapse-table": {"text/html": 1}, "collapse-figures": {"image/png": 2},  # L1 and L2
    "architecture-table": {"text/html": 1}, "architecture-figure": {"image/png": 1},
    "runtime-table": {"text/html": 1}, "runtime-figure": {"image/png": 1},
    "long-results": {"image/png": 1, "text/html": 1},
    "regression-search-table": {"text/html": 1}, "regression-table": {"text/html": 1},
    "regression-surfaces": {"image/png": 2}, "radius-table": {"text/html": 1},  # m = 100 and 1000
    "comparison-table": {"text/html": 1},
}
# Every number report 003 gives: the final loss (~0.325) and accuracy (~0.9) of every batch size, its
# learning rates 0.4 and 0.2, "constant" epoch times, its three strengths, the L2 collapse (~60% then
# ~10%, and L1 "similar"), its best settings, depth 1 at ~90% and depth 2 ~1% better, its best
# architecture, its widths 254-190-142, and both regression MSEs.
REPORT_NUMBERS = [0.325, 0.9, 0.4, 0.2, "constant", "5e-05, 0.0005, 0.005", 0.6, 0.1,
                  "L1 or L2 at 5e-5 or 5e-4", 0.01, "below 0", "512-384", "254-190-142", 0.00573, 0.0135]


@pytest.mark.slow
def test_hw4_quick_run_passes_every_graded_test_cell(executed_notebooks):
    assert_graded_tests_passed(executed_notebooks[HW4], ["test_best_setting", "test_count_parameters"])


@pytest.mark.slow
def test_hw4_quick_run_shows_every_table_and_figure(executed_notebooks):
    assert_shows(executed_notebooks[HW4], OUTPUTS)


@pytest.mark.slow
def test_hw4_quick_run_times_every_batch_size_and_grids_fifteen_architectures(executed_notebooks):
    notebook = read(executed_notebooks[HW4])
    timing = shown(notebook, "batch-timing-table", "text/html")[-1]
    for text in ("128", "1024", "60000 (full batch)", "ms per update", "SE (ms)", "s per epoch", "SE (s)"):
        assert text in timing, text
    architectures = shown(notebook, "architecture-table", "text/html")[-1]
    for name in ("128", "256-192", "512-384-288", "128-128", "512-512-512", "shrinking by 3/4", "constant"):
        assert f">{name}<" in architectures, name
    assert architectures.count("shrinking by 3/4") == 6 and architectures.count(">constant<") == 6
    regression = shown(notebook, "regression-table", "text/html")[-1]
    assert "1.35e-02" in regression and "5.73e-03" in regression  # the report's MSEs beside ours


@pytest.mark.slow
def test_hw4_comparison_puts_every_number_of_the_report_beside_ours(executed_notebooks):
    assert_compares_every_report_number(executed_notebooks[HW4], REPORT_NUMBERS)


@pytest.mark.slow
def test_hw4_quick_run_scans_the_penalty_of_5e_3_up_to_a_loss_summed_over_the_batch(executed_notebooks):
    table = shown(read(executed_notebooks[HW4]), "collapse-table", "text/html")[0]
    for scale in ("x 1 (ours)", "x 16", "x 128 (a summed loss)"):
        assert table.count(scale) == 2, scale  # for L1 and for L2
    assert "highest validation accuracy (%)" in table and "stopped" in table


@pytest.mark.slow
def test_hw4_quick_run_times_every_architecture_and_trains_past_epoch_20(executed_notebooks):
    notebook = read(executed_notebooks[HW4])
    runtime = shown(notebook, "runtime-table", "text/html")[0]
    for name in ("128", "512-384", "512-512-512", "128-96-72"):
        assert f"<th>{name}</th>" in runtime, name
    long_table = shown(notebook, "long-results", "text/html")[0]
    assert "<th>20</th>" in long_table and "<th>25</th>" in long_table  # the quick profile's 25 epochs
    assert "512-384 (depth 2): validation accuracy (%)" in long_table
