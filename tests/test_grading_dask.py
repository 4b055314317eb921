"""Grading on a Dask cluster: `digitcourse grade --scheduler` on a real scheduler and two workers.

The module's `cluster` starts ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1
(`dask_cluster.py`: bounded and self-stopping). The toy assignment
is graded here and on the cluster, with one worker killed while it grades; a last test kills the
scheduler mid-run. Few submissions (the solution, the blank release, a wrong answer) keep it cheap.
"""
from __future__ import annotations

import copy
import subprocess
import threading
import time

import psutil
import pytest
from dask_cluster import dask_cluster, descendants, kill_tree, wait_until
from grading_support import TOY, submit, toy_sources, wrong_answer

from digitcourse import cluster as engine
from digitcourse.errors import ConfigError
from digitcourse.grading import dispatch
from digitcourse.grading.grade import grade
from digitcourse.grading.gradebook import Gradebook
from digitcourse.grading.limits import Limits

pytestmark = [pytest.mark.xdist_group("grading"), pytest.mark.needs("sandbox")]

LIMITS = Limits(cell=30, notebook=90, memory=2 ** 30)


def grading_in(process: subprocess.Popen) -> bool:
    """Whether the Dask worker `process` grades a submission now: its forkserver has a child."""
    try:
        return any(child.children() for child in descendants(process.pid)
                   if "forkserver" in " ".join(child.cmdline()))
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two workers."""
    with dask_cluster(tmp_path_factory.mktemp("dask")) as started:
        yield started


@pytest.fixture(scope="module")
def toy_class(tmp_path_factory):
    """The toy assignment's source folder and three submissions: the solution, the blank release, a
    wrong standard error."""
    work = tmp_path_factory.mktemp("toy_dask")
    _, toy, released = toy_sources(work)
    folder = work / "submissions"
    submit(folder, "solution", TOY.stem, toy)
    submit(folder, "blank", TOY.stem, released)
    submit(folder, "wrong", TOY.stem, wrong_answer(copy.deepcopy(toy), "standard_error"))
    return work


def grades(rows) -> dict[str, tuple]:
    return {row.student: (row.status, row.scores, row.total, row.max) for row in rows}


@pytest.fixture(scope="module")
def local_rows(toy_class):
    started = time.monotonic()
    rows = grade(toy_class / "submissions", source=toy_class / "source", out=toy_class / "local", jobs=2,
                 limits=LIMITS, profile="tiny")
    print(f"local run: {time.monotonic() - started:.1f} s")
    return rows


def test_a_job_crosses_as_json_unchanged():
    job = dispatch.Job("ann", "hw1", b"\xff not json", b"{}", b"{\"cells\": []}", LIMITS, "tiny", True, 2)
    assert dispatch.Job.from_json(job.to_json()) == job


def test_a_killed_worker_is_a_failed_row_and_a_cancelled_future_a_lost_scheduler():
    from concurrent.futures import Future

    from distributed.scheduler import KilledWorker

    killed = Future()
    killed.set_exception(KilledWorker("grade_job-1", "tcp://127.0.0.1:1", 1))
    row = dispatch.outcome(killed, "tcp://127.0.0.1:8786")
    assert (row.status, row.notes) == ("failed", ["the Dask workers grading it died, as often as the scheduler allows"])
    cancelled = Future()
    cancelled.cancel()
    with pytest.raises(engine.SchedulerLost, match="Lost the Dask scheduler at tcp://127.0.0.1:8786"):
        dispatch.outcome(cancelled, "tcp://127.0.0.1:8786")


def test_kernels_share_the_cores_of_the_busiest_machine():
    nthreads = {"tcp://10.0.0.1:1": 2, "tcp://10.0.0.1:2": 2, "tcp://10.0.0.2:1": 1}
    assert engine.shared_cores(nthreads, {"tcp://10.0.0.1:1": 16, "tcp://10.0.0.1:2": 16, "tcp://10.0.0.2:1": 8}) == 4


def test_no_scheduler_at_the_address_is_one_config_error(toy_class, monkeypatch):
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 2)
    with pytest.raises(ConfigError, match="No Dask scheduler answers at tcp://127.0.0.1:9"):
        grade(toy_class / "submissions", source=toy_class / "source", out=toy_class / "nowhere",
              scheduler="tcp://127.0.0.1:9", limits=LIMITS, profile="tiny")


def test_the_cluster_grades_as_the_local_run_though_a_worker_is_killed_while_grading(cluster, toy_class,
                                                                                    local_rows):
    address, workers = cluster.address, cluster.workers
    assert grades(local_rows) == {
        "solution": ("graded", dict(test_standard_error=2, test_relu_backward=2, test_relu_backward_sum=1,
                                    why_ddof=None), 5, 5),
        "blank": ("graded", dict(test_standard_error=0, test_relu_backward=0, test_relu_backward_sum=0,
                                 why_ddof=0), 0, 5),
        "wrong": ("graded", dict(test_standard_error=0, test_relu_backward=2, test_relu_backward_sum=1,
                                 why_ddof=None), 3, 5)}
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["rows"] = grade(toy_class / "submissions", source=toy_class / "source",
                                   out=toy_class / "cluster", scheduler=address, limits=LIMITS, profile="tiny")
        except BaseException as error:
            result["error"] = error

    started = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    victim = workers[0]
    assert wait_until(lambda: grading_in(victim) or not thread.is_alive(), 300), "worker 1 never graded"
    assert thread.is_alive(), f"the run ended before worker 1 graded: {result}"
    kill_tree(victim)
    thread.join(600)
    print(f"cluster run with a worker killed: {time.monotonic() - started:.1f} s")
    assert "error" not in result, result.get("error")
    assert grades(result["rows"]) == grades(local_rows)
    assert workers[1].poll() is None  # the other worker graded the rest


def test_a_lost_scheduler_is_one_error_and_the_grades_filed_so_far_stay(cluster, toy_class):
    address, workers, scheduler = cluster.address, cluster.workers, cluster.scheduler
    result: dict[str, object] = {}

    def run() -> None:
        try:
            grade(toy_class / "submissions", source=toy_class / "source", out=toy_class / "lost",
                  scheduler=address, limits=LIMITS, profile="tiny", regrade=True)
        except BaseException as error:
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    assert wait_until(lambda: (toy_class / "lost" / "gradebook.db").exists() and any(
        grading_in(worker) for worker in workers if worker.poll() is None), 300)
    kill_tree(scheduler)
    thread.join(300)
    assert not thread.is_alive()
    assert isinstance(result.get("error"), engine.SchedulerLost), result
    assert "Lost the Dask scheduler at tcp://127.0.0.1:" in str(result["error"])
    with Gradebook.open(toy_class / "lost" / "gradebook.db") as book:
        assert len(book.filed()) <= 3
