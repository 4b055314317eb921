"""Grade one submission: the process ``digitcourse grade`` forks for it (`run_logged`), one per submission.

::

    python -m digitcourse.grading.worker TASK.json   # the same by hand

TASK.json is a `Task`: the student, the assignment, the submitted notebook, the assignment's template
folder (the instructor's notebook and its released version, which no sandbox can reach), a scratch
folder for the sandbox, the limits, the profile and whether to isolate. The worker merges the submission
with the instructor's cells (`cells.merge`), runs its code cells in the student's sandboxed kernel,
decides each test cell here (`verdict.Verdicts`), and writes ``result.json`` (a `Graded`, its feedback
page included) beside TASK.json. It never runs student code itself: only the kernel does.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from time import monotonic

import nbformat
from nbformat import NotebookNode

from ..course import PROFILE_VARIABLE, python_path
from ..files import atomic_write
from .cells import cell_role, grade_id, graded_cells, invalid, merge
from .limits import Limits, describe_memory
from .report import Graded
from .student.kernel import Kernel, Run, not_run, out_of_time
from .student.remote import KernelLost, Session
from .student.sandbox import Sandbox
from .student.zygote import Zygote
from .verdict import Outcome, Verdicts

RESULT = "result.json"
FIGURES = f"module://{__package__}.student.figures"  # the kernel's matplotlib backend: figures not drawn
_ATTACHMENT = re.compile(r"attachment:([^\s)\"']+)")


@dataclass(frozen=True)
class Task:
    """One submission for a worker to grade (see the module's docstring): its kernel is forked by the
    zygote listening at `zygote`, with `threads` threads for torch."""

    student: str
    assignment: str
    submission: Path
    template: Path
    folder: Path
    scratch: Path
    limits: Limits
    profile: str
    isolate: bool
    threads: int
    zygote: Path

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Task:
        data = json.loads(text)
        paths = {name: Path(data[name]) for name in ("submission", "template", "folder", "scratch", "zygote")}
        return cls(**{**data, **paths, "limits": Limits(**data["limits"])})


def grade_submission(task: Task) -> Graded:
    """Grade the submission that `task` describes (see the module's docstring)."""
    try:
        submitted = nbformat.read(task.submission, as_version=4)
    except Exception as error:  # not JSON, or JSON that is no notebook
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Graded.failure("ungradeable", f"not a readable notebook: {first_line}")
    if invalid(submitted):
        return Graded.failure("ungradeable", f"not a valid notebook: {invalid(submitted)}")
    released, instructors = (nbformat.read(task.template / name, as_version=4)
                             for name in ("release.ipynb", "source.ipynb"))
    merged, changes = merge(released, instructors, submitted)
    verdicts = Verdicts(instructors)
    limits = task.limits
    (task.scratch / "work").mkdir(parents=True)
    nbformat.write(submitted, task.scratch / "work" / f"{task.assignment}.ipynb")
    sandbox = Sandbox(task.scratch, limits.memory, isolate=task.isolate)
    env = {PROFILE_VARIABLE: task.profile, "OMP_NUM_THREADS": str(task.threads),
           "MKL_NUM_THREADS": str(task.threads), "MPLBACKEND": FIGURES}
    with Kernel(sandbox, env, Zygote(task.zygote)) as kernel:
        started = kernel.start_agent(limits.cell)
        if started.status != "ok":
            return Graded.failure("failed", f"the grader's helper did not start in the kernel: {started.error}",
                                  changes)
        scores, run_notes, limits_hit = _run_cells(merged, verdicts, kernel, limits)
    answers = {}
    for cell in released.cells:
        if cell_role(cell) == "answer":
            answer = next((c for c in merged.cells if grade_id(c) == grade_id(cell)), None)
            blank = answer is None or answer.source.strip() == cell.source.strip()
            scores[grade_id(cell)] = 0.0 if blank else None
            answers[grade_id(cell)] = "" if blank else _inline_attachments(answer)
    notes = [*changes, *(["graded without a sandbox (--unsafe-no-sandbox)"] if not task.isolate else []),
             *run_notes]
    return Graded("graded", scores, answers, notes, limits_hit, changes, _feedback_page(merged))


def _run_cells(merged: NotebookNode, verdicts: Verdicts, kernel: Kernel,
               limits: Limits) -> tuple[dict[str, float | None], list[str], list[str]]:
    """Run the merged notebook: code cells in the kernel, test cells here. Returns the tests' points,
    the notes on what went wrong (a failing test's error, time limits, a lost kernel) and those of
    them that say a limit was hit."""
    points = {cell.name: cell.points for cell in graded_cells(merged) if cell.auto}
    scores: dict[str, float | None] = {name: 0.0 for name in points}
    notes: list[str] = []
    limits_hit: list[str] = []
    deadline, stopped, count = monotonic() + limits.notebook, "", 0
    for number, cell in enumerate(merged.cells, start=1):
        role = cell_role(cell)
        if cell.cell_type != "code" or (role != "test" and not cell.source.strip()):
            continue
        left = deadline - monotonic()
        if not stopped and left <= 0:
            stopped = out_of_time(limits.notebook, number)
            limits_hit.append(stopped)
        if stopped:
            cell.outputs = [not_run(stopped)]
            continue
        count += 1
        cell.execution_count = count
        if role == "test":
            outcome, lost = _verdict(verdicts, grade_id(cell), kernel, monotonic() + min(limits.cell, left))
            cell.outputs = outcome.outputs
            if outcome.passed:
                scores[grade_id(cell)] = points.get(grade_id(cell), 0.0)
            else:
                notes.append(f"{grade_id(cell)} failed: {outcome.error}")
            if lost:
                stopped = f"{lost} (cell {number})"
            continue
        run = kernel.run(cell.source, min(limits.cell, left))
        cell.outputs = run.outputs
        if run.status == "timeout":
            notes.append(f"cell {number} ran out of time (at most {limits.cell} s a cell) and was interrupted")
            limits_hit.append(notes[-1])
        if run.kernel_lost:
            stopped = _lost(run, number, limits)
            if run.status == "memory":
                limits_hit.append(stopped)
    if stopped:
        notes.append(f"{stopped}: no later cell ran")
    return scores, notes, limits_hit


def _verdict(verdicts: Verdicts, grade_id: str, kernel: Kernel, deadline: float) -> tuple[Outcome, str]:
    """A test cell's outcome, and why the kernel was lost if it was ("" if not)."""
    try:
        return verdicts.run(grade_id, Session(kernel, deadline)), ""
    except KernelLost as lost:
        return Outcome(False, lost.why, [not_run(lost.why)]), lost.why


def _lost(run: Run, number: int, limits: Limits) -> str:
    why = run.why_lost(f"in cell {number}")
    return f"{why} (the limit is {describe_memory(limits.memory)})" if run.status == "memory" else why


def _inline_attachments(cell: NotebookNode) -> str:
    """A markdown cell's text with each ``attachment:NAME`` it shows replaced by a data URL."""
    files = cell.get("attachments", {})

    def data_url(match: re.Match) -> str:
        kinds = files.get(match.group(1), {})
        kind = next((k for k in kinds if k.startswith("image/")), None)
        if kind is None:
            return match.group(0)
        data = kinds[kind] if isinstance(kinds[kind], str) else "".join(kinds[kind])
        return f"data:{kind};base64,{re.sub(r'[^A-Za-z0-9+/=]', '', data)}"

    return _ATTACHMENT.sub(data_url, cell.source)


def _feedback_page(merged: NotebookNode) -> str:
    """The student's graded notebook with every test's outcome, as HTML; the summary of points and
    comments on top is added from the gradebook (`feedback.page`).

    Outputs are the student's own: the page is sanitized (no scripts), so that what a notebook printed
    cannot act in the reader's browser. nbconvert sanitizes each cell with bleach, a third of a hw3
    page's 3 CPU-seconds; `_sanitized` (nh3, in Rust) does the same job in a hundredth of that."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(sanitize_html=True)
    exporter.register_filter("clean_html", _sanitized)
    body, _ = exporter.from_notebook_node(merged)
    return body


def _sanitized(html: str | bytes) -> str:
    """nbconvert's `clean_html` filter by nh3: a cell's HTML with only nh3's safe tags and attributes
    (and the class and id nbconvert's styles need); scripts, handlers and javascript: links dropped."""
    import nh3

    text = html.decode() if isinstance(html, bytes) else str(html)
    return nh3.clean(text, attributes={**nh3.ALLOWED_ATTRIBUTES, "*": {"class", "id"}})


def run_logged(task_file: str, log: str, grader: int) -> None:
    """`main` as `grade` runs it, in a process forked for it: the leader of a session of its own (so
    that stopping it stops its kernel and sandbox), its output into `log`, no input. It ends when the
    grading run, the process `grader`, does: a run that is killed leaves no worker behind (their
    sandboxes die with them)."""
    os.setsid()
    _end_with(grader)
    os.environ["PYTHONPATH"] = python_path()  # what an unsandboxed kernel imports digitcourse by
    with open(log, "ab") as out, open(os.devnull, "rb") as nothing:
        for target, stream in ((0, nothing), (1, out), (2, out)):
            os.dup2(stream.fileno(), target)
    main(task_file)


def _end_with(pid: int) -> None:
    """Kill this process's group once the process `pid` has ended (at once if it has)."""
    try:
        ended = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        select.select([ended], [], [])
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def main(task_file: str) -> None:
    task = Task.from_json(Path(task_file).read_text())
    try:
        result = grade_submission(task)
    finally:
        shutil.rmtree(task.scratch, ignore_errors=True)
    atomic_write(Path(task_file).parent / RESULT, result.to_json())


if __name__ == "__main__":
    main(sys.argv[1])
