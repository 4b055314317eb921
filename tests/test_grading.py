"""Grades an instructor can trust: `digitcourse release` then `digitcourse grade` on fake submissions.

Two grade runs (module fixtures) serve all the assertions:
- the toy assignment (tests/fixtures_grading/) with every kind of submission: the solution, the blank
  release, one wrong answer per exercise, a tampered one, hostile ones and a corrupt file, under
  short time limits;
- every notebook in notebooks/ (tiny profile) with the solution, the blank release and one wrong
  answer per exercise.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from digitcourse import cli
from digitcourse.errors import ConfigError, DigitcourseError
from digitcourse.grading import (STUDENT_BRANCH, find_submissions, leaked_solution_lines, release,
                                 student_colab_links, validate)
from digitcourse.grading_sandbox import network_isolation, run_limited

pytestmark = pytest.mark.xdist_group("grading")  # one xdist worker runs the shared grade runs

ROOT = Path(__file__).resolve().parent.parent
TOY = Path(__file__).parent / "fixtures_grading" / "toy_assignment.ipynb"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOY_LIMITS = ["--cell-timeout", "10", "--timeout", "30"]  # seconds: a cell, the notebook

# One wrong answer per exercise: notebook -> solution cell -> (text of the solution, wrong text).
# An exercise not listed here is answered wrong by leaving the released stub in its cell.
MUTANTS = {
    "toy_assignment": {"standard_error": ("ddof=1", "ddof=0"),
                       "relu_backward": ("return grad_out * (x > 0)", "return -grad_out * (x > 0)")},
    "hw3_regularization": {
        "softmax_cross_entropy": ("shifted = logits - logits.max(dim=1, keepdim=True).values",
                                  "shifted = logits"),  # overflows
        "dropout": ("return a * mask / keep, mask", "return a * mask, mask"),  # not inverted
        "forward": ("a = z.clamp(min=0)", "a = z"),  # no ReLU
        "backward": ('grads[f"W{layer}"] = dz.T @', 'grads[f"W{layer}"] = -dz.T @'),  # a sign flipped
        "penalty_gradients": ("2 * l2 * W", "l2 * W"),
        "add_gradient_noise": ("g + sigma * torch.randn", "g + sigma ** 2 * torch.randn"),  # variance
        "sgd_step": ("p - lr * grads[name]", "p + lr * grads[name]"),
        "standard_error": ("ddof=1", "ddof=0"),
    },
}


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def cell_named(notebook, name: str):
    return next(cell for cell in notebook.cells if nbgrader(cell).get("grade_id") == name)


def exercises(notebook) -> dict[str, list[str]]:
    """Autograded exercise (solution code cell) -> the test cells after it, up to the next exercise."""
    found: dict[str, list[str]] = {}
    for cell in notebook.cells:
        meta = nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            found[meta["grade_id"]] = tests = []
        elif cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and found:
            tests.append(meta["grade_id"])
    return found


def points(notebook) -> dict[str, float]:
    """Autograded test cell -> its points."""
    return {nbgrader(cell)["grade_id"]: float(nbgrader(cell)["points"]) for cell in notebook.cells
            if cell.cell_type == "code" and nbgrader(cell).get("grade") and not nbgrader(cell).get("solution")}


def wrong_answer(path: Path, released, exercise: str):
    """The solution `path` with the answer to `exercise` wrong (MUTANTS, else the released stub)."""
    notebook = read(path)
    cell = cell_named(notebook, exercise)
    mutant = MUTANTS.get(path.stem, {}).get(exercise)
    if mutant:
        right, wrong = mutant
        assert right in cell.source, f"{exercise}: the mutant's text {right!r} is not in the solution"
        cell.source = cell.source.replace(right, wrong)
    else:
        cell.source = cell_named(released, exercise).source
    return notebook


def read(path: Path):
    return nbformat.read(path, as_version=4)


def submit(folder: Path, student: str, assignment: str, notebook) -> None:
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / student / f"{assignment}.ipynb")


def run_cli(*args: str) -> None:
    assert cli.main(list(args)) == 0


def grade_rows(csv_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(csv_path, newline="") as file:
        return {(row["student"], row["assignment"]): row for row in csv.DictReader(file)}


def release_all(sources: list[Path], out: Path) -> dict[str, object]:
    """`digitcourse release` into `out`; the released notebooks by name."""
    run_cli("release", *map(str, sources), "--out", str(out))
    return {path.stem: read(out / path.stem / path.name) for path in sources}


def add_hostile_submissions(folder: Path, toy, released) -> None:
    """The toy submissions that tamper with tests or try to stop the grader."""
    name = TOY.stem
    tampered = wrong_answer(TOY, released, "standard_error")
    cell_named(tampered, "test_standard_error").source = "pass  # my answer is right"
    for deleted in ("setup", "test_relu_backward", "why_ddof"):  # imports, a test, a written answer
        tampered.cells.remove(cell_named(tampered, deleted))
    nbgrader(cell_named(tampered, "test_relu_backward_sum"))["points"] = 100
    submit(folder, "tampered", name, tampered)

    def prepend(student: str, exercise: str, code: str) -> None:
        notebook = copy.deepcopy(toy)
        cell_named(notebook, exercise).source = code + "\n" + cell_named(notebook, exercise).source
        submit(folder, student, name, notebook)

    prepend("endless_loop", "standard_error", "while True:\n    pass")
    prepend("loop_ignoring_interrupts", "relu_backward",
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    prepend("sys_exit", "standard_error", "import sys\nsys.exit(1)")
    prepend("os_exit", "relu_backward", "import os\nos._exit(1)")
    slow = copy.deepcopy(toy)
    after = slow.cells.index(cell_named(slow, "test_standard_error")) + 1
    slow.cells[after:after] = [nbformat.v4.new_code_cell("import time\ntime.sleep(8)") for _ in range(5)]
    submit(folder, "slow", name, slow)
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / f"{name}.ipynb").write_text("{ this is not json")
    (folder / "stray").mkdir()
    (folder / "stray" / "no_such_assignment.ipynb").write_text("{}")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """release, then grade a folder of every kind of toy submission (jobs 2, tiny profile, short limits)."""
    work = tmp_path_factory.mktemp("toy")
    (work / "source").mkdir()
    (work / "source" / TOY.name).write_bytes(TOY.read_bytes())
    toy = read(TOY)
    released = release_all([TOY], work / "release")[TOY.stem]
    folder = work / "submissions"
    submit(folder, "solution", TOY.stem, toy)
    (folder / "blank" / TOY.stem).mkdir(parents=True)  # nbgrader's layout: <student>/<a>/<a>.ipynb
    nbformat.write(released, folder / "blank" / TOY.stem / TOY.name)
    for exercise in exercises(toy):
        submit(folder, f"wrong_{exercise}", TOY.stem, wrong_answer(TOY, released, exercise))
    add_hostile_submissions(folder, toy, released)
    run_cli("grade", str(folder), "--jobs", "2", "--profile", "tiny", *TOY_LIMITS,
            "--source", str(work / "source"), "--out", str(work / "grading"))
    return dict(rows=grade_rows(work / "grading" / "grades.csv"), out=work / "grading",
                release=work / "release")


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """release, then grade the solution, the blank release and one wrong answer per exercise of every
    notebook in notebooks/ (jobs 2, tiny profile)."""
    work = tmp_path_factory.mktemp("course")
    released = release_all(NOTEBOOKS, work / "release")
    folder = work / "submissions"
    for path in NOTEBOOKS:
        source = read(path)
        submit(folder, "solution", path.stem, source)
        submit(folder, "blank", path.stem, released[path.stem])
        for exercise in exercises(source):
            submit(folder, f"wrong_{exercise}", path.stem, wrong_answer(path, released[path.stem], exercise))
    run_cli("grade", str(folder), "--jobs", "2", "--profile", "tiny", "--source", str(ROOT / "notebooks"),
            "--out", str(work / "grading"))
    return dict(rows=grade_rows(work / "grading" / "grades.csv"), release=work / "release")


def run_for(name: str, request) -> dict:
    return request.getfixturevalue("toy_run" if name == TOY.stem else "course_run")


ALL = [TOY, *NOTEBOOKS]
EXERCISES = [(path, exercise) for path in ALL for exercise in exercises(read(path))]


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=lambda path: path.stem)
def test_source_notebook_earns_full_marks(path, request):
    row = run_for(path.stem, request)["rows"][("solution", path.stem)]
    assert (row["status"], row["notes"]) == ("graded", "")
    assert {name: float(row[name]) for name in points(read(path))} == points(read(path))
    assert float(row["total"]) == float(row["max"]) == sum(points(read(path)).values()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=lambda path: path.stem)
def test_released_notebook_earns_zero_autograded_points(path, request):
    row = run_for(path.stem, request)["rows"][("blank", path.stem)]
    assert (row["status"], row["notes"]) == ("graded", "")
    assert [float(row[name]) for name in points(read(path))] == [0.0] * len(points(read(path)))
    assert float(row["total"]) == 0 and float(row["max"]) == sum(points(read(path)).values())


@pytest.mark.slow
@pytest.mark.parametrize("path, exercise", EXERCISES, ids=lambda x: getattr(x, "stem", x))
def test_wrong_answer_loses_exactly_its_exercises_points(path, exercise, request):
    row = run_for(path.stem, request)["rows"][(f"wrong_{exercise}", path.stem)]
    expected = {name: 0.0 if name in exercises(read(path))[exercise] else most
                for name, most in points(read(path)).items()}
    assert row["status"] == "graded", row["notes"]
    assert {name: float(row[name]) for name in expected} == expected
    assert float(row["total"]) == sum(expected.values()) < float(row["max"])


@pytest.mark.slow
def test_edited_test_cell_is_graded_with_the_instructors_version(toy_run):
    row = toy_run["rows"][("tampered", TOY.stem)]
    assert row["test_standard_error"] == "0"  # the student's `pass` would have scored 2
    assert "read-only cell 'test_standard_error' was edited: graded with the instructor's version" in row["notes"]


@pytest.mark.slow
def test_deleted_read_only_and_graded_cells_are_put_back_and_run(toy_run):
    row = toy_run["rows"][("tampered", TOY.stem)]
    # the answer is right: the restored test passes, with numpy from the restored set-up cell
    assert (row["status"], row["test_relu_backward"], row["why_ddof"]) == ("graded", "2", "0")
    for cell in ("setup", "test_relu_backward", "why_ddof"):
        assert f"cell {cell!r} was deleted: the instructor's copy was put back" in row["notes"]


@pytest.mark.slow
def test_changed_points_are_graded_out_of_the_instructors_points(toy_run):
    row = toy_run["rows"][("tampered", TOY.stem)]
    assert (row["test_relu_backward_sum"], row["total"], row["max"]) == ("1", "3", "5")
    assert "the points of cell 'test_relu_backward_sum' were changed to 100: graded out of 1" in row["notes"]


@pytest.mark.slow
def test_endless_loop_is_stopped_at_the_cell_limit_and_the_rest_is_graded(toy_run):
    row = toy_run["rows"][("endless_loop", TOY.stem)]
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "0", "3")
    assert "cell 5 ran out of time (at most 10 s a cell)" in row["notes"]


@pytest.mark.slow
def test_loop_ignoring_interrupts_scores_zero_from_there_on(toy_run):
    row = toy_run["rows"][("loop_ignoring_interrupts", TOY.stem)]
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "2", "2")
    assert "the kernel stopped answering in cell 8" in row["notes"]


@pytest.mark.slow
def test_notebook_time_limit_stops_a_slow_submission(toy_run):
    row = toy_run["rows"][("slow", TOY.stem)]
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "2", "2")
    assert "time limit of 30 s" in row["notes"]


@pytest.mark.slow
def test_sys_exit_fails_only_its_own_cell(toy_run):
    row = toy_run["rows"][("sys_exit", TOY.stem)]
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "0", "3")


@pytest.mark.slow
def test_os_exit_scores_zero_for_the_cells_that_did_not_run(toy_run):
    row = toy_run["rows"][("os_exit", TOY.stem)]
    assert (row["status"], row["test_standard_error"], row["test_relu_backward_sum"], row["total"]) == \
        ("graded", "2", "0", "2")
    assert "the kernel died" in row["notes"]


@pytest.mark.slow
def test_corrupt_notebook_is_reported_ungradeable_and_the_run_goes_on(toy_run):
    row = toy_run["rows"][("corrupt", TOY.stem)]
    assert (row["status"], row["total"], row["max"]) == ("ungradeable", "0", "5")
    assert "not a readable notebook" in row["notes"]
    assert toy_run["rows"][("stray", "no_such_assignment")]["status"] == "ungradeable"
    assert len(toy_run["rows"]) == 12  # every submission has its row


@pytest.mark.slow
def test_feedback_is_written_per_student_from_a_run_in_the_grading_profile(toy_run):
    feedback = toy_run["out"] / "feedback" / "solution" / TOY.stem / f"{TOY.stem}.html"
    assert "profile: tiny" in feedback.read_text()
    graded = [student for (student, _), row in toy_run["rows"].items() if row["status"] == "graded"]
    assert sorted(p.parent.parent.name for p in (toy_run["out"] / "feedback").glob("*/*/*.html")) == sorted(graded)


@pytest.mark.slow
def test_grades_csv_has_a_column_per_graded_cell(toy_run):
    header = (toy_run["out"] / "grades.csv").read_text().splitlines()[0]
    assert header == ("student,assignment,status,test_standard_error,test_relu_backward,"
                      "test_relu_backward_sum,why_ddof,total,max,manual_max,notes")
    assert toy_run["rows"][("solution", TOY.stem)]["why_ddof"] == ""  # an answer to grade by hand
    assert toy_run["rows"][("blank", TOY.stem)]["why_ddof"] == "0"  # nothing written


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=lambda path: path.stem)
def test_no_released_file_holds_a_solution_or_hidden_test(path, request):
    released = run_for(path.stem, request)["release"] / path.stem / path.name
    text = released.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    secret, public = set(), set()  # the lines of the source inside and outside solutions/hidden tests
    for cell in read(path).cells:
        written_answer = cell.cell_type == "markdown" and nbgrader(cell).get("solution")
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif line.strip():
                (secret if inside or written_answer else public).add(line.strip())
    released_lines = {line.strip() for cell in read(released).cells for line in cell.source.splitlines()}
    assert secret - public  # the source has solution lines to look for
    assert not (secret - public) & released_lines


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_released_colab_badge_opens_the_student_copy_not_the_source(path, request):
    released = run_for(path.stem, request)["release"] / path.stem / path.name
    title = read(released).cells[0].source
    assert f"/blob/{STUDENT_BRANCH}/{path.stem}/{path.name})" in title, title
    assert f"notebooks/{path.name}" not in released.read_text()
    assert f"notebooks/{path.name}" in read(path).cells[0].source  # the instructor's badge is unchanged


def test_student_colab_links_rewrites_only_links_to_course_notebooks():
    source = "https://colab.research.google.com/github/org/course/blob/main/notebooks/hw1.ipynb"
    assert student_colab_links(f"[badge]({source}) and notebooks/hw1.ipynb") == (
        f"[badge](https://colab.research.google.com/github/org/course/blob/{STUDENT_BRANCH}/hw1/hw1.ipynb)"
        " and notebooks/hw1.ipynb")
    other = "https://colab.research.google.com/github/org/course/blob/main/extra/demo.ipynb"
    assert student_colab_links(other) == other


def test_release_stops_with_nbgraders_reason_when_nbgrader_refuses_a_notebook(tmp_path):
    notebook = read(TOY)
    cell = cell_named(notebook, "test_relu_backward_sum")
    del cell.metadata["nbgrader"]  # hidden tests in a cell that is no test cell
    cell.source += "\n### BEGIN HIDDEN TESTS\nassert relu_backward(2.0, 1.0) == 2.0\n### END HIDDEN TESTS"
    submit(tmp_path, "source", "toy", notebook)
    with pytest.raises(DigitcourseError, match="RuntimeError: Hidden test region detected in a non-grade cell"):
        release([tmp_path / "source" / "toy.ipynb"], out=tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_leak_check_finds_the_solution_lines_and_markers_of_an_unreleased_copy():
    source = read(TOY)
    leaks = leaked_solution_lines(source, source)
    assert {"return np.std(x, ddof=1) / np.sqrt(len(x))", "return grad_out * (x > 0)",
            "assert np.isclose(standard_error(np.array([2.0, 4.0])), 1.0)", "### BEGIN SOLUTION",
            cell_named(source, "why_ddof").source} <= set(leaks)
    assert "def standard_error(x):" not in leaks  # the student sees it too


def test_find_submissions_reads_both_layouts(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "hw1.ipynb").write_text("{}")
    (tmp_path / "bob" / "hw1").mkdir(parents=True)
    (tmp_path / "bob" / "hw1" / "hw1.ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "hw1-checkpoint.ipynb").write_text("{}")
    assert [(s.student, s.assignment) for s in find_submissions(tmp_path)] == [("ann", "hw1"), ("bob", "hw1")]


def test_find_submissions_refuses_two_copies_of_one_submission(tmp_path):
    (tmp_path / "ann" / "hw1").mkdir(parents=True)
    (tmp_path / "ann" / "hw1.ipynb").write_text("{}")
    (tmp_path / "ann" / "hw1" / "hw1.ipynb").write_text("{}")
    with pytest.raises(ConfigError, match="Two submissions of hw1 by ann"):
        find_submissions(tmp_path)


def test_find_submissions_names_the_expected_layout_when_empty(tmp_path):
    with pytest.raises(ConfigError, match="<student>/<assignment>.ipynb"):
        find_submissions(tmp_path)


def test_validate_passes_the_solution_and_fails_the_blank_release(tmp_path, capsys):
    released = release([TOY], out=tmp_path)[0]
    assert validate(TOY, profile="tiny") is True
    assert validate(released, profile="tiny") is False
    printed = capsys.readouterr().out
    assert "every visible test passes" in printed
    assert "4 graded cells that fail" in printed  # three tests, and the written answer
    assert "NotImplementedError" in printed and "You did not provide a response" in printed


def test_run_limited_kills_the_command_and_what_it_started_at_the_limit(tmp_path, monkeypatch):
    # the command starts a process in a session of its own (as Jupyter starts kernels) that would
    # write a file 3 s later, then sleeps; both must be gone at the 1 s limit
    (tmp_path / "late.py").write_text("import time\ntime.sleep(3)\nopen('late', 'w')\n")
    (tmp_path / "command.py").write_text(
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, 'late.py'], start_new_session=True)\n"
        "time.sleep(60)\n")
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert run_limited([sys.executable, "command.py"], timeout=1, env=os.environ, log=tmp_path / "log") is None
    assert time.monotonic() - started < 5
    time.sleep(4)
    if network_isolation() == "namespace":  # elsewhere only the command's process group is killed
        assert not (tmp_path / "late").exists()


def test_run_limited_cuts_the_network(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = ("import os, socket, sys\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                "    print('connected')\n"
                "except OSError:\n"
                "    print('refused')\n"
                "print(os.environ.get('https_proxy'))")
        assert run_limited([sys.executable, "-c", code], timeout=30, env=os.environ,
                           log=tmp_path / "log") == 0
    reached, proxy = (tmp_path / "log").read_text().split()
    if network_isolation() == "namespace":
        assert reached == "refused"  # the host's loopback is not the child's
    else:
        assert proxy == "http://127.0.0.1:9"


@pytest.mark.skipif(not os.environ.get("DIGITCOURSE_GRADING_TIMING"),
                    reason="a timing measurement (minutes): DIGITCOURSE_GRADING_TIMING=quick (a profile) runs it")
def test_two_jobs_grade_eight_submissions_in_under_60_percent_of_the_time_of_one(tmp_path):
    path = ROOT / "notebooks" / "hw3_regularization.ipynb"
    for student in range(8):
        submit(tmp_path / "submissions", f"student{student}", path.stem, read(path))
    seconds = {}
    for jobs in (1, 2):
        started = time.monotonic()
        run_cli("grade", str(tmp_path / "submissions"), "--jobs", str(jobs), "--source", str(path.parent),
                "--profile", os.environ["DIGITCOURSE_GRADING_TIMING"], "--out", str(tmp_path / str(jobs)))
        seconds[jobs] = time.monotonic() - started
        rows = grade_rows(tmp_path / str(jobs) / "grades.csv").values()
        assert len(rows) == 8 and all(row["total"] == row["max"] for row in rows)
    print(f"grading 8 submissions of {path.stem}: {json.dumps(seconds)} s, ratio {seconds[2] / seconds[1]:.2f}")
    assert seconds[2] < 0.6 * seconds[1]


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
    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(TOY.stem, "bob").score == 5.0  # the written answer waits
