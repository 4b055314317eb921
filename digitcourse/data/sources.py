"""The registry: for each data set, its files, where to download them, its classes and its reader.

Paths are relative to the data root. MD5s and sizes are the published ones (torchvision's for the
MNIST family and USPS, MedMNIST's for OCTMNIST); None means "not verified". Tests point `MIRRORS` at
a local server.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import formats
from .download import FileSpec


@dataclass(frozen=True)
class Layout:
    """One way to store a data set: its files, and the reader that takes their paths in this order."""

    files: tuple[FileSpec, ...]
    read: Callable[..., formats.Arrays]


@dataclass(frozen=True)
class Source:
    """A data set: what it is, what its labels mean and how it may be stored (the first layout found
    is read; the first layout is the one downloaded); `hint` adds a way to get the files."""

    description: str
    classes: tuple[str, ...]
    layouts: tuple[Layout, ...]
    hint: str = ""


IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _idx(folder: str, md5s: tuple[str, ...], sizes: tuple[int | None, ...]) -> tuple[Layout]:
    """torchvision's layout: the four gzipped idx files in `folder`/raw/."""
    files = tuple(FileSpec(f"{folder}/raw/{name}", md5, size)
                  for name, md5, size in zip(IDX_NAMES, md5s, sizes))
    return (Layout(files, formats.read_idx_set),)


DIGIT_CLASSES = tuple(str(digit) for digit in range(10))

SOURCES: dict[str, Source] = {
    "mnist": Source(
        "MNIST: 70,000 handwritten digits, 28x28 grey (60,000 train / 10,000 test)", DIGIT_CLASSES,
        _idx("MNIST", ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                       "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
             (9_912_422, 28_881, 1_648_877, 4_542))),
    "fashion_mnist": Source(
        "Fashion-MNIST: 70,000 Zalando clothing images, 28x28 grey, 10 classes (60,000 / 10,000)",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"),
        _idx("FashionMNIST", ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                              "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
             (26_421_880, 29_515, 4_422_102, 5_148))),
    "kmnist": Source(
        "Kuzushiji-MNIST: 70,000 cursive Japanese hiragana, 28x28 grey, 10 classes (60,000 / 10,000)",
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        _idx("KMNIST", ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                        "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
             (18_165_135, 29_497, 3_041_136, 5_120))),
    "usps": Source(
        "USPS: 9,298 handwritten ZIP-code digits, 16x16 grey (7,291 train / 2,007 test)", DIGIT_CLASSES,
        (Layout((FileSpec("USPS/usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197"),
                 FileSpec("USPS/usps.t.bz2", "8ea070ee2aca1ac39742fdd1ef5ed118", 1_831_726)),
                formats.read_libsvm_pair),
         Layout((FileSpec("USPS/usps.h5"),), formats.read_usps_h5))),
    "octmnist": Source(
        "OCTMNIST (MedMNIST): retinal OCT scans, 28x28 grey, 4 diagnoses (97,477 train / 1,000 test)",
        ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
        (Layout((FileSpec("octmnist.npz", "c68d92d5b585d8d81f7112f81e2d0842"),), formats.read_medmnist),)),
    "digits": Source(
        "scikit-learn's 1,797 8x8 digits, bundled: needs no files (80% train pool / 20% test)",
        DIGIT_CLASSES, (Layout((), formats.read_sklearn_digits),)),
    "kaggle": Source(
        "Kaggle Digit Recognizer CSVs (train.csv with labels, test.csv, optional solution.csv)",
        DIGIT_CLASSES,
        (Layout((FileSpec("digit-recognizer/train.csv"), FileSpec("digit-recognizer/test.csv")),
                formats.read_kaggle),),
        hint="Download them from kaggle.com/competitions/digit-recognizer into <root>/digit-recognizer/, "
             "or make them from MNIST with dc.data.export_kaggle(root). "),
}

MIRRORS: dict[str, list[str]] = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "kmnist": ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
    "usps": ["https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"],
    "octmnist": ["https://zenodo.org/records/10519652/files/"],
}

DATASETS: dict[str, str] = {name: source.description for name, source in SOURCES.items()}
