"""The grader's end of the calls into a student's kernel: a `Session`, and the proxies test cells call.

`Remote` stands for an exercise's function or class: calling it in a test cell runs the student's
version in their kernel, the arguments and the result crossing as data (`wire`, `arguments`). A result
that is not data (an instance of the student's class, a module) comes back as a `RemoteObject`:
attribute reads, calls, iteration, `len` and indexing are asked of the kernel. A function of the test
passed to the student's code (a reference implementation, a lambda) becomes a callback the kernel asks
the grader to run. `substitute` replaces an exercise that the tested one calls by a reference, for a
block, in a notebook (the student's kernel) as in a grading session.
"""
from __future__ import annotations

import base64
import builtins
import contextlib
import pickle
from collections.abc import Callable, Iterator
from time import monotonic
from typing import TYPE_CHECKING, Any

from . import arguments, wire

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from .kernel import Kernel

_current: list[Session] = []  # the session the Remotes of a running test cell call into


class StudentError(Exception):
    """An error raised by the student's code (its type was not one of Python's own)."""


class KernelLost(BaseException):
    """The student's kernel stopped answering during a test (time limit, crash, memory): the test
    fails and no later cell runs. A BaseException, so that a test's `except Exception` lets it pass."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class Session:
    """The grader's end of the calls into one kernel, until `deadline` (a monotonic time)."""

    def __init__(self, kernel: Kernel, deadline: float):
        self.kernel, self.deadline = kernel, deadline
        self.callbacks: dict[int, Callable] = {}
        self.outputs: list[NotebookNode] = []  # what the student's code printed during the calls
        self.mirrors = arguments.Mirrors()  # the test's arguments, which the kernel mirrors by number

    def __enter__(self) -> Session:
        _current.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _current.remove(self)
        if self.mirrors.objects:  # the kernel lets go of its copies of this test's arguments
            with contextlib.suppress(KernelLost, StudentError):
                self.request({"op": "forget"})

    def call(self, target: Any, args: tuple, kwargs: dict) -> Any:
        """Call `target` (an exercise's name, or a RemoteObject) in the kernel; its result. The kernel
        calls it with its one copy of each argument (`arguments.Mirrors`), and what the student's code
        changed in them is copied back into the test's."""
        request = {"op": "call", "target": target, "args": args, "kwargs": kwargs}

        def identify(value: Any) -> int | None:
            return None if value is request or value is kwargs else self.mirrors.number(value)

        reply = self.request(request, identify)
        arguments.write_back(args, kwargs, reply.get("changed", []), self._resolve)
        return reply["value"]

    def request(self, request: dict, identify: wire.Identify | None = None) -> dict:
        """One request of the agent protocol; its reply (a dict with "value")."""
        left = self.deadline - monotonic()
        if left <= 0:
            raise KernelLost("the test cell ran out of time")
        response, run = self.kernel.serve(wire.dumps(request, self._refer, identify), left, self._answer)
        self.outputs.extend(run.outputs)
        if run.status == "timeout" or run.kernel_lost:
            raise KernelLost(run.why_lost("in this test"))
        if response is None:
            raise StudentError(run.error or "the notebook did not answer the grader's call (was the "
                               "grader's helper removed, or every later cell rewritten?)")
        try:
            reply = wire.loads(response, self._resolve)
        except wire.WireError as error:
            raise StudentError(f"the answer could not be read: {error}") from None
        if isinstance(reply, dict) and isinstance(reply.get("error"), wire.RemoteError):
            raise _student_error(reply["error"], str(reply.get("traceback", "")))
        if not isinstance(reply, dict) or "value" not in reply:
            raise StudentError("the answer could not be read: it holds no value")
        return reply

    def _refer(self, value: Any) -> dict:
        """How an object of the grader's crosses to the kernel."""
        if isinstance(value, RemoteObject):
            return {"handle": value._handle}
        if isinstance(value, Remote):
            return {"global": value._name}
        if callable(value) and not _importable(value):
            number = len(self.callbacks)
            self.callbacks[number] = value
            return {"callback": number, "name": getattr(value, "__name__", "a function of the test")}
        if _is_module(value):  # a copy, with what .backward() left on its parameters
            return {"pickle": base64.b64encode(pickle.dumps(value)).decode(),
                    "state": arguments.module_state(value, self._refer)}
        try:
            return {"pickle": base64.b64encode(pickle.dumps(value)).decode()}
        except Exception:
            raise TypeError(f"a {type(value).__name__} cannot be sent to the student's code") from None

    def _resolve(self, reference: dict) -> Any:
        """How an object of the kernel's is seen here: a handle, or the test's own argument (brought up
        to date) where the kernel sent back one of its mirrors."""
        if set(reference) == {"same", "value"}:
            return self.mirrors.adopt(reference["same"], reference["value"], new=False)
        if set(reference) != {"handle", "type", "repr"}:
            raise wire.WireError("the kernel may only send handles")
        return RemoteObject(self, reference["handle"], str(reference["repr"]))

    def _answer(self, prompt: str) -> str:
        """Run a callback the student's code made (the test's own function) and encode its answer."""
        try:
            request = wire.loads(prompt, self._resolve)
            function = self.callbacks[request["callback"]]
            args, kwargs = tuple(request["args"]), dict(request["kwargs"])
        except (wire.WireError, KeyError, TypeError) as error:
            return wire.dumps({"error": StudentError(f"a malformed callback: {error}")}, self._refer)
        before = arguments.snapshot(args, kwargs, self._refer)
        try:
            value = function(*args, **kwargs)
        except Exception as error:
            return wire.dumps({"error": error}, self._refer)
        changed = arguments.changed_arguments(before, args, kwargs, self._refer)
        return wire.dumps({"value": value, "changed": changed}, self._refer)


