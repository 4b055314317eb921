"""`digitcourse pdf`: an executed notebook as a PDF, read back with poppler (pdftoppm, pdftotext).

A small notebook written here carries outputs whose traces are unmistakable (a figure that is one red
square, a pandas table of chosen numbers, a formula); hw3's quick run (the suite's executed copy)
shows that a real notebook renders with its numbers.
"""
from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest

from digitcourse import cli
from digitcourse.errors import ConfigError
from digitcourse.pdf import report_notebook, write_pdf

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TABLE = pd.DataFrame({"test accuracy (%)": [97.83, 95.46], "seconds": [123.25, 456.5]},
                     index=pd.Index(["by hand", "dc.fit"], name="run"))
FORMULA = (r"The penalty $\lambda_1 \sum_i |w_i| + \lambda_2 \sum_i w_i^2$ with "
           r"$\mathbf{W} \in \mathbb{R}^{10 \times 784}$.")

pytestmark = pytest.mark.needs("pdf")  # poppler reads the PDFs back


def poppler(command: str, *args: str) -> str:
    """Run a poppler tool; fails, naming the Debian package, where it is missing."""
    if shutil.which(command) is None:
        pytest.fail(f"{command} is missing: apt-get install poppler-utils (system-packages.txt)")
    return subprocess.run([command, *args], check=True, capture_output=True, text=True).stdout


def red_square_png() -> str:
    """A figure that is one red square, as a notebook stores a PNG (base64)."""
    figure = plt.figure(figsize=(4, 4), dpi=50, facecolor=(1, 0, 0))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=(1, 0, 0))
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def report(path: Path, executed: bool = True) -> Path:
    """A notebook with a formula, and (if `executed`) a figure, a table and printed text as outputs."""
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="trained in 12.5 s\n"),
               nbformat.v4.new_output("display_data", data={"image/png": red_square_png(),
                                                            "text/plain": "<Figure size 200x200>"}),
               nbformat.v4.new_output("execute_result", data={"text/html": TABLE.to_html(),
                                                              "text/plain": str(TABLE)}, execution_count=1)]
    cells = [nbformat.v4.new_markdown_cell("# A report\n\n[![Open In Colab](https://colab.research.google.com/"
                                           "assets/colab-badge.svg)](https://example.org)\n\n" + FORMULA),
             nbformat.v4.new_code_cell("show(results)", outputs=outputs if executed else [],
                                       execution_count=1 if executed else None)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def page_pixels(pdf: Path, folder: Path) -> list[np.ndarray]:
    """Every page of `pdf` as an RGB array (pdftoppm at 30 dpi)."""
    from PIL import Image

    poppler("pdftoppm", "-r", "30", "-png", str(pdf), str(folder / "page"))
    return [np.asarray(Image.open(page).convert("RGB")) for page in sorted(folder.glob("page*.png"))]


def test_the_pdf_shows_the_figures_pixels_the_tables_numbers_and_the_formulas_symbols(tmp_path):
    pdf = write_pdf(report(tmp_path / "report.ipynb"))
    assert pdf == tmp_path / "report.pdf"
    pages = page_pixels(pdf, tmp_path)
    red = max(((page[..., 0] > 200) & (page[..., 1] < 60) & (page[..., 2] < 60)).mean() for page in pages)
    assert red > 0.1, f"the red figure covers {red:.1%} of its page at most"
    text = poppler("pdftotext", "-layout", str(pdf), "-")
    assert "97.83" in text and "456.5" in text and "test accuracy (%)" in text
    assert "𝜆1" in text and "∑" in text and "ℝ" in text  # math italic lambda, the sum, the reals
    assert "𝐖" in text and "𝑾" not in text  # \mathbf: bold upright, not bold italic (pandoc #9649)
    assert "trained in 12.5 s" in text and "show(results)" in text
    assert "<Figure size" not in text and "<table" not in text  # the figure and table, not their text


def test_a_pandas_table_becomes_a_real_table_and_no_image_is_left_unreferenced(tmp_path):
    rewritten = report_notebook(nbformat.read(report(tmp_path / "r.ipynb"), as_version=4), tmp_path / "media")
    markdown = "\n".join(cell.source for cell in rewritten.cells if cell.cell_type == "markdown")
    assert "#table(" in markdown and "```{=typst}" in markdown
    assert [f"media/{image.name}" for image in (tmp_path / "media").iterdir()] == ["media/output-1.png"]
    assert "(media/output-1.png)" in markdown
    assert "colab-badge.svg" not in markdown and "Open In Colab" in markdown  # no web image to fetch
    assert r"\mathbf{\mathrm{W}}" in markdown  # upright bold, as LaTeX means it


def test_an_unexecuted_notebook_is_rendered_with_a_one_line_warning(tmp_path, capsys):
    pdf = write_pdf(report(tmp_path / "blank.ipynb", executed=False), tmp_path / "out" / "blank.pdf")
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "was not executed" in warning[0]
    assert "show(results)" in poppler("pdftotext", str(pdf), "-")


def test_a_missing_notebook_is_one_line_and_nothing_is_written(tmp_path, capsys):
    with pytest.raises(ConfigError, match="No notebook"):
        write_pdf(tmp_path / "missing.ipynb")
    assert cli.main(["pdf", str(tmp_path / "missing.ipynb"), "-o", str(tmp_path / "x.pdf")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_hw3s_quick_run_renders_with_its_tables_numbers(executed_notebooks, tmp_path):
    executed = executed_notebooks["hw3_regularization"]
    assert cli.main(["pdf", str(executed), "-o", str(tmp_path / "hw3.pdf")]) == 0
    pages = int(next(line for line in poppler("pdfinfo", str(tmp_path / "hw3.pdf")).splitlines()
                     if line.startswith("Pages:")).split()[1])
    assert pages >= 10
    study = next(cell for cell in nbformat.read(executed, as_version=4).cells
                 if "study-table" in cell.metadata.get("tags", []))
    html = next(output.data["text/html"] for output in study.outputs if "text/html" in output.get("data", {}))
    numbers = re.findall(r"<td>(\d+\.\d+)</td>", html)[:5]  # the first row's
    assert numbers and all(number in poppler("pdftotext", "-layout", str(tmp_path / "hw3.pdf"), "-")
                           for number in numbers)
