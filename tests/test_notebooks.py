"""The course's notebooks: their conventions (read from the committed sources), hw3's quick run, and
how a notebook is executed.

The quick-profile run of every notebook is the `executed_notebooks` fixture (conftest.py), shared with
the book tests; each other notebook's run is checked in its own module (test_hw1_linear_models.py, ...).
Runs with a wrong parameter stop at the validation cell within seconds; the mechanics of
`digitcourse.execute` are tested on small notebooks written here.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from digitcourse.course import NOTEBOOKS, ROOT, data_root, notebooks
from digitcourse.errors import ConfigError, DigitcourseError
from digitcourse.execute import execute_notebook, notebook_parameters
from digitcourse.results import read_results
from notebook_checks import (assert_compares_every_report_number, assert_graded_tests_passed, assert_shows, grading,
                             is_test_cell, read, shown, tagged, text_of)

SOURCES = notebooks()
HW3 = NOTEBOOKS / "hw3_regularization.ipynb"
HW3_RUN = pytest.mark.xdist_group("hw3_regularization")  # one worker executes hw3, and tests it
COLAB = "https://colab.research.google.com/github/digitcourse/digitcourse/blob/main/notebooks/"
# tag of a cell -> the outputs it must show: mime type -> how many
HW3_OUTPUTS = {
    "mnist-figure": {"image/png": 1},
    "trajectory-table": {"text/html": 1}, "trajectory-figure": {"image/png": 1},
    "by-hand-table": {"text/html": 1},
    "study-table": {"text/html": 1}, "study-figures": {"image/png": 4},  # 2 figures per data set
    "search-table": {"text/html": 1}, "search-figure": {"image/png": 1},
    "best-table": {"text/html": 1, "image/png": 1},
    "report-settings-table": {"text/html": 1}, "report-settings-figures": {"image/png": 2},
    "comparison-table": {"text/html": 1},
}
# Every number report 001 gives: keep 0.8, lambda 0.0005, learning rates 0.10 and 0.0010, trials from
# 20% to 81.85%, at least 10 trials; and its best setting.
REPORT_NUMBERS = [0.8, 0.0005, 0.1, 0.001, 0.2, 0.8185, 10, "dropout + L2"]


def readme_setup_cell() -> str:
    """The set-up cell that notebooks/README.md prescribes (its first python block)."""
    block = re.search(r"```python\n(.*?)```", (NOTEBOOKS / "README.md").read_text(), re.S).group(1)
    return "\n".join(line.removeprefix("   ") for line in block.splitlines())


def small_notebook(path: Path, *sources: str) -> Path:
    """A notebook whose second cell is the parameters cell (seed, profile) and then `sources`."""
    cells = [nbformat.v4.new_code_cell("import time"),
             nbformat.v4.new_code_cell('seed = 0\nprofile = "full"', metadata={"tags": ["parameters"]}),
             *map(nbformat.v4.new_code_cell, sources)]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def kernel_imports_the_repository(monkeypatch):
    """papermill called directly (not through execute_notebook): let its kernel import digitcourse."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


# Conventions, read from the committed notebooks ----------------------------------------------------

