"""Where data files come from: the data root, checksums, and downloads from mirrors.

A file is looked for under the data root (a `.gz` file, or the uncompressed twin torchvision leaves
beside it) and checked against its known MD5 once per process. A missing file is downloaded from the
first mirror that delivers it whole: the bytes stream into a temporary file beside the target, which
replaces the target only once complete and verified, so a failed download never leaves a partial file.
"""
from __future__ import annotations

import functools
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..course import data_root
from ..errors import DataError
from ..files import atomic_path

TIMEOUT_S = 20
FIX = "Set DIGITCOURSE_DATA to a folder that has them, or use dc.data.load('digits'), which needs no files."


@dataclass(frozen=True)
class FileSpec:
    """A file we know: `path` relative to the data root, with its MD5 and size in bytes where known."""

    path: str
    md5: str | None = None
    size: int | None = None


@functools.lru_cache(maxsize=None)
def _md5(path: Path, size: int, mtime_ns: int) -> str:
    """MD5 of a file, computed once per (path, size, modification time) in this process."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, spec: FileSpec) -> None:
    """Fail unless the file at `path` has the size and MD5 that `spec` knows (unknown ones pass)."""
    stat = path.stat()
    if spec.size is not None and stat.st_size != spec.size:
        found, known = f"size {stat.st_size:,} bytes", f"{spec.size:,} bytes"
    elif spec.md5 is not None and (digest := _md5(path, stat.st_size, stat.st_mtime_ns)) != spec.md5:
        found, known = f"checksum {digest}", spec.md5
    else:
        return
    raise DataError(f"file {path}: {found} does not match the known {known}; it is corrupt or a "
                    "different version: delete it to download it again (or pass verify=False for files "
                    "you made yourself).")


def _present(root: Path, spec: FileSpec) -> Path | None:
    """The file for `spec` under `root`, or its uncompressed twin (`x` beside `x.gz`), or None."""
    path = root / spec.path
    twin = path.with_suffix("") if path.suffix == ".gz" else path
    return next((p for p in (path, twin) if p.is_file()), None)


def locate(name: str, alternatives: Sequence[Sequence[FileSpec]], mirrors: Sequence[str], *,
           root: str | os.PathLike | None, download: bool, verify_md5: bool,
           hint: str = "") -> tuple[int, list[Path]]:
    """Paths of the first alternative whose files are all under the root (checked when `verify_md5`).

    When none is complete, the missing files of the first alternative are downloaded from `mirrors`
    (base URLs tried in order). Returns (index of the alternative, its paths in the order given).
    """
    folder = data_root(root)
    for index, files in enumerate(alternatives):
        if (paths := _checked(folder, files, verify_md5)) is not None:
            return index, paths
    missing = [spec for spec in alternatives[0] if _present(folder, spec) is None]
    if not download:
        why = "download=False, so nothing was downloaded"
    elif not mirrors:
        why = "no download mirror is known for it"
    else:
        why = _fetch_all(folder, missing, mirrors)
    if why:
        others = "".join(f" (or: {', '.join(spec.path for spec in alt)})" for alt in alternatives[1:])
        raise DataError(f"dataset {name!r}: {', '.join(spec.path for spec in missing)}{others} not found "
                        f"in {folder} ({why}).\n{hint}{FIX}")
    return 0, _checked(folder, alternatives[0], verify_md5)


def _checked(root: Path, files: Sequence[FileSpec], verify_md5: bool) -> list[Path] | None:
    """The paths of `files` under `root`, each verified when `verify_md5`; None if one is missing."""
    paths = [_present(root, spec) for spec in files]
    if None in paths:
        return None
    for path, spec in zip(paths, files):
        if verify_md5 and path.name == PurePosixPath(spec.path).name:
            verify(path, spec)
    return paths


def _fetch_all(root: Path, missing: Sequence[FileSpec], mirrors: Sequence[str]) -> str:
    """Download every missing file; '' on success, else why not (nothing partial is left behind)."""
    for spec in missing:
        target = root / spec.path
        created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        existing = next(p for p in (target.parent, *target.parent.parents) if p.exists())
        if not os.access(existing, os.W_OK):
            return f"{existing} is read-only, so nothing could be downloaded into it"
        target.parent.mkdir(parents=True, exist_ok=True)
        reasons = []
        for base in mirrors:
            if (reason := _fetch(base + target.name, target, spec)) is None:
                break
            reasons.append(reason)
        else:
            for folder in created:
                folder.rmdir()
            return f"every mirror failed for {target.name}: {'; '.join(reasons)}"
    return ""


class _BadDownload(Exception):
    """A mirror answered, but with a file that is not the one we know."""


def _fetch(url: str, target: Path, spec: FileSpec) -> str | None:
    """Download `url` to `target`, verified; None on success, else a short reason for the failure."""
    host = urlsplit(url).netloc
    try:
        with (urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, atomic_path(target) as partial,
              open(partial, "wb") as part):
            length = response.headers.get("Content-Length")
            digest, received = hashlib.md5(), 0
            while chunk := response.read(1 << 20):
                part.write(chunk)
                digest.update(chunk)
                received += len(chunk)
            if length is not None and received != int(length):
                raise _BadDownload(f"connection dropped after {received:,} of {int(length):,} bytes")
            if spec.md5 is not None and digest.hexdigest() != spec.md5:
                raise _BadDownload(f"checksum {digest.hexdigest()} does not match the known {spec.md5}")
    except urllib.error.HTTPError as error:
        return f"{host}: HTTP {error.code} {error.reason}"
    except urllib.error.URLError as error:
        return f"{host}: {error.reason}"
    except (OSError, http.client.HTTPException, _BadDownload) as error:
        return f"{host}: {error or type(error).__name__}"
    return None
