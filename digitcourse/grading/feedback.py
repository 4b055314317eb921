"""The students' feedback pages, an export of the gradebook.

A worker renders the graded notebook as HTML (nbconvert's page); `page` puts on top of it what the
gradebook holds now: every graded cell's points (a grader's where given) and comment, and the notes on
the run. `write_feedback` writes the page of every submission filed, as
``<out>/feedback/<student>/<assignment>/<assignment>.html``.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from ..files import atomic_write
from .gradebook import Answer, Filed, Gradebook, Question

_TOP = "<main>"  # where nbconvert's page starts its cells: the summary goes right after it


def page(notebook_html: str, filed: Filed, questions: list[Question], answers: list[Answer]) -> str:
    """The feedback page: the worker's `notebook_html` with the summary of points and comments on top."""
    scores = {answer.cell: answer for answer in answers}
    rows = []
    for question in questions:
        answer = scores.get(question.name)
        score = None if answer is None else answer.score
        shown = "to be graded by hand" if score is None else f"{score:g}"
        comment = "" if answer is None else answer.comment
        rows.append(f"<tr><td>{escape(question.name)}</td><td>{shown}</td><td>{question.points:g}</td>"
                    f"<td>{escape(comment)}</td></tr>")
    notes = "".join(f"<li>{escape(note)}</li>" for note in filed.notes)
    summary = (f"<h1>Feedback: {escape(filed.assignment)} ({escape(filed.student)})</h1>\n"
               f"<p>Graded in the <code>{escape(filed.profile)}</code> profile.</p>\n"
               "<table><thead><tr><th>cell</th><th>points</th><th>out of</th><th>comment</th></tr></thead>"
               f"<tbody>{''.join(rows)}</tbody></table>\n<ul>{notes}</ul>")
    return notebook_html.replace(_TOP, f"{_TOP}\n<div class=\"jp-Cell\">{summary}</div>", 1)


def write_feedback(gradebook: Gradebook, out: Path) -> list[Path]:
    """Write the feedback page of every submission that has one; returns their paths."""
    written = []
    for filed in gradebook.filed():
        notebook_html = gradebook.feedback(filed.student, filed.assignment)
        if notebook_html:
            path = out / "feedback" / filed.student / filed.assignment / f"{filed.assignment}.html"
            text = page(notebook_html, filed, gradebook.questions(filed.assignment),
                        gradebook.answers(filed.assignment, student=filed.student))
            written.append(atomic_write(path, text))
    return written
