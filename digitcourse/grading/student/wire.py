"""The data that crosses between a student's kernel and the grader: a small, safe JSON format.

::

    text = dumps(value, refer)      # tensors, arrays, numbers, strings, containers, ... -> JSON text
    value = loads(text, resolve)    # and back; nothing in the text can make the reader run code

What crosses as data: None, bools, ints, floats (NaN and infinities included), strings, bytes, lists,
tuples, dicts (any keys of these kinds), torch tensors (on the CPU, with the gradient `.backward()`
left on them), torch dtypes, devices and
generators (their state), numpy arrays and scalars of numeric or boolean type, pandas Series and
DataFrames of such columns, slices and errors. Anything else is handed to `refer`, which returns a
reference the other side knows how to use (a handle to an object that stays where it is, a callback to
a function of the grader's, or, from the grader to the kernel only, a pickled copy of a module);
`resolve` turns such a reference back into an object. The reader never unpickles: `loads` in the
grader passes the kernel's references to `resolve`, which only builds handles. A value the writer
numbers (`identify`) crosses with its number, so that the reader can keep one object per number across
calls (`arguments.Mirrors`).
"""
from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

Refer = Callable[[Any], dict]  # an object that is not data -> its reference, {"$ref": {...}}
Resolve = Callable[[dict], Any]  # a reference -> the object it stands for
Identify = Callable[[Any], int | None]  # a value -> the number that names it across calls, or None

_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
MAX_DEPTH = 64  # containers nested deeper than this are refused (a reader's stack is finite)


class WireError(ValueError):
    """Text that is not in the format, or a value that cannot be written in it."""


def dumps(value: Any, refer: Refer, identify: Identify | None = None) -> str:
    """`value` as JSON text; objects that are not data go through `refer` (`identify`: see `encode`)."""
    return json.dumps(encode(value, refer, identify=identify), allow_nan=False, separators=(",", ":"))


def loads(text: str | bytes, resolve: Resolve) -> Any:
    """The value `dumps` wrote; references go to `resolve`. WireError if `text` is not in the format."""
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise WireError(f"not JSON: {error}") from None
    return decode(tree, resolve)


def encode(value: Any, refer: Refer, depth: int = 0, identify: Identify | None = None) -> Any:
    """`value` as a JSON tree: plain JSON for None, bools, ints, finite floats and strings, else
    {"$kind": ...}. Where `identify` numbers a value (at any depth), its tree is wrapped as
    {"$same": number, "value": tree}, and the reader's `resolve` gets {"same": number, "value": value}."""
    if depth > MAX_DEPTH:
        raise WireError(f"containers nested more than {MAX_DEPTH} deep")
    tree = _tree(value, refer, partial(encode, refer=refer, depth=depth + 1, identify=identify))
    number = identify(value) if identify is not None else None
    return tree if number is None else {"$same": number, "value": tree}


