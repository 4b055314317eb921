"""Shared fixtures: the course's notebooks, executed once per pytest run.

`executed_notebooks[name]` executes notebooks/<name>.ipynb in the quick profile into book/executed/,
the folder `digitcourse book` writes too (`digitcourse.book.EXECUTED`), with the cache key it checks,
so the book tests render these copies instead of executing again. Each notebook runs once per pytest
run, when a test first asks for it, also under xdist: the worker that takes that notebook's file lock
executes it while the other worker goes on with other tests (or executes another notebook), and later
askers reuse the copy. A run is told apart by xdist's PYTEST_XDIST_TESTRUNUID (shared by the workers
of one run), else by this process.

The servers tests start for themselves (PostgreSQL) are fixtures of `servers.py`, offered here to every
test module.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from digitcourse.book import EXECUTED
from digitcourse.book.runs import run_notebook
from digitcourse.course import NOTEBOOKS
from digitcourse.errors import DigitcourseError
from components import require
from servers import postgresql, postgresql_url  # noqa: F401 (fixtures every test module may ask for)

PROFILE = "quick"
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: with torch's default of one thread per core each, the
    # threads of both (and of the notebook kernels they start) spin against each other and training
    # runs 5-20 times slower. One thread per worker, inherited by the kernels through the environment.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(component): the test needs a component of system-packages.txt "
                            "(sandbox, browser, postgresql, pdf); it fails where that cannot run, unless "
                            "DIGITCOURSE_WITHOUT names it")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        require(mark.args[0])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """Under `--dist loadgroup`, stop unless xdist really keeps each `xdist_group` together.

    The book and grading tests build shared outputs in module fixtures; split over two workers, they
    build them twice, at the same time, in the same folders. xdist tells a grouped test by the
    "@group" it adds to its id, which pytest 9.2 ignores (pytest-xdist 3.8): constraints.txt pins a
    pair that works.
    """
    if node.config.getoption("dist") != "loadgroup" or any("@" in id for id in ids):
        return
    modules = {id.partition("::")[0] for id in ids}
    if any("xdist_group" in (node.config.rootpath / module).read_text() for module in modules):
        pytest.exit("pytest-xdist grouped no test, so --dist loadgroup would split the book and grading "
                    "tests over the workers: install the pytest and pytest-xdist of constraints.txt "
                    "(make install).", returncode=4)


class ExecutedNotebooks:
    """The executed copies by notebook name, each executed on first request; asking for one that
    failed fails the test with its error."""

    def __getitem__(self, name: str) -> Path:
        source = NOTEBOOKS / f"{name}.ipynb"
        marker = EXECUTED / f".{name}.pytest-run.json"  # which run executed the copy, and its error
        with FileLock(str(EXECUTED / f".{name}.pytest-run.lock")):
            record = json.loads(marker.read_text()) if marker.exists() else {}
            if record.get("run") != RUN:
                try:
                    run_notebook(source, EXECUTED / source.name, {"profile": PROFILE})
                    record = {"run": RUN, "failure": None}
                except DigitcourseError as error:
                    record = {"run": RUN, "failure": str(error)}
                marker.write_text(json.dumps(record, indent=1))
        if record["failure"]:
            pytest.fail(f"executing {name} ({PROFILE} profile) failed: {record['failure']}", pytrace=False)
        return EXECUTED / source.name


@pytest.fixture(scope="session")
def executed_notebooks() -> ExecutedNotebooks:
    """The course's notebooks executed in the quick profile into book/executed/, once per pytest run."""
    EXECUTED.mkdir(parents=True, exist_ok=True)
    return ExecutedNotebooks()


@pytest.fixture(params=["sqlite", "postgresql"])
def gradebook_url(request, tmp_path) -> str:
    """A fresh, empty gradebook database for one test: an SQLite file, then a database on the session's
    PostgreSQL server. The gradebook's and the marking app's tests take their database from here."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgresql_url")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"
