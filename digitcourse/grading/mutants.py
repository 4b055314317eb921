"""Automatic wrong answers: small changes to an exercise's solution, for testing its test cell.

`mutants(cell_source)` changes one thing at a time inside the cell's ``### BEGIN SOLUTION`` ...
``### END SOLUTION`` region, each change a mistake a student could make:

- an operator flipped (``+`` and ``-``, ``*`` and ``/``, ``**`` to ``*``, ``@`` to ``*``, ``and`` and
  ``or``, ``+=`` and ``-=``), a sign dropped (``-x`` to ``x``), a method swapped (``max`` and ``min``,
  ``sum`` and ``mean``, ``argmax`` and ``argmin``, ``std`` and ``var``);
- a constant nudged (an int n to n + 1, a float c to 2c, ``True`` and ``False``);
- a term dropped (``a + b`` to ``a`` or to ``b``, likewise for ``-``, ``*`` and ``/``);
- a comparison shifted (``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=``), an index shifted by
  one (``x[i]`` to ``x[i + 1]``, a slice bound likewise);
- an argument ignored (a keyword argument of a call dropped: ``keepdim=True``, ``generator=g``,
  ``ddof=1``; a use of a parameter that has a default replaced by that default);
- the return replaced (``return x`` to ``return None``).

and the mistakes of a kind every exercise can make (`GENERIC_KINDS`, reported apart in the table):

- the max shift dropped before ``exp`` (``z - z.max(...)`` to ``z``);
- true division made integer division (``/`` to ``//``);
- ``.detach()`` or ``.clone()`` removed (a result still attached to autograd, or aliasing an input);
- a cast to float32 added to a returned value, a cast to int32 to an ``argmax``/``argmin``;
- a generator re-seeded with its initial seed before each draw (``generator=g`` to a fresh generator
  seeded with ``g.initial_seed()``: the same numbers at every call, and ``g`` never advances);
- a number returned as a tensor (the return value of a function annotated ``-> int`` or ``-> float``).

No maintained mutation-testing tool fits functions that live in a notebook's kernel (mutmut and
cosmic-ray mutate files and run a whole test suite per mutant), hence this small set of `ast`
operators. A `Mutant`'s one-line diff names it in `digitcourse check`'s report and in an exercise's
list of equivalent mutants.
"""
from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .cells import SOLUTION, marked_lines

_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
          ast.Pow: ast.Mult, ast.MatMult: ast.Mult, ast.Mod: ast.FloorDiv}
_COMPARISONS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_METHODS = {"max": "min", "min": "max", "sum": "mean", "mean": "sum", "argmax": "argmin",
            "argmin": "argmax", "std": "var", "var": "std", "amax": "amin", "amin": "amax"}
_DROPPABLE = (ast.Add, ast.Sub, ast.Mult, ast.Div)
GENERIC_KINDS = ("max shift dropped", "floor division", "copy removed", "cast added", "generator re-seeded",
                 "number as tensor")

Change = Callable[[ast.AST], ast.AST]  # the node of a copy of the tree -> what replaces it


@dataclass(frozen=True)
class Mutant:
    """The cell's code with one change: `source` to execute; `line` (in the cell), `before` and
    `after` (that statement's first line of code) to show it."""

    source: str
    line: int
    before: str
    after: str
    kind: str

    @property
    def diff(self) -> str:
        """'line 3: return p - lr * g  ->  return p + lr * g'"""
        return f"line {self.line}: {self.before}  ->  {self.after}"


