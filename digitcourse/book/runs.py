"""Executing the book's notebooks: here, `jobs` side by side, or on a Dask cluster; one code path for all.

::

    execute_all(stale, {"profile": "full"}, jobs=2)                          # local processes
    execute_all(stale, {"profile": "full"}, scheduler="tcp://host:8786")    # the cluster's workers

Each notebook crosses as a `NotebookRun` (its bytes, the parameters, the digest of the library that
must execute it) to `execute_run`, which executes it in a temporary folder wherever it runs and
returns an `Executed` (the executed notebook's bytes, its error, its minutes, the machine), both as
JSON. This process then writes the copy into book/executed/ and stamps it with the cache key it
computed before the run (`cache.CacheKey`: so a copy made on another machine is reused here as one
made here). A failed run's copy is written too, for reading, unstamped.

A Dask worker needs the package (the same source: a worker whose library digest differs refuses the
run) and the course's data under its DIGITCOURSE_DATA. Its kernels take the cores of its machine shared
among the worker threads there (`cluster.threads_per_task`). A line per notebook says when it starts
(on a worker, printed here through Dask), finishes (minutes, and where) or fails. A lost scheduler ends
the build with one error; the copies written so far are kept, and the next build reuses them.
"""
from __future__ import annotations

import base64
import json
import multiprocessing
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..cluster import connect, lost, threads_per_task
from ..course import environment
from ..errors import DigitcourseError
from ..execute import execute_notebook
from ..files import atomic_write
from .cache import CacheKey, library_digest, stamp

THREADS = "OMP_NUM_THREADS"  # torch's threads in a kernel: the cores shared out among the runs


_Run = TypeVar("_Run", bound="_WithNotebook")


class _WithNotebook:
    """JSON for a dataclass with a `notebook` of bytes (base64 in the JSON)."""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "notebook": base64.b64encode(self.notebook).decode()})

    @classmethod
    def from_json(cls: type[_Run], text: str) -> _Run:
        data = json.loads(text)
        return cls(**{**data, "notebook": base64.b64decode(data["notebook"])})


@dataclass(frozen=True)
class NotebookRun(_WithNotebook):
    """One notebook to execute: `name` (its file name), `notebook` (its bytes), `parameters` (the profile
    among them), `library` (the digest of the digitcourse that must run it), `threads` (torch threads for
    its kernel; 0: as the environment has it), `copy` (where its executed copy will be kept, for
    messages), `log` (stream its cells' output), `remote` (it runs on a Dask worker)."""

    name: str
    notebook: bytes
    parameters: dict[str, Any]
    library: str
    threads: int
    copy: str
    log: bool = False
    remote: bool = False


@dataclass(frozen=True)
class Executed(_WithNotebook):
    """What a run gives back: the executed `notebook` (b"" when none was written), its `error` ("" when
    every cell ran), the `minutes` it took and the `host` it ran on."""

    notebook: bytes
    error: str
    minutes: float
    host: str


def execute_run(text: str) -> str:
    """Execute the `NotebookRun` `text` (JSON) in a temporary folder; its `Executed` as JSON."""
    run = NotebookRun.from_json(text)
    host, started = socket.gethostname(), time.perf_counter()
    if library_digest() != run.library:
        return Executed(b"", f"{host} has another digitcourse than the one that asked for {run.name}: install "
                             "the same source there", 0.0, host).to_json()
    _say(run, f"{Path(run.name).stem}: started" + (f" on {host}" if run.remote else ""))
    threads = {THREADS: str(run.threads)} if run.threads else {}
    with tempfile.TemporaryDirectory(prefix="digitcourse-book-") as folder, environment(**threads):
        source, output = Path(folder) / run.name, Path(folder) / "executed" / run.name
        source.write_bytes(run.notebook)
        output.parent.mkdir()
        error = ""
        try:
            execute_notebook(source, output, profile=run.parameters["profile"], log=run.log,
                             parameters={k: v for k, v in run.parameters.items() if k != "profile"})
        except DigitcourseError as failed:
            error = str(failed).replace(str(output), run.copy)
        notebook = output.read_bytes() if output.exists() else b""
    return Executed(notebook, error, (time.perf_counter() - started) / 60, host).to_json()


