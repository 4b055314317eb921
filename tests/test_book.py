"""The course book: built from the suite's executed notebooks (quick profile), checked as HTML.

Both editions are built once per module: the instructor edition from the executed copies the conftest
fixture made (nothing is executed again), the student edition from the released notebooks. Both are
built for a course repository other than the upstream one the notebooks name (COURSE), as an adopting
instructor's would be.
"""
from __future__ import annotations

import os
import re
import threading
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest
from dask_cluster import dask_cluster, kill_tree, wait_until

from digitcourse import book, course, results
from digitcourse.book import cache as book_cache
from digitcourse.book import runs
from digitcourse.book.cache import CacheKey, stale_parts, stamp
from digitcourse.course import REPOSITORY_VARIABLE, STUDENT_BRANCH, UPSTREAM, notebooks
from digitcourse.cluster import SchedulerLost
from digitcourse.errors import ConfigError, DigitcourseError
from digitcourse.grading.release import leaked_solution_lines

pytestmark = pytest.mark.xdist_group("book")  # one xdist worker builds the book, once
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")  # nbgrader's
COURSE = "adopter-university/deep-learning-101"  # the course's repository the books are built for


def _must_not_execute(source, output, **options):
    raise DigitcourseError(f"the book test must not execute {source}: its executed copy was not reused.")


@pytest.fixture(scope="module")
def site(executed_notebooks) -> Path:
    """The instructor edition's HTML folder; building it fails if a notebook would run again."""
    for source in notebooks():
        executed_notebooks[source.stem]  # fails here, with its error, if the notebook did not run
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runs, "execute_notebook", _must_not_execute)
        patch.setenv(REPOSITORY_VARIABLE, COURSE)
        return book.build("quick").parent


@pytest.fixture(scope="module")
def student_site() -> Path:
    """The student edition's HTML folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REPOSITORY_VARIABLE, COURSE)
        return book.build("quick", student=True).parent


def page_text(page: Path) -> str:
    """What an HTML page says: tags dropped, entities decoded, line breaks of code blocks kept, and
    Sphinx's typographic quotes in prose (’ “ ”) read as the plain ones they were written as."""
    text = unescape(re.sub(r"<[^>]+>", "", page.read_text()))
    return text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))


def as_notebook(text: str) -> nbformat.NotebookNode:
    """`text` as a one-cell notebook, for grading.leaked_solution_lines."""
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])


def repository_url() -> str:
    return f"https://github.com/{COURSE}"


@pytest.mark.slow
def test_every_assignment_page_shows_a_figure_and_a_table(site):
    for source in notebooks():
        html = (site / "executed" / f"{source.stem}.html").read_text()
        assert re.search(r'<img [^>]*src="[^"]+\.png"', html), f"{source.stem}: no figure"
        assert "<table" in html, f"{source.stem}: no table"


@pytest.mark.slow
def test_results_page_lists_every_assignment_with_its_recorded_numbers(site):
    html = (site / "results.html").read_text()
    text = page_text(site / "results.html")
    for source in notebooks():
        recorded = results.read_results(book.EXECUTED / source.name)
        assert len(recorded) > 0, f"{source.stem} recorded no headline numbers"
        assert f'href="executed/{source.stem}.html"' in html
        for row in recorded.itertuples():
            assert row.headline in text
            if isinstance(row.ours, float):
                assert f"{row.ours:.4g}" in text


@pytest.mark.slow
def test_colab_button_opens_the_source_notebook(site):
    for source in notebooks():
        html = (site / "executed" / f"{source.stem}.html").read_text()
        colab = f"https://colab.research.google.com/github/{repository_url().removeprefix('https://github.com/')}"
        assert "Launch on Colab" in html
        assert f'href="{colab}/blob/main/notebooks/{source.name}"' in html


@pytest.mark.slow
def test_no_page_of_either_edition_names_the_upstream_repository(site, student_site):
    for folder in (site, student_site):
        pages = sorted([*folder.rglob("*.html"), *folder.glob("_sources/executed/*.ipynb")])  # and downloads
        assert len(pages) > 2 * len(notebooks())
        for page in pages:
            assert UPSTREAM not in page.read_text(), f"{page} names {UPSTREAM}"
    assert f'href="{repository_url()}"' in (site / "index.html").read_text()


