"""The gradebook: results filed one transaction each, graders' marks that survive re-grades, the
read API the exports use, and one clear error (nothing written) for every bad input.

Every test but those of SQLite's own files takes its database from the `gradebook_url` fixture
(conftest.py: an SQLite file); parametrize that fixture to run them against another database.
"""
from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import create_engine, text

from digitcourse.errors import GradebookError
from digitcourse.grading import grade as grading
from digitcourse.grading.class_report import write_report
from digitcourse.grading.feedback import page
from digitcourse.grading.gradebook import SCHEMA, Gradebook, Question
from digitcourse.grading.report import Graded, write_grades

pytestmark = pytest.mark.xdist_group("gradebook")  # one xdist worker runs the grading runs that share a class

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [Question("hw", "test_a", 2.0, True), Question("hw", "test_b", 1.0, True),
             Question("hw", "why", 3.0, False, "Why does it work?", "Because $x^2 \\geq 0$.")]
HASHES = dict(notebook_hash="n1", source_hash="s1", profile="tiny")


def graded(test_a: float = 2.0, why: str | None = "It is a square.") -> Graded:
    return Graded("graded", {"test_a": test_a, "test_b": 0.0, "why": None if why else 0.0}, {"why": why or ""},
                  ["test_b failed: AssertionError"], feedback="<body><main><p>notebook</p></main></body>")


@pytest.fixture
def book(gradebook_url):
    """A gradebook with the assignment `hw` and the submissions of ann and bob."""
    with Gradebook(gradebook_url) as book:
        book.set_questions("hw", QUESTIONS)
        book.record("ann", "hw", graded(), **HASHES)
        book.record("bob", "hw", graded(test_a=0.0, why=None), **HASHES)
        yield book


def everything(book: Gradebook) -> tuple:
    """All a gradebook holds, to compare before and after."""
    return (book.answers("hw"), book.filed(), book.rubric("hw", "why"))


def test_a_filed_result_gives_its_row_with_the_answer_waiting_for_a_grader(book):
    [ann, bob] = book.rows("hw")
    assert (ann.status, ann.scores, ann.total, ann.max, ann.manual_max) == (
        "graded", {"test_a": 2.0, "test_b": 0.0, "why": None}, 2.0, 3.0, 3.0)
    assert ann.line() == {"student": "ann", "assignment": "hw", "status": "graded", "test_a": "2",
                          "test_b": "0", "why": "", "total": "2", "max": "3", "manual_max": "3",
                          "notes": "test_b failed: AssertionError"}
    assert bob.scores["why"] == 0.0  # nothing written: zero, nothing to grade
    assert [(a.student, a.cell, a.text) for a in book.ungraded("hw")] == [("ann", "why", "It is a square.")]


def test_totals_add_the_marked_points_and_count_the_answers_that_wait(book):
    assert [(t.student, t.auto, t.manual, t.max, t.ungraded) for t in book.totals("hw")] == [
        ("ann", 2.0, 0.0, 6.0, 1), ("bob", 0.0, 0.0, 6.0, 0)]
    book.mark("ann", "hw", "why", 2.5, "right, briefly", grader="kim")
    [ann, _] = book.totals()
    assert (ann.manual, ann.total, ann.ungraded) == (2.5, 4.5, 0)


def test_only_a_changed_notebook_instructors_notebook_or_profile_counts_as_changed(book):
    assert book.unchanged("ann", "hw", **HASHES)
    for key, value in (("notebook_hash", "n2"), ("source_hash", "s2"), ("profile", "quick")):
        assert not book.unchanged("ann", "hw", **{**HASHES, key: value})
    assert not book.unchanged("cid", "hw", **HASHES)


def test_a_regrade_keeps_the_graders_points_and_comment_and_updates_the_autograded_ones(book):
    book.mark("ann", "hw", "why", 2.0, "half of the argument", grader="kim")
    book.record("ann", "hw", graded(test_a=0.0), **{**HASHES, "source_hash": "s2"})  # the same answer
    [answer] = book.answers("hw", "why", student="ann")
    assert (answer.points, answer.comment, answer.grader, answer.text) == (
        2.0, "half of the argument", "kim", "It is a square.")
    assert book.rows("hw", student="ann")[0].scores == {"test_a": 0.0, "test_b": 0.0, "why": 2.0}


