"""The student release gives nothing away: no cell tagged `instructor`, and no link to a repository the
course does not live in.

All five notebooks are released once (`released` fixture), with another repository named as the
course's home, and every assertion reads those copies.
"""
from __future__ import annotations

import nbformat
import pytest
from grading_support import TOY, cell_named, nbgrader, read, submit

from digitcourse.course import REPOSITORY_VARIABLE, STUDENT_BRANCH, UPSTREAM, home, notebooks, student_colab_links
from digitcourse.errors import DigitcourseError
from digitcourse.grading import release as releasing
from digitcourse.grading.release import INSTRUCTOR_TAG, is_instructor_only, leaked_solution_lines, release

pytestmark = pytest.mark.xdist_group("grading_release")  # one xdist worker releases the notebooks once

SOURCES = notebooks()
ADOPTER = "adopter-university/deep-learning-101"  # a course repository that is not UPSTREAM


def instructor_cells(notebook) -> list:
    return [cell for cell in notebook.cells if is_instructor_only(cell)]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """Every course notebook released with ADOPTER as the course's repository, by name."""
    out = tmp_path_factory.mktemp("release")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REPOSITORY_VARIABLE, ADOPTER)
        paths = release(SOURCES, out=out)
    return {path.stem: read(path) for path in paths}


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_the_student_version_has_no_instructor_cell_and_none_of_their_lines(source, released):
    notebook = read(source)
    hidden = instructor_cells(notebook)
    assert any("## Closing note" in cell.source or cell.id == "closing-results" for cell in hidden), (
        f"{source.stem}: the closing note's numbers are not tagged {INSTRUCTOR_TAG!r}")
    student = released[source.stem]
    assert instructor_cells(student) == []
    shown = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    public = {line.strip() for cell in notebook.cells if not is_instructor_only(cell)
              for line in cell.source.splitlines()}
    secret = {line.strip() for cell in hidden for line in cell.source.splitlines()} - public
    assert secret, f"{source.stem}: its instructor cells hold no line of their own"
    assert not secret & shown


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_the_student_version_keeps_the_instructions_the_points_and_the_run_times(source, released):
    student = released[source.stem]
    title = student.cells[0].source
    assert "**How to work.**" in title and "| part | what | points |" in title
    closing = next(cell.source for cell in student.cells if cell.source.startswith("## Closing note"))
    assert "**The `full` profile, measured**" in closing and "minutes" in closing
    assert "Comparison with the reference report" in "".join(cell.source for cell in student.cells)


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_no_student_version_names_the_upstream_repository_when_another_is_named(source, released):
    text = nbformat.writes(released[source.stem])
    assert UPSTREAM not in text
    badge = f"https://colab.research.google.com/github/{ADOPTER}/blob/student/{source.stem}/{source.name}"
    assert badge in released[source.stem].cells[0].source
    setup = "".join(cell.source for cell in released[source.stem].cells if "DIGITCOURSE_SOURCE =" in cell.source)
    assert f'"digitcourse @ git+https://github.com/{ADOPTER}"' in setup  # the Colab set-up cell


def test_hw4s_student_version_does_not_answer_its_written_questions(released):
    answers = ["Validation chose no penalty", "at an equal 720 updates (4,500 images) all three reach"]
    source = nbformat.writes(read(SOURCES[3]))
    student = nbformat.writes(released[SOURCES[3].stem])
    for answer in answers:
        assert answer in source and answer not in student


def test_the_leak_check_names_an_instructor_cell_left_in_a_student_version():
    source = read(SOURCES[0])
    leaks = leaked_solution_lines(source, source)
    assert f"a cell tagged {INSTRUCTOR_TAG!r}" in leaks
    assert "| perceptron, 20 epochs | 85.56 | 83.20 | 82.69 |" in leaks  # a line of hw1's closing numbers


