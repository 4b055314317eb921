"""The grader's agent inside a student's kernel: it runs the calls a test cell makes, and nothing else.

The grader imports this module into the kernel (``import digitcourse.grading.student.agent as __digitcourse__``)
and, for each call a test cell makes, executes ``__digitcourse__.serve()``. `serve` reads the request
over the kernel's stdin channel (an ``input_request`` the grader answers), does it in the notebook's
namespace, and sends the response the same way. A request is one of::

    {"op": "call", "target": NAME or a handle, "args": [...], "kwargs": {...}}
    {"op": "getattr", "target": handle, "name": str}  {"op": "items", "target": handle}
    {"op": "len", "target": handle}                    {"op": "getitem", "target": handle, "key": ...}
    {"op": "substitute", "names": {NAME: callback}}    {"op": "restore"}
    {"op": "forget"}  (the test cell is over: its arguments' mirrors go)

Everything crosses in `digitcourse.grading.student.wire`'s format. An object that is not data stays here and
crosses as a handle. A function of the grader's crosses as a callback: calling it here asks the grader
to run it (a ``"callback:"`` input request) and returns its answer. The arguments of a test cell's calls
are kept here, one object per number the grader gave them (`arguments.Mirrors`), so that a second call
with the same tensor or generator finds what the first left on it. Nothing here decides a grade: the
student's code can change this module at will, and only ever changes its own answers.
"""
from __future__ import annotations

import base64
import pickle
import traceback
from typing import Any

from . import arguments, wire

_handles: dict[int, Any] = {}
_mirrors = arguments.Mirrors()
_substituted: list[tuple[str, Any]] = []
_MISSING = object()


def serve() -> None:
    """Answer one request of the grader (see the module's docstring)."""
    kernel = _shell().kernel
    try:
        request = wire.loads(kernel.raw_input(""), _resolve)
        response = _act(request)
    except BaseException as error:  # the student's error, a KeyboardInterrupt at the time limit, ...
        response = {"error": error, "traceback": _student_traceback(error)}
    try:
        text = wire.dumps(response, _refer, _mirrors.known)
    except (wire.WireError, TypeError, ValueError) as error:
        text = wire.dumps({"error": error, "traceback": ""}, _refer)
    kernel.raw_input("result:" + text)


def _act(request: dict) -> dict:
    global _mirrors
    op = request["op"]
    if op == "forget":
        _mirrors = arguments.Mirrors()
        return {"value": None}
    if op == "substitute":
        namespace = _shell().user_ns
        for name, replacement in request["names"].items():
            _substituted.append((name, namespace.get(name, _MISSING)))
            namespace[name] = replacement
        return {"value": None}
    if op == "restore":
        namespace = _shell().user_ns
        while _substituted:
            name, previous = _substituted.pop()
            if previous is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = previous
        return {"value": None}
    target = _target(request["target"])
    if op == "call":
        args, kwargs = tuple(request["args"]), request["kwargs"]
        before = arguments.snapshot(args, kwargs, _refer)
        value = target(*args, **kwargs)
        return {"value": value, "changed": arguments.changed_arguments(before, args, kwargs, _refer)}
    if op == "getattr":
        return {"value": getattr(target, request["name"])}
    if op == "items":
        return {"value": list(target)}
    if op == "len":
        return {"value": len(target)}
    if op == "getitem":
        return {"value": target[request["key"]]}
    raise ValueError(f"unknown request {op!r}")


def _target(target: Any) -> Any:
    if isinstance(target, str):
        namespace = _shell().user_ns
        if target not in namespace:
            raise NameError(f"name {target!r} is not defined in the notebook (did a cell fail to run?)")
        return namespace[target]
    return target


def _refer(value: Any) -> dict:
    """An object that stays in the kernel: a handle the grader can ask about."""
    _handles[id(value)] = value
    return {"handle": id(value), "type": type(value).__qualname__, "repr": _short_repr(value)}


def _resolve(reference: dict) -> Any:
    if "handle" in reference:
        return _handles[reference["handle"]]
    if "global" in reference:
        return _target(reference["global"])
    if "callback" in reference:
        return Callback(reference["callback"], reference.get("name", "a function of the test"))
    if "same" in reference:
        return _mirrors.adopt(reference["same"], reference["value"], new=True)
    if "pickle" in reference:  # from the grader, who runs the instructor's code: a trusted copy
        value = pickle.loads(base64.b64decode(reference["pickle"]))
        if "state" in reference:  # a module: what .backward() left on its parameters too
            arguments.restore_module(value, wire.decode(reference["state"], _resolve))
        return value
    raise ValueError(f"unknown reference {sorted(reference)}")


class Callback:
    """A function of the grader's (say a reference implementation a test substitutes): calling it asks
    the grader to run it with these arguments, and returns its answer."""

    def __init__(self, number: int, name: str):
        self.number, self.__name__ = number, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = {"callback": self.number, "args": list(args), "kwargs": kwargs}
        text = wire.dumps(request, _refer, _mirrors.known)
        reply = wire.loads(_shell().kernel.raw_input("callback:" + text), _resolve)
        if "error" in reply:
            raise reply["error"]
        arguments.write_back(args, kwargs, reply.get("changed", []), _resolve)
        return reply["value"]

    def __repr__(self) -> str:
        return f"<the grader's {self.__name__}>"


def _student_traceback(error: BaseException) -> str:
    """The traceback of an error raised in the student's code, without this module's frames."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]
    return "".join(traceback.format_list(frames[-6:]) + traceback.format_exception_only(error)).strip()


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a student's __repr__ that fails
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def _shell():
    from IPython import get_ipython

    return get_ipython()
