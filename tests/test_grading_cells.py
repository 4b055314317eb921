"""digitcourse.grading.cells and verdict's reading of notebooks: what is graded, and what a test sees."""
from __future__ import annotations

import copy

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from digitcourse.grading.cells import cell_role, graded_cells, invalid, merge
from digitcourse.grading.verdict import Verdicts, defined_names, definitions


def meta(grade_id: str, **flags) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False,
                         "locked": False, **flags}}


def assignment():
    """(released, instructor's): an intro, a read-only set-up, an exercise, its test, a written answer."""
    cells = [new_markdown_cell("# Intro", metadata=meta("intro", locked=True)),
             new_code_cell("import numpy as np", metadata=meta("setup", locked=True)),
             new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
                           metadata=meta("f", solution=True)),
             new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS",
                           metadata=meta("test_f", grade=True, locked=True, points=2)),
             new_markdown_cell("An answer.", metadata=meta("why", grade=True, solution=True, points=1))]
    instructors = new_notebook(cells=cells)
    released = copy.deepcopy(instructors)
    released.cells[2].source = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    released.cells[3].source = "assert f(1) == 1"
    released.cells[4].source = "YOUR ANSWER HERE"
    return released, instructors


def ids(notebook) -> list[str]:
    return [cell.metadata.get("nbgrader", {}).get("grade_id", "-") for cell in notebook.cells]


def test_the_graded_cells_are_the_tests_and_the_written_answers():
    released, _ = assignment()
    assert [(c.name, c.points, c.auto) for c in graded_cells(released)] == [("test_f", 2.0, True), ("why", 1.0, False)]
    assert [cell_role(cell) for cell in released.cells] == ["locked", "locked", "exercise", "test", "answer"]


def test_a_submission_as_released_merges_to_itself_with_no_notes():
    released, instructors = assignment()
    merged, notes = merge(released, instructors, copy.deepcopy(released))
    assert notes == [] and [cell.source for cell in merged.cells] == [cell.source for cell in released.cells]


def test_edits_to_read_only_cells_are_undone_and_answers_kept():
    released, instructors = assignment()
    submitted = copy.deepcopy(released)
    submitted.cells[1].source = "import numpy as np\nnp.isclose = lambda *a: True"
    submitted.cells[2].source = "def f(x):\n    return x"
    submitted.cells[3].source = "pass"
    submitted.cells[3].metadata.nbgrader["points"] = 50
    merged, notes = merge(released, instructors, submitted)
    assert [cell.source for cell in merged.cells[1:4]] == ["import numpy as np", "def f(x):\n    return x",
                                                           "assert f(1) == 1"]
    assert graded_cells(merged)[0].points == 2.0
    assert notes == ["read-only cell 'setup' was edited: graded with the instructor's version",
                     "read-only cell 'test_f' was edited: graded with the instructor's version",
                     "the points of cell 'test_f' were changed to 50: graded out of 2"]


def test_deleted_cells_come_back_in_place_and_copies_become_ordinary_cells():
    released, instructors = assignment()
    submitted = copy.deepcopy(released)
    test = submitted.cells.pop(3)  # the test, deleted ...
    submitted.cells.insert(1, copy.deepcopy(test))  # ... and pasted elsewhere, twice
    submitted.cells.insert(1, copy.deepcopy(test))
    del submitted.cells[0]  # the intro
    submitted.cells.append(new_code_cell("print('mine')", metadata=meta("test_bonus", grade=True, points=9)))
    merged, notes = merge(released, instructors, submitted)
    assert ids(merged) == ["intro", "test_f", "-", "setup", "f", "why", "-"]
    assert notes == ["cell 'test_f' appears twice: graded as an ordinary cell",
                     "cell 'test_bonus' is not part of the assignment: graded as an ordinary cell",
                     "cell 'intro' was deleted: the instructor's copy was put back"]
    assert [c.name for c in graded_cells(merged)] == ["test_f", "why"]


def test_a_cell_of_another_type_is_graded_as_released():
    released, instructors = assignment()
    submitted = copy.deepcopy(released)
    submitted.cells[3] = nbformat.v4.new_markdown_cell("assert True", metadata=submitted.cells[3].metadata)
    merged, notes = merge(released, instructors, submitted)
    assert merged.cells[3].cell_type == "code" and merged.cells[3].source == "assert f(1) == 1"
    assert notes == ["cell 'test_f' was changed to markdown: graded as code"]


def test_a_test_sees_the_imports_functions_and_constants_of_a_cell_not_its_work():
    source = ("import numpy as np\nfrom math import sqrt\nRATE = 0.1\nSIZES = {'full': [1, 2]}\n"
              "data = load('mnist')\ndef helper(x):\n    return sqrt(x)\nclass Net:\n    pass\n"
              "model = train(data)\n%matplotlib inline\n")
    kept = "\n".join(definitions(source))
    assert "load(" not in kept and "train(" not in kept and "matplotlib" not in kept
    for line in ("import numpy as np", "from math import sqrt", "RATE = 0.1", "def helper(x):", "class Net:"):
        assert line in kept
    assert len(definitions(source)) == 6 and defined_names(source) == ["helper", "Net"]
    assert definitions("this is not python (") == []


def test_a_definition_that_needs_the_notebooks_data_is_left_out_and_the_rest_kept():
    cells = [new_code_cell("import math\ndef scores(x, data=features):\n    return x\ndef half(x):\n    return x / 2"),
             new_code_cell("assert half(4) == 2 and math.pi > 3 and 'scores' not in globals()",
                           metadata=meta("test_half", grade=True, points=1))]
    verdicts = Verdicts(new_notebook(cells=cells))
    assert "half" in verdicts.namespace and "scores" not in verdicts.namespace


def test_a_notebook_whose_cell_is_not_text_is_invalid_and_says_which():
    released, _ = assignment()
    assert invalid(released) == ""
    released.cells[2].source = ["a list", "of lines"]
    assert invalid(released) == "the source of cell 3 is not text (it is list)"
    released.cells[2].source, released.cells[1].metadata["nbgrader"] = "", "locked"
    assert invalid(released) == "the metadata of cell 2 is not a mapping"
