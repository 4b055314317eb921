"""Atomic file writing: a reader sees the old file or the whole new one, never half of it.

::

    with atomic_path(Path("grading/grades.csv")) as partial:
        partial.write_text(table)        # or hand `partial` to a program that writes a file
    atomic_write(Path("feedback.html"), html)

The temporary file is new (created with O_EXCL beside the target, under a random name), so a symlink
planted where a writer would put its partial file is never followed; the rename replaces the target's
directory entry, not what a symlink there points to.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, *, keep_on_error: bool = False) -> Iterator[Path]:
    """A fresh temporary path beside `path`; it replaces `path` when the block ends without an error.

    On an error the temporary file is removed, or, with `keep_on_error`, it replaces `path` all the
    same (for a partial result worth reading, such as a notebook executed up to its failing cell).
    The folder of `path` is created when missing. The file is readable by everyone (0o644).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
    except BaseException:
        if keep_on_error and partial.exists():
            _publish(partial, path)
        else:
            partial.unlink(missing_ok=True)
        raise
    _publish(partial, path)


def _publish(partial: Path, path: Path) -> None:
    os.chmod(partial, 0o644)
    os.replace(partial, path)


def atomic_write(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8, or bytes) to `path` atomically; returns `path`."""
    with atomic_path(path) as partial:
        if isinstance(content, bytes):
            partial.write_bytes(content)
        else:
            partial.write_text(content, encoding="utf-8")
    return Path(path)
