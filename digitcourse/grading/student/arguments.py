"""A call's arguments cross as copies; what the callee changed in them comes back (copy-restore).

::

    before = snapshot(args, kwargs, refer)                 # the callee, right after decoding its copies
    value = function(*args, **kwargs)
    changed = changed_arguments(before, args, kwargs, refer)   # sent back with the value
    write_back(args, kwargs, changed, resolve)             # the caller, into its own arguments

So a test sees what it would see in one process: a tensor the exercise changed in place, a dict it
filled, the new state of a torch.Generator it drew from (a second call with that generator draws new
numbers), the new weights of a module it trained.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .wire import Refer, Resolve, decode, encode


def snapshot(args: tuple, kwargs: dict, refer: Refer) -> dict[int | str, Any]:
    """The tree of each argument a callee could change in place (tensors, arrays, lists, dicts,
    generators, modules by their state_dict), by position (ints) or keyword (names)."""
    trees = {position: _mutable_tree(value, refer) for position, value in [*enumerate(args), *kwargs.items()]}
    return {position: tree for position, tree in trees.items() if tree is not None}


def changed_arguments(before: dict[int | str, Any], args: tuple, kwargs: dict, refer: Refer) -> list:
    """[[position, tree]] for each argument whose tree after a call differs from its `snapshot`."""
    after = snapshot(args, kwargs, refer)
    return [[position, tree] for position, tree in after.items() if tree != before.get(position)]


def _mutable_tree(value: Any, refer: Refer) -> Any:
    if isinstance(value, (list, dict, np.ndarray)):
        return encode(value, refer)
    if type(value).__module__.partition(".")[0] == "torch":
        import torch

        if isinstance(value, torch.nn.Module):
            return {"$state": encode(dict(value.state_dict()), refer)}
        if isinstance(value, (torch.Tensor, torch.Generator)):
            return encode(value, refer)
    return None


def write_back(args: tuple, kwargs: dict, changed: list, resolve: Resolve) -> None:
    """Apply `changed` (from `changed_arguments` on the other side) to the caller's own arguments, in
    place where the kind allows: tensors and arrays are overwritten, lists and dicts refilled (their
    items in place where they can be), generators given their new state, modules their new weights."""
    for position, tree in changed:
        target = args[position] if isinstance(position, int) else kwargs[position]
        if isinstance(tree, dict) and "$state" in tree:
            target.load_state_dict(decode(tree["$state"], resolve))
        else:
            restore_into(target, decode(tree, resolve))


def restore_into(old: Any, new: Any) -> Any:
    """`old` with the contents of `new`, changed in place where its kind allows; else `new`."""
    import torch

    if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) and old.shape == new.shape:
        with torch.no_grad():
            old.copy_(new)
        return old
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old.shape == new.shape:
        old[...] = new
        return old
    if isinstance(old, torch.Generator) and isinstance(new, torch.Generator):
        old.set_state(new.get_state())
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
