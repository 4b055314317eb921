"""What grading reports: `Graded`, one submission's result as its worker found it, and `Row`, its
line in grades.csv as the gradebook holds it (manual grades included).

A worker (`worker.py`) writes a Graded as JSON; `grade` reads it back, or makes one itself when the
worker could not (it crashed, it ran past its limit), and files it in the gradebook
(`gradebook.py`), which gives back the rows that `write_grades` exports.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..files import atomic_write

STATUSES = ("graded", "ungradeable", "failed")


@dataclass
class Graded:
    """One submission's result.

    status: "graded", "ungradeable" (not a notebook, no source) or "failed" (the grader could not finish).
    scores: points per graded cell (None: an answer that waits for the instructor).
    answers: the text of each written answer (markdown; its attached images inlined as data URLs).
    notes: what happened that the instructor should know, one line each; `limits` and `changes` are
    those notes that say a limit was hit, and those that say the student changed the assignment's cells.
    feedback: the graded notebook as HTML (the feedback page, less the summary `feedback.page` puts on
    top), or "" when there is none.
    """

    status: str
    scores: dict[str, float | None] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    feedback: str = ""

    @classmethod
    def failure(cls, status: str, why: str, notes: list[str] = (), *, limit: bool = False) -> Graded:
        """A submission not graded: `why` is its last note (and a limit hit when `limit`)."""
        return cls(status, notes=[*notes, why], limits=[why] if limit else [], changes=list(notes))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Graded:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Row:
    """One submission's line of grades.csv.

    scores: the points of each graded cell (a grader's points where given, else the autograder's);
    None where a written answer waits for a grader, or the submission was not graded.
    total, max: the autograded cells' points and their maximum; manual_max: the written answers' maximum.
    """

    student: str
    assignment: str
    status: str
    scores: dict[str, float | None]
    total: float
    max: float
    manual_max: float
    notes: list[str]

    def line(self) -> dict[str, str]:
        """The row as grades.csv writes it: numbers as `%g`, an empty cell for None."""
        return {"student": self.student, "assignment": self.assignment, "status": self.status,
                **{name: "" if score is None else _number(score) for name, score in self.scores.items()},
                "total": _number(self.total), "max": _number(self.max),
                "manual_max": _number(self.manual_max), "notes": "; ".join(self.notes)}


def write_grades(rows: list[Row], cells: dict[str, list[str]], path: Path) -> Path:
    """Write grades.csv atomically: a column per graded cell of every assignment (`cells`: assignment ->
    its graded cells' names, in notebook order), rows sorted by assignment and student."""
    names = list(dict.fromkeys(name for assignment in sorted(cells) for name in cells[assignment]))
    columns = ["student", "assignment", "status", *names, "total", "max", "manual_max", "notes"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, restval="")
    writer.writeheader()
    writer.writerows(row.line() for row in sorted(rows, key=lambda row: (row.assignment, row.student)))
    return atomic_write(path, text.getvalue())


def _number(value: float) -> str:
    return f"{value:g}"
