"""Run the course's notebooks with papermill.

::

    execute_notebook("notebooks/hw3_regularization.ipynb", "book/executed/hw3_regularization.ipynb",
                     profile="quick", parameters={"seed": 3})

Parameter names are checked against the notebook's `parameters` cell before a kernel starts. The
kernel (`python3`) runs in the notebook's folder with a per-cell time limit and imports this same
digitcourse. The executed copy is written atomically: a reader never sees a half-written file. A
failure raises DigitcourseError naming the notebook and its failing cell; the executed copy of the
failure is kept at `output` for reading (papermill marks it with the exception in its metadata).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat

from .config import DATA_VARIABLE, check_choice, check_number
from .data.download import data_root
from .errors import ConfigError, DigitcourseError
from .params import PROFILES, unknown_parameter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT_S = {"full": 3600, "quick": 900, "tiny": 300}  # generous: 2 shared cores can be slow
INLINE_FIGURES = "module://matplotlib_inline.backend_inline"  # ipykernel's default matplotlib backend


def notebook_parameters(source: str | os.PathLike) -> dict[str, Any]:
    """The names and default values of the notebook's cell tagged `parameters`.

    Raises ConfigError when the notebook has no such cell (papermill would then inject the
    parameters at the top, before the notebook sets its defaults).
    """
    import papermill

    found = papermill.inspect_notebook(str(source))
    if not found:
        raise ConfigError(f"{source} has no cell tagged 'parameters'; tag the cell that sets seed, "
                          "profile, device and data_root.")
    return {name: info["default"] for name, info in found.items()}


def execute_notebook(source: str | os.PathLike, output: str | os.PathLike, *, profile: str,
                     parameters: dict[str, Any] | None = None, timeout: int | None = None,
                     log: bool = False) -> Path:
    """Execute `source` with papermill under `profile` and write the executed notebook to `output`.

    parameters: more values for the parameters cell (seed, device, the notebook's knobs).
    timeout: seconds a cell may run (default CELL_TIMEOUT_S[profile]).
    log: stream the cells' output and a progress bar to this process's stdout and stderr.
    Returns `output`. Raises ConfigError for an unknown profile or parameter name, and
    DigitcourseError when a cell fails or times out.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    source, output = Path(source), Path(output)
    check_choice("profile", profile, PROFILES)
    timeout = CELL_TIMEOUT_S[profile] if timeout is None else check_number(
        "timeout", timeout, integer=True, low=1)
    parameters = {**(parameters or {}), "profile": profile}
    known = list(notebook_parameters(source))
    for name in parameters:
        if name not in known:
            raise unknown_parameter(name, known)

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.{os.getpid()}.partial.ipynb")
    try:
        with _kernel_environment():
            papermill.execute_notebook(
                str(source), str(partial), parameters=parameters, kernel_name="python3",
                cwd=str(source.parent), execution_timeout=timeout, progress_bar=log,
                stdout_file=sys.stdout if log else None, stderr_file=sys.stderr if log else None)
    except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as error:
        if partial.exists():
            os.replace(partial, output)
        raise DigitcourseError(f"{source.name} failed in {_failing_cell(output)}: {_why(error, timeout)} "
                               f"(profile {profile!r}; executed copy: {output})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, output)
    return output


def _failing_cell(executed: Path) -> str:
    """'In [7] (`data = dc.data.load(...)`)': the last code cell papermill started in `executed`."""
    if not executed.exists():
        return "the kernel start"
    cells = [cell for cell in nbformat.read(executed, as_version=4).cells
             if cell.cell_type == "code" and cell.metadata.get("papermill", {}).get("start_time")]
    if not cells:
        return "the kernel start"
    first_line = next((line for line in cells[-1].source.splitlines() if line.strip()), "")
    return f"In [{cells[-1].execution_count}] (`{first_line.strip()}`)"


def _why(error: BaseException, timeout: int) -> str:
    """The failure in one line."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(error, CellTimeoutError):
        return f"the cell ran longer than its limit of {timeout} s"
    if isinstance(error, DeadKernelError):
        return "the kernel died (out of memory?)"
    message = (error.evalue or "").strip().splitlines()
    return f"{error.ename}: {message[0] if message else ''}".strip()


def execute_all(profile: str, out_dir: str | os.PathLike, **options: Any) -> list[Path]:
    """Execute every notebook in notebooks/ (name order) into out_dir; `options` go to execute_notebook.

    Stops at the first failure (its DigitcourseError). Returns the executed notebooks' paths.
    """
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    return [execute_notebook(source, Path(out_dir) / source.name, profile=profile, **options)
            for source in sources]


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """Let the kernel import this digitcourse (the repository's) even when it is not installed, keep
    its figures in the notebook even where MPLBACKEND is set (CI sets Agg, which ipykernel obeys), and
    give it DIGITCOURSE_DATA as an absolute path (the kernel runs in the notebook's folder, not ours)."""
    values = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
              "MPLBACKEND": INLINE_FIGURES}
    if os.environ.get(DATA_VARIABLE):
        values[DATA_VARIABLE] = str(data_root().resolve())
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