@pytest.mark.slow
def test_api_reference_documents_every_module_and_shows_examples_as_code(site):
    html = (site / "api.html").read_text()
    for module in ("digitcourse.data", "digitcourse.models", "digitcourse.training", "digitcourse.trials",
                   "digitcourse.plots", "digitcourse.search", "digitcourse.grading", "digitcourse.cli"):
        assert f'id="module-{module}"' in html, f"{module} is missing from the API reference"
    assert 'id="digitcourse.training.fit"' in html, "fit is missing from the API reference"
    # An indented example after a paragraph not ending in "::" renders as a quotation, not as code.
    assert "<blockquote>" not in html, "a docstring example lacks its '::'"


@pytest.mark.slow
def test_the_page_beyond_one_machine_shows_the_cluster_and_database_commands(site):
    text = page_text(site / "beyond_one_machine.html")
    for command in ("dask scheduler --host 127.0.0.1 --port 8786", "SCHEDULER__WORKER_SATURATION=1.0",
                    "SLURMCluster(", "digitcourse book --scheduler tcp://HOST:8786", "postgresql+psycopg://",
                    "-p study_storage"):
        assert command in text, f"the page lacks {command!r}"


@pytest.mark.slow
def test_student_edition_shows_no_solution_and_no_hidden_test(site, student_site):
    pages = sorted(student_site.rglob("*.html"))
    for source in notebooks():
        notebook = nbformat.read(source, as_version=4)
        shown = leaked_solution_lines(notebook, as_notebook(page_text(site / "executed" / f"{source.stem}.html")))
        secrets = {line for line in shown if not any(marker in line for marker in MARKERS)}
        assert secrets, f"{source.stem}: the instructor page shows no solution, so this test proves nothing"

        assignment = student_site / "executed" / f"{source.stem}.html"
        assert leaked_solution_lines(notebook, as_notebook(page_text(assignment))) == []
        assert "raise NotImplementedError()" in page_text(assignment)
        colab = f"https://colab.research.google.com/github/{repository_url().removeprefix('https://github.com/')}"
        released = f"{colab}/blob/{STUDENT_BRANCH}/{source.stem}/{source.name}"
        assert f'href="{released}"' in assignment.read_text(), "Colab must open the student copy"
        assert f"notebooks/{source.name}" not in assignment.read_text()  # the source holds the solutions
    # Other pages may name the markers (the instructors' page explains them), and show a line that one
    # notebook's solution and another notebook's public code share (`else:`): look for the lines that
    # only the course's solutions and hidden tests hold.
    course_notebook = SimpleNamespace(cells=[cell for source in notebooks()  # every cell of the course
                                             for cell in nbformat.read(source, as_version=4).cells])
    for page in pages:
        shown = leaked_solution_lines(course_notebook, as_notebook(page_text(page)))
        leaked = [line for line in shown if not any(marker in line for marker in MARKERS)]
        assert not leaked, f"{page.relative_to(student_site)} shows {leaked[0]!r}"


@pytest.mark.slow
def test_a_failing_notebook_stops_the_build_naming_it_and_its_cell(tmp_path, monkeypatch):
    source = tmp_path / "notebooks" / "hw0_broken.ipynb"
    source.parent.mkdir()
    cells = [nbformat.v4.new_code_cell('profile = "full"', metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("assert 1 + 1 == 3, 'arithmetic is broken'")]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel}), source)
    monkeypatch.setattr(course, "NOTEBOOKS", source.parent)
    monkeypatch.setattr(book, "EXECUTED", tmp_path / "executed")
    monkeypatch.setattr(book, "render", lambda folder: pytest.fail("the book was built after a failure"))

    with pytest.raises(DigitcourseError, match=r"hw0_broken.ipynb failed in In \[\d+\] \(`assert 1 \+ 1 == 3"):
        book.build("tiny")
    kept = nbformat.read(tmp_path / "executed" / "hw0_broken.ipynb", as_version=4)
    assert kept.cells[-1].outputs[-1].evalue == "arithmetic is broken"