def test_a_changed_answer_loses_the_old_mark_and_waits_for_a_grader_again(book):
    marked = book.mark("ann", "hw", "why", 2.0, "half of the argument", grader="kim")
    book.record("ann", "hw", graded(why="It is a square, so never negative."), **{**HASHES, "notebook_hash": "n2"})
    [answer] = book.answers("hw", "why", student="ann")
    assert (answer.points, answer.comment, answer.grader, answer.marked_at, answer.text) == (
        None, "", "", None, "It is a square, so never negative.")
    assert [(a.student, a.cell) for a in book.ungraded("hw")] == [("ann", "why")]
    assert book.rows("hw", student="ann")[0].scores == {"test_a": 2.0, "test_b": 0.0, "why": None}
    with pytest.raises(GradebookError, match="since you opened it"):  # kim's view shows the old answer
        book.mark("ann", "hw", "why", 3.0, "complete", grader="kim", version=marked.version)


def test_a_save_from_an_outdated_view_is_refused_and_the_first_graders_mark_stays(book):
    seen = book.answers("hw", "why", student="ann")[0].version
    book.mark("ann", "hw", "why", 3.0, "complete", grader="kim", version=seen)
    with pytest.raises(GradebookError, match="ann's answer to why was saved by kim since you opened it"):
        book.mark("ann", "hw", "why", 1.0, "too short", grader="lee", version=seen)
    [answer] = book.answers("hw", "why", student="ann")
    assert (answer.points, answer.comment, answer.grader, answer.version) == (3.0, "complete", "kim", seen + 1)


def test_two_gradebooks_on_one_database_see_each_others_marks(book, gradebook_url):
    with Gradebook(gradebook_url) as other:
        other.mark("ann", "hw", "why", 1.0, "from the other grader", grader="lee")
    assert book.answers("hw", "why", student="ann")[0].comment == "from the other grader"


def test_a_rubric_item_gives_its_points_and_comment_to_many_answers_at_once(book):
    book.record("cid", "hw", graded(why="Squares are positive."), **HASHES)
    item = book.add_rubric_item("hw", "why", "names the square", 2)
    assert book.rubric("hw", "why") == [item]
    book.apply_rubric(item.id, ["ann", "cid"], grader="kim")
    assert [(a.student, a.points, a.comment) for a in book.answers("hw", "why") if a.points is not None] == [
        ("ann", 2.0, "names the square"), ("cid", 2.0, "names the square")]
    assert book.ungraded("hw") == []


@pytest.mark.parametrize("call, message", [
    (lambda b: b.mark("ann", "hw", "why", 3.5, grader="kim"), "points=3.5 for why is out of range: 0 to 3."),
    (lambda b: b.mark("ann", "hw", "why", -1, grader="kim"), "points=-1 for why is out of range: 0 to 3."),
    (lambda b: b.mark("zed", "hw", "why", 1, grader="kim"), "no submission of hw by 'zed'"),
    (lambda b: b.mark("ann", "hw", "how", 1, grader="kim"), "hw has no graded cell 'how' in .* "
                                                            r"\(its written questions: why\)."),
    (lambda b: b.mark("ann", "hw", "test_a", 1, grader="kim"), "test_a of hw is autograded"),
    (lambda b: b.add_rubric_item("hw", "why", "generous", 4), "points=4 for why is out of range"),
    (lambda b: b.apply_rubric(99, ["ann"], grader="kim"), "no rubric item 99"),
    (lambda b: b.apply_rubric(b.add_rubric_item("hw", "why", "ok", 1).id, ["ann", "zed"], grader="kim"),
     "no submission of hw by 'zed'"),
], ids=["above_maximum", "below_zero", "unknown_student", "unknown_question", "autograded_cell",
        "rubric_above_maximum", "unknown_rubric_item", "rubric_for_unknown_student"])
def test_a_bad_grade_is_one_clear_error_and_writes_nothing(book, call, message):
    before = everything(book)
    with pytest.raises(GradebookError, match=message) as error:
        call(book)
    assert "\n" not in str(error.value)
    assert [a for a in everything(book)[0]] == before[0] and everything(book)[1] == before[1]


def test_a_gradebook_written_by_a_newer_version_is_refused(book, gradebook_url):
    with create_engine(gradebook_url).begin() as connection:
        connection.execute(text("UPDATE meta SET value = :v WHERE key = 'schema'"), {"v": str(SCHEMA + 1)})
    with pytest.raises(GradebookError, match=f"was written by a newer digitcourse \\(gradebook schema "
                                             f"{SCHEMA + 1}; this one reads {SCHEMA}\\): upgrade digitcourse."):
        Gradebook(gradebook_url)


