"""`digitcourse submit`: validate, PDF, and one zip named for the assignment; a failing test is a warning.

The toy assignment (tests/fixtures_grading/) stands for a student's notebook: its solution passes, its
blank release fails every test cell.
"""
from __future__ import annotations

import shutil
import zipfile

import nbformat
import pytest
from grading_support import TOY  # the toy assignment

from digitcourse import cli
from digitcourse.errors import ConfigError
from digitcourse.grading.release import release
from digitcourse.grading.submit import submit


def test_submit_zips_the_notebook_and_its_pdf_named_for_the_assignment(tmp_path, capsys):
    notebook = shutil.copyfile(TOY, tmp_path / TOY.name)
    bundle = submit(notebook, out=tmp_path / "upload")
    assert bundle == tmp_path / "upload" / f"{TOY.stem}.zip"
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == [f"{TOY.stem}.ipynb", f"{TOY.stem}.pdf"]
        assert archive.read(f"{TOY.stem}.ipynb") == TOY.read_bytes()
        assert archive.read(f"{TOY.stem}.pdf").startswith(b"%PDF")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "was not executed" in warnings[0]  # the toy is committed without outputs


def test_a_failing_test_cell_is_a_warning_that_names_it_not_a_refusal(tmp_path, capsys):
    blank = release([TOY], out=tmp_path / "release")[0]
    assert cli.main(["submit", str(blank)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: test_")]
    assert sorted(line.split()[1] for line in warnings) == ["test_relu_backward", "test_relu_backward_sum",
                                                            "test_standard_error"]
    assert all("fails: NotImplementedError" in line for line in warnings)
    assert (blank.parent / f"{TOY.stem}.zip").is_file()


def test_a_notebook_without_graded_cells_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    plain = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), plain)
    with pytest.raises(ConfigError, match="has no graded cells"):
        submit(plain)
    assert cli.main(["submit", str(tmp_path / "missing.ipynb")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.ipynb"]