def test_release_refuses_a_student_version_that_still_holds_an_instructor_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(releasing, "student_source_of", lambda notebook: notebook)  # strips nothing
    with pytest.raises(DigitcourseError, match="still holds what only the instructor may see"):
        release([SOURCES[2]], out=tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_the_course_home_defaults_to_the_github_remote_then_to_the_upstream(tmp_path, monkeypatch):
    import subprocess

    from digitcourse import course

    monkeypatch.delenv(REPOSITORY_VARIABLE, raising=False)
    monkeypatch.setattr(course, "ROOT", tmp_path)
    for cached in (course._configuration, course._github_remote):
        cached.cache_clear()
        monkeypatch.setattr(course, cached.__name__, cached.__wrapped__)
    assert home().repository == UPSTREAM  # no pyproject.toml, no git
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:someone/course.git"],
                   check=True)
    assert home().repository == "someone/course"
    (tmp_path / "pyproject.toml").write_text('[tool.digitcourse]\nrepository = "dept/dl"\nstudent_branch = "pub"\n')
    assert home() == course.Home("dept/dl", "pub")
    assert home().url == "https://github.com/dept/dl"


@pytest.mark.slow
@pytest.mark.parametrize("path", [TOY, *SOURCES], ids=lambda path: path.stem)
def test_no_released_file_holds_a_solution_or_hidden_test(path, tmp_path):
    released = release([path], out=tmp_path)[0]
    text = released.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    secret, public = set(), set()  # the lines of the source inside and outside solutions/hidden tests
    for cell in read(path).cells:
        written_answer = cell.cell_type == "markdown" and nbgrader(cell).get("solution")
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif line.strip():
                (secret if inside or written_answer else public).add(line.strip())
    released_lines = {line.strip() for cell in read(released).cells for line in cell.source.splitlines()}
    assert secret - public  # the source has solution lines to look for
    assert not (secret - public) & released_lines
    if path in SOURCES:  # the released Colab badge opens the student copy, not the source
        title = read(released).cells[0].source
        assert f"/blob/{STUDENT_BRANCH}/{path.stem}/{path.name})" in title, title
        assert f"notebooks/{path.name}" not in text and f"notebooks/{path.name}" in read(path).cells[0].source


def test_student_colab_links_rewrites_only_links_to_course_notebooks():
    source = "https://colab.research.google.com/github/org/course/blob/main/notebooks/hw1.ipynb"
    assert student_colab_links(f"[badge]({source}) and notebooks/hw1.ipynb") == (
        f"[badge](https://colab.research.google.com/github/org/course/blob/{STUDENT_BRANCH}/hw1/hw1.ipynb)"
        " and notebooks/hw1.ipynb")
    other = "https://colab.research.google.com/github/org/course/blob/main/extra/demo.ipynb"
    assert student_colab_links(other) == other


def test_release_stops_with_nbgraders_reason_when_nbgrader_refuses_a_notebook(tmp_path):
    notebook = read(TOY)
    cell = cell_named(notebook, "test_relu_backward_sum")
    del cell.metadata["nbgrader"]  # hidden tests in a cell that is no test cell
    cell.source += "\n### BEGIN HIDDEN TESTS\nassert relu_backward(2.0, 1.0) == 2.0\n### END HIDDEN TESTS"
    submit(tmp_path, "source", "toy", notebook)
    with pytest.raises(DigitcourseError, match="RuntimeError: Hidden test region detected in a non-grade cell"):
        release([tmp_path / "source" / "toy.ipynb"], out=tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_leak_check_finds_the_solution_lines_and_markers_of_an_unreleased_copy():
    source = read(TOY)
    leaks = leaked_solution_lines(source, source)
    assert {"return np.std(x, ddof=1) / np.sqrt(len(x))", "return grad_out * (x > 0)",
            "assert np.isclose(standard_error(np.array([2.0, 4.0])), 1.0)", "### BEGIN SOLUTION",
            cell_named(source, "why_ddof").source} <= set(leaks)
    assert "def standard_error(x):" not in leaks  # the student sees it too
