"""A Dask cluster that grading and the book hand their work to: reaching it, and sharing its cores.

::

    with connect("tcp://host:8786") as client:        # it answers and a worker has joined, else ConfigError
        pool = client.get_executor(pure=False)        # a concurrent.futures executor on its workers
        threads = threads_per_task(client)            # torch threads per task on its busiest machine

A lost scheduler cancels the futures it held: `lost(scheduler)` is the one error that says so.
Dask is imported only here, and only when a scheduler is named.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .errors import ConfigError, DigitcourseError

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT = 30  # seconds to reach a Dask scheduler, and for its first worker to join


class SchedulerLost(DigitcourseError):
    """The Dask scheduler went away during a run."""


@contextmanager
def connect(scheduler: str) -> Iterator[Client]:
    """A client of the Dask scheduler at `scheduler`, once it answers and a worker has joined."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ConfigError(f"No Dask scheduler answers at {scheduler}: {error}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise ConfigError(f"No Dask worker joined the scheduler at {scheduler} in {CONNECT_TIMEOUT} s: "
                              "start some (dask worker SCHEDULER).") from None
        yield client


def lost(scheduler: str, kept: str) -> SchedulerLost:
    """The error of a run whose scheduler went away; `kept` says what the run has kept ("the grades
    filed so far")."""
    return SchedulerLost(f"Lost the Dask scheduler at {scheduler}: {kept} are kept; run the same command "
                         "again for the rest.")


def threads_per_task(client: Client) -> int:
    """Torch threads for each task, so that the tasks of the busiest machine share its cores."""
    return shared_cores(client.nthreads(), client.run(os.cpu_count))


def shared_cores(nthreads: dict[str, int], cpus: dict[str, int]) -> int:
    """Cores per worker thread on the busiest machine (nthreads and cpus: worker address -> its
    threads, its machine's cores)."""
    hosts: dict[str, list[int]] = {}
    for address, count in nthreads.items():
        tally = hosts.setdefault(urlparse(address).hostname or address, [0, cpus.get(address, 1)])
        tally[0] += count
    return min((max(1, cores // count) for count, cores in hosts.values()), default=1)