def test_recorded_results_read_back_from_the_executed_notebook(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, metadata, raw: shown.append((data, metadata)))
    table = pd.DataFrame({"ours": [0.9712, 0.5], "reference": [0.97, float("nan")]},
                         index=["test accuracy", "train accuracy"])
    results.record_results(table)
    (data, metadata), = shown
    output = nbformat.v4.new_output("display_data", data=data, metadata=metadata)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[output])])
    nbformat.write(notebook, tmp_path / "hw0.ipynb")

    read = results.results_table([tmp_path / "hw0.ipynb"])
    assert read.assignment.tolist() == ["hw0", "hw0"]
    assert read.headline.tolist() == ["test accuracy", "train accuracy"]
    assert read.ours.tolist() == [0.9712, 0.5]
    assert read.reference[0] == 0.97 and pd.isna(read.reference[1])
    assert "<table" in data["text/html"] and "NaN" not in data["text/html"]
    assert data["text/plain"].splitlines()[-1].split() == ["train", "accuracy", "0.5000", results.NOT_GIVEN]


def test_record_results_needs_the_columns_ours_and_reference():
    with pytest.raises(ConfigError, match=r"columns \['ours', 'reference'\], got \['ours', 'report'\]"):
        results.record_results(pd.DataFrame({"ours": [0.9], "report": [0.8]}))


