"""``digitcourse check``: an assignment tests its own tests before it is released.

::

    check(["notebooks/hw3_regularization.ipynb"])   # prints a table per notebook; True if all holds

For each notebook:

1. **Grading works.** The instructor's notebook and its blank release are graded as submissions
   (`grade`, in the sandbox where there is one): the source must earn full marks with no note, the
   blank release zero, and neither may crash the grader.
2. **Each exercise stands alone.** In one kernel, the instructor's definitions and solutions are set
   up once; then each exercise in turn is blanked (its released stub) and every test cell decided: the
   exercise's own tests must fail and every other test pass (a test that leans on another exercise is
   named).
3. **The tests catch wrong answers.** Each exercise's solution is mutated (`mutants`), one change at a
   time, and its test cells decided against each mutant in the same kernel; the share of mutants they
   catch must reach `goal`. The table counts the operator flips and the mistakes of a kind every
   exercise can make (`mutants.GENERIC_KINDS`: a max shift dropped, floor division, ...) apart. A
   survivor that cannot change the result for any legal input is named in the exercise cell's metadata
   with the reason, ``"digitcourse": {"equivalent_mutants": {diff: why, ...}}``, shown under the table
   and left out of the share.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import nbformat
from nbformat import NotebookNode

from ..course import GRADING_PROFILE, PROFILE_VARIABLE
from ..errors import ConfigError
from .cells import cell_role, grade_id
from .grade import grade
from .limits import Limits
from .mutants import GENERIC_KINDS, Mutant, mutants
from .release import release
from .student.kernel import Kernel
from .student.remote import KernelLost, Session
from .student.sandbox import Sandbox, available
from .student.zygote import Zygote
from .verdict import Verdicts, definitions

TEST_SECONDS = 60  # a test cell against one mutant: a mutant that loops is stopped, and counts as caught


@dataclass
class Exercise:
    """One exercise's part of the report."""

    name: str
    tests: list[str]
    leaning: list[str] = field(default_factory=list)  # other exercises' tests that fail without it
    blind: list[str] = field(default_factory=list)  # its own tests that pass with it blanked
    mutants: int = 0  # operator flips, constants, terms, ... (the kinds that are not GENERIC_KINDS)
    caught: int = 0
    generic: int = 0  # mutants of GENERIC_KINDS
    generic_caught: int = 0
    equivalent: dict[str, str] = field(default_factory=dict)  # diff -> why it computes the same
    survivors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        counted = self.mutants + self.generic - len(self.equivalent)
        return (self.caught + self.generic_caught) / counted if counted else 1.0


@dataclass
class Report:
    """What `check` found for one notebook; `problems` empty when everything holds."""

    name: str
    source: str = ""
    blank: str = ""
    exercises: list[Exercise] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def table(self, goal: float) -> str:
        lines = [f"{self.name}: the source {self.source}, the blank release {self.blank}", "",
                 "| exercise | test cells | blanked alone | operator mutants | caught | generic mutants | caught "
                 "| equivalent | score |",
                 "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for ex in self.exercises:
            alone = "ok" if not (ex.leaning or ex.blind) else "NO"
            mark = "" if ex.score >= goal else " (below the goal)"
            lines.append(f"| {ex.name} | {', '.join(ex.tests)} | {alone} | {ex.mutants} | {ex.caught} | "
                         f"{ex.generic} | {ex.generic_caught} | {len(ex.equivalent)} | {ex.score:.0%}{mark} |")
        equivalent = [f"  {ex.name}: {diff}\n    (equivalent: {why})" for ex in self.exercises
                      for diff, why in ex.equivalent.items()]
        if equivalent:
            lines += ["", "Mutants named equivalent:", *equivalent]
        survivors = [f"  {ex.name}: {diff}" for ex in self.exercises for diff in ex.survivors]
        if survivors:
            lines += ["", "Mutants no test caught:", *survivors]
        if self.problems:
            lines += ["", "Problems:", *[f"  - {problem}" for problem in self.problems]]
        return "\n".join(lines)


def check(notebooks: Sequence[str], *, goal: float = 0.9, profile: str = GRADING_PROFILE) -> bool:
    """Check each notebook (see the module's docstring), print its table; True if all of it holds."""
    paths = [Path(notebook) for notebook in notebooks]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"No notebook {path}.")
    reports = [check_notebook(path, goal=goal, profile=profile) for path in paths]
    for report in reports:
        print(report.table(goal), end="\n\n")
    return all(not report.problems for report in reports)


