"""A real Dask cluster on 127.0.0.1 that a test starts for itself: ``dask scheduler`` and ``dask worker``
processes, bounded and self-stopping.

::

    with dask_cluster(folder, workers=2) as cluster:   # cluster.address, .workers, .scheduler (Popen)
        ...

No dashboard; one thread per worker; a worker stops itself 60 s after its scheduler is gone, the
scheduler after 5 idle minutes; every process is killed at the end, and by `timeout` after LIFETIME
seconds at the latest. The scheduler retries a task whose worker died once (allowed-failures 1) and
gives a worker only the task it runs (worker-saturation 1.0). A cluster that cannot start fails the
test with its logs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

LIFETIME = 900  # seconds any process of the cluster may live at all
DASK = [sys.executable, "-m", "dask"]
SETTINGS = dict(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1", DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0",
                OMP_NUM_THREADS="1")


@dataclass
class DaskCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]


def start(command: list[str], log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(["timeout", "-s", "KILL", str(LIFETIME), *command], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, env={**os.environ, **env})


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_tree(process: subprocess.Popen) -> None:
    """Kill a process started by `start` and all it started (SIGKILL: `timeout` passes nothing on)."""
    for child in descendants(process.pid):
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.kill()
    process.wait(30)


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


@contextmanager
def dask_cluster(folder: Path, workers: int = 2, **env: str) -> Iterator[DaskCluster]:
    """A scheduler and `workers` workers (``--no-nanny``) with the environment `env` added, their logs in
    `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "scheduler.json"
    scheduler = start([*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--idle-timeout", "300s", "--scheduler-file", str(file)], folder / "scheduler.log",
                      **SETTINGS, **env)
    processes = [scheduler]
    try:
        if not wait_until(lambda: file.exists() or scheduler.poll() is not None, 120) or not file.exists():
            pytest.fail(f"dask scheduler did not start: {(folder / 'scheduler.log').read_text()[-1500:]}")
        address = json.loads(file.read_text())["address"]
        started = [start([*DASK, "worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard",
                          "--host", "127.0.0.1", "--name", f"w{n}", "--death-timeout", "60",
                          "--local-directory", str(folder / f"w{n}")],
                         folder / f"worker{n}.log", **SETTINGS, **env) for n in range(1, workers + 1)]
        processes += started
        from distributed import Client

        with Client(address, timeout=30) as client:
            try:
                client.wait_for_workers(workers, timeout=120)
            except TimeoutError:
                logs = " | ".join(path.read_text()[-600:] for path in folder.glob("worker*.log"))
                pytest.fail(f"{workers} dask workers did not join the scheduler in 120 s: {logs}")
        yield DaskCluster(address, scheduler, started)
    finally:
        for process in processes:
            kill_tree(process)