def run_notebook(source: Path, executed: Path, parameters: dict, *, log: bool = False) -> Path:
    """Execute `source` into `executed` here with `parameters` and stamp the copy; returns `executed`.
    DigitcourseError when a cell fails."""
    key = CacheKey.of(source, parameters)  # taken before the run: what the copy is computed from
    result = Executed.from_json(execute_run(_run_of(source, executed, parameters, threads=0, log=log)))
    _keep(result, executed, key)
    return executed


def execute_all(stale: list[tuple[Path, list[str]]], executed: Path, parameters: dict, *, jobs: int = 1,
                scheduler: str | None = None) -> None:
    """Execute each stale (source, what changed) into the folder `executed`, `jobs` at a time here, or
    on the Dask cluster of `scheduler`; the first failure is raised once the runs beside it have ended."""
    if not stale:
        return
    keys = {source: CacheKey.of(source, parameters) for source, _ in stale}
    for source, changed in stale:
        print(f"{source.stem}: queued ({', '.join(changed)})", flush=True)
    with _pool(jobs, scheduler) as (pool, threads):
        running: dict[Future, Path] = {}
        for source, _ in stale:
            run = _run_of(source, executed / source.name, parameters, threads=threads, log=jobs == 1 and not scheduler,
                          remote=scheduler is not None)
            running[pool.submit(execute_run, run)] = source
        failure: DigitcourseError | None = None
        for future in as_completed(running):
            source = running[future]
            if future.cancelled() and failure is not None:
                continue  # never started: an earlier run failed
            try:
                _keep(_result(future, source, scheduler), executed / source.name, keys[source])
            except DigitcourseError as error:
                failure = failure or error
                for other in running:
                    other.cancel()  # those not started yet; those running end first
        if failure is not None:
            raise failure


def _run_of(source: Path, executed: Path, parameters: dict, *, threads: int, log: bool = False,
            remote: bool = False) -> str:
    return NotebookRun(source.name, source.read_bytes(), parameters, library_digest(), threads, str(executed),
                       log, remote).to_json()


def _result(future: Future, source: Path, scheduler: str | None) -> Executed:
    """The `Executed` of the finished run of `source`, its line printed; DigitcourseError when the run
    itself was lost (a cancelled future: its scheduler went away)."""
    if future.cancelled():
        raise lost(str(scheduler), "the executed copies written so far")
    error = future.exception()
    if error is not None:
        raise DigitcourseError(f"{source.stem}: its run raised {type(error).__name__}: {error}")
    result = Executed.from_json(future.result())
    where = f" on {result.host}" if scheduler else ""
    print(f"{source.stem}: {'failed after' if result.error else 'finished in'} {result.minutes:.1f} min{where}",
          flush=True)
    return result


def _keep(result: Executed, executed: Path, key: CacheKey) -> None:
    """Write the executed copy of `result` (if any) to `executed`, stamped with `key` when it ran through;
    DigitcourseError with the run's error when it did not."""
    if result.notebook:
        atomic_write(executed, result.notebook)
    if result.error:
        raise DigitcourseError(result.error)
    stamp(executed, key)


@contextmanager
def _pool(jobs: int, scheduler: str | None) -> Iterator[tuple[Executor, int]]:
    """Where the runs go, and the torch threads of each: one thread of this process (jobs 1), `jobs`
    processes sharing the cores, or the Dask cluster of `scheduler`."""
    if scheduler is not None:
        with connect(scheduler) as client, client.get_executor(pure=False) as pool:
            yield pool, threads_per_task(client)
    elif jobs == 1:
        with ThreadPoolExecutor(1) as pool:
            yield pool, 0
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool, max(1, (os.cpu_count() or 1) // jobs)


def _say(run: NotebookRun, line: str) -> None:
    """Print `line` here, and on the client too when the run is on a Dask worker."""
    if run.remote:
        from distributed import print as remote_print

        remote_print(line, flush=True)
    else:
        print(line, flush=True)
