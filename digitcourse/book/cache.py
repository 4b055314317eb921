"""Whether an executed notebook of the book is still valid: the cache key stored with each copy.

An executed copy depends on four things, each hashed (SHA-256) into its `CacheKey`:

- `source`: the notebook file, byte for byte;
- `parameters`: what papermill ran it with (the profile, and any other value given);
- `library`: the source of this digitcourse package (every .py file), which every notebook imports;
- `data`: the data root (`digitcourse.course.data_root()`): the name, size and modification time of
  every file under it (reading 50 MB of images on every build would cost more than it saves).

`stamp(executed, key)` writes the key into the copy's metadata after a run that ended without error;
`stale_parts(source, executed, key)` says what changed since (empty: the copy can be reused).
jupyter-cache's key covers code cells and the kernel only, not the library or the data, hence this one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import nbformat

from ..course import PACKAGE, data_root
from ..files import atomic_write

METADATA = "digitcourse_cache"  # the key's place in an executed notebook's metadata


@dataclass(frozen=True)
class CacheKey:
    """What an executed notebook was computed from, as one SHA-256 digest per part."""

    source: str
    parameters: str
    library: str
    data: str

    @classmethod
    def of(cls, source: Path, parameters: dict[str, Any]) -> CacheKey:
        """The key of executing `source` with `parameters` now."""
        return cls(_digest(source.read_bytes()), _digest(json.dumps(parameters, sort_keys=True).encode()),
                   library_digest(), data_digest(data_root()))

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, str]) -> CacheKey:
        return cls(**value)

    def changed(self, other: CacheKey) -> list[str]:
        """The names of the parts in which `other` differs from this key."""
        return [part for part, digest in self.to_json().items() if other.to_json()[part] != digest]


def stale_parts(source: Path, executed: Path, key: CacheKey) -> list[str]:
    """Why `executed`, computed from `source`, must be computed again: the parts of `key` that changed
    since ("source changed", ...); ["no finished run"] when the copy is missing, failed, or carries no
    key; ["source touched"] when the source file is newer than the copy, as `make` would have it (a
    `touch` asks for a new run). Empty: the copy is still valid."""
    if not executed.exists():
        return ["no finished run"]
    metadata = nbformat.read(executed, as_version=4).metadata
    stored = metadata.get(METADATA)
    if stored is None or metadata.get("papermill", {}).get("exception"):
        return ["no finished run"]
    touched = ["source touched"] if source.stat().st_mtime > executed.stat().st_mtime else []
    return [f"{part} changed" for part in CacheKey.from_json(stored).changed(key)] or touched


def stamp(executed: Path, key: CacheKey) -> None:
    """Store `key` in the metadata of `executed` (a run that ended without error)."""
    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata[METADATA] = key.to_json()
    atomic_write(executed, nbformat.writes(notebook))


@cache
def library_digest() -> str:
    """The digest of this digitcourse's source: every .py file under the package, by relative path."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(f"{path.relative_to(PACKAGE)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def data_digest(root: Path) -> str:
    """The digest of the files under `root`: relative path, size and modification time of each."""
    files = sorted(path for path in root.rglob("*") if path.is_file()) if root.is_dir() else []
    listing = [(str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    return _digest(json.dumps(listing).encode())


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
