"""Small files in the real on-disk formats, a local HTTP server, and a way to register fake checksums.

Fake images carry their index: pixel (0, 0) holds index % 256 and pixel (0, 1) index // 256, and the
label of image i is i % 10, so a test can tell which images a split holds (see `ids`).
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import http.server
import io
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import torch

from digitcourse.data.download import FileSpec
from digitcourse.data.sources import SOURCES


def images(n: int, size: int = 28, seed: int = 0) -> np.ndarray:
    """[n, size, size] uint8 noise whose first two pixels hold the image's index."""
    x = np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)
    x[:, 0, 0], x[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    return x


def ids(x: torch.Tensor) -> torch.Tensor:
    """The indices that `images` wrote into x [N, 1, H, W] float32 in [0, 1]: [N] int64."""
    pixels = torch.round(x[:, 0, 0, :2] * 255).long()
    return pixels[:, 0] + 256 * pixels[:, 1]


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed idx file of unsigned bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def idx_files(folder: str = "MNIST", n_train: int = 200, n_test: int = 100) -> dict[str, bytes]:
    """The four gzipped idx files of a fake MNIST-like set under `folder`/raw/."""
    arrays = {"train-images-idx3-ubyte": images(n_train), "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": images(n_test, seed=1),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    return {f"{folder}/raw/{name}.gz": gzip.compress(idx_bytes(array), mtime=0)
            for name, array in arrays.items()}


def libsvm_bytes(values: np.ndarray, labels: np.ndarray) -> bytes:
    """bz2 LIBSVM text: values [N, 256] in [-1, 1], labels 1..10."""
    lines = (f"{label} " + " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(row))
             for row, label in zip(values, labels))
    return bz2.compress(("\n".join(lines) + "\n").encode())


def usps_h5_bytes(n_train: int = 30, n_test: int = 20) -> bytes:
    """A usps.h5 like the common one: {train,test}/data [N, 256] float32 in [0, 1], /target 0..9."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        for split, n in (("train", n_train), ("test", n_test)):
            file[f"{split}/data"] = images(n, 16).reshape(n, 256).astype(np.float32) / 255
            file[f"{split}/target"] = (np.arange(n) % 10).astype(np.int32)
    return buffer.getvalue()


def medmnist_bytes(n_train: int = 40, n_val: int = 12, n_test: int = 20) -> bytes:
    """A MedMNIST-style npz with labels [N, 1] in 0..3."""
    buffer = io.BytesIO()
    arrays = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        arrays[f"{split}_images"] = images(n)
        arrays[f"{split}_labels"] = (np.arange(n) % 4).reshape(n, 1).astype(np.uint8)
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def csv_bytes(header: str, x: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """CSV text: a header line, then per image its label (when given) and its pixels."""
    rows = x.reshape(len(x), -1) if labels is None else np.column_stack([labels, x.reshape(len(x), -1)])
    return (header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows.tolist())).encode()


def kaggle_files(n_train: int = 50, n_test: int = 30, solution: bool = True) -> dict[str, bytes]:
    """train.csv / test.csv (/ solution.csv) of Kaggle's Digit Recognizer under digit-recognizer/."""
    pixels = ",".join(f"pixel{i}" for i in range(784))
    files = {"digit-recognizer/train.csv": csv_bytes(f"label,{pixels}", images(n_train),
                                                     np.arange(n_train) % 10),
             "digit-recognizer/test.csv": csv_bytes(pixels, images(n_test, seed=1))}
    if solution:
        files["digit-recognizer/solution.csv"] = csv_bytes(
            "ImageId,Label", np.column_stack([np.arange(1, n_test + 1), np.arange(n_test) % 10]))
    return files


def write(root: Path, files: dict[str, bytes]) -> Path:
    """Write `files` (path relative to root -> content) under `root`; returns root."""
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


def register(monkeypatch, name: str, files: dict[str, bytes]) -> None:
    """Make the registry of `name` know the MD5 and size of these files, for this test only."""
    def known(spec: FileSpec) -> FileSpec:
        content = files.get(spec.path)
        if content is None:
            return spec
        return FileSpec(spec.path, hashlib.md5(content).hexdigest(), len(content))

    source = SOURCES[name]
    layouts = tuple(replace(layout, files=tuple(map(known, layout.files))) for layout in source.layouts)
    monkeypatch.setitem(SOURCES, name, replace(source, layouts=layouts))


def listing(root: Path) -> list[str]:
    """Every file and folder under root, relative to it, sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def dead_url() -> str:
    """The base URL of a port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@contextmanager
def serve(files: dict[str, bytes], *, drop: bool = False) -> Iterator[str]:
    """Serve `files` (by base name) over HTTP on an ephemeral port of 127.0.0.1; yields the base URL.

    drop: announce each file's full Content-Length, send only half of it, then close the connection.
    """
    by_name = {Path(path).name: content for path, content in files.items()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = by_name.get(self.path.rsplit("/", 1)[-1])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2] if drop else body)
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
