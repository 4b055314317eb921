"""Sphinx additions for the course book: the edition, the results table, the API reference, Colab links.

- `course_edition` ("instructor" or "student", set in _config.yml under sphinx.config) becomes a Sphinx
  tag, so that a page's `{only}` blocks can say which edition the reader holds.
- The course's repository is digitcourse's (`digitcourse.course.home`, named in pyproject.toml): the
  repository button, `{{ repository }}` (a link to it) and every page's links to the upstream repository
  (a notebook's Colab badge and set-up cell, in the page and in its downloadable .ipynb) follow it.
- The `{results-table}` directive collects the headline numbers each executed notebook recorded with
  `digitcourse.results.record_results`.
- The `api-reference` directive (in an .rst page) documents every public module of `digitcourse` from its
  docstrings.
- The Colab button of a notebook page opens the notebook's source, notebooks/<name>.ipynb, because the
  executed copy the page shows is not in the repository. In the student edition it opens the released
  copy on the student branch (`digitcourse.course.student_colab_links`): the sources hold the solutions.
"""
from __future__ import annotations

import math
import pkgutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# The repository root, so that `jupyter-book build book` imports this checkout's digitcourse.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import digitcourse  # noqa: E402
from digitcourse.book import EXECUTED  # noqa: E402
from digitcourse.course import NOTEBOOKS, course_links, home, student_colab_links  # noqa: E402
from digitcourse.results import NOT_GIVEN, results_table  # noqa: E402

EDITIONS = ("instructor", "student")


def _number(value: object) -> str:
    """A recorded number as the results table shows it: 4 significant digits, an em dash where none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_GIVEN
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ResultsTable(SphinxDirective):
    """One table of every executed notebook's headline numbers beside the reference reports' numbers."""

    def run(self) -> list[nodes.Node]:
        notebooks = sorted(Path(self.env.srcdir, EXECUTED.name).glob("*.ipynb"))
        for notebook in notebooks:
            self.env.note_dependency(str(notebook))
        table = results_table(notebooks)
        if table.empty:
            return self.parse_text_to_nodes("No executed notebook has recorded results yet: run `make book`.")
        lines = ["```{list-table}", ":header-rows: 1", "",
                 "* - Assignment", "  - Headline number", "  - Ours", "  - Reference"]
        shown = None  # each assignment is named on its first row only
        for row in table.itertuples():
            page = f"{{doc}}`/{EXECUTED.name}/{row.assignment}`" if row.assignment != shown else ""
            shown = row.assignment
            lines += [f"* - {page}", f"  - {row.headline}", f"  - {_number(row.ours)}",
                      f"  - {_number(row.reference)}"]
        return self.parse_text_to_nodes("\n".join(lines + ["```"]))


class ApiReference(SphinxDirective):
    """The package docstring, then a section per public module (name order) with its documented members."""

    def run(self) -> list[nodes.Node]:
        modules = sorted(module.name for module in pkgutil.walk_packages(digitcourse.__path__, "digitcourse.")
                         if not any(part.startswith("_") for part in module.name.split(".")))
        lines = [".. automodule:: digitcourse", ""]
        for name in modules:
            lines += [name, "-" * len(name), "", f".. automodule:: {name}", "   :members:", ""]
        container = nodes.Element()
        nested_parse_with_titles(self.state, StringList(lines, source="api-reference"), container)
        return container.children


def add_edition_tag(app: Sphinx, config: Config) -> None:
    if config.course_edition not in EDITIONS:
        raise ConfigError(f"course_edition={config.course_edition!r}; choose one of: {', '.join(EDITIONS)}.")
    app.tags.add(config.course_edition)


def add_repository(app: Sphinx, config: Config) -> None:
    """The course's repository for the repository button and `{{ repository }}` in a page (a link to it).

    It is also a config value of its own, so that a build for another repository reads every page again."""
    config.course_repository = home().repository
    config.html_theme_options = {**config.html_theme_options, "repository_url": home().url}
    config.myst_substitutions = {**config.myst_substitutions, "repository": f"<{home().url}>"}


def point_links_at_the_course(app: Sphinx, docname: str, source: list[str]) -> None:
    """A page's links to the upstream repository (a notebook's badge, its set-up cell) name the course's."""
    source[0] = course_links(source[0])


def point_downloads_at_the_course(app: Sphinx, error: Exception | None) -> None:
    """The same in the copies of the pages' sources that the download button serves (_sources/)."""
    if error is None:
        for copy in Path(app.outdir, "_sources").rglob("*.ipynb"):
            copy.write_text(course_links(copy.read_text()))


def point_colab_at_sources(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Rewrite the launch buttons of executed/<name> pages to open notebooks/<name>.ipynb, or in the
    student edition the released copy on the student branch."""
    folder, _, name = pagename.partition("/")
    if folder != EXECUTED.name:
        return
    book_folder = app.config.html_theme_options.get("path_to_docs", "").strip("/")
    executed = f"{book_folder}/{pagename}.ipynb".lstrip("/")
    source = f"{NOTEBOOKS.name}/{name}.ipynb"
    launchers = [group for group in context.get("header_buttons", []) if group.get("label") == "launch-buttons"]
    for group in launchers:
        for button in group["buttons"]:
            if "url" in button:
                button["url"] = button["url"].replace(executed, source)
                if app.config.course_edition == "student":
                    button["url"] = student_colab_links(button["url"])


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_edition", "instructor", "env")
    app.add_config_value("course_repository", "", "env")
    app.add_directive("results-table", ResultsTable)
    app.add_directive("api-reference", ApiReference)
    app.connect("config-inited", add_edition_tag)
    app.connect("config-inited", add_repository)
    app.connect("source-read", point_links_at_the_course)
    app.connect("build-finished", point_downloads_at_the_course)
    # After sphinx-book-theme (priority 501) has made the launch buttons.
    app.connect("html-page-context", point_colab_at_sources, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