# Incremental builds, on small notebooks of a course in a temporary folder; the book itself is not rendered.
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def write_notebook(path: Path, code: str) -> Path:
    """A course notebook: a parameters cell (profile) and `code`."""
    cells = [nbformat.v4.new_code_cell('profile = "full"', metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell(code)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": KERNEL}), path)
    return path


@pytest.fixture
def small_course(tmp_path, monkeypatch) -> dict[str, list]:
    """notebooks hw0_a and hw0_b in a temporary course whose book is never rendered; returns the
    list of `renders` (one entry per book rendered) and the `executed` notebook names, in order, that
    a stand-in for papermill (which copies the source as run to its end) executed in this process."""
    (tmp_path / "notebooks").mkdir()
    for name in ("hw0_a", "hw0_b"):
        write_notebook(tmp_path / "notebooks" / f"{name}.ipynb", f"print({name!r})")
    monkeypatch.setattr(course, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(book, "EXECUTED", tmp_path / "executed")
    calls = {"renders": [], "executed": []}
    monkeypatch.setattr(book, "render", lambda folder: calls["renders"].append(folder) or folder / "index.html")

    def execute(source, output, *, profile, parameters, log):
        calls["executed"].append(Path(source).stem)
        notebook = nbformat.read(source, as_version=4)
        notebook.metadata["papermill"] = {"parameters": {"profile": profile}, "exception": None}
        nbformat.write(notebook, output)

    monkeypatch.setattr(runs, "execute_notebook", execute)
    return calls


def test_a_second_build_executes_nothing_and_says_each_copy_is_reused(small_course, capsys):
    book.build("tiny")
    assert small_course["executed"] == ["hw0_a", "hw0_b"]
    first = capsys.readouterr().out
    assert "hw0_a: queued (no finished run)\nhw0_b: queued (no finished run)\nhw0_a: started\n" in first
    assert re.search(r"hw0_b: finished in \d+\.\d min", first)

    book.build("tiny")
    assert small_course["executed"] == ["hw0_a", "hw0_b"]  # nothing more
    assert capsys.readouterr().out.splitlines() == ["hw0_a: reused (nothing changed since its tiny run)",
                                                    "hw0_b: reused (nothing changed since its tiny run)"]
    assert len(small_course["renders"]) == 2  # the book is rendered once per build


def test_an_edited_or_touched_notebook_is_executed_again_alone(small_course, capsys):
    book.build("tiny")
    source = course.NOTEBOOKS / "hw0_b.ipynb"
    write_notebook(source, "print('edited')")
    book.build("tiny")
    assert small_course["executed"] == ["hw0_a", "hw0_b", "hw0_b"]
    assert "hw0_b: queued (source changed)" in capsys.readouterr().out

    later = (book.EXECUTED / "hw0_a.ipynb").stat().st_mtime + 10
    os.utime(course.NOTEBOOKS / "hw0_a.ipynb", (later, later))  # `touch`: make's way to ask for a run
    book.build("tiny")
    assert small_course["executed"] == ["hw0_a", "hw0_b", "hw0_b", "hw0_a"]
    assert "hw0_a: queued (source touched)" in capsys.readouterr().out


def test_another_profile_or_force_executes_every_notebook_again(small_course, capsys):
    book.build("tiny")
    book.build("quick")
    assert "hw0_a: queued (parameters changed)" in capsys.readouterr().out
    book.build("quick", force=True)
    assert small_course["executed"] == ["hw0_a", "hw0_b"] * 3
    assert "hw0_b: queued (forced)" in capsys.readouterr().out


def test_a_copy_is_stale_when_the_library_or_the_data_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITCOURSE_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "MNIST").mkdir(parents=True)
    (tmp_path / "data" / "MNIST" / "train.gz").write_bytes(b"images")
    source = write_notebook(tmp_path / "hw0.ipynb", "print(1)")
    executed = write_notebook(tmp_path / "executed.ipynb", "print(1)")
    os.utime(source, (0, 0))
    stamp(executed, CacheKey.of(source, {"profile": "tiny"}))
    assert stale_parts(source, executed, CacheKey.of(source, {"profile": "tiny"})) == []

    (tmp_path / "data" / "MNIST" / "test.gz").write_bytes(b"more images")
    monkeypatch.setattr(book_cache, "library_digest", lambda: "another digitcourse")
    assert stale_parts(source, executed, CacheKey.of(source, {"profile": "tiny"})) == ["library changed",
                                                                                       "data changed"]


def test_a_failed_or_unstamped_copy_is_never_reused(tmp_path):
    source = write_notebook(tmp_path / "hw0.ipynb", "print(1)")
    os.utime(source, (0, 0))
    key = CacheKey.of(source, {"profile": "tiny"})
    executed = write_notebook(tmp_path / "executed.ipynb", "print(1)")
    assert stale_parts(source, executed, key) == ["no finished run"]
    stamp(executed, key)
    failed = nbformat.read(executed, as_version=4)
    failed.metadata["papermill"] = {"exception": True}
    nbformat.write(failed, executed)
    assert stale_parts(source, executed, key) == ["no finished run"]
    assert stale_parts(source, tmp_path / "missing.ipynb", key) == ["no finished run"]


@pytest.mark.slow
def test_jobs_execute_notebooks_side_by_side_then_render_once(tmp_path, monkeypatch, capfd):
    (tmp_path / "notebooks").mkdir()
    for name in ("hw0_a", "hw0_b"):  # each notes when its cell ran, which lasts 4 s
        write_notebook(tmp_path / "notebooks" / f"{name}.ipynb",
                       "import time\nstarted = time.time()\ntime.sleep(4)\nprint(started, time.time())")
    monkeypatch.setattr(course, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(book, "EXECUTED", tmp_path / "executed")
    renders = []
    monkeypatch.setattr(book, "render", lambda folder: renders.append(folder) or folder / "index.html")

    book.build("tiny", jobs=2)
    spans = [[float(t) for t in nbformat.read(tmp_path / "executed" / f"{name}.ipynb", as_version=4)
              .cells[-1].outputs[0].text.split()] for name in ("hw0_a", "hw0_b")]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # the cells overlapped
    assert len(renders) == 1
    out = capfd.readouterr().out
    assert out.count("queued (no finished run)") == 2 and out.count(": started") == 2 and out.count("finished in") == 2
    book.build("tiny", jobs=2)
    assert capfd.readouterr().out.count("reused") == 2


def test_build_rejects_an_unknown_profile():
    with pytest.raises(ConfigError, match="did you mean 'quick'"):
        book.build("quik")


def test_a_run_and_its_result_cross_as_json_unchanged():
    run = runs.NotebookRun("hw0.ipynb", b"\xff not json", {"profile": "tiny", "seed": 3}, "digest", 2, "/book/hw0.ipynb")
    assert runs.NotebookRun.from_json(run.to_json()) == run
    result = runs.Executed(b'{"cells": []}', "hw0.ipynb failed in In [2]", 1.25, "node3")
    assert runs.Executed.from_json(result.to_json()) == result


# The book on a Dask cluster: a real scheduler and worker on 127.0.0.1 (dask_cluster.py).
@pytest.fixture
def dask_course(tmp_path, monkeypatch) -> Path:
    """notebooks hw0_a (prints where it ran) and hw0_b, the book never rendered; returns the folder
    its executed copies go to."""
    (tmp_path / "notebooks").mkdir()
    write_notebook(tmp_path / "notebooks" / "hw0_a.ipynb", "import socket, os\nprint(os.getpid(), socket.gethostname())")
    write_notebook(tmp_path / "notebooks" / "hw0_b.ipynb", "print('b')")
    monkeypatch.setattr(course, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(book, "EXECUTED", tmp_path / "executed")
    monkeypatch.setattr(book, "render", lambda folder: folder / "index.html")
    return tmp_path / "executed"


@pytest.mark.slow
def test_the_cluster_executes_the_notebooks_and_a_later_build_here_reuses_them(dask_course, tmp_path, capfd):
    with dask_cluster(tmp_path / "cluster", workers=2) as cluster:
        book.build("tiny", scheduler=cluster.address)
        out = capfd.readouterr().out
        workers = {process.pid for process in cluster.workers}
    for name in ("hw0_a", "hw0_b"):
        assert f"{name}: queued (no finished run)" in out and f"{name}: started on " in out  # printed on a worker
        assert re.search(fr"{name}: finished in \d+\.\d min on \S+", out)
    printed = nbformat.read(dask_course / "hw0_a.ipynb", as_version=4).cells[-1].outputs[0].text
    assert int(printed.split()[0]) not in workers | {os.getpid()}  # a kernel the worker started
    book.build("tiny")  # here, with no cluster: the copies made there are valid here
    assert capfd.readouterr().out.count("reused (nothing changed since its tiny run)") == 2


@pytest.mark.slow
def test_a_lost_scheduler_ends_the_build_with_one_error_and_the_finished_copies_stay(dask_course, tmp_path):
    write_notebook(course.NOTEBOOKS / "hw0_b.ipynb", "import time\ntime.sleep(120)")
    with dask_cluster(tmp_path / "cluster", workers=2) as cluster:
        def kill_once_hw0_a_is_in() -> None:  # while hw0_b sleeps
            wait_until(lambda: (dask_course / "hw0_a.ipynb").exists(), 300)
            kill_tree(cluster.scheduler)

        killer = threading.Thread(target=kill_once_hw0_a_is_in)
        killer.start()
        with pytest.raises(SchedulerLost, match=r"Lost the Dask scheduler at tcp://127\.0\.0\.1:\d+: the executed "
                                                r"copies written so far are kept"):
            book.build("tiny", scheduler=cluster.address)
        killer.join()
    assert stale_parts(course.NOTEBOOKS / "hw0_a.ipynb", dask_course / "hw0_a.ipynb",
                       CacheKey.of(course.NOTEBOOKS / "hw0_a.ipynb", {"profile": "tiny"})) == []
    assert not (dask_course / "hw0_b.ipynb").exists()


@pytest.mark.slow
def test_a_worker_with_another_digitcourse_refuses_the_run(dask_course, tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "library_digest", lambda: "the instructor's edited digitcourse")
    with dask_cluster(tmp_path / "cluster", workers=1) as cluster:
        with pytest.raises(DigitcourseError, match="has another digitcourse than the one that asked for "
                                                   "hw0_a.ipynb: install the same source there"):
            book.build("tiny", scheduler=cluster.address)
