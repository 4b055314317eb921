"""Students' kernels forked from one warm process, each into its own sandbox.

::

    zygote = Zygote.shared()                     # started once per process, ends with it
    zygote.spawn(Spawn(...), log, timeout=120)   # a kernel in the sandbox of one submission

A fresh kernel paid about 4 CPU-seconds before the student's first line ran: Python and ipykernel,
torch, pandas and SciPy, matplotlib and seaborn (with a font list built anew in each sandbox's empty
home), and ``torch._dynamo``, which torch imports at the first optimizer; then hw3 spent 0.9 s decoding
MNIST and Fashion-MNIST. A zygote pays them once. It is a process started with a kernel's clean
environment (`environment`: nothing of the grader's, so that the ``/proc/self/environ`` its kernels
inherit holds no secret) that imports what the course's notebooks import, decodes the data sets of the
data root and runs nothing else. For each kernel it forks a child that never returns to it:

1. the child joins the sandbox's cgroups and namespaces: those of the process that bubblewrap started
   for the submission (`Kernel` starts ``cat ALIVE`` in the sandbox to hold it open), user first;
2. it forks again, into the sandbox's PID namespace, and ends; the grandchild becomes the kernel:
3. it drops every capability, its bounding set included, and sets no_new_privs, as bubblewrap does for
   the processes it starts (``--cap-drop ALL``); it leads a session of its own; it keeps only its log
   and the write end of the FIFO ``ALIVE``, and takes the kernel's environment, working folder and
   number of threads;
4. it reports "ok" and runs ipykernel.

The zygote forks before it reads a request, so its memory holds its imports and nothing of any
submission. The kernel ends its sandbox when it ends: the ``cat`` holding the sandbox reads the FIFO
until its last writer is gone. Where the grader does not isolate (``--unsafe-no-sandbox``), no
namespace is joined, and the kernel ends itself when the ``cat`` does.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from .sandbox import environment

# What the course's notebooks import, and what a kernel needs to start (the backend of matplotlib is
# chosen in each kernel: `_become_kernel`).
PRELOAD = ("ipykernel.kernelapp", "torch", "torch._dynamo", "numpy", "pandas", "scipy.stats", "sklearn.metrics",
           "matplotlib.pyplot", "seaborn", "threadpoolctl", "digitcourse.data", "digitcourse.models",
           "digitcourse.training", "digitcourse.trials", "digitcourse.plots", "digitcourse.params",
           "digitcourse.search", "digitcourse.results", f"{__package__}.agent")
_NAMESPACES = {"mnt": 0x00020000, "pid": 0x20000000, "net": 0x40000000, "ipc": 0x08000000,
               "uts": 0x04000000, "cgroup": 0x02000000}  # the CLONE_NEW* flag of each
_NEWUSER = 0x10000000  # CLONE_NEWUSER
_GET_USERNS = 0xB701  # the ioctl NS_GET_USERNS: the user namespace that owns a namespace
_STARTED = "ok"
SOCKET = "socket"  # in the zygote's folder
# One thread, so that no OpenMP thread pool exists when the zygote forks: GNU OpenMP's would hang the
# child's first parallel product. Each kernel then takes its own threads (`_take_threads`). PASSIVE,
# read once when OpenMP loads: idle threads sleep instead of spinning between a tiny run's short products.
_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


@dataclass(frozen=True)
class Spawn:
    """One kernel to start: its connection file, working folder and whole environment; the cgroups to
    join (else `memory` bytes of address space); the process whose namespaces to join (None: none);
    `alive`, the FIFO the kernel holds open while it lives."""

    connection_file: str
    cwd: str
    env: dict[str, str]
    cgroups: list[str]
    memory: int
    sandboxed: int | None
    alive: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spawn:
        return cls(**json.loads(text))


class ZygoteError(RuntimeError):
    """The zygote could not start a kernel; the message says why."""


@dataclass(frozen=True)
class Zygote:
    """A running zygote, by the socket it listens on."""

    address: Path

    def spawn(self, spawn: Spawn, log: int, timeout: float) -> None:
        """Start the kernel `spawn` describes, its output into the file descriptor `log`, within
        `timeout` seconds (the zygote's imports included, the first time)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            try:
                connection.settimeout(timeout)
                connection.connect(str(self.address))
                socket.send_fds(connection, [spawn.to_json().encode()], [log])
                connection.shutdown(socket.SHUT_WR)
                reply = b"".join(iter(lambda: connection.recv(65536), b"")).decode()
            except OSError as error:
                raise ZygoteError(f"the kernels' zygote at {self.address} did not answer: {error}") from None
        if reply != _STARTED:
            raise ZygoteError(f"the kernels' zygote could not start a kernel: {reply or 'it ended first'}")

    @staticmethod
    def shared() -> Zygote:
        """This process's zygote, started on first use; it ends when this process does (it reads its
        standard input, our end of a pipe, until that closes)."""
        with _LOCK:
            if not _SHARED:
                _SHARED.append(_start())
            return _SHARED[0][0]


_SHARED: list[tuple[Zygote, subprocess.Popen]] = []  # the process kept: its standard input stays open
_LOCK = threading.Lock()


def _start() -> tuple[Zygote, subprocess.Popen]:
    folder = Path(tempfile.mkdtemp(prefix="digitcourse-zygote-"))  # its socket, home and temporary files
    process = subprocess.Popen([sys.executable, "-m", __name__, str(folder)], cwd=folder,
                               env=environment(folder, False, _THREADS), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    if process.stdout.readline() != b"listening\n":
        raise ZygoteError(f"the kernels' zygote did not start (exit code {process.wait()})")
    return Zygote(folder / SOCKET), process


def serve(folder: Path) -> None:
    """The zygote: listen on `folder`/`SOCKET`, import `PRELOAD`, decode the data sets, fork a kernel
    for each connection (see the module's docstring), until the standard input closes; then remove
    `folder`."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / SOCKET))
    listener.listen()
    print("listening", flush=True)
    _call("prctl", 36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: each kernel, once its parent ends, is ours to reap
    try:
        for name in PRELOAD:
            __import__(name)
        _decode_data_sets()
        while True:
            ready, _, _ = select.select([listener, sys.stdin], [], [], 5)
            _reap()
            if sys.stdin in ready:
                return
            if listener in ready:
                connection, _ = listener.accept()
                if os.fork() == 0:
                    _start_kernel(listener, connection)
                connection.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _reap() -> None:
    """Collect the exit status of every child and kernel that has ended."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:  # none left
        pass


def _decode_data_sets() -> None:
    """Load each data set the data root holds, once: `digitcourse.data` keeps what it decoded (read-only
    arrays, and each class order), so that every kernel finds it done. Nothing is downloaded."""
    from digitcourse import data
    from digitcourse.errors import DataError

    for name in data.DATASETS:
        try:
            data.load(name, subset=1, download=False)
        except DataError:  # not in the data root
            pass


def _start_kernel(listener: socket.socket, connection: socket.socket) -> None:
    """In the zygote's child: read the request, join the sandbox, fork the kernel; never returns."""
    try:
        listener.close()
        connection.settimeout(60)
        message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 1)
        message += b"".join(iter(lambda: connection.recv(1 << 16), b""))  # the rest, to the client's end
        spawn = Spawn.from_json(message.decode())
        for group in spawn.cgroups:
            Path(group, "cgroup.procs").write_text(str(os.getpid()))
        if spawn.sandboxed is not None:
            _join_namespaces(spawn.sandboxed)
        if os.fork() == 0:
            _become_kernel(spawn, fds[0], connection)
    except Exception as error:
        connection.sendall(f"{type(error).__name__}: {error}".encode())
    finally:
        os._exit(0)  # never back into the zygote's loop


def _join_namespaces(pid: int) -> None:
    """Enter the namespaces of process `pid` (the PID namespace: for the children forked after): the
    user namespace that owns them first, which grants the right to enter them, then them, then the
    user namespace of `pid` itself (unprivileged, bubblewrap nests a second one in the first)."""
    targets = {kind: os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY) for kind in [*_NAMESPACES, "user"]}
    targets["owner"] = fcntl.ioctl(targets["mnt"], _GET_USERNS)
    try:
        own = {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in [*_NAMESPACES, "user"]}
        owner = _enter_user(targets["owner"], own["user"])
        for kind, flag in _NAMESPACES.items():
            if os.fstat(targets[kind]).st_ino != own[kind]:
                _call("setns", targets[kind], flag)
        _enter_user(targets["user"], owner)
    finally:
        for fd in targets.values():
            os.close(fd)