def solution_lines(source: str) -> range:
    """The cell's lines (1-based) between its first ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    return next(iter(marked_lines(source, SOLUTION)), range(0))


def mutants(source: str) -> list[Mutant]:
    """The distinct mutants of the solution region of the exercise cell `source`."""
    region, tree = solution_lines(source), ast.parse(source)
    original, parents = list(ast.walk(tree)), _parents(tree)
    torch = "torch" in source  # the exercise computes with torch, else with numpy
    found, seen = [], {ast.unparse(tree)}
    for index, node in enumerate(original):
        if getattr(node, "lineno", 0) not in region:
            continue
        before = _statement(parents, node)
        for kind, change in [*_generic_changes(node, tree, torch), *_changes(node, tree)]:
            mutated = copy.deepcopy(tree)
            target = list(ast.walk(mutated))[index]
            mutated_parents = _parents(mutated)
            replacement = ast.copy_location(change(target), target)
            _put(mutated_parents, target, replacement)
            ast.fix_missing_locations(mutated)
            code = ast.unparse(mutated)
            if code not in seen:
                seen.add(code)
                after = _statement(mutated_parents, replacement)
                found.append(Mutant(code, before.lineno, _first_line(before), _first_line(after), kind))
    return found


def _changes(node: ast.AST, tree: ast.Module) -> Iterator[tuple[str, Change]]:
    """(kind, change) for each mutation that applies to `node` (see the module's docstring)."""
    if isinstance(node, ast.BinOp):
        if type(node.op) in _SWAPS:
            yield "operator", lambda n: ast.BinOp(n.left, _SWAPS[type(n.op)](), n.right)
        if isinstance(node.op, _DROPPABLE):
            yield "term dropped", lambda n: n.left
            yield "term dropped", lambda n: n.right
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield "sign dropped", lambda n: n.operand
    elif isinstance(node, ast.BoolOp):
        yield "operator", lambda n: ast.BoolOp(ast.Or() if isinstance(n.op, ast.And) else ast.And(), n.values)
    elif isinstance(node, ast.AugAssign) and type(node.op) in _SWAPS:
        yield "operator", lambda n: ast.AugAssign(n.target, _SWAPS[type(n.op)](), n.value)
    elif isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            if type(op) in _COMPARISONS:
                yield "comparison", lambda n, i=position: ast.Compare(
                    n.left, [*n.ops[:i], _COMPARISONS[type(n.ops[i])](), *n.ops[i + 1:]], n.comparators)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):
        yield "constant", lambda n: ast.Constant(_nudged(n.value))
    elif isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Slice, ast.Tuple, ast.Constant)):
        yield "index", lambda n: ast.Subscript(n.value, ast.BinOp(n.slice, ast.Add(), ast.Constant(1)), n.ctx)
    elif isinstance(node, ast.Slice):
        for bound in ("lower", "upper"):
            if getattr(node, bound) is not None:
                yield "index", lambda n, b=bound: _shifted(n, b)
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr in _METHODS:
            yield "method", lambda n: ast.Call(ast.Attribute(n.func.value, _METHODS[n.func.attr], ast.Load()),
                                               n.args, n.keywords)
        for position, keyword in enumerate(node.keywords):
            if keyword.arg is not None:
                yield "argument ignored", lambda n, i=position: ast.Call(n.func, n.args,
                                                                         n.keywords[:i] + n.keywords[i + 1:])
    elif isinstance(node, ast.Return) and node.value is not None:
        yield "return", lambda n: ast.Return(ast.Constant(None))
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        default = _default_of(node, tree)
        if default is not None:
            yield "argument ignored", lambda n: copy.deepcopy(default)


