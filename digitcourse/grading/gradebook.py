"""The gradebook: the one record of a class's grades, in any database SQLAlchemy reaches.

::

    with Gradebook.open("grading/gradebook.db") as book:       # or "postgresql+psycopg://host/course"
        book.mark("ann", "hw3", "why_dropout", 2, "right, and well argued", grader="kim")
        book.totals("hw3")                                        # [Total(student="ann", ...), ...]

It holds, per assignment, its graded cells (`Question`: points, autograded or written, the prompt and
the model answer); per submission, the notebook's hash, status, notes, limits hit and feedback page;
per student, assignment and graded cell, the autograded points, the written answer, and a grader's
points, comment, name and time (`Answer`); per written question, its rubric (`RubricItem`).

`digitcourse grade` files each result as it arrives (`record`, one transaction: a run killed with
``kill -9`` loses only the submissions in flight) and skips a submission whose notebook, instructor's
notebook and profile are unchanged (`unchanged`). A re-grade rewrites only the autograded side: a
grader's points and comment stay, unless the written answer they marked has changed (a resubmission):
then it waits for a grader again. Two graders saving at once lose nothing: each save changes one answer,
and a save made from an outdated view of that answer is refused (`version`).

Every refusal is one GradebookError and writes nothing: a file written by a newer digitcourse, a
corrupt or locked file, points out of range, an unknown student, assignment or question.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from statistics import fmean

from sqlalchemy import (JSON, Boolean, DateTime, Float, Integer, String, Text, create_engine, event, inspect, select,
                        update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..errors import GradebookError
from .report import Graded, Row

SCHEMA = 1  # the layout of the tables below; a file with a higher number was written by a newer version


class _Table(DeclarativeBase):
    pass


class _Meta(_Table):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class _Question(_Table):
    __tablename__ = "questions"
    assignment: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float)
    auto: Mapped[bool] = mapped_column(Boolean)
    prompt: Mapped[str] = mapped_column(Text, default="")
    model_answer: Mapped[str] = mapped_column(Text, default="")


class _Submission(_Table):
    __tablename__ = "submissions"
    student: Mapped[str] = mapped_column(String(256), primary_key=True)
    assignment: Mapped[str] = mapped_column(String(256), primary_key=True)
    notebook_hash: Mapped[str] = mapped_column(String(64))
    source_hash: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    notes: Mapped[list] = mapped_column(JSON)
    limits: Mapped[list] = mapped_column(JSON)
    changes: Mapped[list] = mapped_column(JSON)
    feedback: Mapped[str] = mapped_column(Text, default="", deferred=True)  # large: read only when asked for
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class _Score(_Table):
    __tablename__ = "scores"
    student: Mapped[str] = mapped_column(String(256), primary_key=True)
    assignment: Mapped[str] = mapped_column(String(256), primary_key=True)
    cell: Mapped[str] = mapped_column(String(256), primary_key=True)
    auto_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    manual_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    grader: Mapped[str] = mapped_column(String(256), default="")
    marked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class _RubricItem(_Table):
    __tablename__ = "rubric"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment: Mapped[str] = mapped_column(String(256))
    cell: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    points: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class Question:
    """A graded cell of an assignment: a test cell (`auto`) or a written answer, worth `points`;
    `prompt` is the markdown that asks a written question, `model_answer` the instructor's answer."""

    assignment: str
    name: str
    points: float
    auto: bool
    prompt: str = ""
    model_answer: str = ""


@dataclass(frozen=True)
class Answer:
    """One student's answer to one graded cell: `auto_points` from the autograder (None: waits for a
    grader), `points` a grader's (None: not marked yet), with their comment, name and time; `version`
    counts the grader's saves (a save must name the version it saw)."""

    student: str
    assignment: str
    cell: str
    text: str
    auto_points: float | None
    points: float | None
    comment: str
    grader: str
    marked_at: datetime | None
    version: int

    @property
    def score(self) -> float | None:
        """The points that count: the grader's where given, else the autograder's."""
        return self.auto_points if self.points is None else self.points


@dataclass(frozen=True)
class Filed:
    """A submission as filed: its status, notes, the limits it hit and the changes it made to the
    assignment's cells (tampering), the profile it ran in and when it was graded."""

    student: str
    assignment: str
    status: str
    profile: str
    notes: list[str]
    limits: list[str]
    changes: list[str]
    graded_at: datetime


