"""Grades an instructor can trust: `digitcourse release`, `grade` and `check` on fake submissions.

Module fixtures run the grader a few times and serve all the assertions:
- `toy_run`: the toy assignment (tests/fixtures_grading/) with every kind of submission in one grade
  run: the solution, the blank release, one wrong answer per exercise, tampered ones, hostile ones
  (every attack on the grader we know of), corrupt files, under short limits and 1 GiB of memory;
- `course`: for every notebook in notebooks/, `digitcourse check` (the source earns full marks, the
  blank release zero, each exercise blanked alone loses only its points, the mutation score) and one
  grade run of its submissions of realistic wrong answers and correct forms (student_answers.py).
Smaller tests cover the parts: the sandbox, the data that crosses, the merge, the mutants.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from student_answers import WRONG, answered, submissions

from digitcourse import cli
from digitcourse.course import STUDENT_BRANCH, notebooks, student_colab_links
from digitcourse.errors import ConfigError, DigitcourseError
from digitcourse.grading.selftest import check_notebook
from digitcourse.grading.student import sandbox
from digitcourse.grading.grade import find_submissions
from digitcourse.grading.limits import Limits
from digitcourse.grading.release import leaked_solution_lines, release
from digitcourse.grading.validate import validate
from digitcourse.grading.worker import Task

pytestmark = pytest.mark.xdist_group("grading")  # one xdist worker runs the shared grade runs

ROOT = Path(__file__).resolve().parent.parent
TOY = Path(__file__).parent / "fixtures_grading" / "toy_assignment.ipynb"
NOTEBOOKS = notebooks()
TOY_LIMITS = ["--cell-timeout", "10", "--timeout", "30", "--memory", "1G"]  # a cell, the notebook, memory
needs_sandbox = pytest.mark.needs("sandbox")

# One wrong answer per exercise of the toy assignment: exercise -> (text of the solution, wrong text).
# The course notebooks' wrong answers are in student_answers.py.
TOY_WRONG = {"standard_error": ("ddof=1", "ddof=0"),
             "relu_backward": ("return grad_out * (x > 0)", "return -grad_out * (x > 0)")}


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


def wrong_answer(notebook, exercise: str):
    """The toy `notebook` with the answer to `exercise` wrong (TOY_WRONG)."""
    return answered(notebook, {exercise: TOY_WRONG[exercise]})


def read(path: Path):
    return nbformat.read(path, as_version=4)


def submit(folder: Path, student: str, assignment: str, notebook) -> Path:
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / student / f"{assignment}.ipynb")
    return folder / student / f"{assignment}.ipynb"


def run_cli(*args: str) -> None:
    assert cli.main(list(args)) == 0


def grade_rows(csv_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(csv_path, newline="") as file:
        return {(row["student"], row["assignment"]): row for row in csv.DictReader(file)}


def release_all(sources: list[Path], out: Path) -> dict[str, object]:
    """`digitcourse release` into `out`; the released notebooks by name."""
    run_cli("release", *map(str, sources), "--out", str(out))
    return {path.stem: read(out / path.stem / path.name) for path in sources}


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


def toy_sources(work: Path) -> tuple[Path, object, object]:
    """The toy assignment copied to `work/source` and released into `work/release`: (the copy's path,
    the toy notebook, its released version)."""
    source = work / "source" / TOY.name
    source.parent.mkdir()
    source.write_bytes(TOY.read_bytes())
    return source, read(TOY), release_all([TOY], work / "release")[TOY.stem]


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
def test_memory_beyond_the_limit_is_one_note_and_the_rest_is_graded(toy_run):
    row = row_of(toy_run, "memory_hog")
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "2", "2")
    assert "the kernel ran out of memory in cell 7 (the limit is 1 GiB): no later cell ran" in row["notes"]
    assert row_of(toy_run, "many_processes")["total"] == "5"


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


@pytest.mark.slow
@needs_sandbox
def test_endless_loop_is_stopped_at_the_cell_limit_and_the_rest_is_graded(toy_run):
    row = row_of(toy_run, "endless_loop")
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "0", "3")
    assert "cell 5 ran out of time (at most 10 s a cell)" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_loop_ignoring_interrupts_scores_zero_from_there_on(toy_run):
    row = row_of(toy_run, "loop_ignoring_interrupts")
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "2", "2")
    assert "the kernel stopped answering in cell 8" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_notebook_time_limit_stops_a_slow_submission(toy_run):
    row = row_of(toy_run, "slow")
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "2", "2")
    assert "time limit of 30 s" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_sys_exit_fails_only_its_own_cell(toy_run):
    row = row_of(toy_run, "sys_exit")
    assert (row["status"], row["test_standard_error"], row["total"]) == ("graded", "0", "3")
    assert "test_standard_error failed: NameError: name 'standard_error' is not defined" in row["notes"]


@pytest.mark.slow
@needs_sandbox
def test_os_exit_scores_zero_for_the_cells_that_did_not_run(toy_run):
    row = row_of(toy_run, "os_exit")
    assert (row["status"], row["test_standard_error"], row["test_relu_backward_sum"], row["total"]) == \
        ("graded", "2", "0", "2")
    assert "the kernel died" in row["notes"]


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
    assert "toy_assignment,total,submissions,28" in summary
    assert "no_such_assignment,total,submissions,1" in summary  # the stray one has a section of its own
    assert "<td>stray</td><td>ungradeable: no source notebook" in report


# Every course notebook: check, and the odd and the even exercises wrong --------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """For each notebook: `check`'s report, and the rows of its submissions of `student_answers` (the
    k-th realistic wrong answer of every exercise in "wrong_k", the correct answers written another way
    in "right_forms"), all graded in one run."""
    work = tmp_path_factory.mktemp("course")
    folder = work / "submissions"
    for path in NOTEBOOKS:
        for student, (notebook, _) in submissions(path.stem, read(path)).items():
            submit(folder, student, path.stem, notebook)
    run_cli("grade", str(folder), "--jobs", "2", "--profile", "tiny", "--source", str(ROOT / "notebooks"),
            "--out", str(work / "grading"))
    reports = {path.stem: check_notebook(path) for path in NOTEBOOKS}
    return dict(rows=grade_rows(work / "grading" / "grades.csv"), reports=reports)


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_digitcourse_check_passes_on_every_course_notebook(course, path):
    report = course["reports"][path.stem]
    assert report.problems == [], report.table(0.9)
    assert report.source.startswith("earned") and report.blank.startswith("earned 0/")
    assert all(exercise.score >= 0.9 for exercise in report.exercises)
    assert sum(exercise.generic for exercise in report.exercises) > 0  # the generic kinds were tried


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_realistic_wrong_answers_lose_exactly_their_exercises_points_and_correct_forms_keep_them(course, path):
    tests, most = exercises(read(path)), points(read(path))
    assert set(WRONG[path.stem]) == set(tests), "every exercise has realistic wrong answers"
    for student, (_, wrong) in submissions(path.stem, read(path)).items():
        failing = {test for exercise in wrong for test in tests[exercise]}
        row = course["rows"][(student, path.stem)]
        assert row["status"] == "graded", row["notes"]
        assert {name: float(row[name]) for name in most} == {
            name: 0.0 if name in failing else value for name, value in most.items()}, (student, row["notes"])


@pytest.mark.slow
@needs_sandbox
def test_check_fails_on_a_weakened_test_cell_naming_the_survivors(tmp_path):
    weak = read(TOY)
    test = cell_named(weak, "test_relu_backward")
    test.source = test.source.replace("relu_backward(np.ones(3), np.array([4.0, -4.0, 0.0])), [1.0, 0.0, 0.0]",
                                      "relu_backward(np.ones(2), np.array([4.0, -4.0])), [1.0, 0.0]")  # no 0
    nbformat.write(weak, tmp_path / TOY.name)
    report = check_notebook(tmp_path / TOY.name)
    relu = next(exercise for exercise in report.exercises if exercise.name == "relu_backward")
    assert relu.survivors == ["line 3: return grad_out * (x > 0)  ->  return grad_out * (x >= 0)"]
    assert report.problems == ["relu_backward: its tests catch 86% of the mutants of its solution (the goal is 90%)"]
    assert "Mutants no test caught:" in report.table(0.9)
    assert cli.main(["check", str(tmp_path / TOY.name)]) == 1


# The parts --------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("path", [TOY, *NOTEBOOKS], ids=lambda path: path.stem)
def test_no_released_file_holds_a_solution_or_hidden_test(path, tmp_path):
    released = release([path], out=tmp_path)[0]
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
    if path in NOTEBOOKS:  # the released Colab badge opens the student copy, not the source
        title = read(released).cells[0].source
        assert f"/blob/{STUDENT_BRANCH}/{path.stem}/{path.name})" in title, title
        assert f"notebooks/{path.name}" not in text and f"notebooks/{path.name}" in read(path).cells[0].source


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


def test_a_workers_task_crosses_as_json_unchanged(tmp_path):
    task = Task("ann", "hw1", tmp_path / "submitted.ipynb", tmp_path / "templates" / "hw1", tmp_path,
                tmp_path / "scratch", Limits(cell=5, notebook=60, memory=2 ** 30), "tiny", True, 1)
    assert Task.from_json(task.to_json()) == task


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


@pytest.mark.skipif(not os.environ.get("DIGITCOURSE_GRADING_TIMING"),
                    reason="a timing measurement (minutes): DIGITCOURSE_GRADING_TIMING=tiny (a profile) runs it")
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
    print(f"grading 8 submissions of {path.stem}: {seconds} s, ratio {seconds[2] / seconds[1]:.2f}")
    assert seconds[2] < 0.6 * seconds[1]
