"""Readers and writers of the on-disk formats: idx (MNIST family), LIBSVM, HDF5, npz, Kaggle CSV.

Every reader returns :class:`Arrays`: images as numpy arrays [N, H, W], either uint8 in 0..255 or
float32 in [0, 1], and int64 labels [N]. A file that cannot be decoded raises a DataError naming it.
"""
from __future__ import annotations

import bz2
import gzip
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, DataError
from ..files import atomic_write
from .splits import stratified_order

PIXELS = [f"pixel{i}" for i in range(784)]


class Arrays(NamedTuple):
    """A decoded data set: x_* [N, H, W] uint8 (0..255) or float32 (in [0, 1]); y_* [N] int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def corrupt(path: Path, problem: str) -> DataError:
    return DataError(f"file {path}: {problem}; delete it so that it is downloaded again.")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file (`.gz` or uncompressed) of unsigned bytes with `ndim` dimensions, as uint8."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise corrupt(path, f"it is not a complete gzip file ({error})") from None
    if raw[:4] != bytes([0, 0, 0x08, ndim]) or len(raw) < 4 + 4 * ndim:
        raise corrupt(path, f"its header {raw[:4].hex()} is not that of an idx file of {ndim}-d bytes")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    start = 4 + 4 * ndim
    if len(raw) - start != np.prod(dims):
        raise corrupt(path, f"it holds {len(raw) - start:,} bytes of data where its header "
                            f"({' x '.join(map(str, dims))}) promises {np.prod(dims):,}")
    return np.frombuffer(raw, np.uint8, offset=start).reshape(dims)


def read_idx_set(train_images: Path, train_labels: Path, test_images: Path, test_labels: Path) -> Arrays:
    """The four idx files of MNIST, Fashion-MNIST or KMNIST: images [N, 28, 28] uint8, labels 0..9."""
    x_train, x_test = read_idx(train_images, 3), read_idx(test_images, 3)
    y_train, y_test = read_idx(train_labels, 1), read_idx(test_labels, 1)
    for images, labels, x, y in ((train_images, train_labels, x_train, y_train),
                                 (test_images, test_labels, x_test, y_test)):
        if len(x) != len(y):
            raise DataError(f"{images} holds {len(x):,} images but {labels} {len(y):,} labels; "
                            "one of them is from another data set: delete it to download it again.")
    return Arrays(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64))


def read_libsvm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """USPS in LIBSVM format (bz2 lines 'label index:value ...', values in [-1, 1], labels 1..10).

    Returns x [N, 16, 16] float32 in [0, 1] (via (v + 1) / 2; absent indices mean v = 0), y [N] 0..9.
    """
    try:
        lines = bz2.decompress(path.read_bytes()).decode("ascii").split("\n")
    except (OSError, EOFError, ValueError) as error:
        raise corrupt(path, f"it is not a complete bz2 file of LIBSVM text ({error})") from None
    rows = [line.split() for line in lines if line.strip()]
    x = np.zeros((len(rows), 256), np.float32)
    try:
        y = np.array([int(float(row[0])) - 1 for row in rows], np.int64)
        for i, row in enumerate(rows):
            pairs = [item.split(":") for item in row[1:]]
            x[i, [int(index) - 1 for index, _ in pairs]] = [float(value) for _, value in pairs]
    except (ValueError, IndexError) as error:
        raise corrupt(path, f"it is not LIBSVM text of 256 features ({error})") from None
    return np.clip((x + 1) / 2, 0, 1).reshape(-1, 16, 16), y


def read_libsvm_pair(train: Path, test: Path) -> Arrays:
    """USPS from torchvision's `usps.bz2` and `usps.t.bz2`: [N, 16, 16] float32, labels 0..9."""
    return Arrays(*read_libsvm(train), *read_libsvm(test))


def read_usps_h5(path: Path) -> Arrays:
    """USPS from `usps.h5` (train/data [7291, 256] float32 in [0, 1], train/target, test/...)."""
    try:
        with h5py.File(path, "r") as file:
            parts = [file[f"{split}/{key}"][:] for split in ("train", "test") for key in ("data", "target")]
    except (OSError, KeyError) as error:
        raise corrupt(path, f"it is not an HDF5 file with train/data, train/target, test/data and "
                            f"test/target ({error})") from None
    x_train, y_train, x_test, y_test = parts
    return Arrays(x_train.astype(np.float32).reshape(-1, 16, 16), y_train.astype(np.int64),
                  x_test.astype(np.float32).reshape(-1, 16, 16), y_test.astype(np.int64))


def read_medmnist(path: Path) -> Arrays:
    """A MedMNIST npz (train_images [N, 28, 28] uint8, train_labels [N, 1], test_*); its val is unused."""
    keys = ["train_images", "train_labels", "test_images", "test_labels"]
    try:
        with np.load(path) as npz:
            if missing := [key for key in keys if key not in npz.files]:
                raise corrupt(path, f"it lacks the arrays {', '.join(missing)}")
            x_train, y_train, x_test, y_test = (npz[key] for key in keys)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise corrupt(path, f"it is not a complete npz file ({error})") from None
    return Arrays(x_train, y_train.reshape(-1).astype(np.int64), x_test, y_test.reshape(-1).astype(np.int64))


def read_sklearn_digits() -> Arrays:
    """scikit-learn's bundled 8x8 digits (1,797 images, values 0..16 -> [0, 1]); needs no files.

    The test split is a fixed stratified 20% of the images (stratified_order with seed 0).
    """
    from sklearn.datasets import load_digits  # here, as importing scikit-learn takes a second

    bunch = load_digits()
    x = (bunch.images / 16).astype(np.float32)
    y = bunch.target.astype(np.int64)
    order = stratified_order(torch.from_numpy(y), 0).numpy()
    test, train = order[:round(0.2 * len(y))], order[round(0.2 * len(y)):]
    return Arrays(x[train], y[train], x[test], y[test])


