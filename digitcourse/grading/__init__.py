"""Grading the course's notebooks: release, grade, validate, check. The modules, by job:

- `release` -- ``digitcourse release``: the student version of a notebook, checked for leaks;
- `grade` -- ``digitcourse grade``: every submission in its own sandbox, `jobs` at a time here or on
  a Dask cluster (`dispatch`: one executor for both, a `dispatch.Job` in bytes), filed in the
  `gradebook` (SQLAlchemy; resumable) and exported from it as grades.csv, the `feedback` pages and
  the `class_report` (``digitcourse report``); `worker` grades one submission (a `worker.Task`),
  `cells` merges it with the instructor's cells, `report` is the result (`Graded`) and its `Row`;
- `marking` -- ``digitcourse mark``: the web app for grading written answers, `answers` renders them
  as safe HTML;
- `student/` -- the student-code layer: the sandbox (bubblewrap and cgroups), the student's kernel in
  it, the grader's agent inside that kernel, the data that crosses, and the exercises as proxies in
  the grader's process (`substitute`, ``dc.grading.substitute``, replaces an exercise the tested one
  calls);
- `verdict` -- the instructor's test cells, run in the grader's process;
- `validate` -- ``digitcourse validate``, the student's own check before submitting; `submit` --
  ``digitcourse submit``, the hand-in (validated, with its PDF, in one zip);
- `canvas` and `gradescope` -- ``digitcourse export``: Canvas's gradebook import, from the gradebook,
  and the assignment as a Gradescope autograder;
- `selftest` and `mutants` -- ``digitcourse check``, the instructor's self-test of an assignment;
- `limits` (time and memory per submission) and `nbgrader_glue` (what nbgrader does for us).

Only `substitute` is loaded with the package: a notebook's test cells use it, in Colab too.
"""
from __future__ import annotations


def __getattr__(name: str):
    if name == "substitute":
        from .student.remote import substitute

        return substitute
    raise AttributeError(f"module 'digitcourse.grading' has no attribute {name!r}")