def _is_module(value: Any) -> bool:
    import torch

    return isinstance(value, torch.nn.Module)


def _importable(value: Any) -> bool:
    """A function the kernel can import by name (a torch or numpy function), not one of the test's."""
    return getattr(value, "__module__", "__main__") not in ("__main__", None)


def _student_error(error: wire.RemoteError, traceback: str) -> BaseException:
    """The student's exception, as Python's own type where it is one (so that a test may expect a
    ValueError), with the student's traceback in its notes."""
    kind = getattr(builtins, error.kind, None)
    raised: BaseException = StudentError(str(error))
    if isinstance(kind, type) and issubclass(kind, Exception):
        with contextlib.suppress(Exception):  # an exception type whose constructor wants more
            raised = kind(error.message)
    if traceback:
        raised.add_note(traceback)
    return raised


class Remote:
    """An exercise's function or class, as a test cell sees it in a grading session."""

    def __init__(self, name: str):
        self.__name__ = self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _current:
            raise RuntimeError(f"{self._name} runs in the student's kernel, and no grading session is open")
        return _current[-1].call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self._name}>"


class RemoteObject:
    """An object that stays in the student's kernel (see the module's docstring)."""

    def __init__(self, session: Session, handle: int, text: str):
        self._session, self._handle, self._text = session, handle, text  # text: the kernel's repr

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self, args, kwargs)

    def __iter__(self) -> Iterator:
        return iter(self._ask("items"))

    def __len__(self) -> int:
        return self._ask("len")

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", key=key)

    def __repr__(self) -> str:
        return self._text

    def _ask(self, op: str, **details: Any) -> Any:
        return self._session.request({"op": op, "target": self, **details})["value"]


@contextlib.contextmanager
def substitute(**replacements: Callable) -> Iterator[None]:
    """For the block, the notebook's functions named here are `replacements` (say, a reference for an
    exercise that the tested exercise calls), so that a test depends on one exercise only.

    In a grading session the kernel's names are replaced by callbacks to these functions; in a
    notebook, the notebook's own names (IPython's namespace) are.
    """
    if _current:
        session = _current[-1]
        session.request({"op": "substitute", "names": replacements})
        try:
            yield
        finally:
            session.request({"op": "restore"})
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("substitute works in a notebook or a grading session")
    missing = object()
    previous = {name: shell.user_ns.get(name, missing) for name in replacements}
    shell.user_ns.update(replacements)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is missing:
                shell.user_ns.pop(name, None)
            else:
                shell.user_ns[name] = value


