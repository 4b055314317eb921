"""Where submissions are graded: here, `jobs` at a time, or on a Dask cluster; one code path for both.

::

    with executor(jobs=2, scheduler=None, isolate=True) as (pool, threads):    # local threads
        future = pool.submit(grade_job, Job(...).to_json())                     # -> Graded as JSON
    with executor(jobs=2, scheduler="tcp://host:8786", isolate=True) as (pool, threads):   # the cluster

`pool` is a `concurrent.futures` executor: a pool of threads in this process, or a Dask client's
(`Client.get_executor`). Either way a `Job` carries what grading needs as bytes (the submitted
notebook, the instructor's notebook and its released version), never a path, and `grade_job` grades
it where it runs: in a fresh temporary folder, by a worker process forked for it (`worker.py`) whose
kernel runs in its own sandbox, forked there by this process's `Zygote` (started at the first job). It
returns the `Graded` as JSON; `grade` files it.

A Dask worker machine needs the package, bubblewrap and the data root (DIGITCOURSE_DATA). Its worker
processes must be allowed children (``dask worker --no-nanny``, or DASK_DISTRIBUTED__WORKER__DAEMON=False
with a nanny): `executor` checks both before anything is submitted. A worker that dies while grading
has its submission graded again elsewhere by the scheduler, up to its
``distributed.scheduler.allowed-failures`` (start the scheduler with
DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1: once), then the submission is reported failed
(`outcome`). With DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0 a worker holds only the
submission it grades (Dask's default sends it a second one to wait behind the first). A lost scheduler
ends the run (`cluster.SchedulerLost`), the grades filed so far kept.
"""
from __future__ import annotations

import base64
import json
import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..cluster import connect, lost, threads_per_task
from ..errors import ConfigError
from .limits import Limits
from .report import Graded
from .student import sandbox
from .student.zygote import Zygote

# Each worker is forked from a server process that imported what every worker needs (torch, nbformat,
# nbconvert, the grading modules: 3 to 4 s of CPU per worker otherwise) and what the course notebooks'
# definitions import, which each worker runs (`verdict.Verdicts`: 1.6 s of CPU for hw3's otherwise), and
# ran nothing else; no student code ever runs in a worker or in the server. A Dask worker starts a
# server of its own.
WORKERS = multiprocessing.get_context("forkserver")
WORKERS.set_forkserver_preload(["digitcourse.grading.worker", "torch", "nbconvert", "numpy", "pandas",
                                "scipy.stats", "IPython.display"])
@dataclass(frozen=True)
class Job:
    """One submission to grade, with all it needs as bytes: `notebook` (the student's), `source` (the
    instructor's notebook) and `release` (its released version). threads: the torch threads of its kernel."""

    student: str
    assignment: str
    notebook: bytes
    source: bytes
    release: bytes
    limits: Limits
    profile: str
    isolate: bool
    threads: int

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps({**data, **{name: base64.b64encode(data[name]).decode() for name in _BYTES}})

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(**{**data, **{name: base64.b64decode(data[name]) for name in _BYTES},
                      "limits": Limits(**data["limits"])})


_BYTES = ("notebook", "source", "release")


def grade_job(text: str) -> str:
    """Grade the `Job` `text` (JSON) in a worker process forked for it; its `Graded` as JSON, a failure
    when the worker crashed or overran its limit."""
    from .worker import RESULT, Task, run_logged

    job = Job.from_json(text)
    with tempfile.TemporaryDirectory(prefix="digitcourse-job-") as folder:
        folder = Path(folder)
        template = folder / "template"
        template.mkdir()
        for name, content in (("submitted.ipynb", job.notebook), ("template/source.ipynb", job.source),
                              ("template/release.ipynb", job.release)):
            (folder / name).write_bytes(content)
        task = Task(job.student, job.assignment, folder / "submitted.ipynb", template, folder, folder / "scratch",
                    job.limits, job.profile, job.isolate, job.threads, Zygote.shared().address)
        (folder / "task.json").write_text(task.to_json())
        limit = job.limits.notebook + Limits.GRACE
        worker = WORKERS.Process(target=run_logged, args=(str(folder / "task.json"), str(folder / "worker.log"),
                                                          os.getpid()))
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            try:
                os.killpg(worker.pid, 9)  # the worker leads a session of its own: its kernel and sandbox too
            except ProcessLookupError:
                worker.kill()
            worker.join()
            return Graded.failure("failed", f"grading was stopped at its limit of {limit} s", limit=True).to_json()
        if (folder / RESULT).exists():
            return (folder / RESULT).read_text()
        lines = (folder / "worker.log").read_text(errors="replace").strip().splitlines()
        why = f"the grader crashed (exit code {worker.exitcode}): {lines[-1] if lines else ''}"
        return Graded.failure("failed", why).to_json()


@contextmanager
def executor(jobs: int, scheduler: str | None, isolate: bool) -> Iterator[tuple[Executor, int]]:
    """The executor that grades (see the module's docstring) and the torch threads each kernel may use:
    `jobs` threads here when `scheduler` is None, else the Dask cluster whose scheduler has that address
    (checked: it answers, a worker has joined, every worker can start processes and, when `isolate`,
    has the sandbox)."""
    if scheduler is None:
        with ThreadPoolExecutor(jobs) as pool:
            yield pool, max(1, (os.cpu_count() or 1) // jobs)
        return
    with connect(scheduler) as client:
        problems = {why for why in client.run(_cannot_grade, isolate).values() if why}
        if problems:
            raise ConfigError(f"Dask workers of {scheduler} cannot grade: {'; '.join(sorted(problems))}.")
        with client.get_executor(pure=False) as pool:
            yield pool, threads_per_task(client)


def outcome(future: Future, scheduler: str | None) -> Graded:
    """The `Graded` of a finished `grade_job` future: its result, or a failure where grading raised (on
    a cluster, Dask's KilledWorker: the workers grading it died as often as the scheduler allows).
    Raises `cluster.SchedulerLost` for a future the lost scheduler cancelled."""
    if future.cancelled():
        raise lost(scheduler, "the grades filed so far")
    error = future.exception()
    if error is None:
        return Graded.from_json(future.result())
    if type(error).__name__ == "KilledWorker":
        return Graded.failure("failed", "the Dask workers grading it died, as often as the scheduler allows")
    return Graded.failure("failed", f"the grader raised {type(error).__name__}: {error}")


def _cannot_grade(isolate: bool) -> str:
    """Why this process (a Dask worker) cannot grade; "" when it can."""
    if multiprocessing.current_process().daemon:
        return ("a daemonic worker cannot start the grader's processes: start the workers with "
                "--no-nanny or DASK_DISTRIBUTED__WORKER__DAEMON=False")
    return sandbox.WHY_NOT_HERE if isolate and not sandbox.available() else ""
