"""What grading reports: `Graded`, one submission's result, and its row in grades.csv.

A worker (`worker.py`) writes a Graded as JSON; `grade` reads it back, or makes one itself when the
worker could not (it crashed, it ran past its limit), and writes every row with `write_grades`.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..files import atomic_write
from .cells import GradedCell


@dataclass
class Graded:
    """One submission's result.

    status: "graded", "ungradeable" (not a notebook, no source) or "failed" (the grader could not finish).
    scores: points per graded cell (None: an answer that waits for the instructor).
    notes: what happened that the instructor should know, one line each.
    feedback: the student's feedback page (HTML), or "" when there is none.
    """

    status: str
    scores: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    feedback: str = ""

    @classmethod
    def failure(cls, status: str, why: str, notes: list[str] = ()) -> Graded:
        return cls(status, {}, [*notes, why])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Graded:
        return cls(**json.loads(text))


def row(student: str, assignment: str, cells: list[GradedCell], graded: Graded) -> dict[str, str]:
    """One line of grades.csv. Autograded cells that did not run score 0; an answer to grade by hand
    is left empty."""
    scores, done = graded.scores, graded.status == "graded"
    line = {"student": student, "assignment": assignment, "status": graded.status}
    for cell in cells:
        score = scores.get(cell.name)
        line[cell.name] = "" if score is None or not done else _number(score)
    line["total"] = _number(sum(scores.get(cell.name) or 0.0 for cell in cells if cell.auto))
    line["max"] = _number(sum(cell.points for cell in cells if cell.auto))
    line["manual_max"] = _number(sum(cell.points for cell in cells if not cell.auto))
    line["notes"] = "; ".join(graded.notes)
    return line


def write_grades(rows: list[dict[str, str]], cells: dict[str, list[GradedCell]], path: Path) -> Path:
    """Write grades.csv atomically: a column per graded cell of every assignment, rows sorted by
    assignment and student."""
    names = list(dict.fromkeys(cell.name for assignment in sorted(cells) for cell in cells[assignment]))
    columns = ["student", "assignment", "status", *names, "total", "max", "manual_max", "notes"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, restval="")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda line: (line["assignment"], line["student"])))
    return atomic_write(path, text.getvalue())


def _number(value: float) -> str:
    return f"{value:g}"
