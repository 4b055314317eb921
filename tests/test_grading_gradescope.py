"""`digitcourse export gradescope`: the autograder zip, run as Gradescope runs it on a fake /autograder.

The toy assignment's autograder is exported once; `run_autograder` (from the zip) grades three
submissions in fake /autograder trees under a temporary folder (AUTOGRADER_ROOT): the instructor's
notebook, the blank release and a mutant whose relu_backward is wrong. Each results.json is checked
against the fields Gradescope documents.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from grading_support import TOY, cell_named

from digitcourse import cli
from digitcourse.errors import ConfigError
from digitcourse.grading.gradescope import export_gradescope
from digitcourse.grading.release import release

pytestmark = pytest.mark.xdist_group("gradescope")
TEST_FIELDS = {"name", "score", "max_score", "status", "output", "visibility"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}  # Gradescope's values


def run_autograder(autograder: Path, submission: nbformat.NotebookNode | None, root: Path) -> dict:
    """Unpack `autograder` into `root`/source, put `submission` into `root`/submission, run
    `run_autograder` as Gradescope does (with AUTOGRADER_ROOT=`root`) and return results.json."""
    with zipfile.ZipFile(autograder) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile drops the mode: put it back as unzip does
        os.chmod(root / "source" / name, 0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    if submission is not None:
        nbformat.write(submission, root / "submission" / TOY.name)
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable,
                   "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    environment.pop("PYTHONPATH", None)  # the zip's own digitcourse is graded with
    finished = subprocess.run([str(root / "source" / "run_autograder")], env=environment, capture_output=True,
                              text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "autograder.zip"
    assert cli.main(["export", "gradescope", str(TOY), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def results(autograder, tmp_path_factory) -> dict[str, dict]:
    """results.json of the instructor's notebook, the blank release and a wrong relu_backward."""
    work = tmp_path_factory.mktemp("gradescope")
    source = nbformat.read(TOY, as_version=4)
    blank = nbformat.read(release([TOY], out=work / "release")[0], as_version=4)
    mutant = nbformat.read(TOY, as_version=4)
    cell_named(mutant, "relu_backward").source = cell_named(mutant, "relu_backward").source.replace("x > 0", "x < 0")
    return {name: run_autograder(autograder, notebook, work / name)
            for name, notebook in (("source", source), ("blank", blank), ("mutant", mutant))}


def named_tests(result: dict) -> dict[str, dict]:
    return {test["name"]: test for test in result["tests"]}


def test_the_zip_has_gradescopes_layout_and_installs_with_pip_from_the_pinned_set(autograder):
    with zipfile.ZipFile(autograder) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "constraints.txt", "pyproject.toml", f"assignment/{TOY.name}",
            "digitcourse/grading/worker.py"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    commands = "\n".join(line for line in setup.splitlines() if not line.startswith("#"))
    assert "pip install -q -c constraints.txt" in commands
    assert "conda" not in commands and "mamba" not in commands
    assert autograder.stat().st_size < 1_000_000


def test_the_instructors_notebook_earns_full_marks(results):
    result = results["source"]
    assert result["score"] == 5
    auto = [test for test in result["tests"] if "score" in test]
    assert [test["status"] for test in auto] == ["passed"] * 3
    assert sum(test["max_score"] for test in auto) == 5


def test_the_blank_release_earns_nothing(results):
    result = results["blank"]
    assert result["score"] == 0
    assert all(test["status"] == "failed" and "NotImplementedError" in test["output"]
               for test in result["tests"] if "score" in test)


def test_a_mutant_loses_exactly_the_points_of_its_exercises_tests(results):
    tests = named_tests(results["mutant"])
    assert results["mutant"]["score"] == 2
    assert tests["test_standard_error"]["score"] == 2
    assert tests["test_relu_backward"]["score"] == 0 and tests["test_relu_backward_sum"]["score"] == 0
    assert tests["test_relu_backward_sum"]["status"] == "failed"
    assert "test_relu_backward failed" in tests["test_relu_backward"]["output"]
    assert "test_relu_backward" not in results["mutant"]["output"]  # a hidden test's result waits for publishing


def test_results_json_has_the_documented_fields_hidden_tests_after_publishing(results):
    for result in results.values():
        assert {"score", "execution_time", "output", "tests"} <= set(result)
        assert isinstance(result["score"], (int, float)) and isinstance(result["execution_time"], int)
        for test in result["tests"]:
            assert test["visibility"] in VISIBILITY
            if "score" in test:
                assert set(test) == TEST_FIELDS and test["status"] in ("passed", "failed")
    tests = named_tests(results["source"])
    assert tests["test_standard_error"]["visibility"] == "after_published"  # it holds hidden tests
    assert tests["test_relu_backward_sum"]["visibility"] == "visible"


def test_a_written_answer_is_a_test_with_its_points_and_no_score(results):
    answer = named_tests(results["source"])["why_ddof (written answer)"]
    assert answer["max_score"] == 2 and "score" not in answer and "status" not in answer
    assert "graded by hand: 1 (2 points)" in results["source"]["output"]


def test_an_empty_submission_scores_zero_and_says_what_to_upload(autograder, tmp_path):
    result = run_autograder(autograder, None, tmp_path)
    assert result["score"] == 0
    assert f"No notebook was submitted: upload {TOY.name}." in result["output"]


def test_a_missing_or_ungraded_notebook_is_one_line_and_writes_no_zip(tmp_path, capsys):
    assert cli.main(["export", "gradescope", str(tmp_path / "missing.ipynb"), "-o", str(tmp_path / "a.zip")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Notes")]), plain)
    with pytest.raises(ConfigError, match="has no graded cells"):
        export_gradescope(plain, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()
