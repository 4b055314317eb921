"""``digitcourse check`` on every course notebook, and the realistic wrong answers of student_answers.py.

The module fixture `course` runs, for each notebook in notebooks/ (an xdist group of its own),
`digitcourse check` (the source earns full marks, the blank release zero, each exercise blanked alone
loses only its points, the mutation score) and one grade run of its submissions of realistic wrong
answers and correct forms.
"""
from __future__ import annotations

import nbformat
import pytest
from grading_support import (NOTEBOOKS, ROOT, TOY, cell_named, exercises, grade_rows, needs_sandbox, points,
                             read, run_cli, submit)
from student_answers import WRONG, submissions

from digitcourse import cli
from digitcourse.grading.selftest import check_notebook

# One xdist group per notebook: the two workers share the notebooks' checks and grade runs out.
BY_NOTEBOOK = [pytest.param(path, id=path.stem, marks=pytest.mark.xdist_group(f"grading_course_{path.stem}"))
               for path in NOTEBOOKS]


@pytest.fixture(scope="module", params=BY_NOTEBOOK)
def course(request, tmp_path_factory):
    """For one notebook: `check`'s report, and the rows of its submissions of `student_answers` (the
    k-th realistic wrong answer of every exercise in "wrong_k", the correct answers written another way
    in "right_forms"), all graded in one run."""
    path = request.param
    work = tmp_path_factory.mktemp(f"course_{path.stem}")
    folder = work / "submissions"
    for student, (notebook, _) in submissions(path.stem, read(path)).items():
        submit(folder, student, path.stem, notebook)
    run_cli("grade", str(folder), "--jobs", "1", "--profile", "tiny", "--source", str(ROOT / "notebooks"),
            "--out", str(work / "grading"))
    return dict(path=path, rows=grade_rows(work / "grading" / "grades.csv"), report=check_notebook(path))


@pytest.mark.slow
@needs_sandbox
def test_digitcourse_check_passes_on_every_course_notebook(course):
    report = course["report"]
    assert report.problems == [], report.table(0.9)
    assert report.source.startswith("earned") and report.blank.startswith("earned 0/")
    assert all(exercise.score >= 0.9 for exercise in report.exercises)
    assert sum(exercise.generic for exercise in report.exercises) > 0  # the generic kinds were tried


@pytest.mark.slow
@needs_sandbox
def test_realistic_wrong_answers_lose_exactly_their_exercises_points_and_correct_forms_keep_them(course):
    path = course["path"]
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