def try_answers(path: Path, answers: dict[str, str], *, profile: str = GRADING_PROFILE) -> dict[str, str]:
    """Decide every test cell of the instructor's notebook `path` with the exercises named in `answers`
    answered by their code (exercise -> the whole cell), the others by the solution: the test cells
    that fail, with their errors. A quick way to see what a given wrong (or unusual) answer earns."""
    instructors = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="digitcourse-try-") as work:
        released = nbformat.read(release([path], out=Path(work) / "release")[0], as_version=4)
        with _Lab(instructors, released, Path(work) / "lab", profile) as lab:
            for code in answers.values():
                lab.kernel.run(code, TEST_SECONDS)
            return lab.failing([name for name in lab.verdicts.sources])


def check_notebook(path: Path, *, goal: float = 0.9, profile: str = GRADING_PROFILE) -> Report:
    """The `Report` on one instructor's notebook."""
    instructors = nbformat.read(path, as_version=4)
    report = Report(path.stem)
    with tempfile.TemporaryDirectory(prefix="digitcourse-check-") as work:
        work = Path(work)
        released = nbformat.read(release([path], out=work / "release")[0], as_version=4)
        _grade_both(path, released, work, profile, report)
        exercises = _exercises(instructors, report)
        with _Lab(instructors, released, work / "lab", profile) as lab:
            lab.check(exercises, report, goal)
    report.exercises = exercises
    return report


def _grade_both(path: Path, released: NotebookNode, work: Path, profile: str, report: Report) -> None:
    """Grade the source and the blank release as two submissions; note what is wrong."""
    submissions = work / "submissions"
    for student, notebook in (("source", nbformat.read(path, as_version=4)), ("blank", released)):
        (submissions / student).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / path.name)
    rows = {row.student: row for row in grade(submissions, out=work / "grading", source=path.parent, jobs=2,
                                              profile=profile, isolate=available())}
    source, blank = rows["source"], rows["blank"]
    report.source = f"earned {source.total:g}/{source.max:g}"
    report.blank = f"earned {blank.total:g}/{blank.max:g}"
    if source.status != "graded" or source.total != source.max or source.notes:
        report.problems.append(f"the source does not earn full marks: {source.status}, "
                               f"{source.total:g}/{source.max:g} ({'; '.join(source.notes)})")
    if blank.status != "graded" or blank.total != 0:
        report.problems.append(f"the blank release earns {blank.total:g} points ({blank.status}; "
                               f"{'; '.join(blank.notes)})")


def _exercises(instructors: NotebookNode, report: Report) -> list[Exercise]:
    """Each exercise with the test cells that follow it (up to the next exercise)."""
    found: list[Exercise] = []
    for cell in instructors.cells:
        role = cell_role(cell)
        if role == "exercise":
            found.append(Exercise(grade_id(cell), []))
        elif role == "test" and found:
            found[-1].tests.append(grade_id(cell))
    for exercise in found:
        if not exercise.tests:
            report.problems.append(f"exercise {exercise.name} has no test cell after it")
    return found


