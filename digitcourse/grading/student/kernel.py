"""A student's Jupyter kernel in its sandbox, driven by the grader over sockets in the scratch folder.

::

    with Kernel(sandbox, env, Zygote.shared()) as kernel:
        run = kernel.run("x = 1 + 1", timeout=600)       # Run: outputs, status, error
        reply = kernel.serve(request, timeout=60, answer=callbacks)   # one call for a test cell

The kernel is ipykernel, forked by the `Zygote` into the `Sandbox` that jupyter_client starts (its
command wrapped by the sandbox, holding it open), and driven with IPC transport (unix sockets in
scratch/runtime: the kernel has no network, not even loopback to the grader). `run` executes a cell
and collects its outputs, interrupting it at its time limit and giving up on a kernel that ignores the
interrupt (status "stuck") or that died ("dead", or "memory" when the sandbox's memory limit killed
it). `serve` runs one request of the agent protocol
(`digitcourse.grading.student.agent`): the request, the agent's callbacks and its answer all travel as
``input_request`` / ``input_reply`` messages on the kernel's stdin channel.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, sleep

import nbformat
import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec
from nbformat import NotebookNode

from .sandbox import Sandbox
from .zygote import Spawn, Zygote, ZygoteError

START_TIMEOUT = 120  # seconds for a sandbox, then its kernel, to start
INTERRUPT_GRACE = 10  # seconds a kernel has to stop after an interrupt
MAX_OUTPUT = 2_000_000  # characters of output kept per cell; the rest is dropped, with a note
AGENT = "__digitcourse__"


# Why a run ended the kernel's work, by its status; `where` says in which cell or test.
WHY_LOST = {"timeout": "the student's code ran out of time {where}",
            "stuck": "the kernel stopped answering {where}",
            "dead": "the kernel died {where} (os._exit, a crash?)",
            "memory": "the kernel ran out of memory {where}"}
NOT_RUN = "NotRun"  # the error name of a cell the grader did not run


def not_run(reason: str) -> NotebookNode:
    """The output of a cell that did not run, saying why."""
    return nbformat.v4.new_output("error", ename=NOT_RUN, evalue=reason, traceback=[f"{NOT_RUN}: {reason}"])


def out_of_time(seconds: float, number: int) -> str:
    """Why cell `number` and the ones after it did not run: the notebook's time limit."""
    return f"the notebook reached its time limit of {seconds:g} s before cell {number}"


@dataclass
class Run:
    """What one cell did: its outputs, and how it ended: "ok", "error" (it raised), "timeout"
    (interrupted at its limit), "stuck" (it ignored the interrupt), "dead" or "memory" (the kernel died,
    the second time killed at its memory limit)."""

    outputs: list[NotebookNode] = field(default_factory=list)
    status: str = "ok"
    error: str = ""  # "ename: evalue" of the error it raised

    @property
    def kernel_lost(self) -> bool:
        return self.status in ("stuck", "dead", "memory")

    def why_lost(self, where: str) -> str:
        """Why the kernel stopped running code `where` ("in cell 4", "in this test")."""
        return WHY_LOST[self.status].format(where=where)


class _Manager(KernelManager):
    """jupyter_client's manager with a kernel command of our making (the sandboxed ipykernel)."""

    def __init__(self, argv: list[str], **options):
        super().__init__(**options)
        self._argv = argv

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=self._argv, display_name="sandboxed Python", language="python",
                          interrupt_mode="message")


