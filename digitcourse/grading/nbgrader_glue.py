"""nbgrader's part: the student version of a notebook, the failing cells that a student's
``digitcourse validate`` reports (`failing_cells`), and the course's nbgrader policy for the plain
``nbgrader`` commands (``nbgrader_config.py``).

`digitcourse grade` uses nbgrader only to make the released version it grades against; it runs and
scores submissions itself (sandboxed kernels, verdicts outside them). The plain ``nbgrader autograde``
runs test cells in the student's kernel, which student code can fool: fine for a student's own check
(`validate`), not for grades. For those two uses this module closes two of nbgrader's gaps:

- :class:`GuardedExecute` replaces nbgrader's ``Execute``: a whole-notebook time limit on top of the
  per-cell one, and a kernel that dies (``os._exit``) or ignores interrupts no longer fails the whole
  submission. The cells that could not run get an error output, so their tests score zero (nbgrader
  gives full points to a test cell without any output).
- :func:`course_config` is the one place the course's nbgrader settings live; ``nbgrader_config.py``
  at the repository root and `validate` use it.

A course folder is nbgrader's: ``source/<a>/<a>.ipynb``, ``release/<a>/<a>.ipynb``,
``submitted/<s>/<a>/``, ``autograded/<s>/<a>/``, ``feedback/<s>/<a>/<a>.html`` and ``gradebook.db``,
for assignment ``a`` (one notebook, same name) and student ``s``.
"""
from __future__ import annotations

import math
import os
import re
import sys
import warnings
from pathlib import Path
from time import monotonic

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.converters.base import BaseConverter
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbgrader.utils import capture_log
from nbgrader.validator import Validator
from sqlalchemy.exc import SAWarning
from traitlets import Integer
from traitlets.config import Config

from ..course import notebooks as course_notebooks
from ..errors import DigitcourseError
from .limits import Limits
from .student.kernel import WHY_LOST, not_run, out_of_time

_EXCEPTION = re.compile(r"\s*[\w.]*(Error|Exception): ")  # a traceback's last line


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with a whole-notebook time limit, surviving a dead or stuck kernel.

    Each cell may run for ``timeout`` seconds (then nbgrader interrupts the kernel) but never past
    the deadline, ``notebook_timeout`` seconds after the start. Once the deadline has passed, the
    kernel has died or it has stopped answering (say, it ignores the interrupt), the remaining code
    cells are not run: each gets a ``NotRun`` error output saying why.
    """

    notebook_timeout = Integer(Limits.notebook, help="Seconds the whole notebook may run.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km=None):
        self._deadline = monotonic() + self.notebook_timeout
        self._stopped = ""  # why the remaining cells do not run
        self.timeout_func = self._cell_timeout
        return super().preprocess(nb, resources, km)

    def _cell_timeout(self, cell: NotebookNode) -> int:
        return max(1, min(self.timeout, math.ceil(self._deadline - monotonic())))

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if not self._stopped and monotonic() >= self._deadline:
            self._stopped = out_of_time(self.notebook_timeout, index + 1)
        if self._stopped:
            cell.outputs = [not_run(self._stopped)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = WHY_LOST["dead"].format(where=f"in cell {index + 1}")
        except CellTimeoutError:
            self._stopped = WHY_LOST["stuck"].format(where=f"in cell {index + 1}")
        cell.outputs.append(not_run(self._stopped))
        return cell, resources


def course_config(root: Path, limits: Limits = Limits()) -> Config:
    """The course's nbgrader configuration for the course folder `root`.

    Beyond nbgrader's defaults: a graded cell a student deleted is put back (and run), student code
    runs under :class:`GuardedExecute` with the given time limits, and the kernel is killed rather
    than asked to stop when the notebook is done.
    """
    c = Config()
    c.CourseDirectory.root = str(root)
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = limits.cell
    c.Execute.shutdown_kernel = "immediate"
    c.GuardedExecute.notebook_timeout = limits.notebook
    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    c.Autograde.autograde_preprocessors = [GuardedExecute if step is Execute else step for step in steps]
    return c


def link_assignments(notebooks: Path, folder: Path) -> Path:
    """Make `folder` an nbgrader source folder for the notebooks in `notebooks`; returns `folder`.

    nbgrader wants ``<source>/<assignment>/<notebook>.ipynb``: `folder` gets the link
    ``<name>/<name>.ipynb`` to each ``notebooks/<name>.ipynb``, and loses the links to notebooks
    that are gone.
    """
    for stale in folder.glob("*/*.ipynb"):
        if stale.is_symlink() and not stale.exists():
            stale.unlink()
            stale.parent.rmdir()
    for notebook in course_notebooks(notebooks):
        link = folder / notebook.stem / notebook.name
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(notebook.resolve(), link.parent))
    return folder


def generate_assignment(source: Path, root: Path) -> Path:
    """Make the student version of the notebook `source` in a new course folder `root`.

    The assignment is named after the notebook. Returns the released notebook; `root` also holds the
    gradebook every submission of this assignment is graded against.
    """
    assignment = source.stem
    (root / "source" / assignment).mkdir(parents=True)
    (root / "source" / assignment / source.name).write_bytes(source.read_bytes())
    _run(GenerateAssignment, course_config(root), assignment_id=assignment)
    return root / "release" / assignment / source.name


def failing_cells(notebook: Path, config: Config) -> dict[str, list[dict[str, str]]]:
    """nbgrader's validate of `notebook` run with GuardedExecute: the cells that fail (``failed``) or
    were changed (``changed``, ``type_changed``), each with its ``source`` (and ``raw_error``)."""
    validator = Validator(config=config)
    validator.preprocessors = [GuardedExecute if step is Execute else step
                               for step in validator.preprocessors]
    return validator.validate(str(notebook))


def _run(step: type[BaseConverter], config: Config, **ids: str) -> None:
    """Run one nbgrader converter on the course folder of `config`; DigitcourseError if it fails."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ["PATH"].split(os.pathsep):  # nbgrader runs the venv's `alembic`
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ["PATH"]
    coursedir = CourseDirectory(config=config)
    for name, value in ids.items():
        setattr(coursedir, name, value)
    converter = step(coursedir=coursedir, config=config)
    converter.force = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's gradebook code triggers these
        result = capture_log(converter)
    if not result["success"]:  # the exception nbgrader logged is the reason; its own error is generic
        lines = (result.get("log", "") + result["error"]).splitlines()
        reasons = [line.strip() for line in lines if _EXCEPTION.match(line)]
        raise DigitcourseError(f"nbgrader {step.__name__} failed: {reasons[0] if reasons else lines[-1]}")
