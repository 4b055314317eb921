"""nbgrader's configuration for this course: run from the repository root, nbgrader's own commands work
on notebooks/ as it is laid out, each notebook being one assignment named after it.

    nbgrader generate_assignment hw3_regularization  # -> release/hw3_regularization/hw3_regularization.ipynb
    nbgrader autograde hw3_regularization            # grades grading/submitted/<student>/hw3_regularization/
    nbgrader generate_feedback hw3_regularization    # -> grading/feedback/<student>/hw3_regularization/
    nbgrader export                                  # -> grades.csv from grading/gradebook.db
    nbgrader validate release/hw3_regularization/hw3_regularization.ipynb

nbgrader wants source/<assignment>/<notebook>.ipynb: build/nbgrader/source/ holds links of that shape to
notebooks/*.ipynb, refreshed whenever nbgrader reads this file. Student work and grades stay in
grading/, which git ignores. The grading policy (a deleted test cell is put back, per-cell and
whole-notebook time limits, a dead kernel scores zero for what did not run) is digitcourse's, shared
with `digitcourse grade`; kernels run the notebooks in the `quick` profile unless DIGITCOURSE_PROFILE
says otherwise. `digitcourse grade` does the same grading several submissions at a time, with the
network off; see book/instructors.md.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # this repository's digitcourse, installed or not

from digitcourse.grading_nbgrader import course_config, link_assignments  # noqa: E402
from digitcourse.course import PROFILE_VARIABLE  # noqa: E402

c = get_config()  # noqa: F821 (nbgrader defines it)
c.merge(course_config(ROOT))
source = link_assignments(ROOT / "notebooks", ROOT / "build" / "nbgrader" / "source")
c.CourseDirectory.source_directory = str(source.relative_to(ROOT))
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
(ROOT / "grading").mkdir(exist_ok=True)
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'grading' / 'gradebook.db'}"
os.environ.setdefault(PROFILE_VARIABLE, "quick")
