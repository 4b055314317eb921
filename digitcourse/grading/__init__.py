"""Grading the course's notebooks: release, grade, validate, check. The modules, by job:

- `release` -- ``digitcourse release``: the student version of a notebook, checked for leaks;
- `grade` -- ``digitcourse grade``: every submission in its own sandbox, `jobs` at a time, into
  grades.csv and feedback pages; `worker` grades one submission, `cells` merges it with the
  instructor's cells, `report` is the result and its row;
- `sandbox` (bubblewrap and cgroups), `kernel` (the student's kernel, driven over its sockets),
  `agent` (the grader's helper inside that kernel), `wire` and `arguments` (the data that crosses);
- `verdict` -- the instructor's test cells, run in the grader's process; `remote` -- the exercises as
  proxies there, and `substitute` (``dc.grading.substitute``), with which a test replaces an exercise
  the tested one calls;
- `validate` -- ``digitcourse validate``, the student's own check before submitting; `submit` --
  ``digitcourse submit``, the hand-in (validated, with its PDF, in one zip);
- `gradescope` -- ``digitcourse export gradescope``, the assignment as a Gradescope autograder;
- `check` and `mutants` -- ``digitcourse check``, the instructor's self-test of an assignment;
- `limits` (time and memory per submission) and `nbgrader_glue` (what nbgrader does for us).

Only `substitute` is loaded with the package: a notebook's test cells use it, in Colab too.
"""
from __future__ import annotations


def __getattr__(name: str):
    if name == "substitute":
        from .remote import substitute

        return substitute
    raise AttributeError(f"module 'digitcourse.grading' has no attribute {name!r}")