def test_a_corrupt_gradebook_file_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "gradebook.db"
    path.write_bytes(b"this is no database, " * 100)
    with pytest.raises(GradebookError, match="gradebook.db is not a gradebook \\(file is not a database\\)"):
        Gradebook.open(path)
    assert path.read_bytes() == b"this is no database, " * 100


def test_a_locked_gradebook_is_one_clear_error_and_nothing_is_written(tmp_path):
    path = tmp_path / "gradebook.db"
    with Gradebook.open(path) as book:
        book.set_questions("hw", QUESTIONS)
        book.record("ann", "hw", graded(), **HASHES)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(GradebookError, match="gradebook.db is locked by another program"):
            with Gradebook.open(path, timeout=0.2) as book:
                book.mark("ann", "hw", "why", 1, grader="kim")
    finally:
        holder.rollback()
        holder.close()
    with Gradebook.open(path) as book:
        assert book.answers("hw", "why")[0].points is None


def test_a_run_killed_mid_way_keeps_every_result_filed_before(gradebook_url):
    # a child files one result every 0.2 s and is killed (SIGKILL) after the third has been committed
    script = (f"import sys, time; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]\n"
              "from test_gradebook import QUESTIONS, HASHES, graded\n"
              "from digitcourse.grading.gradebook import Gradebook\n"
              f"book = Gradebook({gradebook_url!r})\n"
              "book.set_questions('hw', QUESTIONS)\n"
              "for n in range(100):\n"
              "    book.record(f's{n:02}', 'hw', graded(), **HASHES); print(n, flush=True); time.sleep(0.2)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        child.stdout.readline()
    child.kill()
    child.wait(10)
    with Gradebook(gradebook_url) as book:
        filed = [f.student for f in book.filed()]
        assert filed[:3] == ["s00", "s01", "s02"] and len(filed) <= 4
        assert all(len(book.answers("hw", student=s)) == 3 for s in filed)  # each one whole


def test_grades_csv_feedback_and_report_are_exports_of_the_gradebook(book, tmp_path):
    book.mark("ann", "hw", "why", 2.5, "right, <briefly>", grader="kim")
    rows = book.rows()
    csv_text = write_grades(rows, {"hw": [q.name for q in QUESTIONS]}, tmp_path / "grades.csv").read_text()
    assert csv_text.splitlines()[:2] == ["student,assignment,status,test_a,test_b,why,total,max,manual_max,notes",
                                         "ann,hw,graded,2,0,2.5,2,3,3,test_b failed: AssertionError"]
    shown = page(book.feedback("ann", "hw"), book.filed("hw", student="ann")[0], book.questions("hw"),
                 book.answers("hw", student="ann"))
    assert "<td>why</td><td>2.5</td><td>3</td><td>right, &lt;briefly&gt;</td>" in shown
    assert shown.index("<td>why</td>") < shown.index("<p>notebook</p>")
    write_report(book, tmp_path)
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert "hw,total,mean,2.25" in summary and "hw,why,ungraded,0" in summary
    assert "hw,test_b,passed_share,0" in summary and "hw,test_a,passed_share,0.5" in summary
    report = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in report and "<script" not in report and "http" not in report
    assert "ann</td><td>" not in report  # every submission was graded within its limits


def test_a_submission_without_an_instructors_notebook_is_in_the_report_with_its_reason(book, tmp_path):
    book.record("zed", "hw_unknown", Graded.failure("ungradeable", "no source notebook notebooks/hw_unknown.ipynb"),
                **HASHES)
    write_report(book, tmp_path)
    report = (tmp_path / "report.html").read_text()
    assert "<h2>hw_unknown</h2>" in report
    assert "<td>zed</td><td>ungradeable: no source notebook notebooks/hw_unknown.ipynb</td>" in report
    assert "hw_unknown,total,submissions,1" in (tmp_path / "summary.csv").read_text().splitlines()


# A grading run that files into the gradebook ----------------------------------------------------------

TOY = ROOT / "tests" / "fixtures_grading" / "toy_assignment.ipynb"


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory) -> Path:
    """Four submissions of the toy assignment, each answering its written question in its own words."""
    folder = tmp_path_factory.mktemp("class")
    notebook = nbformat.read(TOY, as_version=4)
    for student in ("ann", "bob", "cid", "dan"):
        answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "why_ddof")
        answer.source = f"{student}: dividing by $n-1$ makes the variance unbiased."
        (folder / "submissions" / student).mkdir(parents=True)
        nbformat.write(notebook, folder / "submissions" / student / TOY.name)
    return folder