def _generic_changes(node: ast.AST, tree: ast.Module, torch: bool) -> Iterator[tuple[str, Change]]:
    """(kind, change) for each mistake of `GENERIC_KINDS` that applies to `node`; `torch`: whether the
    solution computes with torch (else numpy)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and _takes_max(node.right):
        yield "max shift dropped", lambda n: n.left
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        yield "floor division", lambda n: ast.BinOp(n.left, ast.FloorDiv(), n.right)
    elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div):
        yield "floor division", lambda n: ast.AugAssign(n.target, ast.FloorDiv(), n.value)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("detach", "clone") and not node.args and not node.keywords:
            yield "copy removed", lambda n: n.func.value
        if node.func.attr in ("argmax", "argmin"):
            yield "cast added", lambda n: _cast(n, "int32", torch)
    if isinstance(node, ast.Call):
        for position, keyword in enumerate(node.keywords):
            if keyword.arg == "generator":
                yield "generator re-seeded", lambda n, i=position: ast.Call(n.func, n.args, [
                    *n.keywords[:i], ast.keyword("generator", _reseeded(n.keywords[i].value)), *n.keywords[i + 1:]])
    if isinstance(node, ast.Return) and node.value is not None:
        if isinstance(node.value, ast.Tuple):
            for position, element in enumerate(node.value.elts):
                if _computed(element):
                    yield "cast added", lambda n, i=position: ast.Return(ast.Tuple(
                        [*n.value.elts[:i], _cast(n.value.elts[i], "float32", torch), *n.value.elts[i + 1:]], ast.Load()))
        elif isinstance(node.value, ast.DictComp) and _computed(node.value.value):
            yield "cast added", lambda n: ast.Return(ast.DictComp(n.value.key, _cast(n.value.value, "float32", torch),
                                                                  n.value.generators))
        elif _computed(node.value):
            yield "cast added", lambda n: ast.Return(_cast(n.value, "float32", torch))
        if _returns_number(node, tree):
            yield "number as tensor", lambda n: ast.Return(_call("torch.tensor", n.value))


def _computed(node: ast.expr) -> bool:
    """Whether `node` computes a value (a cast of a bare name or a container is left to other kinds)."""
    return not isinstance(node, (ast.Name, ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.DictComp, ast.ListComp))


def _takes_max(node: ast.AST) -> bool:
    """Whether `node` takes a maximum (``z.max(...)``, ``np.max(z)``, ``z.amax(...)``, ``.values`` of one)."""
    return any(isinstance(inner, ast.Call) and (isinstance(inner.func, ast.Attribute) and inner.func.attr in ("max", "amax")
                                               or isinstance(inner.func, ast.Name) and inner.func.id == "max")
               for inner in ast.walk(node))


def _call(function: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.parse(function, mode="eval").body, list(args), [])


def _cast(node: ast.expr, dtype: str, torch: bool) -> ast.expr:
    """`node` cast to `dtype`: ``(node).to(torch.dtype)``, or numpy's ``np.dtype(node)``."""
    if torch:
        return ast.Call(ast.Attribute(node, "to", ast.Load()), [ast.parse(f"torch.{dtype}", mode="eval").body], [])
    return _call(f"np.{dtype}", node)


def _reseeded(generator: ast.expr) -> ast.expr:
    """A fresh generator on `generator`'s device, seeded with its initial seed."""
    fresh = ast.Call(ast.parse("torch.Generator", mode="eval").body, [],
                     [ast.keyword("device", ast.Attribute(generator, "device", ast.Load()))])
    return ast.Call(ast.Attribute(fresh, "manual_seed", ast.Load()),
                    [ast.Call(ast.Attribute(generator, "initial_seed", ast.Load()), [], [])], [])


def _returns_number(node: ast.Return, tree: ast.Module) -> bool:
    """Whether the function `node` returns from is annotated ``-> int`` or ``-> float``."""
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                inner is node for statement in function.body for inner in ast.walk(statement)):
            return isinstance(function.returns, ast.Name) and function.returns.id in ("int", "float")
    return False


def _nudged(value: bool | int | float) -> bool | int | float:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return 2 * value if value else 1.0


def _shifted(node: ast.Slice, bound: str) -> ast.Slice:
    shifted = ast.Slice(node.lower, node.upper, node.step)
    setattr(shifted, bound, ast.BinOp(getattr(node, bound), ast.Add(), ast.Constant(1)))
    return shifted


def _default_of(name: ast.Name, tree: ast.Module) -> ast.expr | None:
    """The default of the parameter `name` stands for, in the function whose body uses it, if any."""
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if not any(inner is name for statement in function.body for inner in ast.walk(statement)):
            continue
        arguments = function.args
        positional = arguments.posonlyargs + arguments.args
        defaults = {a.arg: d for a, d in zip(positional[len(positional) - len(arguments.defaults):],
                                             arguments.defaults)}
        defaults.update({a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is not None})
        return defaults.get(name.id)
    return None


def _parents(tree: ast.AST) -> dict[int, tuple[ast.AST, str, int | None]]:
    """id(child) -> (parent, field, index in the field's list or None)."""
    parents = {}
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        parents[id(item)] = (parent, name, index)
            elif isinstance(value, ast.AST):
                parents[id(value)] = (parent, name, None)
    return parents


def _put(parents: dict, target: ast.AST, replacement: ast.AST) -> None:
    parent, name, index = parents[id(target)]
    if index is None:
        setattr(parent, name, replacement)
    else:
        getattr(parent, name)[index] = replacement
    parents[id(replacement)] = (parent, name, index)


def _statement(parents: dict, node: ast.AST) -> ast.stmt:
    """The innermost statement holding `node` (`node` itself if it is one)."""
    while not isinstance(node, ast.stmt):
        node = parents[id(node)][0]
    return node


def _first_line(statement: ast.stmt) -> str:
    lines = ast.unparse(statement).splitlines()
    return lines[0] if lines else ""
