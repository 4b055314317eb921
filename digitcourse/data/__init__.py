"""Data sets as tensors: ``load(name)`` gives a DigitData with train / val / test splits.

::

    data = dc.data.load("mnist", seed=0, subset=5000)
    data.train.x    # [4500, 1, 28, 28] float32 in [0, 1]
    data.train.y    # [4500] int64

`DATASETS` names what `load` knows. Files are looked for under the data root (`root`, else
$DIGITCOURSE_DATA, else ~/.cache/digitcourse) and downloaded there when missing. Also here: the Kaggle
helpers (`write_submission`, `export_kaggle`), stratified folds for cross-validation
(`stratified_folds`) and a small regression problem (`regression_data`).
"""
from __future__ import annotations

import functools
import numbers
import os
from pathlib import Path

import numpy as np
import torch

from ..checks import check_device, check_number, nearest
from ..errors import ConfigError, DataError
from .download import data_root, locate
from .formats import Arrays, write_kaggle, write_submission
from .regression import regression_data, target_function
from .sources import DATASETS, MIRRORS, SOURCES
from .splits import DigitData, Split, stratified_folds, stratified_order

__all__ = ["load", "DATASETS", "DigitData", "Split", "stratified_order", "stratified_folds", "data_root",
           "write_submission", "export_kaggle", "regression_data", "target_function"]


def load(name: str, *, root: str | os.PathLike | None = None, val_fraction: float = 0.1, seed: int = 0,
         subset: int | float | None = None, device: str | torch.device = "cpu", download: bool = True,
         verify: bool = True) -> DigitData:
    """A data set as tensors on `device`: x [N, C, H, W] float32 in [0, 1], y [N] int64 (-1: unknown).

    The validation split is the first round(val_fraction * n) of a stratified order of the training
    pool drawn from `seed` (same seed, same splits); the test split never depends on `seed`.
    subset: None (all), a count n >= 1 (at most n examples of the training pool and n of the test
    split) or a fraction in (0, 1] of each; kept examples keep the class proportions.
    device: "cpu", "cuda", "auto" (CUDA when available) or a torch.device; the tensors move there once.
    download: fetch missing files from the known mirrors. verify: check files against known MD5s.
    Decoded files are cached in this process, so loading a data set again takes a fraction of a second.
    """
    if not isinstance(name, str) or name not in SOURCES:
        raise DataError(f"unknown data set {name!r}{nearest(str(name), SOURCES)}; "
                        f"known: {', '.join(SOURCES)}.")
    check_number("val_fraction", val_fraction, low=0, high=1, high_open=True)
    check_number("seed", seed, integer=True)
    _check_subset(subset)
    device = check_device(device)
    arrays = _arrays(name, root=root, download=download, verify=verify)
    pool = _keep(torch.tensor(arrays.y_train), subset, seed)
    n_val = round(val_fraction * len(pool))
    if n_val == len(pool):
        raise ConfigError(f"impossible split: val_fraction={val_fraction} of the {len(pool)} training "
                          f"examples kept (subset={subset!r}) leaves none to train on; lower "
                          "val_fraction or raise subset.")
    y_test = torch.tensor(arrays.y_test)
    test = torch.arange(len(y_test)) if subset is None else _keep(y_test, subset, 0).sort().values
    return DigitData(name, _split(arrays.x_train, arrays.y_train, pool[n_val:], device),
                     _split(arrays.x_train, arrays.y_train, pool[:n_val], device),
                     _split(arrays.x_test, arrays.y_test, test, device), SOURCES[name].classes)


def _arrays(name: str, *, root: str | os.PathLike | None = None, download: bool = True,
           verify: bool = True) -> Arrays:
    """The decoded arrays of a known data set, found (or downloaded) under the data root."""
    source = SOURCES[name]
    index, paths = locate(name, [layout.files for layout in source.layouts], MIRRORS.get(name, ()),
                          root=root, download=download, verify_md5=verify, hint=source.hint)
    stamps = tuple((path.stat().st_size, path.stat().st_mtime_ns) for path in paths)
    return _decode(source.layouts[index].read, tuple(paths), stamps)


@functools.lru_cache(maxsize=4)
def _decode(reader, paths: tuple[Path, ...], stamps: tuple[tuple[int, int], ...]) -> Arrays:
    """reader(*paths), cached per file path, size and modification time (`stamps`)."""
    arrays = reader(*paths)
    for array in arrays:
        array.flags.writeable = False  # shared by every later load: keep the cache intact
    return arrays


def _check_subset(subset: int | float | None) -> None:
    count = isinstance(subset, numbers.Integral) and subset >= 1
    fraction = isinstance(subset, numbers.Real) and 0 < subset <= 1
    if subset is not None and (isinstance(subset, bool) or not (count or fraction)):
        raise ConfigError(f"subset={subset!r} is not allowed; use None (all), a count n >= 1 or a "
                          "fraction in (0, 1].")


def _keep(y: torch.Tensor, subset: int | float | None, seed: int) -> torch.Tensor:
    """The stratified prefix of y [N] that `subset` keeps, drawn from `seed`: indices [K] int64."""
    order = stratified_order(y, seed)
    if subset is None:
        return order
    count = min(subset, len(y)) if isinstance(subset, numbers.Integral) else max(1, round(subset * len(y)))
    return order[:count]


def _split(x: np.ndarray, y: np.ndarray, index: torch.Tensor, device: torch.device) -> Split:
    """Rows `index` [K] of x [N, H, W] (uint8 or float) and y [N], as x [K, 1, H, W] float32 in [0, 1]."""
    rows = x[index.numpy()]
    images = np.divide(rows, 255, dtype=np.float32) if rows.dtype == np.uint8 else rows.astype(np.float32)
    return Split(torch.from_numpy(images[:, None]).to(device), torch.from_numpy(y[index.numpy()]).to(device))


def export_kaggle(out_dir: str | os.PathLike, *, root: str | os.PathLike | None = None,
                  n_train: int = 42_000, n_test: int = 28_000, seed: int = 0) -> Path:
    """Write MNIST in Kaggle's Digit Recognizer format, so the Kaggle project runs offline.

    A seeded shuffle of the 70,000 MNIST images is cut into `n_train` rows of train.csv (with labels)
    and `n_test` of test.csv (labels in solution.csv), written atomically into out_dir/digit-recognizer/,
    which is returned; then load("kaggle", root=out_dir) reads them.
    """
    check_number("n_train", n_train, integer=True, low=1)
    check_number("n_test", n_test, integer=True, low=1)
    check_number("seed", seed, integer=True)
    arrays = _arrays("mnist", root=root)
    images = np.concatenate([arrays.x_train, arrays.x_test])
    labels = np.concatenate([arrays.y_train, arrays.y_test])
    if n_train + n_test > len(labels):
        raise ConfigError(f"n_train + n_test = {n_train + n_test:,} is more than the {len(labels):,} "
                          "MNIST images.")
    return write_kaggle(Path(out_dir) / "digit-recognizer", images, labels, n_train, n_test, seed)
