"""Canvas's gradebook import, filled from our gradebook: ``digitcourse export canvas``.

The roster is the CSV of Canvas's gradebook export. What Canvas's importer reads: the first column
holds `Student`, the second `ID`, then optional `SIS User ID`, `SIS Login ID` (and `Integration ID`,
`Root Account`), then `Section`, then one column per assignment titled `Title (id)`; a row whose
first cell holds `Points Possible` sets each assignment's points; a student is matched by Canvas ID,
then SIS User ID, then SIS Login ID.

`fill` keeps the roster's rows and columns and fills one column per assignment of the gradebook
(the roster's own column for it where one is titled with the assignment's name, else a new one,
which Canvas's import offers to create). A submission folder is matched to a roster row by the row's
SIS Login ID, SIS User ID or Canvas ID (`match`). A student with no submission gets an empty cell,
never 0; an assignment whose written answers are not all marked stays empty unless `allow_partial`;
submission folders that match no row are returned, so that the caller lists them.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from .gradebook import Gradebook, Total

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Root Account", "Section")
MATCH = {"login": "SIS Login ID", "sis": "SIS User ID", "id": "ID"}
POINTS_POSSIBLE = "Points Possible"
_TITLED = re.compile(r"^(?P<title>.*?)\s*\((?P<id>\d+)\)$")


@dataclass
class CanvasExport:
    """The filled roster (`table`: the header, then the rows), and what the caller should say:
    submission folders that match no student, and assignments left empty for a student because
    written answers wait for a grader."""

    table: list[list[str]]
    unmatched: list[str] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)  # (student, assignment)

    def to_csv(self) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.table)
        return out.getvalue()


def read_roster(text: str, *, source: str = "the roster") -> list[list[str]]:
    """The rows of a Canvas gradebook export (header first), checked to be one: one clear error for
    a file without Canvas's columns."""
    table = [row for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(cell.strip() for cell in row)]
    header = table[0] if table else []
    if len(header) < 2 or "Student" not in header[0] or header[1].strip() != "ID" or "Section" not in header:
        found = ", ".join(header[:4]) or "nothing"
        raise ConfigError(f"{source} is not a Canvas gradebook export: its columns must begin with Student, ID "
                          f"(then SIS User ID, SIS Login ID, Section); it begins with {found}. Export it from "
                          "Canvas: Grades, Export, Export Entire Gradebook.")
    return table


def fill(roster: list[list[str]], book: Gradebook, *, match: str = "login",
         allow_partial: bool = False) -> CanvasExport:
    """The roster with one column per assignment of `book`, filled with each student's total points.

    roster: `read_roster`'s rows. match: which roster column names the submission folders, "login"
    (SIS Login ID), "sis" (SIS User ID) or "id" (Canvas ID).
    """
    if match not in MATCH:
        raise ConfigError(f"match={match!r} is not one of {', '.join(MATCH)}.")
    header, rows = [*roster[0]], [[*row] for row in roster[1:]]
    key = MATCH[match]
    if key not in header:
        raise ConfigError(f"the roster has no {key} column, so --match {match} cannot work: pick another "
                          f"(its columns: {', '.join(c for c in header if c in IDENTITY)}).")
    totals = book.totals()
    if not totals:
        raise ConfigError(f"{book.where} holds no graded submission: run digitcourse grade first.")
    students = _students(rows, header.index(key), key)
    points = next((row for row in rows if POINTS_POSSIBLE in row[0]), None)
    if points is None:
        points = [f"    {POINTS_POSSIBLE}"]
        rows.insert(0, points)
    export = CanvasExport([header, *rows], unmatched=sorted({t.student for t in totals} - set(students)))
    by_assignment: dict[str, dict[str, Total]] = {}
    for total in totals:
        by_assignment.setdefault(total.assignment, {})[total.student] = total
    for assignment, of_student in sorted(by_assignment.items()):
        column = _column(header, assignment)
        if column == len(header):
            header.append(assignment)
        for row in rows:
            row.extend([""] * (len(header) - len(row)))
        points[column] = _number(next(iter(of_student.values())).max)
        for student, row in students.items():
            total = of_student.get(student)
            if total is None:
                row[column] = ""
            elif total.ungraded and not allow_partial:
                row[column] = ""
                export.partial.append((student, assignment))
            else:
                row[column] = _number(total.total)
    return export


def _students(rows: list[list[str]], index: int, key: str) -> dict[str, list[str]]:
    """The roster's student rows by their `key` column; two rows with one value is an error."""
    found: dict[str, list[str]] = {}
    for row in rows:
        if POINTS_POSSIBLE in row[0] or index >= len(row) or not row[index].strip():
            continue
        name = row[index].strip()
        if name in found:
            raise ConfigError(f"two roster rows have the {key} {name!r} ({found[name][0]!r} and {row[0]!r}): "
                              "a submission folder must name one student; fix the roster.")
        found[name] = row
    return found


def _column(header: list[str], assignment: str) -> int:
    """The roster's column for `assignment` (titled with its name, with or without Canvas's id);
    len(header) where there is none."""
    for index, title in enumerate(header):
        titled = _TITLED.match(title)
        if (titled.group("title") if titled else title).strip() == assignment:
            return index
    return len(header)


def _number(points: float) -> str:
    """Points as Canvas shows them: 7, 7.5 (never 7.0)."""
    return f"{points:g}"
