"""``digitcourse report``: the class report, from the gradebook.

::

    write_report(gradebook, Path("grading"))   # -> grading/report.html and grading/summary.csv

Per assignment: the histogram of the students' points (autograded and marked), their mean, median and
standard error; per test cell the share of students who passed it, hardest first; per written question
the mean of the points given so far and how many answers wait; and the submissions that were
ungradeable, hit a limit or changed the assignment's cells, each with its reason. report.html is one
self-contained page (figures embedded as data URLs); summary.csv holds the same numbers, one a line:
``assignment, item, statistic, value``.
"""
from __future__ import annotations

import base64
import csv
import io
import math
from dataclasses import dataclass
from html import escape
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean, median, stdev

from ..files import atomic_write
from .gradebook import Filed, Gradebook


@dataclass(frozen=True)
class Statistic:
    """One number of the report: `item` is "total", a test cell or a written question."""

    assignment: str
    item: str
    statistic: str
    value: float


def summarize(book: Gradebook, assignment: str) -> list[Statistic]:
    """The numbers of one assignment (see the module's docstring)."""
    totals = [t.total for t in book.totals(assignment)]
    found = [Statistic(assignment, "total", "submissions", len(totals)),
             Statistic(assignment, "total", "max", sum(q.points for q in book.questions(assignment)))]
    if totals:
        found += [Statistic(assignment, "total", "mean", fmean(totals)),
                  Statistic(assignment, "total", "median", median(totals)),
                  Statistic(assignment, "total", "standard_error",
                            stdev(totals) / math.sqrt(len(totals)) if len(totals) > 1 else math.nan)]
    passed = []
    for question in book.questions(assignment):
        answers = book.answers(assignment, question.name)
        if question.auto and answers:
            passed.append(Statistic(assignment, question.name, "passed_share",
                                    fmean(a.score == question.points for a in answers)))
        elif not question.auto:
            mean = book.mean_points(assignment, question.name)
            found += [Statistic(assignment, question.name, "mean_points", math.nan if mean is None else mean),
                      Statistic(assignment, question.name, "ungraded", len(book.ungraded(assignment, question.name)))]
    return found + sorted(passed, key=lambda s: s.value)


def problems(book: Gradebook, assignment: str) -> list[tuple[Filed, str]]:
    """The submissions to look at, each with its reason: not graded, a limit hit, cells changed."""
    found = []
    for filed in book.filed(assignment):
        if filed.status != "graded":
            found.append((filed, f"{filed.status}: {'; '.join(filed.notes)}"))
        elif filed.limits or filed.changes:
            found.append((filed, "; ".join([*filed.limits, *filed.changes])))
    return found


def write_report(book: Gradebook, out: Path, unmatched: Sequence[str] = ()) -> Path:
    """Write `out/report.html` and `out/summary.csv` for every assignment in the gradebook; returns
    the path of the page. unmatched: submission folders that match no student of the course's roster
    (``digitcourse export canvas`` finds them), listed at the top of the page."""
    statistics = {assignment: summarize(book, assignment) for assignment in book.assignments()}
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["assignment", "item", "statistic", "value"])
    writer.writerows([s.assignment, s.item, s.statistic, f"{s.value:.6g}"]
                     for found in statistics.values() for s in found)
    atomic_write(out / "summary.csv", text.getvalue())
    sections = [_section(book, assignment, found) for assignment, found in statistics.items()]
    if unmatched:
        sections.insert(0, "<h2>Submission folders that match no student of the roster</h2><p>Their grades "
                        "are in no export: rename each folder after the student's login, or fix the roster.</p>"
                        + _table(["folder"], [[folder] for folder in unmatched]))
    return atomic_write(out / "report.html", _PAGE.format(body="\n".join(sections) or "<p>No submission yet.</p>"))


def _section(book: Gradebook, assignment: str, found: list[Statistic]) -> str:
    value = {(s.item, s.statistic): s.value for s in found}
    totals = [t.total for t in book.totals(assignment)]
    head = (f"<h2>{escape(assignment)}</h2><p>{len(totals)} submissions, out of {value['total', 'max']:g} points"
            + (f": mean {value['total', 'mean']:.2f}, median {value['total', 'median']:.2f}, standard error "
               f"{value['total', 'standard_error']:.2f}</p>" if totals else "</p>"))
    figure = f'<img alt="histogram of the points" src="{_histogram(totals, value["total", "max"])}">' if totals else ""
    tests = [s for s in found if s.statistic == "passed_share"]
    written = [q for q in book.questions(assignment) if not q.auto]
    listed = problems(book, assignment)
    return "\n".join([
        head, figure,
        "<h3>Test cells, hardest first</h3>",
        _table(["cell", "passed"], [[s.item, f"{s.value:.0%}"] for s in tests]),
        "<h3>Written questions</h3>",
        _table(["question", "mean points", "out of", "ungraded"],
               [[q.name, _number(value[q.name, "mean_points"]), f"{q.points:g}",
                 f"{value[q.name, 'ungraded']:g}"] for q in written]),
        "<h3>Submissions to look at</h3>",
        _table(["student", "reason"], [[filed.student, reason] for filed, reason in listed])
        if listed else "<p>None: every submission was graded within its limits, its cells as released.</p>"])


def _histogram(totals: list[float], most: float) -> str:
    """A PNG histogram of the points, as a data URL."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 2.4), dpi=100)
    axes = figure.add_subplot()
    axes.hist(totals, bins=min(20, max(5, len(totals) // 2)), range=(0, most or 1), color="#4c72b0")
    axes.set_xlabel("points")
    axes.set_ylabel("students")
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
th {{ background: #f3f3f3; }}
</style></head>
<body><h1>Class report</h1>
{body}
</body></html>
"""
