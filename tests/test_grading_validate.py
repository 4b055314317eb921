"""``digitcourse validate``, a student's check before submitting, and the plain nbgrader commands on the
repository's configuration."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from grading_support import ROOT, TOY
from nbgrader.api import Gradebook

from digitcourse.grading.release import release
from digitcourse.grading.validate import validate


@pytest.mark.slow
def test_validate_passes_the_solution_and_fails_the_blank_release(tmp_path, capsys):
    released = release([TOY], out=tmp_path)[0]
    assert validate(TOY, profile="tiny") is True
    assert validate(released, profile="tiny") is False
    printed = capsys.readouterr().out
    assert "every visible test passes" in printed
    assert "4 graded cells that fail" in printed  # three tests, and the written answer
    assert "NotImplementedError" in printed and "You did not provide a response" in printed


@pytest.mark.slow
def test_nbgrader_commands_work_on_the_notebooks_folder_with_the_repository_config(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / TOY.name).write_bytes(TOY.read_bytes())
    (tmp_path / "nbgrader_config.py").write_bytes((ROOT / "nbgrader_config.py").read_bytes())
    (tmp_path / "digitcourse").symlink_to(ROOT / "digitcourse")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def nbgrader_command(*args: str) -> None:
        done = subprocess.run(["nbgrader", *args], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]

    nbgrader_command("generate_assignment", TOY.stem)
    submitted = tmp_path / "grading" / "submitted" / "bob" / TOY.stem
    submitted.mkdir(parents=True)
    (submitted / TOY.name).write_bytes(TOY.read_bytes())
    nbgrader_command("autograde", TOY.stem)
    assert (tmp_path / "release" / TOY.stem / TOY.name).exists()
    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'nbgrader.db'}") as gradebook:
        assert gradebook.find_submission(TOY.stem, "bob").score == 5.0  # the written answer waits