def _read_csv(path: Path, columns: list[str], what: str) -> pd.DataFrame:
    """A CSV of integers with (at least) `columns`; a DataError names the file and what is missing."""
    try:
        frame = pd.read_csv(path, engine="c")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"file {path}: not a readable CSV file ({error}).") from None
    if missing := [column for column in columns if column not in frame.columns]:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"file {path}: missing column(s) {shown}; {what}.")
    if not all(frame[column].dtype.kind in "iu" for column in columns):
        raise DataError(f"file {path}: every value must be an integer; {what}.")
    return frame


def read_kaggle(train: Path, test: Path) -> Arrays:
    """Kaggle Digit Recognizer CSVs: train.csv (label, pixel0..783), test.csv (pixel0..783).

    Test labels come from `solution.csv` (ImageId, Label) beside test.csv when present, else -1.
    Returns x [N, 28, 28] uint8.
    """
    train_frame = _read_csv(train, ["label", *PIXELS], "train.csv has columns label, pixel0..pixel783")
    test_frame = _read_csv(test, PIXELS, "test.csv has columns pixel0..pixel783")
    x_train, x_test = (frame[PIXELS].to_numpy() for frame in (train_frame, test_frame))
    for path, x in ((train, x_train), (test, x_test)):
        if len(x) and (x.min() < 0 or x.max() > 255):
            raise DataError(f"file {path}: pixel values must lie in 0..255, found {x.min()}..{x.max()}.")
    y_test = np.full(len(x_test), -1, np.int64)
    if (solution := test.with_name("solution.csv")).is_file():
        frame = _read_csv(solution, ["ImageId", "Label"], "solution.csv has columns ImageId, Label")
        frame = frame.sort_values("ImageId")
        if not np.array_equal(frame["ImageId"].to_numpy(), np.arange(1, len(x_test) + 1)):
            raise DataError(f"file {solution}: ImageId must run from 1 to {len(x_test):,}, one per "
                            "row of test.csv.")
        y_test = frame["Label"].to_numpy(np.int64)
    return Arrays(x_train.astype(np.uint8).reshape(-1, 28, 28), train_frame["label"].to_numpy(np.int64),
                  x_test.astype(np.uint8).reshape(-1, 28, 28), y_test)


def write_submission(path: str | Path, submission: pd.DataFrame | torch.Tensor | np.ndarray, *,
                     n_images: int | None = None, num_classes: int = 10) -> Path:
    """Check a Kaggle submission and write it atomically as the CSV `ImageId,Label`; return the path.

    submission: a DataFrame with exactly the columns ImageId and Label, one row per test image, ImageId
    running 1, 2, ..., N and Label integers in 0..num_classes-1; or the labels alone, [N] integers
    (ImageId is then 1..N). n_images: the number of test images, when known (28,000 on Kaggle): a
    submission with another number of rows is refused. Anything else raises a ConfigError saying what
    is wrong, and nothing is written.
    """
    labels = _submission_labels(submission, n_images)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        wrong = labels[(labels < 0) | (labels >= num_classes)]
        raise ConfigError(f"submission labels must lie in 0..{num_classes - 1}; found {len(wrong):,} outside, "
                          f"e.g. {wrong[0]}.")
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(labels.tolist(), start=1))
    return atomic_write(Path(path), f"ImageId,Label\n{rows}")


def _submission_labels(submission: pd.DataFrame | torch.Tensor | np.ndarray, n_images: int | None) -> np.ndarray:
    """The [N] integer labels of a submission (a checked DataFrame, or the labels themselves)."""
    if isinstance(submission, pd.DataFrame):
        if list(submission.columns) != ["ImageId", "Label"]:
            raise ConfigError(f"a submission has exactly the columns ['ImageId', 'Label'], got "
                              f"{list(submission.columns)}.")
        ids = submission["ImageId"].to_numpy()
        if ids.dtype.kind not in "iu" or not np.array_equal(ids, np.arange(1, len(ids) + 1)):
            raise ConfigError(f"ImageId must run 1, 2, ..., {len(ids):,} (one row per test image, in "
                              f"order), got {ids[:3].tolist()}{' ...' if len(ids) > 3 else ''}.")
        submission = submission["Label"].to_numpy()
    labels = np.asarray(submission.cpu() if isinstance(submission, torch.Tensor) else submission)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ConfigError(f"submission labels must be [N] integers (e.g. logits.argmax(1)), got an "
                          f"array of shape {list(labels.shape)} and dtype {labels.dtype}.")
    if n_images is not None and len(labels) != n_images:
        raise ConfigError(f"the submission has {len(labels):,} rows but there are {n_images:,} test images; "
                          "give one row per test image.")
    return labels


def write_kaggle(folder: Path, images: np.ndarray, labels: np.ndarray, n_train: int, n_test: int,
                 seed: int) -> Path:
    """Write train.csv, test.csv and solution.csv of a seeded shuffle of images [N, 28, 28] uint8."""
    folder.mkdir(parents=True, exist_ok=True)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).numpy()
    train, test = order[:n_train], order[n_train:n_train + n_test]
    pixels = pd.DataFrame(images.reshape(len(images), -1), columns=PIXELS)
    tables = {"train.csv": pixels.iloc[train].assign(label=labels[train])[["label", *PIXELS]],
              "test.csv": pixels.iloc[test],
              "solution.csv": pd.DataFrame({"ImageId": np.arange(1, len(test) + 1), "Label": labels[test]})}
    for name, table in tables.items():
        atomic_write(folder / name, table.to_csv(index=False))
    return folder