class _Lab:
    """One kernel with the instructor's definitions and solutions, where exercises are blanked and
    mutated one at a time and the test cells decided against them."""

    def __init__(self, instructors: NotebookNode, released: NotebookNode, folder: Path, profile: str):
        self.verdicts = Verdicts(instructors)
        self.solutions = {grade_id(cell): cell.source for cell in instructors.cells if cell_role(cell) == "exercise"}
        self.stubs = {grade_id(cell): cell.source for cell in released.cells if cell_role(cell) == "exercise"}
        self.equivalents = {grade_id(cell): cell.metadata.get("digitcourse", {}).get("equivalent_mutants", {})
                            for cell in instructors.cells if cell_role(cell) == "exercise"}
        self.setup = [statement for cell in instructors.cells
                      if cell.cell_type == "code" and cell_role(cell) not in ("exercise", "test")
                      for statement in definitions(cell.source)]
        self.folder, self.profile, self.starts = folder, profile, 0
        self.kernel: Kernel | None = None

    def __enter__(self) -> _Lab:
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        if self.kernel is not None:
            self.kernel.__exit__(*exc)

    def _start(self) -> None:
        """A fresh kernel, set up: the agent, the definitions, every solution."""
        if self.kernel is not None:
            self.kernel.__exit__(None, None, None)
        self.starts += 1
        sandbox = Sandbox(self.folder / str(self.starts), Limits().memory, isolate=available())
        self.kernel = Kernel(sandbox, {PROFILE_VARIABLE: self.profile, "OMP_NUM_THREADS": "1"},
                             Zygote.shared()).__enter__()
        self.kernel.start_agent(TEST_SECONDS)
        for code in [*self.setup, *self.solutions.values()]:
            self.kernel.run(code, TEST_SECONDS)

    def failing(self, tests: list[str]) -> dict[str, str]:
        """The test cells of `tests` that fail now, with their errors; a lost kernel is restarted."""
        failed = {}
        for name in tests:
            try:
                outcome = self.verdicts.run(name, Session(self.kernel, monotonic() + TEST_SECONDS))
            except KernelLost as lost:
                failed[name] = lost.why
                self._start()
                continue
            if not outcome.passed:
                failed[name] = outcome.error
        return failed

    def check(self, exercises: list[Exercise], report: Report, goal: float) -> None:
        every = [name for exercise in exercises for name in exercise.tests]
        for name, error in self.failing(every).items():
            report.problems.append(f"{name} fails on the instructor's solution: {error}")
        for exercise in exercises:
            self._blank_alone(exercise, every, report)
            self._mutate(exercise, report, goal)

    def _blank_alone(self, exercise: Exercise, every: list[str], report: Report) -> None:
        self._define(self.stubs.get(exercise.name, ""))
        failed = self.failing(every)
        self._define(self.solutions[exercise.name])
        exercise.blind = [name for name in exercise.tests if name not in failed]
        exercise.leaning = [name for name in failed if name not in exercise.tests]
        for name in exercise.blind:
            report.problems.append(f"{name} passes with {exercise.name} blanked: it tests nothing of it")
        for name in exercise.leaning:
            report.problems.append(f"{name} fails with {exercise.name} blanked: it leans on another exercise")

    def _mutate(self, exercise: Exercise, report: Report, goal: float) -> None:
        named = self.equivalents.get(exercise.name, {})
        if not isinstance(named, dict) or not all(isinstance(why, str) and why for why in named.values()):
            report.problems.append(f"{exercise.name}: equivalent_mutants must map each mutant to why it is equivalent")
            named = {}
        for mutant in mutants(self.solutions[exercise.name]):
            caught = self._caught(mutant, exercise)
            if mutant.kind in GENERIC_KINDS:
                exercise.generic, exercise.generic_caught = exercise.generic + 1, exercise.generic_caught + caught
            else:
                exercise.mutants, exercise.caught = exercise.mutants + 1, exercise.caught + caught
            if caught:
                if mutant.diff in named:
                    report.problems.append(f"{exercise.name}: the mutant named equivalent is caught: {mutant.diff}")
            elif mutant.diff in named:
                exercise.equivalent[mutant.diff] = named[mutant.diff]
            else:
                exercise.survivors.append(mutant.diff)
        if exercise.score < goal:
            report.problems.append(f"{exercise.name}: its tests catch {exercise.score:.0%} of the mutants "
                                   f"of its solution (the goal is {goal:.0%})")

    def _caught(self, mutant: Mutant, exercise: Exercise) -> bool:
        """Whether a test cell of `exercise` fails against `mutant` (or the mutant does not even run)."""
        run = self._define(mutant.source)
        caught = run.status != "ok" or any(self.failing([name]) for name in exercise.tests)
        self._define(self.solutions[exercise.name])
        return caught

    def _define(self, code: str):
        run = self.kernel.run(code, TEST_SECONDS)
        if run.kernel_lost:
            self._start()
        return run