def status(pid: int) -> tuple[str, int]:
    """A process's state (R, S, Z, ...; "" when it is gone) and its parent's pid, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return "", 0
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    return [int(path.name) for path in Path("/proc").glob("[0-9]*") if status(int(path.name))[1] == pid]


def running(pid: int) -> bool:
    return status(pid)[0] not in ("", "Z")  # a zombie has ended: only its exit status is left


def wait_until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def grade_command(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "digitcourse", "grade", str(folder / "submissions"), "--source", str(TOY.parent),
            "--out", str(folder / "grading"), "--jobs", "2", "--cell-timeout", "30", "--timeout", "60", *extra]


@pytest.mark.slow
def test_a_run_killed_mid_way_then_restarted_grades_only_the_rest_and_a_third_grades_nothing(class_folder,
                                                                                             monkeypatch, capsys):
    first = subprocess.Popen(grade_command(class_folder), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    line = first.stderr.readline()
    while "toy_assignment: graded" not in line and line:  # the first result is filed
        line = first.stderr.readline()
    workers = [worker for server in children(first.pid) for worker in children(server)]
    first.kill()  # SIGKILL: no clean-up of any kind
    first.wait(10)
    assert workers and wait_until(lambda: not any(running(pid) for pid in workers)), "a worker outlived the run"
    with Gradebook.open(class_folder / "grading" / "gradebook.db") as book:
        kept = [filed.student for filed in book.filed()]
    assert 1 <= len(kept) < 4
    second = subprocess.run(grade_command(class_folder), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"{len(kept)} of 4 submissions are unchanged since they were graded" in second.stderr
    assert sorted(line.split("/")[0] for line in second.stderr.splitlines() if ": graded, " in line) == sorted(
        {"ann", "bob", "cid", "dan"} - set(kept))
    started = time.monotonic()
    monkeypatch.setattr(grading.dispatch, "grade_job", lambda *args: pytest.fail("a submission was graded again"))
    rows = grading.grade(class_folder / "submissions", source=TOY.parent, out=class_folder / "grading")
    print(f"a run with nothing to grade took {time.monotonic() - started:.1f} s")
    assert [(row.student, row.status, row.total, row.max, row.scores["why_ddof"]) for row in rows] == [
        (student, "graded", 5.0, 5.0, None) for student in ("ann", "bob", "cid", "dan")]
    assert "4 of 4 submissions are unchanged" in capsys.readouterr().err


@pytest.mark.slow
def test_a_graders_points_and_comment_survive_regrade_and_reach_grades_csv_and_the_feedback(class_folder):
    if not (class_folder / "grading" / "gradebook.db").exists():
        subprocess.run(grade_command(class_folder), cwd=ROOT, check=True, capture_output=True, timeout=600)
    with Gradebook.open(class_folder / "grading" / "gradebook.db") as book:
        book.mark("bob", "toy_assignment", "why_ddof", 1.5, "unbiased, but why?", grader="kim")
    regraded = subprocess.run(grade_command(class_folder, "--regrade"), cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
    assert regraded.returncode == 0 and regraded.stderr.count(": graded, 5/5") == 4, regraded.stderr[-2000:]
    with Gradebook.open(class_folder / "grading" / "gradebook.db") as book:
        [bob] = book.answers("toy_assignment", "why_ddof", student="bob")
        assert (bob.points, bob.comment, bob.grader) == (1.5, "unbiased, but why?", "kim")
        assert bob.text == "bob: dividing by $n-1$ makes the variance unbiased."
    rows = {row["student"]: row for row in csv.DictReader(open(class_folder / "grading" / "grades.csv"))}
    assert (rows["bob"]["why_ddof"], rows["ann"]["why_ddof"]) == ("1.5", "")
    feedback = (class_folder / "grading" / "feedback" / "bob" / "toy_assignment" / "toy_assignment.html").read_text()
    assert "<td>why_ddof</td><td>1.5</td><td>2</td><td>unbiased, but why?</td>" in feedback
    summary = (class_folder / "grading" / "summary.csv").read_text().splitlines()
    assert "toy_assignment,why_ddof,ungraded,3" in summary and "toy_assignment,why_ddof,mean_points,1.5" in summary

