"""``digitcourse mark``: grade the written answers in the browser, question by question.

::

    serve(Gradebook.open("grading/gradebook.db"), port=8765, grader="kim")
    # -> http://127.0.0.1:8765/?token=...   (printed; every request needs the token)

A small Flask app, its pages rendered on the server (templates in ``templates/``), no script at all:

- ``/``: every assignment's written questions, with how many of their answers are graded;
- ``/q/<assignment>/<question>``: the question, its model answer and rubric (reusable comments with
  points, added here and applied to many answers at once), and the list of answers;
- ``/q/<assignment>/<question>/ungraded``: the first answer not graded yet, with only those shown;
- ``/q/<assignment>/<question>/<n>``: the n-th answer beside the question and the model answer; type
  the points, Tab, a comment, Enter: it is saved and the next answer opens (``only=ungraded`` skips
  the graded ones, ``anonymous=1`` shows students as numbers).

Every save goes to the gradebook at once, for one answer, naming the version of it the page showed:
a save over another grader's newer one is refused with a message, so neither loses work. Answers are
rendered by `answers.to_html` (sanitized), and the Content-Security-Policy forbids every script, so a
student's answer cannot act in the grader's browser. The app listens on 127.0.0.1 only by default
and answers nothing without the token (in the URL, as Jupyter's, or in a form).
"""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from flask import Flask, Response, abort, redirect, render_template, request
from markupsafe import Markup
from werkzeug.serving import make_server

from ..errors import GradebookError
from .answers import to_html
from .gradebook import Answer, Gradebook

POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'")


def create_app(book: Gradebook, *, token: str, grader: str) -> Flask:
    """The marking app on `book`; `token` is required by every request, `grader` is saved with each grade."""
    app = Flask(__name__)
    app.jinja_env.globals["markdown"] = lambda text: Markup(to_html(text))

    def link(path: str, **query) -> str:
        view = {key: request.args.get(key, "") for key in ("only", "anonymous")}
        return f"{path}?{urlencode({'token': token, **{k: v for k, v in {**view, **query}.items() if v}})}"

    app.jinja_env.globals["link"] = link

    @app.before_request
    def require_token() -> Response | None:
        given = request.args.get("token") or request.form.get("token") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("403: this page needs the token that `digitcourse mark` printed with its address.\n",
                            403, mimetype="text/plain")
        return None

    @app.after_request
    def forbid_scripts(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.errorhandler(GradebookError)
    def refused(error: GradebookError) -> tuple[str, int]:
        return render_template("message.html", message=str(error)), 404

    @app.get("/")
    def index() -> str:
        progress = {a: [(q, _progress(book.answers(a, q.name))) for q in book.questions(a) if not q.auto]
                    for a in book.assignments()}
        return render_template("index.html", progress=progress, token=token)

    @app.get("/q/<assignment>/<cell>")
    def question(assignment: str, cell: str) -> str:
        asked = book.question(assignment, cell)
        answers = book.answers(assignment, cell)
        shown = [(n, a) for n, a in enumerate(answers) if not _only_ungraded() or a.score is None]
        return render_template("question.html", question=asked, answers=shown, names=_names(answers),
                               rubric=book.rubric(assignment, cell), progress=_progress(answers), token=token)

    @app.get("/q/<assignment>/<cell>/ungraded")
    def first_ungraded(assignment: str, cell: str):
        answers = book.answers(assignment, cell)
        first = next((n for n, a in enumerate(answers) if a.score is None), None)
        target = f"/q/{assignment}/{cell}" + ("" if first is None else f"/{first}")
        return redirect(link(target, only="ungraded"))

    @app.get("/q/<assignment>/<cell>/<int:n>")
    def answer(assignment: str, cell: str, n: int, error: str = "", status: int = 200) -> tuple[str, int]:
        asked = book.question(assignment, cell)
        answers = book.answers(assignment, cell)
        if not 0 <= n < len(answers):
            abort(404)
        return render_template("answer.html", question=asked, n=n, answer=answers[n], names=_names(answers),
                               count=len(answers), rubric=book.rubric(assignment, cell),
                               progress=_progress(answers), error=error, token=token), status

    @app.post("/q/<assignment>/<cell>/<int:n>")
    def save(assignment: str, cell: str, n: int):
        answers = book.answers(assignment, cell)
        if not 0 <= n < len(answers):
            abort(404)
        student, form = answers[n].student, request.form
        try:
            if form.get("rubric"):
                item = next((i for i in book.rubric(assignment, cell) if str(i.id) == form["rubric"]), None)
                if item is None:
                    raise GradebookError(f"no rubric item {form['rubric']} for {cell}.")
                points, comment = item.points, item.text
            else:
                points, comment = _points(form.get("points", "")), form.get("comment", "").strip()
            book.mark(student, assignment, cell, points, comment, grader=grader,
                      version=int(form.get("version", "-1")))
        except GradebookError as error:
            return answer(assignment, cell, n, error=str(error), status=409)
        later = _next(book.answers(assignment, cell), n)
        target = f"/q/{assignment}/{cell}" + ("" if later is None else f"/{later}")
        return redirect(link(target))

    @app.post("/q/<assignment>/<cell>/rubric")
    def add_rubric_item(assignment: str, cell: str):
        book.add_rubric_item(assignment, cell, request.form.get("text", ""), _points(request.form.get("points", "")))
        return redirect(link(f"/q/{assignment}/{cell}"))

    @app.post("/q/<assignment>/<cell>/apply")
    def apply_rubric(assignment: str, cell: str):
        answers = book.answers(assignment, cell)
        chosen = [answers[int(n)].student for n in request.form.getlist("n") if n.isdigit() and int(n) < len(answers)]
        book.apply_rubric(int(request.form.get("item", "-1")), chosen, grader=grader)
        return redirect(link(f"/q/{assignment}/{cell}"))

    return app


def serve(book: Gradebook, *, port: int, grader: str, host: str = "127.0.0.1") -> None:
    """Run the marking app until Ctrl+C, printing its address with a fresh token."""
    token = secrets.token_urlsafe(24)
    server = make_server(host, port, create_app(book, token=token, grader=grader), threaded=True)
    print(f"Marking written answers at http://{host}:{server.server_port}/?token={token} (Ctrl+C stops it)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _only_ungraded() -> bool:
    return request.args.get("only") == "ungraded"


def _names(answers: list[Answer]) -> list[str]:
    """How each answer's student is shown: their name, or a number when grading anonymously."""
    if request.args.get("anonymous"):
        return [f"Student {n + 1}" for n in range(len(answers))]
    return [a.student for a in answers]


def _progress(answers: list[Answer]) -> str:
    return f"graded {sum(a.score is not None for a in answers)} of {len(answers)}"


def _next(answers: list[Answer], n: int) -> int | None:
    """The answer to show after the n-th: the next one, or the next ungraded one (from the start again)
    when only those are shown; None when there is none."""
    if not _only_ungraded():
        return n + 1 if n + 1 < len(answers) else None
    order = [*range(n + 1, len(answers)), *range(n)]
    return next((m for m in order if answers[m].score is None), None)


def _points(text: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise GradebookError(f"points={text!r} is not a number: type e.g. 2 or 1.5.") from None
