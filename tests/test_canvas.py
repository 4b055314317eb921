"""``digitcourse export canvas``: Canvas's gradebook import, filled from the gradebook into the roster
Canvas exported; one clear line for a roster or gradebook it cannot use."""
from __future__ import annotations

import csv
import io

import pytest

from digitcourse import cli
from digitcourse.errors import ConfigError
from digitcourse.grading.canvas import fill, read_roster
from digitcourse.grading.gradebook import Gradebook, Question
from digitcourse.grading.report import Graded

QUESTIONS = [Question("hw3", "test_dropout", 2.0, True), Question("hw3", "test_noise", 1.0, True),
             Question("hw3", "why_dropout", 3.0, False, "Why does dropout help?", "It averages many nets.")]
ROSTER = """\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,hw1 (5001),hw3 (5003),Current Score,Final Score
    Points Possible,,,,,35,29,(read only),(read only)
"Lovelace, Ann",101,S-1,ann,Lab A,30,,,
"Babbage, Bob",102,S-2,bob,Lab A,28,,,
"Curie, Cid",103,S-3,cid,Lab B,31,,,
"""
ROSTER_WITHOUT_HW3 = """Student,ID,SIS User ID,SIS Login ID,Section,hw1 (5001)
    Points Possible,,,,,35
"Lovelace, Ann",101,S-1,ann,Lab A,30
"Babbage, Bob",102,S-2,bob,Lab A,28
"Curie, Cid",103,S-3,cid,Lab B,31
"""


def graded(dropout: float, why: str) -> Graded:
    return Graded("graded", {"test_dropout": dropout, "test_noise": 1.0, "why_dropout": None if why else 0.0},
                  {"why_dropout": why}, [])


@pytest.fixture
def book(tmp_path):
    """hw3 graded for ann (answer waiting for a grader), bob (nothing written) and zed (not on the roster)."""
    with Gradebook.open(tmp_path / "gradebook.db") as book:
        book.set_questions("hw3", QUESTIONS)
        for student, dropout, why in (("ann", 2.0, "It averages nets."), ("bob", 0.0, ""), ("zed", 2.0, "")):
            book.record(student, "hw3", graded(dropout, why), notebook_hash=student, source_hash="s",
                        profile="tiny")
        yield book


def column(table: list[list[str]], title: str) -> list[str]:
    index = table[0].index(title)
    return [row[index] for row in table[1:]]


def test_each_student_gets_the_total_in_the_assignments_column_and_the_rest_is_kept(book):
    book.mark("ann", "hw3", "why_dropout", 2.5, "yes", grader="kim")
    export = fill(read_roster(ROSTER), book)
    roster = read_roster(ROSTER)
    assert export.table[0] == roster[0]
    assert column(export.table, "hw3 (5003)") == ["6", "5.5", "1", ""]  # points possible; cid: no submission
    assert column(export.table, "hw1 (5001)") == column(roster, "hw1 (5001)")
    assert [row[:5] for row in export.table] == [row[:5] for row in roster]
    assert export.unmatched == ["zed"] and export.partial == []


def test_a_student_whose_written_answer_waits_is_left_empty_unless_partial_is_allowed(book):
    waiting = fill(read_roster(ROSTER), book)
    assert column(waiting.table, "hw3 (5003)")[1] == "" and waiting.partial == [("ann", "hw3")]
    partial = fill(read_roster(ROSTER), book, allow_partial=True)
    assert column(partial.table, "hw3 (5003)")[1] == "3" and partial.partial == []


def test_an_assignment_the_roster_lacks_gets_a_new_column_with_its_points(book):
    export = fill(read_roster(ROSTER_WITHOUT_HW3), book, allow_partial=True)
    assert export.table[0][-1] == "hw3"
    assert column(export.table, "hw3") == ["6", "3", "1", ""]


@pytest.mark.parametrize("match, names", [("sis", ("S-1", "S-2")), ("id", ("101", "102"))])
def test_submission_folders_match_students_by_the_chosen_column(tmp_path, match, names):
    with Gradebook.open(tmp_path / "gradebook.db") as book:
        book.set_questions("hw3", QUESTIONS)
        for name, dropout in zip(names, (2.0, 0.0)):
            book.record(name, "hw3", graded(dropout, ""), notebook_hash=name, source_hash="s", profile="tiny")
        export = fill(read_roster(ROSTER), book, match=match)
    assert column(export.table, "hw3 (5003)") == ["6", "3", "1", ""] and export.unmatched == []


@pytest.mark.parametrize("roster, message", [
    ("name,email\nAnn,ann@example.org\n", "is not a Canvas gradebook export: its columns must begin with Student, ID"),
    ("", "is not a Canvas gradebook export"),
    (ROSTER + '"Lovelace, Ann (2)",104,S-4,ann,Lab B,,,,\n', "two roster rows have the SIS Login ID 'ann'"),
    (ROSTER.replace("SIS Login ID", "Integration ID"), "the roster has no SIS Login ID column, so --match login"),
])
def test_a_roster_it_cannot_use_is_one_clear_error(book, roster, message):
    with pytest.raises(ConfigError, match=message):
        fill(read_roster(roster), book)


def test_an_empty_gradebook_is_one_clear_error(tmp_path):
    with Gradebook.open(tmp_path / "gradebook.db") as book, pytest.raises(ConfigError, match="holds no graded"):
        fill(read_roster(ROSTER), book)


def test_the_command_writes_the_import_and_names_unmatched_folders_there_and_in_the_class_report(book, tmp_path, capsys):
    (tmp_path / "roster.csv").write_text(ROSTER)
    argv = ["export", "canvas", "--roster", str(tmp_path / "roster.csv"), "-o", str(tmp_path / "canvas.csv"),
            "--gradebook", str(tmp_path / "gradebook.db"), "--out", str(tmp_path / "grading")]
    assert cli.main(argv) == 0
    written = list(csv.reader(io.StringIO((tmp_path / "canvas.csv").read_text())))
    assert column(written, "hw3 (5003)") == ["6", "", "1", ""]
    err = capsys.readouterr().err
    assert "1 submission folder matches no student of the roster (--match login): zed" in err
    assert "hw3: 1 student left empty, written answers still to mark (--allow-partial fills them): ann" in err
    report = (tmp_path / "grading" / "report.html").read_text()
    assert "Submission folders that match no student of the roster" in report and "<td>zed</td>" in report


def test_the_command_refuses_a_missing_roster_and_writes_nothing(tmp_path, capsys):
    argv = ["export", "canvas", "--roster", str(tmp_path / "none.csv"), "-o", str(tmp_path / "canvas.csv"),
            "--gradebook", str(tmp_path / "gradebook.db")]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().endswith(f"No roster {tmp_path / 'none.csv'}.")
    assert not (tmp_path / "canvas.csv").exists()
