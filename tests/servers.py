"""Servers that tests start for themselves: a real PostgreSQL on 127.0.0.1, in a temporary data folder.

::

    def test_x(postgresql_url):   # a fresh, empty database on the session's server
        engine = sqlalchemy.create_engine(postgresql_url)

`postgresql` (session scope) starts one server per pytest process (each xdist worker has its own)
from Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin). The server refuses to run as
root, so under root it runs as the `postgres` user, with a data folder that user owns. It is bounded
and stops itself: starting may take STARTUP_S seconds; it is stopped at the end of the session; and
it gets SIGINT (a fast shutdown) when the pytest process that started it dies (`setpriv --pdeathsig`).
A server that cannot start fails the tests that asked for it, with the reason.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from components import require

POSTGRESQL_BINARIES = "/usr/lib/postgresql/*/bin"
STARTUP_S = 30
SHUTDOWN_S = 10
OWNER = "postgres"  # the system user that runs the server when the tests run as root


@dataclass
class PostgreSQLServer:
    """A running server: `url` of its `postgres` database (SQLAlchemy, psycopg 3), and where it keeps
    its files and log."""

    url: str
    folder: Path
    log: Path

    def create_database(self, name: str) -> str:
        """Create the empty database `name` (letters, digits, _); returns its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a plain database name")
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def _binaries() -> Path:
    found = sorted(Path("/").glob(POSTGRESQL_BINARIES.lstrip("/")), key=lambda p: int(p.parent.name))
    if not found:
        pytest.fail(f"PostgreSQL is not installed (no {POSTGRESQL_BINARIES}/postgres): "
                    "apt-get install postgresql (see system-packages.txt)", pytrace=False)
    return found[-1]


def _as_owner() -> list[str]:
    """The command prefix that runs a program as OWNER when we are root, and that sends it SIGINT
    when this process dies."""
    switch = [f"--reuid={OWNER}", f"--regid={OWNER}", "--init-groups"] if os.geteuid() == 0 else []
    return ["setpriv", "--pdeathsig", "INT", *switch, "--"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fail(why: str, log: Path) -> None:
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    pytest.fail(f"PostgreSQL did not start: {why}\n{tail}", pytrace=False)


def start_postgresql(folder: Path) -> tuple[PostgreSQLServer, subprocess.Popen]:
    """initdb a cluster in folder/data and start its server on a free port of 127.0.0.1."""
    binaries, data, log = _binaries(), folder / "data", folder / "server.log"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, OWNER)
        shutil.chown(data, OWNER)
    initdb = subprocess.run([*_as_owner(), str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                             "-U", "postgres", "--no-sync"], capture_output=True, text=True,
                            timeout=STARTUP_S, check=False)
    if initdb.returncode != 0:
        _fail(f"initdb exited with {initdb.returncode}: {initdb.stderr.strip()[-1000:]}", log)
    port = _free_port()
    with open(log, "w") as output:
        server = subprocess.Popen([*_as_owner(), str(binaries / "postgres"), "-D", str(data), "-p", str(port),
                                   "-k", str(data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                                  stdout=output, stderr=subprocess.STDOUT)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    engine = sa.create_engine(url)
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with engine.connect():
                break
        except sa.exc.OperationalError:
            if server.poll() is not None:
                _fail(f"the server exited with {server.returncode}", log)
            if time.monotonic() > deadline:
                server.kill()
                _fail(f"no answer on 127.0.0.1:{port} within {STARTUP_S} s", log)
            time.sleep(0.2)
    engine.dispose()
    return PostgreSQLServer(url, folder, log), server


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQLServer]:
    """A PostgreSQL server for this pytest process, stopped (and its folder removed) at the end."""
    require("postgresql")
    folder = Path(tempfile.mkdtemp(prefix="digitcourse-postgresql-"))
    try:
        server, process = start_postgresql(folder)
        try:
            yield server
        finally:
            process.send_signal(signal.SIGINT)  # setpriv has become postgres: SIGINT is its fast shutdown
            try:
                process.wait(SHUTDOWN_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgresql_url(postgresql: PostgreSQLServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return postgresql.create_database(f"test_{uuid.uuid4().hex[:16]}")
