"""``digitcourse grade``: grades an instructor can trust, on the toy assignment.

The module fixture `toy_run` grades, in one run, every kind of toy submission (tests/fixtures_grading/):
the solution, the blank release, one wrong answer per exercise, tampered ones, hostile ones (every
attack on the grader we know of), corrupt files, under short limits and 1 GiB of memory. Smaller tests
cover finding the submissions, the refusal to grade without the sandbox and the worker's task.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import socket
import subprocess
import time
from html import unescape
from pathlib import Path

import nbformat
import pytest
from grading_support import (ROOT, TOY, cell_named, exercises, grade_rows, nbgrader, needs_sandbox, points,
                             read, run_cli, submit, toy_sources, wrong_answer)

from digitcourse import cli
from digitcourse.errors import ConfigError
from digitcourse.grading.grade import find_submissions
from digitcourse.grading.limits import Limits
from digitcourse.grading.student import sandbox
from digitcourse.grading.worker import Task, _feedback_page

pytestmark = pytest.mark.xdist_group("grading_toy")  # one xdist worker runs the shared grade run

TOY_LIMITS = ["--cell-timeout", "10", "--timeout", "30", "--memory", "1G"]  # a cell, the notebook, memory

def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (not following links) -> its SHA-256, or the target of a link."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path)] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# The toy run: every kind of submission, in one grade run --------------------------------------------

def prepend(notebook, exercise: str, code: str):
    cell_named(notebook, exercise).source = code + "\n" + cell_named(notebook, exercise).source
    return notebook


def blanked(notebook, released):
    """`notebook` with every exercise as released (the stub)."""
    for exercise in exercises(notebook):
        cell_named(notebook, exercise).source = cell_named(released, exercise).source
    return notebook


def with_cell(notebook, code: str, at: int = 1):
    notebook.cells.insert(at, nbformat.v4.new_code_cell(code))
    return notebook


def hostile(paths: dict[str, Path], port: int) -> dict[str, tuple[str, object]]:
    """student -> (how the notebook is made from the solution, the code it holds); see add_hostile."""
    p = {name: str(path) for name, path in paths.items()}
    return {
        # make failing tests pass: replace the comparisons and assert's error, answer wrong
        "replaced_comparisons": ("wrong", "import builtins, math\nimport numpy\n"
                                 "numpy.isclose = numpy.allclose = math.isclose = lambda *a, **k: True\n"
                                 "builtins.all = lambda *a: True\n"
                                 "builtins.AssertionError = type('Quiet', (Exception,), {})"),
        "exception_handler": ("blank", "get_ipython().set_custom_exc((BaseException,), "
                                       "lambda shell, kind, value, tb, tb_offset=None: None)"),
        "input_transformer": ("blank", "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])"),
        "post_run_hook": ("blank", "def clean(result):\n    result.error_in_exec = None\n"
                                   "get_ipython().events.register('post_run_cell', clean)"),
        "fake_agent": ("blank", "def serve():\n    kernel = get_ipython().kernel\n    kernel.raw_input('')\n"
                                "    kernel.raw_input('result:' + '{\"$dict\": [[\"value\", 0.6454972], "
                                "[\"changed\", []]]}')\n__digitcourse__.serve = serve"),
        "lying_result": ("blank_relu", "class Liar:\n    def __eq__(self, other):\n        return True\n"
                                       "    def __float__(self):\n        return 0.6454972\n"
                                       "def standard_error(x):\n    return Liar()"),
        # change grading state: the templates, a process that outlives its kernel
        "rewrite_templates": ("right", "import glob\nfor path in glob.glob('/tmp/**/*.ipynb', recursive=True) + "
                                       "glob.glob('/tmp/**/*.db', recursive=True):\n"
                                       "    try:\n        open(path, 'w').write('{}')\n"
                                       "    except OSError as error:\n        print('refused', error)"),
        "outlive": ("right", "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                             f"'import time; time.sleep(3); open({p['grades']!r}, \"w\").write(\"forged\")', "
                             "'digitcourse-hostile-outlive'], start_new_session=True)"),
        # write outside its folder: another submission, the source, the feedback, grades.csv by a link
        "write_outside": ("right", "import os\nfor path in [" + ", ".join(repr(p[k]) for k in
                                   ("other", "source", "feedback")) + "]:\n"
                                   "    try:\n        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
                                   "        open(path, 'w').write('forged')\n"
                                   "    except OSError as error:\n        print('refused', error)\n"
                                   f"try:\n    os.symlink({p['grades']!r}, {p['grades'] + '.partial'!r})\n"
                                   "except OSError as error:\n    print('refused', error)"),
        # read what it must not: the source, another submission, the machine's files
        "read_secrets": ("blank", "import os\nfor path in [" + ", ".join(repr(p[k]) for k in ("source", "other"))
                                  + ", '/etc/shadow', os.path.expanduser('~root/.bashrc')]:\n"
                                  "    try:\n        print(open(path).read()[:3000])\n"
                                  "    except OSError as error:\n        print('refused', error)\n"
                                  f"print('repository:', sorted(os.listdir({str(ROOT)!r})))"),
        # exhaust: memory, processes, output; reach the network
        "memory_hog": ("right_then", "hog = bytearray(3 * 1024 ** 3)"),
        "many_processes": ("right", "import subprocess\nstarted = []\ntry:\n    for _ in range(2000):\n"
                                    "        started.append(subprocess.Popen(['sleep', '61.5']))\n"
                                    "except OSError as error:\n    print('stopped after', len(started), error)"),
        "flood": ("right", "print('x' * 30_000_000)"),
        "network": ("right", "import socket\nfor address in [('127.0.0.1', %d), ('1.1.1.1', 80)]:\n"
                             "    try:\n        socket.create_connection(address, timeout=3)\n"
                             "        print('connected', address)\n"
                             "    except OSError as error:\n        print('refused', error)" % port),
    }


def add_hostile_submissions(folder: Path, toy, released, paths: dict[str, Path], port: int) -> None:
    """The toy submissions that tamper with tests, attack the grader or try to stop it."""
    name = TOY.stem
    tampered = wrong_answer(copy.deepcopy(toy), "standard_error")
    cell_named(tampered, "test_standard_error").source = "pass  # my answer is right"
    for deleted in ("setup", "test_relu_backward", "why_ddof"):  # imports, a test, a written answer
        tampered.cells.remove(cell_named(tampered, deleted))
    nbgrader(cell_named(tampered, "test_relu_backward_sum"))["points"] = 100
    submit(folder, "tampered", name, tampered)

    submit(folder, "endless_loop", name, prepend(copy.deepcopy(toy), "standard_error", "while True:\n    pass"))
    submit(folder, "loop_ignoring_interrupts", name, prepend(copy.deepcopy(toy), "relu_backward",
           "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))
    submit(folder, "sys_exit", name, prepend(copy.deepcopy(toy), "standard_error", "import sys\nsys.exit(1)"))
    submit(folder, "os_exit", name, prepend(copy.deepcopy(toy), "relu_backward", "import os\nos._exit(1)"))
    slow = copy.deepcopy(toy)
    after = slow.cells.index(cell_named(slow, "test_standard_error")) + 1
    slow.cells[after:after] = [nbformat.v4.new_code_cell("import time\ntime.sleep(8)") for _ in range(5)]
    submit(folder, "slow", name, slow)

    duplicated = copy.deepcopy(toy)
    test = cell_named(duplicated, "test_standard_error")
    pasted = copy.deepcopy(test)
    pasted.id = nbformat.v4.new_code_cell().id  # Jupyter gives a pasted cell an id of its own
    duplicated.cells.insert(duplicated.cells.index(test) + 1, pasted)
    submit(folder, "duplicated_test", name, duplicated)
    bonus = with_cell(copy.deepcopy(toy), "pass", at=len(toy.cells))
    bonus.cells[-1].metadata["nbgrader"] = {"grade": True, "grade_id": "test_bonus", "locked": True,
                                            "points": 100, "schema_version": 3, "solution": False}
    submit(folder, "bonus_cell", name, bonus)

    for student, (kind, code) in hostile(paths, port).items():
        notebook = copy.deepcopy(toy)
        if kind == "wrong":
            for exercise in exercises(toy):
                notebook = wrong_answer(notebook, exercise)
        elif kind.startswith("blank"):
            blanked(notebook, released)
            if kind == "blank_relu":  # the code defines standard_error itself, after the stub
                notebook.cells.insert(notebook.cells.index(cell_named(notebook, "standard_error")) + 1,
                                      nbformat.v4.new_code_cell(code))
                submit(folder, student, name, notebook)
                continue
        if kind == "right_then":  # after exercise 1's test, before exercise 2
            notebook.cells.insert(notebook.cells.index(cell_named(notebook, "test_standard_error")) + 1,
                                  nbformat.v4.new_code_cell(code))
        else:
            with_cell(notebook, code)
        submit(folder, student, name, notebook)

    (folder / "corrupt").mkdir()
    (folder / "corrupt" / f"{name}.ipynb").write_text("{ this is not json")
    invalid = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    invalid.cells[0].source = 5  # JSON, but no notebook: a cell whose source is not text
    (folder / "invalid").mkdir()
    (folder / "invalid" / f"{name}.ipynb").write_text(json.dumps(invalid))
    (folder / "stray").mkdir()
    (folder / "stray" / "no_such_assignment.ipynb").write_text("{}")
    (folder / "symlinked").mkdir()
    (folder / "symlinked" / f"{name}.ipynb").symlink_to(paths["source"])


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """release, then grade a folder of every kind of toy submission (jobs 2, tiny profile, short limits)."""
    work = tmp_path_factory.mktemp("toy")
    source, toy, released = toy_sources(work)
    folder, out = work / "submissions", work / "grading"
    submit(folder, "solution", TOY.stem, toy)
    (folder / "blank" / TOY.stem).mkdir(parents=True)  # nbgrader's layout: <student>/<a>/<a>.ipynb
    nbformat.write(released, folder / "blank" / TOY.stem / TOY.name)
    for exercise in exercises(toy):
        submit(folder, f"wrong_{exercise}", TOY.stem, wrong_answer(copy.deepcopy(toy), exercise))
    paths = dict(source=source, other=folder / "solution" / TOY.name, grades=out / "grades.csv",
                 feedback=out / "feedback" / "solution" / TOY.stem / f"{TOY.stem}.html")
    with socket.create_server(("127.0.0.1", 0)) as server:
        add_hostile_submissions(folder, toy, released, paths, server.getsockname()[1])
        before = fingerprint(work)
        run_cli("grade", str(folder), "--jobs", "2", "--profile", "tiny", *TOY_LIMITS,
                "--source", str(source.parent), "--out", str(out))
        server.settimeout(0)
        try:
            server.accept()
            reached = True
        except BlockingIOError:
            reached = False
    graded = fingerprint(work)
    time.sleep(5)  # what a process left behind would have done by now (the outlive submission: 3 s)
    return dict(rows=grade_rows(out / "grades.csv"), out=out, release=work / "release", work=work,
                before=before, graded=graded, after=fingerprint(work), reached=reached)


def row_of(toy_run, student: str) -> dict[str, str]:
    return toy_run["rows"][(student, TOY.stem)]


def feedback_of(toy_run, student: str) -> str:
    return (toy_run["out"] / "feedback" / student / TOY.stem / f"{TOY.stem}.html").read_text()


def autograded(row: dict[str, str]) -> dict[str, float]:
    return {name: float(row[name]) for name in points(read(TOY))}


FULL = {"test_standard_error": 2.0, "test_relu_backward": 2.0, "test_relu_backward_sum": 1.0}
NONE = dict.fromkeys(FULL, 0.0)


@pytest.mark.slow
@needs_sandbox
def test_only_the_grader_wrote_and_only_its_outputs(toy_run):
    before, graded, after = toy_run["before"], toy_run["graded"], toy_run["after"]
    assert {path: digest for path, digest in graded.items() if path in before} == before  # nothing changed
    made = set(graded) - set(before)
    assert made and all(Path(path).is_relative_to(toy_run["out"]) for path in made), sorted(made)[:5]
    assert after == graded  # and nothing afterwards: no process outlived its sandbox
    assert not [path for path in graded if path.endswith(".partial")]


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("student", ["replaced_comparisons", "exception_handler", "input_transformer",
                                     "post_run_hook", "fake_agent", "lying_result"])
def test_tampering_with_the_kernel_earns_nothing(toy_run, student):
    row = row_of(toy_run, student)
    assert row["status"] == "graded" and autograded(row) == NONE and row["total"] == "0", row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_an_object_that_claims_to_equal_anything_does_not_pass(toy_run):
    assert "test_standard_error failed: TypeError" in row_of(toy_run, "lying_result")["notes"]


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("student", ["rewrite_templates", "outlive", "write_outside", "many_processes",
                                     "flood", "network", "duplicated_test", "bonus_cell"])
def test_an_attack_on_the_grader_changes_nothing_but_its_own_row(toy_run, student):
    row = row_of(toy_run, student)
    assert row["status"] == "graded" and autograded(row) == FULL and (row["total"], row["max"]) == ("5", "5")
    assert (row_of(toy_run, "solution")["total"], row_of(toy_run, "solution")["notes"]) == ("5", "")
    assert all(float(line["total"]) <= 5 for line in toy_run["rows"].values())


@pytest.mark.slow
@needs_sandbox
def test_a_submission_sees_only_its_own_folder(toy_run):
    shown = unescape(feedback_of(toy_run, "read_secrets"))
    assert "np.std(x, ddof=1)" not in shown  # the solution, in the source and in another student's notebook
    assert shown.count("refused [Errno 2] No such file or directory") == 4
    listing = shown[shown.index("repository: ["):].splitlines()[0]  # the Python environment and the package
    assert "'digitcourse'" in listing and "'notebooks'" not in listing and "'tests'" not in listing


@pytest.mark.slow
@needs_sandbox
def test_writes_outside_the_sandbox_land_in_its_own_private_folders(toy_run):
    # the paths are the grader's, but the sandbox's /tmp is its own: the writes vanish with it
    assert "refused [Errno" not in unescape(feedback_of(toy_run, "write_outside"))
    assert (toy_run["work"] / "source" / TOY.name).read_bytes() == TOY.read_bytes()
    assert read(toy_run["work"] / "submissions" / "solution" / TOY.name).cells == read(TOY).cells
    assert "forged" not in feedback_of(toy_run, "solution") and not (toy_run["out"] / "grades.csv.partial").exists()


@pytest.mark.slow
@needs_sandbox
def test_a_process_left_behind_dies_with_the_sandbox(toy_run):
    assert subprocess.run(["pgrep", "-f", "digitcourse-hostile-outlive"]).returncode == 1
    assert subprocess.run(["pgrep", "-f", "sleep 61.5"]).returncode == 1
    assert "forged" not in (toy_run["out"] / "grades.csv").read_text()


@pytest.mark.slow
@needs_sandbox
def test_the_network_is_off_and_output_is_capped(toy_run):
    assert not toy_run["reached"]  # the server on the grader's loopback heard nothing
    assert unescape(feedback_of(toy_run, "network")).count("refused [Errno") == 2
    assert len(feedback_of(toy_run, "flood")) < 5_000_000
    assert "the grader kept the first 2,000,000 characters" in feedback_of(toy_run, "flood")


@pytest.mark.slow
@needs_sandbox
def test_a_duplicated_test_cell_is_graded_once_with_the_instructors_version(toy_run):
    assert "cell 'test_standard_error' appears twice: graded as an ordinary cell" in row_of(toy_run, "duplicated_test")["notes"]
    assert "cell 'test_bonus' is not part of the assignment" in row_of(toy_run, "bonus_cell")["notes"]


@pytest.mark.slow
@needs_sandbox
def test_a_symbolic_link_is_not_followed(toy_run):
    row = row_of(toy_run, "symlinked")
    assert (row["status"], row["total"]) == ("ungradeable", "0") and "symbolic link" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_source_notebook_earns_full_marks_and_the_blank_release_zero(toy_run):
    solution, blank = row_of(toy_run, "solution"), row_of(toy_run, "blank")
    assert (solution["status"], solution["notes"], autograded(solution)) == ("graded", "", FULL)
    assert (blank["status"], autograded(blank), blank["total"]) == ("graded", NONE, "0")
    assert "test_standard_error failed: NotImplementedError" in blank["notes"]


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("exercise", list(exercises(read(TOY))))
def test_wrong_answer_loses_exactly_its_exercises_points(toy_run, exercise):
    row = row_of(toy_run, f"wrong_{exercise}")
    expected = {name: 0.0 if name in exercises(read(TOY))[exercise] else most for name, most in FULL.items()}
    assert row["status"] == "graded" and autograded(row) == expected
    assert f"{exercises(read(TOY))[exercise][0]} failed: AssertionError" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_edited_test_cell_is_graded_with_the_instructors_version(toy_run):
    row = row_of(toy_run, "tampered")
    assert row["test_standard_error"] == "0"  # the student's `pass` would have scored 2
    assert "read-only cell 'test_standard_error' was edited: graded with the instructor's version" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_deleted_read_only_and_graded_cells_are_put_back_and_run(toy_run):
    row = row_of(toy_run, "tampered")
    # the answer is right: the restored test passes, with numpy from the restored set-up cell
    assert (row["status"], row["test_relu_backward"], row["why_ddof"]) == ("graded", "2", "0")
    for cell in ("setup", "test_relu_backward", "why_ddof"):
        assert f"cell {cell!r} was deleted: the instructor's copy was put back" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_changed_points_are_graded_out_of_the_instructors_points(toy_run):
    row = row_of(toy_run, "tampered")
    assert (row["test_relu_backward_sum"], row["total"], row["max"]) == ("1", "3", "5")
    assert "the points of cell 'test_relu_backward_sum' were changed to 100: graded out of 1" in row["notes"]


# A submission stopped by a limit or by its own exit: what ran before counts, and one note says why.
STOPPED = [  # student, the row's expected cells, the note
    ("endless_loop", {"test_standard_error": "0", "total": "3"}, "cell 5 ran out of time (at most 10 s a cell)"),
    ("loop_ignoring_interrupts", {"test_standard_error": "2", "total": "2"},
     "the kernel stopped answering in cell 8"),
    ("slow", {"test_standard_error": "2", "total": "2"}, "time limit of 30 s"),
    ("sys_exit", {"test_standard_error": "0", "total": "3"},
     "test_standard_error failed: NameError: name 'standard_error' is not defined"),
    ("os_exit", {"test_standard_error": "2", "test_relu_backward_sum": "0", "total": "2"}, "the kernel died"),
    ("memory_hog", {"test_standard_error": "2", "total": "2"},
     "the kernel ran out of memory in cell 7 (the limit is 1 GiB): no later cell ran"),
]


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("student, expected, note", STOPPED, ids=[student for student, _, _ in STOPPED])
def test_a_submission_stopped_by_a_limit_or_an_exit_keeps_what_ran_before_and_says_why(toy_run, student,
                                                                                        expected, note):
    row = row_of(toy_run, student)
    assert row["status"] == "graded" and {name: row[name] for name in expected} == expected, row["notes"]
    assert note in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_corrupt_notebook_is_reported_ungradeable_and_the_run_goes_on(toy_run):
    row = row_of(toy_run, "corrupt")
    assert (row["status"], row["total"], row["max"]) == ("ungradeable", "0", "5")
    assert "not a readable notebook" in row["notes"]
    invalid = row_of(toy_run, "invalid")
    assert (invalid["status"], invalid["total"]) == ("ungradeable", "0")
    assert invalid["notes"] == "not a valid notebook: the source of cell 1 is not text (it is int)"
    assert toy_run["rows"][("stray", "no_such_assignment")]["status"] == "ungradeable"
    students = {student for student, _ in toy_run["rows"]}
    assert len(toy_run["rows"]) == len(students) == 30  # every submission has its row


@pytest.mark.slow
@needs_sandbox
def test_feedback_is_written_per_student_from_a_run_in_the_grading_profile(toy_run):
    shown = feedback_of(toy_run, "solution")
    assert "profile: tiny" in shown and "Graded in the <code>tiny</code> profile" in shown
    graded = [student for (student, _), row in toy_run["rows"].items() if row["status"] == "graded"]
    assert sorted(p.parent.parent.name for p in (toy_run["out"] / "feedback").glob("*/*/*.html")) == sorted(graded)
    assert "NotImplementedError" in feedback_of(toy_run, "blank")  # the failing test shows its error


@pytest.mark.slow
@needs_sandbox
def test_grades_csv_has_a_column_per_graded_cell(toy_run):
    header = (toy_run["out"] / "grades.csv").read_text().splitlines()[0]
    assert header == ("student,assignment,status,test_standard_error,test_relu_backward,"
                      "test_relu_backward_sum,why_ddof,total,max,manual_max,notes")
    assert row_of(toy_run, "solution")["why_ddof"] == ""  # an answer to grade by hand
    assert row_of(toy_run, "blank")["why_ddof"] == "0"  # nothing written


@pytest.mark.slow
@needs_sandbox
def test_the_class_report_names_the_submissions_to_look_at_with_their_reasons(toy_run):
    report = unescape((toy_run["out"] / "report.html").read_text())
    for student, reason in [("corrupt", "ungradeable: not a readable notebook"),
                            ("memory_hog", "the kernel ran out of memory in cell 7 (the limit is 1 GiB)"),
                            ("slow", "the notebook reached its time limit of 30 s"),
                            ("tampered", "read-only cell 'test_standard_error' was edited")]:
        assert f"<tr><td>{student}</td><td>" in report and reason in report.split(f"<td>{student}</td>")[1][:600]
    summary = (toy_run["out"] / "summary.csv").read_text().splitlines()
    assert "toy_assignment,total,submissions,29" in summary
    assert "no_such_assignment,total,submissions,1" in summary  # the stray one has a section of its own
    assert "<td>stray</td><td>ungradeable: no source notebook" in report


# The parts ---------------------------------------------------------------------------------------------

def test_a_workers_task_crosses_as_json_unchanged(tmp_path):
    task = Task("ann", "hw1", tmp_path / "submitted.ipynb", tmp_path / "templates" / "hw1", tmp_path,
                tmp_path / "scratch", Limits(cell=5, notebook=60, memory=2 ** 30), "tiny", True, 1,
                tmp_path / "zygote" / "socket")
    assert Task.from_json(task.to_json()) == task


def test_the_feedback_page_shows_a_students_outputs_but_nothing_in_them_can_act():
    hostile = '<img src=x onerror="pwn()"><a href="javascript:pwn()">look</a><script>pwn()</script>'
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"My answer {hostile}"),
        nbformat.v4.new_code_cell("show()", outputs=[
            nbformat.v4.new_output("display_data", {"text/html": f"<table><tr><td>0.97</td></tr></table>{hostile}"}),
            nbformat.v4.new_output("display_data", {"application/javascript": "pwn()"}),
            nbformat.v4.new_output("stream", text="printed <script>pwn()</script>\n")])])
    page = _feedback_page(notebook)
    assert "pwn()" not in page.replace("&lt;script&gt;pwn()", "")  # printed text is shown, escaped
    assert "<td>0.97</td>" in page and "My answer" in page and "look</a>" in page
    assert "printed &lt;script&gt;pwn()" in page


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


def test_grading_refuses_to_run_without_the_sandbox_unless_told(tmp_path, monkeypatch, capsys):
    submit(tmp_path / "subs", "ann", TOY.stem, read(TOY))
    monkeypatch.setattr(sandbox, "available", lambda: False)
    assert cli.main(["grade", str(tmp_path / "subs"), "--source", str(TOY.parent)]) == 1
    assert capsys.readouterr().err.strip() == (
        "digitcourse grade: DigitcourseError: the sandbox for student code (bubblewrap) is not available "
        "here: install it (apt-get install bubblewrap) or, to grade without it, pass --unsafe-no-sandbox.")
