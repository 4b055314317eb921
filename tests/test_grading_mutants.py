"""digitcourse.grading.mutants: one plausible mistake at a time, inside the solution only."""
from __future__ import annotations

import ast

import pytest

from digitcourse.grading.selftest import Exercise, Report
from digitcourse.grading.mutants import GENERIC_KINDS, mutants, solution_lines

CELL = '''def step(p, g, lr=0.1, *, keep=True):
    """p - lr * g: a docstring is never mutated."""
    scale = 2
    ### BEGIN SOLUTION
    if keep and lr > 0:
        p = p - lr * g.sum(axis=0, keepdims=True)
    q = -p[scale]
    q += 1
    return q[1:3]
    ### END SOLUTION
'''


@pytest.fixture(scope="module")
def diffs() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for mutant in mutants(CELL):
        found.setdefault(mutant.kind, []).append(mutant.diff)
    return found


@pytest.mark.parametrize("kind, diff", [
    ("operator", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p + lr * g.sum(axis=0, keepdims=True)"),
    ("operator", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p - lr / g.sum(axis=0, keepdims=True)"),
    ("operator", "line 5: if keep and lr > 0:  ->  if keep or lr > 0:"),
    ("operator", "line 8: q += 1  ->  q -= 1"),
    ("term dropped", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p"),
    ("term dropped", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p - g.sum(axis=0, keepdims=True)"),
    ("sign dropped", "line 7: q = -p[scale]  ->  q = p[scale]"),
    ("comparison", "line 5: if keep and lr > 0:  ->  if keep and lr >= 0:"),
    ("constant", "line 5: if keep and lr > 0:  ->  if keep and lr > 1:"),
    ("constant", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p - lr * g.sum(axis=0, keepdims=False)"),
    ("index", "line 7: q = -p[scale]  ->  q = -p[scale + 1]"),
    ("index", "line 9: return q[1:3]  ->  return q[1 + 1:3]"),
    ("method", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p - lr * g.mean(axis=0, keepdims=True)"),
    ("argument ignored", "line 6: p = p - lr * g.sum(axis=0, keepdims=True)  ->  p = p - lr * g.sum(keepdims=True)"),
    ("argument ignored", "line 5: if keep and lr > 0:  ->  if keep and 0.1 > 0:"),
    ("argument ignored", "line 5: if keep and lr > 0:  ->  if True and lr > 0:"),
    ("return", "line 9: return q[1:3]  ->  return None"),
])
def test_each_kind_of_mistake_is_made(diffs, kind, diff):
    assert diff in diffs.get(kind, []), diffs.get(kind)


def test_only_the_solution_region_changes_and_every_mutant_is_distinct_valid_python():
    found = mutants(CELL)
    assert solution_lines(CELL) == range(5, 10)
    assert all(mutant.line in range(5, 10) for mutant in found)
    assert len({mutant.source for mutant in found}) == len(found) > 20
    for mutant in found:
        tree = ast.parse(mutant.source)
        assert ast.get_docstring(tree.body[0]) == "p - lr * g: a docstring is never mutated."
        assert "scale = 2" in mutant.source


def test_a_cell_without_a_solution_region_has_no_mutants():
    assert mutants("def f(x):\n    return x + 1\n") == []


TORCH_CELL = '''def noisy_softmax(z: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    ### BEGIN SOLUTION
    shifted = z - z.max(dim=1, keepdim=True).values
    p = shifted.exp() / shifted.exp().sum(dim=1, keepdim=True)
    noise = torch.randn(p.shape, generator=generator)
    return p.detach() + noise, p.argmax(1)
    ### END SOLUTION
'''
COUNT_CELL = "def count(widths: list[int]) -> int:\n    ### BEGIN SOLUTION\n    return sum(widths)\n    ### END SOLUTION\n"


@pytest.mark.parametrize("kind, after", [
    ("max shift dropped", "shifted = z"),
    ("floor division", "p = shifted.exp() // shifted.exp().sum(dim=1, keepdim=True)"),
    ("copy removed", "return (p + noise, p.argmax(1))"),
    ("cast added", "return ((p.detach() + noise).to(torch.float32), p.argmax(1))"),
    ("cast added", "return (p.detach() + noise, p.argmax(1).to(torch.int32))"),
    ("generator re-seeded",
     "noise = torch.randn(p.shape, generator=torch.Generator(device=generator.device).manual_seed(generator.initial_seed()))"),
    ("number as tensor", "return torch.tensor(sum(widths))"),
])
def test_each_kind_of_mistake_every_exercise_can_make_is_made_and_named_generic(kind, after):
    made = {(mutant.kind, mutant.after) for mutant in mutants(TORCH_CELL) + mutants(COUNT_CELL)}
    assert (kind, after) in made and kind in GENERIC_KINDS, sorted(made)


def test_a_numpy_solution_is_cast_with_numpy():
    cell = "def f(x: np.ndarray) -> np.ndarray:\n    ### BEGIN SOLUTION\n    return x.argmax() * 2.0\n    ### END SOLUTION\n"
    assert {mutant.after for mutant in mutants(cell) if mutant.kind == "cast added"} == {
        "return np.float32(x.argmax() * 2.0)", "return np.int32(x.argmax()) * 2.0"}


def test_checks_table_counts_the_generic_kinds_apart_and_shows_why_a_mutant_is_equivalent():
    exercise = Exercise("softmax", ["test_softmax"], mutants=10, caught=9, generic=4, generic_caught=3,
                        equivalent={"line 3: a  ->  b": "the same for every legal input"})
    table = Report("hw", "earned 3/3", "earned 0/3", [exercise]).table(0.9)
    assert "| softmax | test_softmax | ok | 10 | 9 | 4 | 3 | 1 | 92% |" in table
    assert "  softmax: line 3: a  ->  b\n    (equivalent: the same for every legal input)" in table