def test_there_is_a_notebook():
    assert HW3 in SOURCES


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_is_committed_without_outputs(source):
    for cell in read(source).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_opens_with_a_title_learning_goals_and_a_colab_badge_for_itself(source):
    first = read(source).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert f"]({COLAB}{source.name})" in first.source
    assert "Learning goals" in first.source


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_set_up_cell_is_the_one_in_the_readme(source):
    first_code = next(cell for cell in read(source).cells if cell.cell_type == "code")
    assert first_code.source.strip() == readme_setup_cell().strip()


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_parameters_cell_is_followed_by_its_validation(source):
    cells = read(source).cells
    tags = [cell.metadata.get("tags", []) for cell in cells]
    assert sum("parameters" in t for t in tags) == 1
    following = cells[next(i for i, t in enumerate(tags) if "parameters" in t) + 1]
    assert "dc.params.setup(" in following.source
    parameters = notebook_parameters(source)
    assert list(parameters)[:4] == ["seed", "profile", "device", "data_root"]
    assert parameters["profile"] == '"full"' and parameters["device"] == '"auto"'


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_grading_cells_follow_the_nbgrader_conventions(source):
    cells = read(source).cells
    graded = [cell for cell in cells if grading(cell)]
    ids = [grading(cell)["grade_id"] for cell in graded]
    assert len(ids) == len(set(ids)), "grade_id must be unique"
    assert all(grading(cell)["schema_version"] == 3 for cell in graded)
    exercises = [c for c in graded if c.cell_type == "code" and grading(c)["solution"]]
    tests = [c for c in graded if is_test_cell(c)]
    answers = [c for c in graded if c.cell_type == "markdown"]
    assert exercises and tests and answers
    for cell in exercises:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        after = cells[cells.index(cell) + 1]
        assert grading(after).get("grade_id") == f"test_{grading(cell)['grade_id']}", "a test cell follows each exercise"
    for cell in tests:
        assert grading(cell)["locked"] and grading(cell)["points"] > 0
        assert "### BEGIN HIDDEN TESTS" in cell.source and "### END HIDDEN TESTS" in cell.source
    for cell in answers:
        assert grading(cell)["solution"] and grading(cell)["grade"] and grading(cell)["points"] > 0


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_ends_with_the_comparison_with_the_report_and_a_closing_note(source):
    headings = [line for cell in read(source).cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    assert "Comparison with the reference report" in headings[-2] and headings[-1] == "## Closing note"
    assert "run_info()" in read(source).cells[-1].source


# The quick run of hw3 (shared with the book tests) ---------------------------------------------------

@pytest.mark.slow
@HW3_RUN
def test_hw3_quick_run_passes_every_graded_test_cell(executed_notebooks):
    assert_graded_tests_passed(executed_notebooks["hw3_regularization"], [
        "test_softmax_cross_entropy", "test_dropout", "test_forward", "test_backward", "test_penalty_gradients",
        "test_add_gradient_noise", "test_sgd_step", "test_standard_error"])


@pytest.mark.slow
@HW3_RUN
def test_hw3_quick_run_shows_every_table_and_figure(executed_notebooks):
    assert_shows(executed_notebooks["hw3_regularization"], HW3_OUTPUTS)


@pytest.mark.slow
@HW3_RUN
def test_hw3_quick_run_studies_both_data_sets(executed_notebooks):
    notebook = read(executed_notebooks["hw3_regularization"])
    table = tagged(notebook, "study-table")[0].outputs[0]["data"]["text/html"]
    assert "Fashion-MNIST" in table and "MNIST" in table and "dropout + L2" in table


@pytest.mark.slow
@HW3_RUN
def test_hw3_quick_run_trains_the_reports_own_settings_beside_ours(executed_notebooks):
    table = shown(read(executed_notebooks["hw3_regularization"]), "report-settings-table", "text/html")[0]
    for setting in ("none (ours)", "dropout + L2 (ours)", "none, lr 0.001, report's stopping",
                    "dropout + L2, lr adjusted, report's stopping", "dropout on weights (report's)"):
        assert setting in table, setting
    assert "lowest trial (%)" in table and "highest trial (%)" in table and "SE (%)" in table


@pytest.mark.slow
@HW3_RUN
def test_hw3_comparison_puts_every_number_of_the_report_beside_ours(executed_notebooks):
    assert_compares_every_report_number(executed_notebooks["hw3_regularization"], REPORT_NUMBERS)


# Wrong parameters stop a run at once, with one line --------------------------------------------------

@pytest.mark.slow
def test_unknown_profile_stops_the_papermill_command_with_one_line(tmp_path, kernel_imports_the_repository):
    command = [sys.executable, "-m", "papermill", str(HW3), str(tmp_path / "out.ipynb"), "-p", "profile", "fast"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines()[-1] == (
        "ConfigError: profile='fast' is not known; choose one of: full, quick, tiny.")


@pytest.mark.slow
def test_seed_that_is_not_an_integer_stops_the_run_at_the_validation_cell(tmp_path):
    with pytest.raises(DigitcourseError) as error:
        execute_notebook(HW3, tmp_path / "out.ipynb", profile="tiny", parameters={"seed": "abc"})
    assert "(`P = dc.params.setup(`): ConfigError: seed must be an integer, got 'abc' (str)." in str(error.value)
    failed = [cell for cell in read(tmp_path / "out.ipynb").cells if cell.get("outputs")
              and cell.outputs[-1].output_type == "error"]
    assert [cell.outputs[-1].traceback for cell in failed] == [["ConfigError: seed must be an integer, got 'abc' (str)."]]


@pytest.mark.slow
def test_unknown_parameter_given_to_papermill_stops_the_run_naming_the_nearest(tmp_path, kernel_imports_the_repository):
    with pytest.raises(PapermillExecutionError) as error:
        papermill.execute_notebook(str(HW3), str(tmp_path / "out.ipynb"), parameters={"seeds": 3},
                                   kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    assert error.value.evalue.startswith("unknown parameter 'seeds' (did you mean 'seed'?); "
                                         "this notebook's parameters are: seed, profile, device, data_root,")


def test_execute_refuses_an_unknown_parameter_before_starting_a_kernel(tmp_path):
    with pytest.raises(ConfigError, match=r"^unknown parameter 'sed' \(did you mean 'seed'\?\)"):
        execute_notebook(HW3, tmp_path / "out.ipynb", profile="tiny", parameters={"sed": 1})
    assert not list(tmp_path.iterdir())


def test_execute_refuses_an_unknown_profile(tmp_path):
    with pytest.raises(ConfigError, match=r"^profile='fast' is not known"):
        execute_notebook(HW3, tmp_path / "out.ipynb", profile="fast")


def test_execute_needs_a_parameters_cell(tmp_path):
    source = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), source)
    with pytest.raises(ConfigError, match="has no cell tagged 'parameters'"):
        execute_notebook(source, tmp_path / "out.ipynb", profile="tiny")


# How execute_notebook runs a notebook -----------------------------------------------------------------

@pytest.mark.slow
def test_execute_writes_the_executed_copy_with_its_profile_and_leaves_nothing_else(tmp_path):
    source = small_notebook(tmp_path / "ok.ipynb", "print(profile, seed)")
    output = execute_notebook(source, tmp_path / "out" / "ok.ipynb", profile="tiny", parameters={"seed": 5})
    executed = read(output)
    assert executed.cells[-1].outputs[0].text == "tiny 5\n"
    assert executed.metadata.papermill.parameters == {"seed": 5, "profile": "tiny"}
    assert sorted(p.name for p in output.parent.iterdir()) == ["ok.ipynb"]


def test_execute_gives_the_kernel_a_relative_data_folder_as_an_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGITCOURSE_DATA", "data")  # relative to here, not to the notebook's folder
    (tmp_path / "notebooks").mkdir()
    source = small_notebook(tmp_path / "notebooks" / "env.ipynb", "import os; print(os.environ['DIGITCOURSE_DATA'])")
    output = execute_notebook(source, tmp_path / "out" / "env.ipynb", profile="tiny")
    assert read(output).cells[-1].outputs[0].text == f"{(tmp_path / 'data').resolve()}\n"
    assert os.environ["DIGITCOURSE_DATA"] == "data"  # this process keeps its own setting


@pytest.mark.slow
def test_execute_names_the_failing_cell_and_keeps_the_failed_copy(tmp_path):
    source = small_notebook(tmp_path / "broken.ipynb", "x = 1", "y = x / 0")
    output = tmp_path / "broken-run.ipynb"
    with pytest.raises(DigitcourseError) as error:
        execute_notebook(source, output, profile="quick")
    assert str(error.value) == ("broken.ipynb failed in In [5] (`y = x / 0`): ZeroDivisionError: division by "
                                f"zero (profile 'quick'; executed copy: {output})")
    assert read(output).metadata.papermill.exception is True


@pytest.mark.slow
def test_execute_stops_a_cell_at_its_time_limit(tmp_path):
    source = small_notebook(tmp_path / "slow.ipynb", "time.sleep(60)")
    started = __import__("time").monotonic()
    with pytest.raises(DigitcourseError, match=r"failed in In \[4\] \(`time.sleep\(60\)`\): the cell ran longer "
                                               r"than its limit of 2 s"):
        execute_notebook(source, tmp_path / "slow-run.ipynb", profile="tiny", timeout=2)
    assert __import__("time").monotonic() - started < 50


# Without Fashion-MNIST ------------------------------------------------------------------------------

@pytest.mark.slow
def test_tiny_run_without_fashion_mnist_says_so_and_completes_on_mnist(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "MNIST").symlink_to(data_root() / "MNIST")
    output = execute_notebook(HW3, tmp_path / "out.ipynb", profile="tiny", parameters={"data_root": str(root)})
    notebook = read(output)
    study = [cell for cell in notebook.cells if cell.get("id") == "study"]
    assert "Fashion-MNIST is not available here, so its part of the study is skipped" in text_of(study)
    table = tagged(notebook, "study-table")[0].outputs[0]["data"]["text/html"]
    assert "Fashion-MNIST" not in table and "MNIST" in table
    assert len(read_results(output)) > 0