class Kernel:
    """One submission's kernel (see the module's docstring); a context manager that stops it."""

    def __init__(self, sandbox: Sandbox, env: dict[str, str], zygote: Zygote):
        self.sandbox, self.zygote = sandbox, zygote
        runtime, self.work = sandbox.scratch / "runtime", sandbox.scratch / "work"
        runtime.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = sandbox.environment(env)
        self.alive = runtime / "alive"
        os.mkfifo(self.alive, 0o600)
        # what jupyter_client starts is the sandbox, held open by `cat` while the kernel lives
        self.manager = _Manager(sandbox.command(["cat", str(self.alive)], self.env), transport="ipc",
                                ip=str(runtime / "kernel"), connection_file=str(runtime / "kernel.json"))
        self.client = None

    def __enter__(self) -> Kernel:
        self.log = open(self.sandbox.scratch / "kernel.log", "wb")  # what ipykernel itself prints
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        self.manager.start_kernel(env=self.env, cwd=str(self.work), stdout=self.log, stderr=self.log)
        holding = self._when_held()
        try:
            self.zygote.spawn(Spawn(self.manager.connection_file, str(self.work), self.env,
                                    [str(group) for group in self.sandbox.cgroups], self.sandbox.memory,
                                    self._sandboxed() if self.sandbox.isolate else None, str(self.alive)),
                              self.log.fileno(), START_TIMEOUT)
        finally:
            os.close(holding)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=START_TIMEOUT)

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=True)
        self.manager.cleanup_resources()
        self.log.close()
        self.sandbox.remove()

    def _when_held(self) -> int:
        """A write end of the FIFO, opened once the sandbox's ``cat`` reads it (the sandbox is then
        ready); kept until the kernel holds its own, so that the ``cat`` does not end in between."""
        deadline = monotonic() + START_TIMEOUT
        while True:
            try:
                return os.open(self.alive, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:  # ENXIO: nothing reads it yet
                if not self.manager.is_alive() or monotonic() > deadline:
                    raise ZygoteError(f"the sandbox did not start (see {self.log.name})") from error
                sleep(0.005)

    def _sandboxed(self) -> int:
        """A process inside the sandbox: the first one below bubblewrap in a mount namespace of its own."""
        outer = self.manager.provisioner.process.pid
        mine = os.stat(f"/proc/{outer}/ns/mnt").st_ino
        below = [outer]
        while below:
            pid = below.pop(0)
            if os.stat(f"/proc/{pid}/ns/mnt").st_ino != mine:
                return pid
            for task in os.listdir(f"/proc/{pid}/task"):
                below += map(int, Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        raise ZygoteError("no process of the sandbox was found")

    def run(self, code: str, timeout: float) -> Run:
        """Execute `code` as a cell (no input() allowed) for at most `timeout` seconds."""
        return self._execute(code, timeout, None)

    def start_agent(self, timeout: float) -> Run:
        """Import the grader's helper into the kernel, as `AGENT`, before any student code runs."""
        return self.run(f"import {__package__}.agent as {AGENT}", timeout)

    def serve(self, request: str, timeout: float, answer: Callable[[str], str]) -> tuple[str | None, Run]:
        """Run one agent request: the agent reads `request`; `answer(prompt)` replies to each of its
        callbacks ("callback:..."). Returns the agent's response (None if it sent none) and the Run
        (the student's prints during the call in its outputs)."""
        response: list[str] = []

        def on_input(prompt: str) -> str:
            if prompt == "" and not response:
                return request
            if prompt.startswith("result:"):
                response.append(prompt.removeprefix("result:"))
                return ""
            if prompt.startswith("callback:"):
                return answer(prompt.removeprefix("callback:"))
            raise _Violation("the code asked for input while the grader was calling it")

        run = self._execute(f"{AGENT}.serve()", timeout, on_input)
        return (response[0] if response else None), run

    def _execute(self, code: str, timeout: float, on_input: Callable[[str], str] | None) -> Run:
        client = self.client
        msg_id = client.execute(code, allow_stdin=on_input is not None, store_history=on_input is None)
        run, outputs = Run(), _Outputs()
        deadline, interrupted, idle, replied = monotonic() + timeout, False, False, False
        poller = zmq.Poller()
        for channel in (client.iopub_channel, client.shell_channel, client.stdin_channel):
            poller.register(channel.socket, zmq.POLLIN)
        while not (idle and replied):
            if monotonic() > deadline:
                if interrupted:
                    return Run(outputs.cells, "stuck")
                self.manager.interrupt_kernel()
                interrupted, run.status = True, "timeout"
                deadline = monotonic() + INTERRUPT_GRACE
            if not poller.poll(200) and not self.manager.is_alive():
                return Run(outputs.cells, "memory" if self.sandbox.memory_exceeded() else "dead")
            while client.stdin_channel.msg_ready():
                prompt = client.stdin_channel.get_msg(timeout=0)["content"].get("prompt", "")
                try:
                    client.input(on_input(prompt) if on_input else "")
                except _Violation as violation:
                    client.input("")
                    run.error = str(violation)
                    self.manager.interrupt_kernel()
            while client.iopub_channel.msg_ready():
                msg = client.iopub_channel.get_msg(timeout=0)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind == "error" and run.status == "ok":
                    run.status, run.error = "error", f"{msg['content']['ename']}: {msg['content']['evalue']}"
                    outputs.add(msg)
                else:
                    outputs.add(msg)
            while client.shell_channel.msg_ready():
                replied = replied or client.shell_channel.get_msg(timeout=0)["parent_header"].get("msg_id") == msg_id
        run.outputs = outputs.cells
        return run


class _Violation(Exception):
    """The kernel broke the protocol (asked for input the grader did not expect)."""


class _Outputs:
    """A cell's outputs as nbformat nodes: streams merged, clear_output obeyed, the size capped."""

    def __init__(self):
        self.cells: list[NotebookNode] = []
        self.size, self.clear_next, self.truncated = 0, False, False

    def add(self, msg: dict) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "clear_output":
            if content.get("wait"):
                self.clear_next = True
            else:
                self.cells.clear()
            return
        if kind not in ("stream", "display_data", "execute_result", "error"):
            return
        if self.clear_next:
            self.cells.clear()
            self.clear_next = False
        self.size += len(str(content))
        if self.size > MAX_OUTPUT:
            if not self.truncated:
                self.truncated = True
                self.cells.append(nbformat.v4.new_output(
                    "stream", name="stderr", text=f"[the grader kept the first {MAX_OUTPUT:,} characters "
                                                  "of this cell's output]\n"))
            return
        output = nbformat.v4.output_from_msg(msg)
        last = self.cells[-1] if self.cells else None
        if kind == "stream" and last is not None and last.output_type == "stream" and last.name == output.name:
            last.text += output.text
        else:
            self.cells.append(output)
