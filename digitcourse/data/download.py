"""Where data files come from: the data root, checksums, and downloads from mirrors (through pooch).

A file is looked for under the data root (a `.gz` file, or the uncompressed twin torchvision leaves
beside it) and checked against its known MD5 once per process. A missing file is downloaded by pooch
from the first mirror that delivers it whole, with a progress bar: pooch streams the bytes into a
temporary file beside the target and moves it into place only once its checksum matches, so a failed
download never leaves a partial file.
"""
from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pooch
import requests

from ..course import data_root
from ..errors import DataError

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
    return pooch.file_hash(str(path), alg="md5")


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


def _fetch(url: str, target: Path, spec: FileSpec) -> str | None:
    """Download `url` to `target` with pooch, verified; None on success, else a short reason."""
    host = urlsplit(url).netloc
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT_S)
    known = f"md5:{spec.md5}" if spec.md5 else None
    try:
        pooch.retrieve(url, known, fname=target.name, path=target.parent, downloader=downloader)
    except requests.HTTPError as error:
        return f"{host}: HTTP {error.response.status_code} {error.response.reason}"
    except requests.exceptions.ChunkedEncodingError as error:
        return f"{host}: connection dropped mid-file ({_incomplete(error)})"
    except requests.RequestException as error:
        return f"{host}: {_root_cause(error)}"
    except ValueError:  # pooch: the checksum of what arrived is not the known one
        return f"{host}: the file's checksum does not match the known {spec.md5}"
    return None


def _incomplete(error: Exception) -> str:
    """'N of M bytes' from urllib3's IncompleteRead inside `error`, or what the error says."""
    found = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", str(error))
    if found is None:
        return str(error)
    received, more = map(int, found.groups())
    return f"{received:,} of {received + more:,} bytes"


def _root_cause(error: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused"), or the error's."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__ or next(
            (arg for arg in getattr(cause, "args", ()) if isinstance(arg, BaseException)), None)
    return str(error)
