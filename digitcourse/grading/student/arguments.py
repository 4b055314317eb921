"""A call's arguments keep their identity across the calls of a test cell, and what the callee changed
in them comes back (copy-restore)::

    before = snapshot(args, kwargs, refer)                 # the callee, right after decoding its copies
    value = function(*args, **kwargs)
    changed = changed_arguments(before, args, kwargs, refer)   # sent back with the value
    write_back(args, kwargs, changed, resolve)             # the caller, into its own arguments

Each side keeps its `Mirrors`: the grader numbers every argument a callee could change (tensors,
arrays, lists, dicts, generators, modules; at any depth) and the kernel keeps one object per number,
brought up to date with what the grader sends at each call. So a test sees what it would see in one
process: a tensor the exercise changed in place, the gradient its `.backward()` left (and added to at
the next call with the same tensor), a dict it filled, the new state of a torch.Generator it drew from
(a second call with that generator draws new numbers), the new weights of a module it trained, and its
own argument back where the exercise returned the argument itself.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .wire import Refer, Resolve, WireError, decode, encode

_numbers = itertools.count(1)  # the grader's numbers: never reused, so a kernel's stale mirror never answers


class Mirrors:
    """The objects of one side that stand for the arguments of a test cell's calls, by number."""

    def __init__(self):
        self.objects: dict[int, Any] = {}
        self._by_id: dict[int, int] = {}  # id(object) -> its number (objects holds it, so the id stays its own)

    def number(self, value: Any) -> int | None:
        """The grader's side: the number of `value` if a callee could change it (numbered now if new)."""
        if not _changeable(value):
            return None
        if id(value) not in self._by_id:
            self._keep(next(_numbers), value)
        return self._by_id[id(value)]

    def known(self, value: Any) -> int | None:
        """The number of `value` if it is one of these objects (the kernel's side: what it returns)."""
        number = self._by_id.get(id(value))
        return number if number is not None and self.objects[number] is value else None

    def adopt(self, number: int, value: Any, *, new: bool) -> Any:
        """The object for `number`, brought up to date with `value` (in place where its kind allows);
        `value` itself if the number is new here and `new` allows it."""
        if number in self.objects:
            value = restore_into(self.objects[number], value)
        elif not new:
            raise WireError(f"an object numbered {number} that was never sent")
        self._keep(number, value)
        return value

    def _keep(self, number: int, value: Any) -> None:
        self.objects[number] = value
        self._by_id[id(value)] = number


def _changeable(value: Any) -> bool:
    """Whether a callee could change `value` in place: a list, dict, array, tensor, generator or module."""
    if isinstance(value, (list, dict, np.ndarray)):
        return True
    if not any(kind.__module__.partition(".")[0] == "torch" for kind in type(value).__mro__):
        return False  # (torch is not imported for a kernel that does not use it)
    import torch

    return isinstance(value, (torch.Tensor, torch.Generator, torch.nn.Module))


def snapshot(args: tuple, kwargs: dict, refer: Refer) -> dict[int | str, Any]:
    """The tree of each argument a callee could change in place (tensors with their gradient and
    requires_grad, arrays, lists, dicts, generators, modules by their parameters and buffers), by
    position (ints) or keyword (names)."""
    trees = {position: _mutable_tree(value, refer) for position, value in [*enumerate(args), *kwargs.items()]}
    return {position: tree for position, tree in trees.items() if tree is not None}


def changed_arguments(before: dict[int | str, Any], args: tuple, kwargs: dict, refer: Refer) -> list:
    """[[position, tree]] for each argument whose tree after a call differs from its `snapshot`."""
    after = snapshot(args, kwargs, refer)
    return [[position, tree] for position, tree in after.items() if tree != before.get(position)]


def _mutable_tree(value: Any, refer: Refer) -> Any:
    if not _changeable(value):
        return None
    if isinstance(value, (list, dict, np.ndarray)):
        return encode(value, refer)
    import torch

    return {"$state": module_state(value, refer)} if isinstance(value, torch.nn.Module) else encode(value, refer)


def module_state(module: Any, refer: Refer) -> Any:
    """A module's parameters and buffers by name, as a tree (each with its gradient and requires_grad)."""
    return encode({**dict(module.named_parameters()), **dict(module.named_buffers())}, refer)


def write_back(args: tuple, kwargs: dict, changed: list, resolve: Resolve) -> None:
    """Apply `changed` (from `changed_arguments` on the other side) to the caller's own arguments, in
    place where the kind allows: tensors and arrays are overwritten (a tensor's gradient and
    requires_grad too), lists and dicts refilled (their items in place where they can be), generators
    given their new state, modules their new parameters and buffers."""
    for position, tree in changed:
        target = args[position] if isinstance(position, int) else kwargs[position]
        if isinstance(tree, dict) and "$state" in tree:
            restore_module(target, decode(tree["$state"], resolve))
        else:
            restore_into(target, decode(tree, resolve))


def restore_module(module: Any, tensors: dict[str, Any]) -> None:
    """Give `module`'s parameters and buffers the values (gradients, requires_grad) of `tensors`."""
    own = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    for name, tensor in tensors.items():
        if name in own:
            restore_into(own[name], tensor)


def restore_into(old: Any, new: Any) -> Any:
    """`old` with the contents of `new`, changed in place where its kind allows; else `new`."""
    import torch

    if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) and (old.shape, old.dtype) == (new.shape, new.dtype):
        with torch.no_grad():
            old.copy_(new)
        if old.is_leaf and old is not new:
            old.requires_grad_(new.requires_grad)
            old.grad = new.grad
        return old
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and (old.shape, old.dtype) == (new.shape, new.dtype):
        old[...] = new
        return old
    if isinstance(old, torch.Generator) and isinstance(new, torch.Generator):
        old.set_state(new.get_state())
        return old
    if isinstance(old, torch.nn.Module) and isinstance(new, torch.nn.Module) and type(old) is type(new):
        restore_module(old, {**dict(new.named_parameters()), **dict(new.named_buffers())})
        return old
    if isinstance(old, list) and isinstance(new, list):
        kept = [restore_into(a, b) for a, b in zip(old, new)]
        old[:] = kept + new[len(kept):]
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [key for key in old if key not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = restore_into(old[key], value) if key in old else value
        return old
    return new
