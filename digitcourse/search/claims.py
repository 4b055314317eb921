"""Which setting each trial scores: claims that several processes sharing one study respect.

A search is a fixed list of settings, numbered 0, 1, ... (the grid's points, or the random draws
0..n-1). Before a trial scores setting k it *claims* k: an atomic write that succeeds for one trial
only, so no setting is scored twice, however many processes share the study. A claim passes to a new
trial only when its holder failed (an error, or a process that stopped beating and was marked failed
by optuna's heartbeat)::

    claims = DatabaseClaims(storage.engine, "search")   # or MemoryClaims() for a study in memory
    claims.holders()                 # {setting: trial number}
    claims.take(3, trial=12, previous=None)   # True if trial 12 now holds setting 3

In a database the claims live in a table of their own beside optuna's (`digitcourse_settings`), so a
SQLite file or a PostgreSQL server shared by the processes is all they need.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

_METADATA = sa.MetaData()
_SETTINGS = sa.Table("digitcourse_settings", _METADATA,
                     sa.Column("study", sa.String(512), primary_key=True),
                     sa.Column("setting", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("trial", sa.Integer, nullable=False))
_CREATE_TRIES = 5  # processes that start together race to create the tables; the losers try again
T = TypeVar("T")


def created_in_a_race(create: Callable[[], T]) -> T:
    """`create()`, which creates database tables where missing, tried again when another process that
    started at the same time created them between its check and its CREATE (a DatabaseError)."""
    for attempt in range(1, _CREATE_TRIES + 1):
        try:
            return create()
        except sa.exc.DatabaseError:
            if attempt == _CREATE_TRIES:
                raise
            time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


class MemoryClaims:
    """The claims of a study that lives in this process only."""

    def __init__(self):
        self._holders: dict[int, int] = {}

    def holders(self) -> dict[int, int]:
        """Setting number -> the number of the trial that holds it."""
        return dict(self._holders)

    def take(self, setting: int, trial: int, previous: int | None) -> bool:
        """Give `setting` to `trial` if its holder is still `previous` (None: unclaimed)."""
        if self._holders.get(setting) != previous:
            return False
        self._holders[setting] = trial
        return True


class DatabaseClaims:
    """The claims of study `study` in the database behind `engine`, shared by every process using it."""

    def __init__(self, engine: sa.Engine, study: str):
        self.engine, self.study = engine, study
        created_in_a_race(lambda: _METADATA.create_all(engine))

    def holders(self) -> dict[int, int]:
        """Setting number -> the number of the trial that holds it."""
        query = sa.select(_SETTINGS.c.setting, _SETTINGS.c.trial).where(_SETTINGS.c.study == self.study)
        with self.engine.connect() as connection:
            return dict(connection.execute(query).all())

    def take(self, setting: int, trial: int, previous: int | None) -> bool:
        """Give `setting` to `trial` if its holder is still `previous` (None: unclaimed): an INSERT
        that the primary key lets one process win, or an UPDATE conditional on the old holder."""
        if previous is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(sa.insert(_SETTINGS).values(study=self.study, setting=setting,
                                                                   trial=trial))
                return True
            except sa.exc.IntegrityError:
                return False
        with self.engine.begin() as connection:
            moved = connection.execute(
                sa.update(_SETTINGS).values(trial=trial)
                .where(_SETTINGS.c.study == self.study, _SETTINGS.c.setting == setting,
                       _SETTINGS.c.trial == previous))
        return moved.rowcount == 1