@dataclass(frozen=True)
class Total:
    """A student's points for an assignment: `auto` from the test cells, `manual` from the written
    answers marked so far, `ungraded` how many written answers wait; `max` over every graded cell."""

    student: str
    assignment: str
    status: str
    auto: float
    manual: float
    max: float
    ungraded: int

    @property
    def total(self) -> float:
        return self.auto + self.manual


@dataclass(frozen=True)
class RubricItem:
    """A reusable comment with its points, for one written question."""

    id: int
    assignment: str
    cell: str
    text: str
    points: float


def url_of(location: str | os.PathLike) -> str:
    """An SQLAlchemy URL as it is (it has "://"), or a file path as an SQLite URL."""
    text = str(location)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


class Gradebook:
    """A class's grades in the database at `url` (see the module's docstring); `timeout`: seconds to
    wait for a lock another writer holds."""

    def __init__(self, url: str, *, timeout: float = 30.0):
        self.where = _describe(url)
        try:
            options = {"connect_args": {"timeout": timeout}} if url.startswith("sqlite") else {}
            self.engine: Engine = create_engine(url, **options)
        except (ArgumentError, ImportError) as error:
            raise GradebookError(f"{self.where} is not a database URL SQLAlchemy can open: {error}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_settings)
        with self._guard():
            self._check_schema()

    @classmethod
    def open(cls, location: str | os.PathLike, **options) -> Gradebook:
        """The gradebook at a file path or an SQLAlchemy URL (see `url_of`)."""
        if "://" not in str(location):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        return cls(url_of(location), **options)

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    # The grader's side -------------------------------------------------------------------------------

    def set_questions(self, assignment: str, questions: list[Question]) -> None:
        """Record the graded cells of `assignment` (replacing those it had)."""
        with self._session() as session:
            for old in session.scalars(select(_Question).where(_Question.assignment == assignment)):
                session.delete(old)
            session.flush()
            session.add_all(_Question(assignment=assignment, name=q.name, position=position, points=q.points,
                                      auto=q.auto, prompt=q.prompt, model_answer=q.model_answer)
                            for position, q in enumerate(questions))

    def unchanged(self, student: str, assignment: str, *, notebook_hash: str, source_hash: str,
                  profile: str) -> bool:
        """Whether this submission is filed, graded from the same notebook, instructor's notebook and
        profile."""
        with self._session() as session:
            filed = session.get(_Submission, (student, assignment))
            return filed is not None and (filed.notebook_hash, filed.source_hash, filed.profile) == (
                notebook_hash, source_hash, profile)

    def record(self, student: str, assignment: str, graded: Graded, *, notebook_hash: str,
               source_hash: str, profile: str) -> None:
        """File one submission's result in one transaction: the autograded points and the written
        answers of every graded cell of its assignment. A grader's points and comment stay where the
        answer is the one they marked; a changed answer waits for a grader again (and a save from a view
        of the old one is refused)."""
        with self._session() as session:
            questions = session.scalars(select(_Question).where(_Question.assignment == assignment)).all()
            session.merge(_Submission(student=student, assignment=assignment, notebook_hash=notebook_hash,
                                      source_hash=source_hash, profile=profile, status=graded.status,
                                      notes=graded.notes, limits=graded.limits, changes=graded.changes,
                                      feedback=graded.feedback, graded_at=_now()))
            for question in questions:
                score = session.get(_Score, (student, assignment, question.name))
                if score is None:
                    score = _Score(student=student, assignment=assignment, cell=question.name, comment="",
                                   grader="", version=0)
                    session.add(score)
                answer = graded.answers.get(question.name, "")
                if score.marked_at is not None and answer != score.answer:  # the mark was for another answer
                    score.manual_points, score.comment, score.grader, score.marked_at = None, "", "", None
                    score.version += 1
                score.auto_points = graded.scores.get(question.name, 0.0)  # not run, or nothing written: 0
                score.answer = answer

    # Reading -----------------------------------------------------------------------------------------

    def assignments(self) -> list[str]:
        """Every assignment with graded cells or submissions (one without a source has only the latter)."""
        with self._session() as session:
            return sorted({*session.scalars(select(_Question.assignment).distinct()),
                           *session.scalars(select(_Submission.assignment).distinct())})

    def questions(self, assignment: str) -> list[Question]:
        """The graded cells of `assignment`, in notebook order."""
        with self._session() as session:
            return [_question(q) for q in session.scalars(
                select(_Question).where(_Question.assignment == assignment).order_by(_Question.position))]

    def question(self, assignment: str, name: str) -> Question:
        """One graded cell; GradebookError naming the assignment's written questions if unknown."""
        for question in self.questions(assignment):
            if question.name == name:
                return question
        written = ", ".join(q.name for q in self.questions(assignment) if not q.auto) or "none"
        raise GradebookError(f"{assignment} has no graded cell {name!r} in {self.where} "
                             f"(its written questions: {written}).")

    def filed(self, assignment: str | None = None, *, student: str | None = None) -> list[Filed]:
        """The submissions filed (of one assignment or all, of one student or all), by assignment and
        student."""
        query = select(_Submission).order_by(_Submission.assignment, _Submission.student)
        if assignment is not None:
            query = query.where(_Submission.assignment == assignment)
        if student is not None:
            query = query.where(_Submission.student == student)
        with self._session() as session:
            return [Filed(s.student, s.assignment, s.status, s.profile, list(s.notes), list(s.limits), list(s.changes),
                          s.graded_at) for s in session.scalars(query)]

    def feedback(self, student: str, assignment: str) -> str:
        """The feedback page the worker made for this submission ("" if none)."""
        with self._session() as session:
            filed = session.get(_Submission, (student, assignment))
            return "" if filed is None else filed.feedback

    def answers(self, assignment: str, cell: str | None = None, *, student: str | None = None) -> list[Answer]:
        """The answers to the graded cells of `assignment` (one cell's, one student's, or all), by
        student then notebook order."""
        query = (select(_Score, _Question.position)
                 .join(_Question, (_Question.assignment == _Score.assignment) & (_Question.name == _Score.cell))
                 .where(_Score.assignment == assignment).order_by(_Score.student, _Question.position))
        if cell is not None:
            query = query.where(_Score.cell == cell)
        if student is not None:
            query = query.where(_Score.student == student)
        with self._session() as session:
            return [_answer(score) for score, _ in session.execute(query)]

    def ungraded(self, assignment: str, cell: str | None = None) -> list[Answer]:
        """The written answers that wait for a grader (of one question, or of every one)."""
        written = {q.name for q in self.questions(assignment) if not q.auto}
        return [a for a in self.answers(assignment, cell) if a.cell in written and a.score is None]

    def totals(self, assignment: str | None = None) -> list[Total]:
        """Each student's points per assignment (one assignment, or all), by assignment and student."""
        found = []
        for filed in self.filed(assignment):
            questions = {q.name: q for q in self.questions(filed.assignment)}
            answers = self.answers(filed.assignment, student=filed.student)
            auto = sum(a.score or 0.0 for a in answers if questions[a.cell].auto)
            manual = sum(a.score or 0.0 for a in answers if not questions[a.cell].auto)
            found.append(Total(filed.student, filed.assignment, filed.status, auto, manual,
                               sum(q.points for q in questions.values()),
                               sum(a.score is None for a in answers if not questions[a.cell].auto)))
        return found

    def rows(self, assignment: str | None = None, *, student: str | None = None) -> list[Row]:
        """The lines of grades.csv (see `report.Row`), of one assignment or all, one student or all."""
        found = []
        for filed in self.filed(assignment, student=student):
            questions = self.questions(filed.assignment)
            graded = filed.status == "graded"
            scores = {a.cell: a.score if graded else None
                      for a in self.answers(filed.assignment, student=filed.student)}
            found.append(Row(filed.student, filed.assignment, filed.status,
                             {q.name: scores.get(q.name) for q in questions},
                             sum(scores.get(q.name) or 0.0 for q in questions if q.auto),
                             sum(q.points for q in questions if q.auto),
                             sum(q.points for q in questions if not q.auto), filed.notes))
        return found

    def mean_points(self, assignment: str, cell: str) -> float | None:
        """The mean of a cell's points over the answers that have them (None if none has)."""
        scores = [a.score for a in self.answers(assignment, cell) if a.score is not None]
        return fmean(scores) if scores else None

    # A grader's side ---------------------------------------------------------------------------------

    def mark(self, student: str, assignment: str, cell: str, points: float, comment: str = "", *,
             grader: str, version: int | None = None) -> Answer:
        """Give `points` and `comment` to one answer; returns it as saved. `version`: the version of the
        answer the grader saw: if another grader saved it since, nothing is written (GradebookError)."""
        question = self.question(assignment, cell)
        _check_points(points, question)
        with self._session() as session:
            score = session.get(_Score, (student, assignment, cell))
            if score is None:
                raise GradebookError(f"no submission of {assignment} by {student!r} in {self.where}.")
            seen = score.version if version is None else version
            changed = session.execute(
                update(_Score).where(_Score.student == student, _Score.assignment == assignment,
                                     _Score.cell == cell, _Score.version == seen)
                .values(manual_points=float(points), comment=comment, grader=grader, marked_at=_now(),
                        version=seen + 1))
            if changed.rowcount != 1:
                raise GradebookError(f"{student}'s answer to {cell} was saved by {score.grader or 'another grader'} "
                                     "since you opened it: reload it, and grade it again if need be.")
        return self.answers(assignment, cell, student=student)[0]

    def rubric(self, assignment: str, cell: str) -> list[RubricItem]:
        """The rubric of one written question, in the order its items were added."""
        with self._session() as session:
            return [RubricItem(i.id, i.assignment, i.cell, i.text, i.points) for i in session.scalars(
                select(_RubricItem).where(_RubricItem.assignment == assignment, _RubricItem.cell == cell)
                .order_by(_RubricItem.id))]

    def add_rubric_item(self, assignment: str, cell: str, text: str, points: float) -> RubricItem:
        """A new reusable comment for one written question."""
        _check_points(points, self.question(assignment, cell))
        if not text.strip():
            raise GradebookError("a rubric item needs a comment.")
        with self._session() as session:
            item = _RubricItem(assignment=assignment, cell=cell, text=text.strip(), points=float(points))
            session.add(item)
            session.flush()
            return RubricItem(item.id, assignment, cell, item.text, item.points)

    def apply_rubric(self, item_id: int, students: list[str], *, grader: str) -> list[Answer]:
        """Give a rubric item's points and comment to the answers of `students` to its question."""
        with self._session() as session:
            item = session.get(_RubricItem, item_id)
            if item is None:
                raise GradebookError(f"no rubric item {item_id} in {self.where}.")
        known = {a.student for a in self.answers(item.assignment, item.cell)}
        unknown = sorted(set(students) - known)
        if unknown:
            raise GradebookError(f"no submission of {item.assignment} by {', '.join(map(repr, unknown))} "
                                 f"in {self.where}.")
        return [self.mark(student, item.assignment, item.cell, item.points, item.text, grader=grader)
                for student in students]

    # The database ------------------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on an error; database errors
        become one GradebookError."""
        with self._guard(), Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as error:
            text = str(error.orig)
            if "locked" in text:
                raise GradebookError(f"{self.where} is locked by another program (another grading run?): "
                                     "try again when it is done.") from None
            raise GradebookError(f"{self.where} cannot be used: {text.splitlines()[0]}") from None
        except DatabaseError as error:
            raise GradebookError(f"{self.where} is not a gradebook ({str(error.orig).splitlines()[0]}): "
                                 "move it away, or pass --gradebook with another.") from None

    def _check_schema(self) -> None:
        """Create the tables in an empty database; refuse one of another version or no gradebook."""
        tables = set(inspect(self.engine).get_table_names())
        if not tables:
            _Table.metadata.create_all(self.engine)
            with Session(self.engine) as session, session.begin():
                session.add(_Meta(key="schema", value=str(SCHEMA)))
            return
        if "meta" not in tables:
            raise GradebookError(f"{self.where} holds tables but no gradebook: pass --gradebook with another.")
        with Session(self.engine) as session:
            found = session.get(_Meta, "schema")
        version = int(found.value) if found is not None else 0
        if version > SCHEMA:
            raise GradebookError(f"{self.where} was written by a newer digitcourse (gradebook schema {version}; "
                                 f"this one reads {SCHEMA}): upgrade digitcourse.")
        if version < SCHEMA:
            raise GradebookError(f"{self.where} has gradebook schema {version}, which this digitcourse "
                                 f"(schema {SCHEMA}) cannot read.")


def _check_points(points: float, question: Question) -> None:
    if question.auto:
        raise GradebookError(f"{question.name} of {question.assignment} is autograded, not a written answer.")
    if not 0 <= points <= question.points:
        raise GradebookError(f"points={points:g} for {question.name} is out of range: 0 to {question.points:g}.")


def _question(row: _Question) -> Question:
    return Question(row.assignment, row.name, row.points, row.auto, row.prompt, row.model_answer)


def _answer(row: _Score) -> Answer:
    return Answer(row.student, row.assignment, row.cell, row.answer, row.auto_points, row.manual_points,
                  row.comment, row.grader, row.marked_at, row.version)


def _describe(url: str) -> str:
    """The gradebook as a message names it: its file for SQLite, else its URL without the password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return repr(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def _sqlite_settings(connection, _record) -> None:
    """SQLite: a journal that lets readers (the marking app) read while a grading run writes."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _now() -> datetime:
    return datetime.now(timezone.utc)
