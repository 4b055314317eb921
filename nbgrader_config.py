"""nbgrader's configuration for this course: run from the repository root, nbgrader's own commands work
on notebooks/ as it is laid out, each notebook being one assignment named after it.

    nbgrader generate_assignment hw3_regularization  # -> release/hw3_regularization/hw3_regularization.ipynb
    nbgrader autograde hw3_regularization            # grades grading/submitted/<student>/hw3_regularization/
    nbgrader generate_feedback hw3_regularization    # -> grading/feedback/<student>/hw3_regularization/
    nbgrader export                                  # -> grades.csv from grading/nbgrader.db
    nbgrader validate release/hw3_regularization/hw3_regularization.ipynb

nbgrader wants source/<assignment>/<notebook>.ipynb: build/nbgrader/source/ holds links of that shape to
notebooks/*.ipynb, refreshed whenever nbgrader reads this file. Student work and grades stay in
grading/, which git ignores; nbgrader's gradebook is grading/nbgrader.db (grading/gradebook.db is
digitcourse's). Kernels run the notebooks in the grading profile (`tiny`) unless
DIGITCOURSE_PROFILE says otherwise, with digitcourse's time limits (a deleted test cell is put back, a
dead kernel scores zero for what did not run). Plain nbgrader runs the test cells in the student's own
kernel, which student code can fool, and without a sandbox: for grades use `digitcourse grade`, which
decides every test outside the student's sandboxed kernel (see book/instructors.md).
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # this repository's digitcourse, installed or not

from digitcourse.course import GRADING_PROFILE, PROFILE_VARIABLE  # noqa: E402
from digitcourse.grading.nbgrader_glue import course_config, link_assignments  # noqa: E402

c = get_config()  # noqa: F821 (nbgrader defines it)
c.merge(course_config(ROOT))
source = link_assignments(ROOT / "notebooks", ROOT / "build" / "nbgrader" / "source")
c.CourseDirectory.source_directory = str(source.relative_to(ROOT))
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
(ROOT / "grading").mkdir(exist_ok=True)
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'grading' / 'nbgrader.db'}"
os.environ.setdefault(PROFILE_VARIABLE, GRADING_PROFILE)