def _tree(value: Any, refer: Refer, inner: Callable[[Any], Any]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 53 else {"$int": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, list):
        return [inner(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [inner(item) for item in value]}
    if isinstance(value, dict):
        return {"$dict": [[inner(key), inner(item)] for key, item in value.items()]}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, slice):
        return {"$slice": [inner(value.start), inner(value.stop), inner(value.step)]}
    if isinstance(value, BaseException):
        return {"$error": {"type": type(value).__name__, "message": str(value)}}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biufc":
        return {"$numpy": _array(np.asarray(value)), "scalar": isinstance(value, np.generic)}
    kind = type(value).__module__.partition(".")[0]
    if kind == "torch":
        encoded = _torch(value)
        if encoded is not None:
            return encoded
    if kind == "pandas":
        encoded = _pandas(value, inner)
        if encoded is not None:
            return encoded
    return {"$ref": refer(value)}


def decode(tree: Any, resolve: Resolve, depth: int = 0) -> Any:
    """The value a JSON tree of `encode` stands for."""
    if depth > MAX_DEPTH:
        raise WireError(f"containers nested more than {MAX_DEPTH} deep")
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    inner = partial(decode, resolve=resolve, depth=depth + 1)
    if isinstance(tree, list):
        return [inner(item) for item in tree]
    kinds = [key for key in tree if key.startswith("$")] if isinstance(tree, dict) else []
    if len(kinds) != 1 or kinds[0] not in _DECODERS:
        raise WireError(f"unexpected {str(tree)[:60]!r} in the data")
    kind = kinds[0]
    try:
        return _DECODERS[kind](tree[kind], inner, resolve, tree)
    except WireError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as error:
        raise WireError(f"malformed {kind!r}: {error}") from None


def _array(array: np.ndarray) -> dict:
    array = np.asarray(array, order="C")
    return {"dtype": array.dtype.str, "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode()}


def _read_array(body: dict) -> np.ndarray:
    dtype = np.dtype(body["dtype"])
    if dtype.kind not in "biufc":
        raise WireError(f"arrays of dtype {dtype} do not cross")
    shape = [int(n) for n in body["shape"]]
    return np.frombuffer(base64.b64decode(body["data"]), dtype=dtype).reshape(shape).copy()


def _torch(value: Any) -> dict | None:
    import torch

    if isinstance(value, torch.Tensor) and not value.is_complex() and value.layout == torch.strided:
        tree = {"$tensor": _array(_numeric(value)), "dtype": str(value.dtype).removeprefix("torch."),
                "grad": bool(value.requires_grad)}
        gradient = value.grad if value.is_leaf else None
        if gradient is not None and gradient.layout == torch.strided and gradient.shape == value.shape:
            tree["gradient"] = _array(_numeric(gradient))  # what .backward() left on it
        return tree
    if isinstance(value, torch.dtype):
        return {"$dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, torch.Size):
        return {"$size": list(value)}
    if isinstance(value, torch.Generator):
        return {"$generator": base64.b64encode(value.get_state().numpy().tobytes()).decode(),
                "device": str(value.device)}
    return None


def _numeric(tensor: Any) -> np.ndarray:
    """A tensor's values as a numpy array (bfloat16, which numpy lacks, as float32)."""
    import torch

    cpu = tensor.detach().cpu()
    return (cpu if cpu.dtype != torch.bfloat16 else cpu.float()).numpy()


def _pandas(value: Any, inner: Callable) -> dict | None:
    import pandas as pd

    if isinstance(value, pd.Series):
        return {"$series": {"values": inner(_column(value)), "index": inner(_column(value.index)),
                            "name": inner(value.name)}}
    if isinstance(value, pd.DataFrame):
        return {"$frame": {"columns": inner(list(value.columns)),
                           "data": [inner(_column(value[column])) for column in value.columns],
                           "index": inner(_column(value.index))}}
    return None


def _column(values: Any) -> Any:
    """A pandas column or index as a numpy array (numeric) or a list (strings, mixed)."""
    array = np.asarray(values)
    return array if array.dtype.kind in "biuf" else [item.item() if isinstance(item, np.generic) else item
                                                     for item in array.tolist()]


def _tensor(body: dict, inner, resolve, tree: dict):
    import torch

    dtype = _torch_name(tree["dtype"], "dtype")
    tensor = torch.from_numpy(_read_array(body)).to(dtype)
    if "gradient" in tree:
        gradient = torch.from_numpy(_read_array(tree["gradient"])).to(dtype)
        if gradient.shape != tensor.shape or not tensor.is_floating_point():
            raise WireError("a gradient that does not fit its tensor")
        tensor.grad = gradient
    return tensor.requires_grad_() if tree.get("grad") and tensor.is_floating_point() else tensor


def _generator(body: str, inner, resolve, tree: dict):
    import torch

    state = torch.from_numpy(np.frombuffer(base64.b64decode(body), dtype=np.uint8).copy())
    generator = torch.Generator("cpu")  # the grader's side runs on the CPU
    generator.set_state(state)
    return generator


def _torch_name(body: str, kind: str):
    import torch

    value = getattr(torch, str(body), None)
    if not isinstance(value, torch.dtype):
        raise WireError(f"unknown {kind} {body!r}")
    return value


def _series(body: dict, inner, resolve, tree: dict):
    import pandas as pd

    return pd.Series(inner(body["values"]), index=inner(body["index"]), name=inner(body["name"]))


def _frame(body: dict, inner, resolve, tree: dict):
    import pandas as pd

    columns = inner(body["columns"])
    data = {column: inner(values) for column, values in zip(columns, body["data"])}
    return pd.DataFrame(data, index=inner(body["index"]), columns=columns)


def _error(body: dict, inner, resolve, tree: dict) -> BaseException:
    return RemoteError(str(body["type"]), str(body["message"]))


class RemoteError(Exception):
    """An exception raised on the other side: its type's name and its message (the traceback, where
    there is one, travels beside it in the agent's reply)."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind, self.message = kind, message


def _device(body: str, inner, resolve, tree: dict):
    import torch

    return torch.device(body)


def _size(body: list, inner, resolve, tree: dict):
    import torch

    return torch.Size(int(n) for n in body)


def _float(body: str, inner, resolve, tree: dict) -> float:
    if body not in _FLOATS:
        raise WireError(f"unknown float {body!r}")
    return _FLOATS[body]


def _numpy(body: dict, inner, resolve, tree: dict):
    array = _read_array(body)
    return array[()] if tree.get("scalar") else array


def _dict(body: list, inner, resolve, tree: dict) -> dict:
    return {_key(inner(key)): inner(item) for key, item in body}


def _key(key: Any) -> Any:
    if isinstance(key, list):  # a list cannot be a key; a tuple came back as a list inside it
        raise WireError("a dict key that is a list")
    return key


_DECODERS: dict[str, Callable] = {
    "$int": lambda body, inner, resolve, tree: int(body),
    "$float": _float,
    "$tuple": lambda body, inner, resolve, tree: tuple(inner(item) for item in body),
    "$dict": _dict,
    "$bytes": lambda body, inner, resolve, tree: base64.b64decode(body),
    "$slice": lambda body, inner, resolve, tree: slice(*(inner(item) for item in body)),
    "$error": _error,
    "$numpy": _numpy,
    "$tensor": _tensor,
    "$dtype": lambda body, inner, resolve, tree: _torch_name(body, "dtype"),
    "$device": _device,
    "$size": _size,
    "$generator": _generator,
    "$series": _series,
    "$frame": _frame,
    "$ref": lambda body, inner, resolve, tree: resolve(body),
    "$same": lambda body, inner, resolve, tree: resolve({"same": int(body), "value": inner(tree["value"])}),
}