def _enter_user(fd: int, current: int) -> int:
    """Enter the user namespace `fd` unless this process is in it already (`current`: the inode of the
    one it is in); the inode of the one it is in then."""
    inode = os.fstat(fd).st_ino
    if inode != current:
        _call("setns", fd, _NEWUSER)
    return inode


def _become_kernel(spawn: Spawn, log: int, connection: socket.socket) -> None:
    """In the sandbox: drop privileges, keep only the kernel's descriptors, take its environment and
    folder, report, run ipykernel; never returns."""
    reply = connection.detach()
    try:
        os.setsid()
        _drop_capabilities()
        if not spawn.cgroups:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (spawn.memory, spawn.memory))
        alive = os.open(spawn.alive, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: the sandbox has ended
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in map(int, os.listdir("/proc/self/fd")):
            if fd not in (0, 1, 2, alive, reply):
                try:
                    os.close(fd)
                except OSError:  # the listing's own descriptor, closed already
                    pass
        os.environ.clear()
        os.environ.update(spawn.env)
        os.chdir(spawn.cwd)
        sys.path[0] = spawn.cwd
        tempfile.tempdir = None
        import matplotlib
        matplotlib.rcParams["backend"] = spawn.env.get("MPLBACKEND", "Agg")
        _take_threads(int(spawn.env.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
        _end_with_holder(alive)
        os.write(reply, _STARTED.encode())
    except Exception as error:
        os.write(reply, f"{type(error).__name__}: {error}".encode())
        os._exit(1)
    os.close(reply)
    try:
        from ipykernel.kernelapp import IPKernelApp
        IPKernelApp.launch_instance(argv=["-f", spawn.connection_file])
    finally:
        os._exit(0)  # never back into the zygote's loop


def _take_threads(count: int) -> None:
    """Let torch and the BLAS libraries use `count` threads, as OMP_NUM_THREADS=count would at start."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(count)
    threadpool_limits(count, user_api="blas")


def _drop_capabilities() -> None:
    """Give up every capability (the bounding set too, where this process may) and the right to gain
    any (no_new_privs); fails unless none is left."""
    if _capabilities() != 0:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        for capability in range(last + 1):
            _call("prctl", 24, capability, 0, 0, 0)  # PR_CAPBSET_DROP
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        _call("capset", header, (ctypes.c_uint32 * 6)())  # effective, permitted, inheritable: none
    _call("prctl", 38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    if _capabilities() != 0:
        raise ZygoteError("the kernel kept capabilities")


def _capabilities() -> int:
    """This process's permitted capabilities, as a bit mask."""
    status = Path("/proc/thread-self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("CapPrm:")).split()[1], 16)


def _end_with_holder(fd: int) -> None:
    """Kill this session once no process reads the FIFO at `fd` (the ``cat`` holding the sandbox)."""
    poller = select.poll()
    poller.register(fd, select.POLLERR)

    def watch() -> None:
        poller.poll()
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


_LIBC = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args) -> None:
    """The C library's `name`(*args); an OSError where it fails."""
    if getattr(_LIBC, name)(*args) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{name}: {os.strerror(number)}")


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
