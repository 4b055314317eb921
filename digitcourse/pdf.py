"""``digitcourse pdf``: an executed notebook as a PDF report, offline and from pip packages alone.

::

    write_pdf("hw3_regularization.ipynb")   # -> hw3_regularization.pdf

The route (pandoc from pypandoc-binary, then the typst compiler of the `typst` wheel, which bundles
its fonts) downloads nothing, so it works in Colab as on a laptop::

    notebook --outputs as cells--> report notebook --pandoc -f ipynb -t typst--> report.typ --typst--> PDF

Before pandoc reads it, the notebook is rewritten where pandoc's ipynb reader stumbles: every output
becomes a markdown cell of its own (a figure written to a file and referenced there, so that no
extracted image is left unreferenced, pandoc #11293; a pandas table, which arrives as HTML, converted
into a typst table; text as a code block), images on the web (the Colab badge) are dropped for their
text, and LaTeX that pandoc's typst writer mistranslates is rewritten (`\\mathbf`, pandoc #9649).
"""
from __future__ import annotations

import base64
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .errors import ConfigError, DigitcourseError
from .files import atomic_path

IMAGES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}  # mime type -> file suffix
_TABLE = re.compile(r"<table.*?</table>", re.S)
_WEB_IMAGE = re.compile(r"!\[([^\]]*)\]\(https?://[^)]*\)")  # ![alt](https://...): pandoc would fetch it
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MATHBF = re.compile(r"\\mathbf\{")
READER = "ipynb+raw_attribute+link_attributes"  # markdown cells may hold raw typst and sized images
# pandoc's typst template: the page and the body text; then set rules for code and tables
LAYOUT = "papersize: a4\nfontsize: 10pt\nmargin: {x: 1.8cm, y: 2cm}\n"
SMALLER = "#show raw: set text(size: 8pt)\n#show table: set text(size: 8pt)\n"


def write_pdf(notebook: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Render `notebook` (with its outputs: figures, tables, text) as a PDF; returns its path.

    output: default the notebook's path with the suffix .pdf. A notebook that was not executed is
    rendered all the same, with a one-line warning on stderr. ConfigError for a missing or unreadable
    notebook; DigitcourseError when pandoc or typst fails (nothing is written then).
    """
    import pypandoc
    import typst

    path = Path(notebook)
    target = Path(output) if output is not None else path.with_suffix(".pdf")
    source = read_notebook(path)
    if not is_executed(source):
        print(f"warning: {path} was not executed: the PDF shows no outputs (run all its cells first).",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="digitcourse-pdf-") as work:
        work = Path(work)
        (work / "layout.yaml").write_text(LAYOUT)
        try:
            nbformat.write(report_notebook(source, work / "figures"), work / "report.ipynb")
            text = pypandoc.convert_file("report.ipynb", "typst", format=READER, cworkdir=str(work),
                                         extra_args=["--standalone", "--extract-media=media",
                                                     "--metadata-file=layout.yaml"],
                                         verify_format=False)
            (work / "report.typ").write_text(SMALLER + text)
            with atomic_path(target) as partial:
                typst.compile(str(work / "report.typ"), output=str(partial), root=str(work))
        except (RuntimeError, typst.TypstError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DigitcourseError(f"{path} could not be rendered as a PDF: {first}") from None
    return target


def read_notebook(path: Path) -> NotebookNode:
    """The notebook at `path`; ConfigError when there is none or it is no notebook."""
    if not path.is_file():
        raise ConfigError(f"No notebook {path}.")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, or JSON that is no notebook
        raise ConfigError(f"{path} is not a readable notebook: {str(error).strip().splitlines()[0]}") from None


def is_executed(notebook: NotebookNode) -> bool:
    """Whether any code cell of `notebook` ran (has an execution count or outputs)."""
    return any(cell.get("execution_count") or cell.get("outputs")
               for cell in notebook.cells if cell.cell_type == "code")


def report_notebook(notebook: NotebookNode, media: Path) -> NotebookNode:
    """`notebook` as pandoc should read it: each output a markdown cell after its code cell (figures
    written into the folder `media`), markdown without web images and with pandoc-safe LaTeX."""
    media.mkdir(parents=True, exist_ok=True)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(_markdown(cell.source), **_attachments(cell)))
        elif cell.cell_type == "code" and cell.source.strip():
            cells.append(nbformat.v4.new_code_cell(cell.source))
            cells += [nbformat.v4.new_markdown_cell(text) for output in cell.get("outputs", [])
                      if (text := _output(output, media))]
    return nbformat.v4.new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})


def _attachments(cell: NotebookNode) -> dict:
    """The images a markdown cell carries, for pandoc to extract ({} for none)."""
    return {"attachments": cell.attachments} if cell.get("attachments") else {}


def _markdown(text: str) -> str:
    """A markdown cell's text without web images (their alt text stays) and with `\\mathbf{x}` written
    as bold upright (pandoc's typst writer makes it bold italic)."""
    return _MATHBF.sub(r"\\mathbf{\\mathrm{", _close_mathbf(_WEB_IMAGE.sub(r"\1", text)))


def _close_mathbf(text: str) -> str:
    """Add the closing brace each `\\mathbf{` rewritten to `\\mathbf{\\mathrm{` needs."""
    out, position = [], 0
    for match in _MATHBF.finditer(text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        out += [text[position:end], "}"]
        position = end
    return "".join(out) + text[position:]


def _output(output: NotebookNode, media: Path) -> str:
    """One output as markdown: a figure, a typst table, or text in a code block ('' for nothing)."""
    if output.output_type == "stream":
        return _code_block(output.text)
    if output.output_type == "error":
        return _code_block("\n".join(output.traceback) or f"{output.ename}: {output.evalue}")
    data = output.get("data", {})
    for mime, suffix in IMAGES.items():
        if mime in data:
            content = data[mime]
            name = media / f"output-{len(list(media.iterdir())) + 1}.{suffix}"
            name.write_bytes(content.encode() if mime == "image/svg+xml" else base64.b64decode(content))
            return f"![]({name.parent.name}/{name.name}){{width=80%}}"
    if "text/html" in data and _TABLE.search(data["text/html"]):
        return "\n\n".join(_typst_table(table) for table in _TABLE.findall(data["text/html"]))
    if "text/markdown" in data:
        return data["text/markdown"]
    if "text/latex" in data:
        return data["text/latex"]
    return _code_block(data.get("text/plain", ""))


def _typst_table(html: str) -> str:
    """An HTML table (a pandas DataFrame's) as a raw typst block: a real table, header row first."""
    import pypandoc

    table = pypandoc.convert_text(html, "typst", format="html", verify_format=False)
    return f"```{{=typst}}\n{table}\n```"


def _code_block(text: str) -> str:
    """`text` (ANSI colours removed) as a fenced code block, with a fence longer than any inside."""
    text = _ANSI.sub("", text).rstrip()
    if not text:
        return ""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"
