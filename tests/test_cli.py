"""The `digitcourse` command line: readable help, one-line errors with exit code 2, the book command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from digitcourse import book, cli
from digitcourse.grading.student import sandbox

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["release", "check", "grade", "mark", "report", "validate", "book"]


def test_python_m_digitcourse_help_lists_every_command():
    shown = subprocess.run([sys.executable, "-m", "digitcourse", "--help"], cwd=ROOT,
                           capture_output=True, text=True)
    assert shown.returncode == 0
    assert all(f"    {command} " in shown.stdout for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: digitcourse {command}")


def test_grade_help_names_the_layout_the_limits_the_grading_profile_and_the_sandbox(capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "<student>/<assignment>.ipynb" in shown
    assert "--timeout S" in shown and "--cell-timeout S" in shown and "--memory SIZE" in shown
    assert "(default: 4 GiB)" in shown and "(default: tiny)" in shown and "--unsafe-no-sandbox" in shown


def test_the_command_line_and_the_grader_start_without_torch():
    # torch made unimportable: sys.modules["torch"] = None makes `import torch` fail
    script = ("import sys; sys.modules['torch'] = None\n"
              "import digitcourse.cli, digitcourse.grading.grade, digitcourse.grading.worker\n"
              "digitcourse.cli.main(['--help'])\n")
    shown = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0 and "release" in shown.stdout, shown.stderr[-600:]


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["grade"], "the following arguments are required: SUBMISSIONS_DIR"),
    (["grade", "subs", "--jobs", "two"], "argument --jobs: invalid int value: 'two'"),
    (["book", "--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
    (["relase"], "argument COMMAND: invalid choice: 'relase'"),
])
def test_a_usage_mistake_is_one_line_and_exit_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    assert exit.value.code == 2
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and message in printed


@pytest.mark.parametrize("argv, message", [
    (["grade", "no/such/folder"], "digitcourse grade: ConfigError: No submissions folder no/such/folder."),
    (["grade", ".", "--jobs", "0"], "digitcourse grade: ConfigError: jobs=0 is out of range"),
    (["grade", ".", "--memory", "lots"], "digitcourse grade: ConfigError: memory='lots' is not a size"),
    (["grade", ".", "--source", "no/notebooks"], "digitcourse grade: ConfigError: no/notebooks holds no "
                                                 "instructor's notebook for the submitted assignments (hw1)"),
    (["validate", "missing.ipynb"], "digitcourse validate: ConfigError: No notebook missing.ipynb."),
    (["check", "missing.ipynb"], "digitcourse check: ConfigError: No notebook missing.ipynb."),
    (["release", "missing.ipynb"], "digitcourse release: ConfigError: No notebook missing.ipynb."),
])
def test_a_config_error_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "available", lambda: False)  # arguments are checked before the sandbox
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "hw1.ipynb").write_text("{}")
    assert cli.main(argv) == 2
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and printed.startswith(message)


@pytest.mark.parametrize("argv, expected", [
    (["book"], ("full", False, False, 1, None)),
    (["book", "--profile", "quick", "--student"], ("quick", True, False, 1, None)),
    (["book", "--jobs", "2", "--force"], ("full", False, True, 2, None)),
    (["book", "--scheduler", "tcp://10.0.0.5:8786"], ("full", False, False, 1, "tcp://10.0.0.5:8786")),
])
def test_book_builds_with_the_given_profile_edition_jobs_and_scheduler(argv, expected, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(book, "build", lambda profile, student, force, jobs, scheduler:
                        calls.append((profile, student, force, jobs, scheduler)) or Path("book/_build/html/index.html"))
    assert cli.main(argv) == 0
    assert calls == [expected]
    assert capsys.readouterr().out == "book/_build/html/index.html\n"


def test_report_writes_the_class_report_of_an_empty_gradebook(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'report.html'}\n"
    assert "No submission yet." in (tmp_path / "report.html").read_text()
    assert (tmp_path / "summary.csv").read_text() == "assignment,item,statistic,value\n"


def test_a_corrupt_gradebook_is_one_line_and_exit_code_1(tmp_path, capsys):
    (tmp_path / "gradebook.db").write_text("not a database " * 100)
    assert cli.main(["report", "--out", str(tmp_path)]) == 1
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and printed.startswith(
        f"digitcourse report: GradebookError: {tmp_path / 'gradebook.db'} is not a gradebook (file is not a database)")
