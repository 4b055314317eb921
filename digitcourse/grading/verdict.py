"""Verdicts decided where no student code runs: the instructor's test cells, in the grader's process.

::

    verdicts = Verdicts(instructors_notebook)             # the definitions and the test cells
    outcome = verdicts.run("test_softmax", Session(kernel, deadline))   # Outcome: passed, error, outputs

`Verdicts` runs, once per submission, the imports and the top-level functions, classes and constants
of the instructor's cells that are neither exercises nor tests (from the instructor's notebook, never
the student's), and names each function and class an exercise defines as a `remote.Remote`: calling
one runs the student's version in their kernel. A test cell is then executed here, with its asserts,
so nothing the student's code does (replacing `torch.allclose`, hiding errors, rewriting later cells)
can reach the verdict: it only ever changes what their functions answer.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cells import cell_role, grade_id
from .student.remote import KernelLost, Remote, Session

if TYPE_CHECKING:
    from nbformat import NotebookNode


@dataclass
class Outcome:
    """A test cell's verdict: passed, else `error` in one line; `outputs` for the feedback."""

    passed: bool
    error: str = ""
    outputs: list[NotebookNode] = field(default_factory=list)


class Verdicts:
    """The instructor's side of one assignment: its definitions, its exercises' names, its test cells
    (see the module's docstring)."""

    def __init__(self, instructors: NotebookNode):
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.sources: dict[str, str] = {}
        for number, cell in enumerate(instructors.cells, start=1):
            if cell.cell_type != "code":
                continue
            role = cell_role(cell)
            if role == "test":
                self.sources[grade_id(cell)] = cell.source
            elif role == "exercise":
                for name in defined_names(cell.source):
                    self.namespace[name] = Remote(name)
            else:
                for statement in definitions(cell.source):
                    self._define(statement, number)

    def _define(self, statement: str, number: int) -> None:
        """Run one definition of the instructor's cell `number`; one that needs what only the notebook's
        run makes (a default taken from the data, say) is left out: a test cannot rely on it."""
        try:
            with _quiet():
                exec(compile(statement, f"<instructor's cell {number}>", "exec"), self.namespace)
        except Exception:
            pass

    def run(self, grade_id: str, session: Session) -> Outcome:
        """Execute the test cell `grade_id` here, its exercises calling into `session`'s kernel."""
        printed = io.StringIO()
        first = len(session.outputs)
        try:
            with session, _quiet(printed):
                exec(compile(self.sources[grade_id], f"<test {grade_id}>", "exec"), self.namespace)
        except KernelLost:
            raise
        except Exception as error:
            return Outcome(False, _one_line(error), _outputs(printed, session.outputs[first:], error))
        return Outcome(True, "", _outputs(printed, session.outputs[first:], None))


def defined_names(source: str) -> list[str]:
    """The functions and classes a cell defines at its top level."""
    tree = _parse(source)
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def definitions(source: str) -> list[str]:
    """The statements of a cell a test may rely on, one by one: its imports, top-level functions and
    classes, and names bound to literal constants; the rest (loading data, training) is left out."""
    tree = _parse(source)
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                          ast.AsyncFunctionDef, ast.ClassDef))
            or (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
                and _is_literal(node.value))]
    return [ast.unparse(node) for node in kept]


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _parse(source: str) -> ast.Module:
    """A cell as Python (IPython's magics and shell escapes blanked out); an empty module if invalid."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


@contextlib.contextmanager
def _quiet(stdout: io.StringIO | None = None) -> Iterator[None]:
    with contextlib.redirect_stdout(stdout or io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().removesuffix(":")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _outputs(printed: io.StringIO, student: list[NotebookNode], error: BaseException | None) -> list:
    from nbformat.v4 import new_output

    outputs = list(student)
    if printed.getvalue():
        outputs.insert(0, new_output("stream", name="stdout", text=printed.getvalue()))
    if error is not None:
        notes = [f"\n{note}" for note in getattr(error, "__notes__", [])]
        outputs.append(new_output("error", ename=type(error).__name__, evalue=str(error),
                                  traceback=[_one_line(error), *notes]))
    return outputs
