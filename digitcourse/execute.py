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
from pathlib import Path
from typing import Any

import nbformat

from .checks import check_choice, check_number, unknown_parameter
from .course import DATA_VARIABLE, INLINE_FIGURES, PROFILES, data_root, environment, python_path
from .errors import ConfigError, DigitcourseError
from .files import atomic_path

CELL_TIMEOUT_S = {"full": 3600, "quick": 900, "tiny": 300}  # generous: 2 shared cores can be slow


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
    try:
        with atomic_path(output, keep_on_error=True) as partial, environment(**_kernel_environment()):
            papermill.execute_notebook(
                str(source), str(partial), parameters=parameters, kernel_name="python3",
                cwd=str(source.parent), execution_timeout=timeout, progress_bar=log,
                stdout_file=sys.stdout if log else None, stderr_file=sys.stderr if log else None)
    except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as error:
        raise DigitcourseError(f"{source.name} failed in {_failing_cell(output)}: {_why(error, timeout)} "
                               f"(profile {profile!r}; executed copy: {output})") from None
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


def _kernel_environment() -> dict[str, str]:
    """What the kernel needs beyond our environment: to import this digitcourse (the repository's)
    even when it is not installed, to keep its figures in the notebook even where MPLBACKEND is set
    (CI sets Agg, which ipykernel obeys), and DIGITCOURSE_DATA as an absolute path (the kernel runs in
    the notebook's folder, not ours)."""
    values = {"PYTHONPATH": python_path(), "MPLBACKEND": INLINE_FIGURES}
    if os.environ.get(DATA_VARIABLE):
        values[DATA_VARIABLE] = str(data_root().resolve())
    return values
