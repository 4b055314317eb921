"""digitcourse.data: data sets, files and downloads, splits, batches, Kaggle helpers, regression data.

Tests on the real data sets use the folder in $DIGITCOURSE_DATA (default /work/shared/data) and are
skipped where it lacks them; every other test writes small files of the real formats into tmp_path.
No test touches the internet: every mirror points at 127.0.0.1.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import digitcourse.data as data
from digitcourse.data import download, sources
from digitcourse.errors import ConfigError, DataError

import fakes

SHARED = Path(os.environ.get("DIGITCOURSE_DATA") or "/work/shared/data")
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def needs_shared(*paths: str):
    return pytest.mark.skipif(not all((SHARED / p).exists() for p in paths),
                              reason=f"{SHARED} lacks {', '.join(paths)}")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every mirror is a dead local port, and the default data root an empty folder."""
    for name in sources.SOURCES:
        monkeypatch.setitem(sources.MIRRORS, name, [fakes.dead_url()])
    monkeypatch.setenv("DIGITCOURSE_DATA", str(tmp_path / "default-root"))
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch) -> Path:
    """A root with a fake MNIST of 200 train / 100 test images whose checksums the registry knows."""
    files = fakes.idx_files("MNIST", 200, 100)
    fakes.register(monkeypatch, "mnist", files)
    return fakes.write(tmp_path / "root", files)


# The real data sets ------------------------------------------------------------------------------

@needs_shared("MNIST")
def test_mnist_has_54000_train_6000_val_10000_test_with_the_readme_class_counts():
    mnist = data.load("mnist", root=SHARED)
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (54_000, 6_000, 10_000)
    assert torch.bincount(mnist.test.y).tolist() == MNIST_TEST_COUNTS
    pool = torch.cat([mnist.train.y, mnist.val.y])
    assert torch.bincount(pool).tolist() == MNIST_TRAIN_COUNTS
    assert mnist.train.x.shape[1:] == (1, 28, 28) and mnist.train.x.dtype == torch.float32
    assert (mnist.train.x.min().item(), mnist.train.x.max().item()) == (0.0, 1.0)
    assert mnist.classes == tuple("0123456789")


@needs_shared("MNIST")
def test_printing_mnist_from_a_fresh_python_summarises_splits_and_classes():
    env = {**os.environ, "DIGITCOURSE_DATA": str(SHARED)}
    command = "import digitcourse as dc; print(dc.data.load('mnist', seed=0))"
    out = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).parents[1], check=True)
    assert "train 54,000 / val 6,000 / test 10,000 images of 1x28x28 on cpu" in out.stdout
    assert "classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in out.stdout


@needs_shared("FashionMNIST")
def test_fashion_mnist_has_1000_test_images_per_named_class():
    fashion = data.load("fashion_mnist", root=SHARED, val_fraction=0.0)
    assert len(fashion.train) == 60_000 and len(fashion.val) == 0
    assert torch.bincount(fashion.test.y).tolist() == [1000] * 10
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"


@needs_shared("USPS/usps.h5")
def test_usps_reads_the_h5_file_when_the_libsvm_training_file_is_missing():
    usps = data.load("usps", root=SHARED, val_fraction=0.0)
    assert (len(usps.train), len(usps.test)) == (7_291, 2_007)
    assert usps.image_shape == (1, 16, 16)
    assert torch.bincount(usps.train.y).tolist() == [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    assert torch.bincount(usps.test.y).tolist() == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


@needs_shared("KMNIST")
def test_kmnist_without_training_images_and_no_reachable_mirror_names_the_missing_file():
    before = fakes.listing(SHARED)
    with pytest.raises(DataError) as error:
        data.load("kmnist", root=SHARED)
    message = str(error.value)
    assert "KMNIST/raw/train-images-idx3-ubyte.gz not found in " + str(SHARED) in message
    assert "127.0.0.1" in message or "read-only" in message  # mirrors tried, or a root that may not write
    assert "DIGITCOURSE_DATA" in message and "load('digits')" in message
    assert fakes.listing(SHARED) == before


@needs_shared("MNIST")
def test_a_read_only_root_such_as_the_shared_folder_is_read_without_writing_to_it():
    before = fakes.listing(SHARED)
    data.load("mnist", root=SHARED, subset=100)
    assert fakes.listing(SHARED) == before


# Formats, with small fake files -------------------------------------------------------------------

def test_kmnist_reads_its_idx_files_and_names_its_classes(tmp_path, monkeypatch):
    files = fakes.idx_files("KMNIST", 60, 40)
    fakes.register(monkeypatch, "kmnist", files)
    kmnist = data.load("kmnist", root=fakes.write(tmp_path, files), val_fraction=0.0)
    assert (len(kmnist.train), len(kmnist.test)) == (60, 40)
    assert torch.equal(kmnist.test.y, torch.arange(40) % 10)
    assert torch.equal(fakes.ids(kmnist.test.x), torch.arange(40))
    assert kmnist.classes == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


def test_uncompressed_idx_files_beside_or_instead_of_the_gz_files_are_read(tmp_path):
    files = fakes.idx_files("MNIST", 60, 40)
    unpacked = {path.removesuffix(".gz"): gzip.decompress(content) for path, content in files.items()}
    mnist = data.load("mnist", root=fakes.write(tmp_path, unpacked), val_fraction=0.0)
    assert torch.equal(fakes.ids(mnist.test.x), torch.arange(40))
    assert sorted(fakes.ids(mnist.train.x).tolist()) == list(range(60))


def test_usps_prefers_the_libsvm_pair_and_maps_minus_one_to_one_onto_zero_to_one(tmp_path, monkeypatch):
    values = np.tile(np.linspace(-1, 1, 256), (20, 1))
    libsvm = {"USPS/usps.bz2": fakes.libsvm_bytes(values, np.arange(20) % 10 + 1),
              "USPS/usps.t.bz2": fakes.libsvm_bytes(values[:10], np.arange(10) % 10 + 1)}
    fakes.register(monkeypatch, "usps", libsvm)
    root = fakes.write(tmp_path, {**libsvm, "USPS/usps.h5": fakes.usps_h5_bytes(30, 20)})
    usps = data.load("usps", root=root, val_fraction=0.0)
    assert (len(usps.train), len(usps.test)) == (20, 10)
    assert torch.equal(usps.test.y, torch.arange(10))
    assert torch.allclose(usps.test.x[0].flatten(), torch.linspace(0, 1, 256), atol=1e-6)


def test_usps_reads_the_h5_file_alone(tmp_path):
    usps = data.load("usps", root=fakes.write(tmp_path, {"USPS/usps.h5": fakes.usps_h5_bytes(30, 20)}),
                     val_fraction=0.0)
    assert (len(usps.train), len(usps.test)) == (30, 20)
    assert torch.equal(fakes.ids(usps.test.x), torch.arange(20))
    assert torch.equal(usps.test.y, torch.arange(20) % 10)


def test_octmnist_uses_the_npz_train_as_pool_and_its_test_as_test(tmp_path, monkeypatch):
    files = {"octmnist.npz": fakes.medmnist_bytes(n_train=40, n_val=12, n_test=20)}
    fakes.register(monkeypatch, "octmnist", files)
    oct_ = data.load("octmnist", root=fakes.write(tmp_path, files), val_fraction=0.25)
    assert (len(oct_.train), len(oct_.val), len(oct_.test)) == (30, 10, 20)
    assert torch.equal(oct_.test.y, torch.arange(20) % 4)
    assert oct_.classes == ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal")


def test_digits_needs_no_files_and_keeps_a_fixed_stratified_fifth_as_test(tmp_path):
    a = data.load("digits", root=tmp_path, seed=0, download=False)
    b = data.load("digits", root=tmp_path, seed=5, download=False)
    assert (len(a.train) + len(a.val), len(a.test)) == (1438, 359)
    assert torch.equal(a.test.x, b.test.x) and a.image_shape == (1, 8, 8)
    assert (a.train.x.min().item(), a.train.x.max().item()) == (0.0, 1.0)
    assert tmp_path.exists() and fakes.listing(tmp_path) == []


def test_kaggle_test_labels_come_from_solution_csv(tmp_path):
    kaggle = data.load("kaggle", root=fakes.write(tmp_path, fakes.kaggle_files(50, 30)), val_fraction=0.0)
    assert (len(kaggle.train), len(kaggle.test)) == (50, 30)
    assert torch.equal(fakes.ids(kaggle.test.x), torch.arange(30))
    assert torch.equal(kaggle.test.y, torch.arange(30) % 10)


def test_kaggle_test_labels_are_minus_one_without_solution_csv(tmp_path):
    kaggle = data.load("kaggle", root=fakes.write(tmp_path, fakes.kaggle_files(50, 30, solution=False)))
    assert kaggle.test.y.tolist() == [-1] * 30


def test_kaggle_csv_missing_a_column_names_the_file_and_the_column(tmp_path):
    files = fakes.kaggle_files(20, 10)
    train = "digit-recognizer/train.csv"
    files[train] = files[train].replace(b"pixel783", b"pixel7830", 1)
    with pytest.raises(DataError, match=r"train\.csv: missing column\(s\) pixel783;"):
        data.load("kaggle", root=fakes.write(tmp_path, files))


def test_write_submission_writes_imageid_from_1_and_labels(tmp_path):
    path = data.write_submission(tmp_path / "submission.csv", torch.tensor([7, 2, 1]))
    assert path.read_text() == "ImageId,Label\n1,7\n2,2\n3,1\n"
    assert fakes.listing(tmp_path) == ["submission.csv"]


def test_write_submission_writes_a_checked_dataframe_as_kaggle_reads_it(tmp_path):
    frame = pd.DataFrame({"ImageId": [1, 2, 3, 4], "Label": np.array([0, 9, 9, 4])})
    path = data.write_submission(tmp_path / "submission.csv", frame, n_images=4)
    assert path.read_text() == "ImageId,Label\n1,0\n2,9\n3,9\n4,4\n"
    assert pd.read_csv(path).equals(frame)


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"Label": [1, 2]}), r"exactly the columns \['ImageId', 'Label'\], got \['Label'\]"),
    (pd.DataFrame({"Label": [1, 2], "ImageId": [1, 2]}), r"exactly the columns .*got \['Label', 'ImageId'\]"),
    (pd.DataFrame({"ImageId": [0, 1], "Label": [1, 2]}), r"ImageId must run 1, 2, \.\.\., 2 .*got \[0, 1\]"),
    (pd.DataFrame({"ImageId": [2, 1], "Label": [1, 2]}), r"ImageId must run 1, 2, \.\.\., 2"),
    (pd.DataFrame({"ImageId": [1.0, 2.0], "Label": [1, 2]}), r"ImageId must run"),
    (pd.DataFrame({"ImageId": [1, 2], "Label": [1, 10]}), r"labels must lie in 0\.\.9; found 1 outside, e\.g\. 10"),
    (pd.DataFrame({"ImageId": [1, 2], "Label": [-1, 3]}), r"labels must lie in 0\.\.9; found 1 outside, e\.g\. -1"),
    (pd.DataFrame({"ImageId": [1, 2], "Label": [1.0, 2.0]}), r"labels must be \[N\] integers .*dtype float64"),
    (torch.zeros(3, 10, dtype=torch.int64), r"labels must be \[N\] integers .*shape \[3, 10\]"),
])
def test_write_submission_refuses_a_wrong_submission_saying_why_and_writes_nothing(tmp_path, frame, message):
    with pytest.raises(ConfigError, match=message):
        data.write_submission(tmp_path / "submission.csv", frame)
    assert fakes.listing(tmp_path) == []


def test_write_submission_refuses_another_number_of_rows_than_test_images(tmp_path):
    with pytest.raises(ConfigError, match=r"^the submission has 3 rows but there are 28,000 test images"):
        data.write_submission(tmp_path / "submission.csv", torch.tensor([7, 2, 1]), n_images=28_000)
    assert fakes.listing(tmp_path) == []


def test_write_submission_replaces_an_earlier_file_whole(tmp_path):
    data.write_submission(tmp_path / "submission.csv", torch.arange(10))
    data.write_submission(tmp_path / "submission.csv", torch.tensor([3]))
    assert (tmp_path / "submission.csv").read_text() == "ImageId,Label\n1,3\n"
    assert fakes.listing(tmp_path) == ["submission.csv"]


def test_export_kaggle_writes_mnist_rows_that_load_kaggle_reads_back(fake_mnist, tmp_path):
    folder = data.export_kaggle(tmp_path / "out", root=fake_mnist, n_train=120, n_test=80, seed=3)
    assert folder == tmp_path / "out" / "digit-recognizer"
    assert fakes.listing(folder) == ["solution.csv", "test.csv", "train.csv"]
    kaggle = data.load("kaggle", root=tmp_path / "out", val_fraction=0.0)
    mnist = data.load("mnist", root=fake_mnist, val_fraction=0.0)
    images = torch.cat([mnist.train.x, mnist.test.x]).flatten(1)
    for split in (kaggle.train, kaggle.test):
        match = (split.x.flatten(1)[:, None] == images[None]).all(-1)
        assert match.sum(1).tolist() == [1] * len(split)
        assert torch.equal(split.y, torch.cat([mnist.train.y, mnist.test.y])[match.int().argmax(1)])
    assert (len(kaggle.train), len(kaggle.test)) == (120, 80)


# Downloads from a local server --------------------------------------------------------------------

def test_download_from_a_good_mirror_verifies_the_files_and_loads_them(tmp_path, monkeypatch):
    files = fakes.idx_files("MNIST", 60, 40)
    fakes.register(monkeypatch, "mnist", files)
    with fakes.serve(files) as url:
        monkeypatch.setitem(sources.MIRRORS, "mnist", [url])
        mnist = data.load("mnist", root=tmp_path / "root", val_fraction=0.0)
    assert len(mnist.test) == 40
    for path, content in files.items():
        assert (tmp_path / "root" / path).read_bytes() == content
    assert fakes.listing(tmp_path / "root" / "MNIST" / "raw") == sorted(Path(p).name for p in files)


def test_download_shows_a_progress_bar_per_file(tmp_path, monkeypatch, capfd):
    files = fakes.idx_files("MNIST", 60, 40)
    fakes.register(monkeypatch, "mnist", files)
    with fakes.serve(files) as url:
        monkeypatch.setitem(sources.MIRRORS, "mnist", [url])
        data.load("mnist", root=tmp_path, val_fraction=0.0)
    shown = capfd.readouterr().err
    assert shown.count("100%|") == len(files)
    assert f"{len(files['MNIST/raw/train-images-idx3-ubyte.gz']) / 1000:.1f}k/" in shown


def test_download_skips_a_mirror_serving_a_corrupt_file_for_the_next_one(tmp_path, monkeypatch):
    files = fakes.idx_files("MNIST", 60, 40)
    fakes.register(monkeypatch, "mnist", files)
    corrupt = {path: content[:-8] + b"12345678" for path, content in files.items()}
    with fakes.serve(corrupt) as bad, fakes.serve(files) as good:
        monkeypatch.setitem(sources.MIRRORS, "mnist", [bad, good])
        mnist = data.load("mnist", root=tmp_path, val_fraction=0.0)
    assert torch.equal(fakes.ids(mnist.test.x), torch.arange(40))
    assert fakes.listing(tmp_path / "MNIST" / "raw") == sorted(Path(p).name for p in files)


def test_download_skips_a_mirror_that_drops_the_connection_mid_file(tmp_path, monkeypatch):
    files = fakes.idx_files("MNIST", 60, 40)
    fakes.register(monkeypatch, "mnist", files)
    with fakes.serve(files, drop=True) as dropping, fakes.serve(files) as good:
        monkeypatch.setitem(sources.MIRRORS, "mnist", [dropping, good])
        mnist = data.load("mnist", root=tmp_path, val_fraction=0.0)
    assert len(mnist.train) == 60
    assert fakes.listing(tmp_path / "MNIST" / "raw") == sorted(Path(p).name for p in files)


def test_download_failing_on_every_mirror_says_why_and_leaves_nothing_behind(tmp_path, monkeypatch):
    files = fakes.idx_files("MNIST", 60, 40)
    fakes.register(monkeypatch, "mnist", files)
    corrupt = {path: content[::-1] for path, content in files.items()}
    with fakes.serve(corrupt) as bad, fakes.serve(files, drop=True) as dropping:
        monkeypatch.setitem(sources.MIRRORS, "mnist", [bad, dropping, fakes.dead_url()])
        with pytest.raises(DataError) as error:
            data.load("mnist", root=tmp_path)
    message = str(error.value)
    assert "dataset 'mnist': MNIST/raw/train-images-idx3-ubyte.gz, " in message
    assert "every mirror failed for train-images-idx3-ubyte.gz: " in message
    assert "checksum" in message and "connection dropped mid-file" in message and "refused" in message
    assert fakes.listing(tmp_path) == []


def test_missing_files_with_download_false_name_files_folder_and_fix(tmp_path):
    with pytest.raises(DataError) as error:
        data.load("fashion_mnist", root=tmp_path, download=False)
    lines = str(error.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("dataset 'fashion_mnist': FashionMNIST/raw/train-images-idx3-ubyte.gz, ")
    assert f"not found in {tmp_path} (download=False" in lines[0]
    assert lines[1] == download.FIX


def test_a_read_only_root_without_the_files_fails_without_trying_to_write(tmp_path, monkeypatch):
    root = tmp_path / "read-only"
    root.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root may write anywhere: make os.access answer as for everyone else
        monkeypatch.setattr(download.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match=r"read-only, so nothing could be downloaded"):
        data.load("mnist", root=root)
    assert fakes.listing(root) == []


def test_a_read_only_root_with_the_files_loads_without_writing(fake_mnist):
    before = fakes.listing(fake_mnist)
    for folder in (fake_mnist / "MNIST" / "raw", fake_mnist / "MNIST", fake_mnist):
        folder.chmod(0o555)
    try:
        mnist = data.load("mnist", root=fake_mnist, seed=1)
    finally:
        for folder in (fake_mnist, fake_mnist / "MNIST", fake_mnist / "MNIST" / "raw"):
            folder.chmod(0o755)
    assert len(mnist.test) == 100
    assert fakes.listing(fake_mnist) == before


def test_data_root_is_the_argument_else_digitcourse_data_else_the_user_cache(monkeypatch, tmp_path):
    assert download.data_root(tmp_path / "a") == tmp_path / "a"
    monkeypatch.setenv("DIGITCOURSE_DATA", str(tmp_path / "b"))
    assert download.data_root() == tmp_path / "b"
    monkeypatch.delenv("DIGITCOURSE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert download.data_root() == tmp_path / "cache" / "digitcourse"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert download.data_root() == Path.home() / ".cache" / "digitcourse"


# Errors --------------------------------------------------------------------------------------------

def test_unknown_name_suggests_the_nearest_and_lists_the_known_ones():
    with pytest.raises(DataError) as error:
        data.load("mnsit")
    assert "unknown data set 'mnsit' (did you mean 'mnist'?)" in str(error.value)
    assert "known: " + ", ".join(data.DATASETS) in str(error.value)


@pytest.mark.parametrize("val_fraction", [1.5, 1.0, -0.1])
def test_val_fraction_outside_zero_to_one_is_refused_naming_the_range(val_fraction):
    with pytest.raises(ConfigError, match=r"val_fraction=.* must lie in \[0, 1\)"):
        data.load("digits", val_fraction=val_fraction)


@pytest.mark.parametrize("subset", [0, -5, True, 1.5, 0.0, "100"])
def test_subset_that_is_neither_a_count_nor_a_fraction_is_refused(subset):
    with pytest.raises(ConfigError, match=r"subset=.* is not allowed; use None \(all\), a count n >= 1"):
        data.load("digits", subset=subset)


def test_a_val_fraction_that_leaves_no_training_example_is_an_impossible_split():
    with pytest.raises(ConfigError, match="impossible split: val_fraction=0.9 of the 1 training"):
        data.load("digits", subset=1, val_fraction=0.9)


def test_unknown_device_is_refused():
    with pytest.raises(ConfigError, match="device='gpu' is not known"):
        data.load("digits", device="gpu")


def test_a_file_with_a_wrong_checksum_is_named_with_how_to_fix_it(fake_mnist):
    path = fake_mnist / "MNIST/raw/t10k-images-idx3-ubyte.gz"
    content = bytearray(path.read_bytes())
    content[100] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(DataError) as error:
        data.load("mnist", root=fake_mnist)
    message = str(error.value)
    assert message.startswith(f"file {path}: checksum ") and "does not match the known" in message
    assert "delete it to download it again" in message and "verify=False" in message


def test_a_changed_file_is_hashed_again_but_an_unchanged_one_is_not(fake_mnist):
    data.load("mnist", root=fake_mnist)
    hashed = download._md5.cache_info().misses
    data.load("mnist", root=fake_mnist)
    assert download._md5.cache_info().misses == hashed
    path = fake_mnist / "MNIST/raw/train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[::-1])
    with pytest.raises(DataError, match="checksum"):
        data.load("mnist", root=fake_mnist)


def test_a_truncated_gzip_file_is_named_with_how_to_fix_it(tmp_path):
    files = fakes.idx_files("MNIST", 60, 40)
    path = "MNIST/raw/train-images-idx3-ubyte.gz"
    files[path] = files[path][:len(files[path]) // 2]
    with pytest.raises(DataError) as error:
        data.load("mnist", root=fakes.write(tmp_path, files), verify=False)
    assert str(error.value).startswith(f"file {tmp_path / path}: it is not a complete gzip file")
    assert str(error.value).endswith("delete it so that it is downloaded again.")


def test_an_idx_file_with_a_wrong_header_or_length_is_named(tmp_path):
    files = fakes.idx_files("MNIST", 60, 40)
    files["MNIST/raw/t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"\x00\x00\x08\x03" + bytes(20))
    files["MNIST/raw/t10k-images-idx3-ubyte.gz"] = gzip.compress(fakes.idx_bytes(fakes.images(40))[:-1])
    root = fakes.write(tmp_path, files)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: it holds 31,359 bytes of data where its "
                                        r"header \(40 x 28 x 28\) promises 31,360"):
        data.load("mnist", root=root, verify=False)
    files["MNIST/raw/t10k-images-idx3-ubyte.gz"] = gzip.compress(fakes.idx_bytes(fakes.images(40)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: its header 00000803 is not that of"):
        data.load("mnist", root=fakes.write(tmp_path, files), verify=False)


# Splits and batches --------------------------------------------------------------------------------

def test_the_same_seed_gives_identical_splits_and_another_seed_another_val_set(fake_mnist):
    a, b = data.load("mnist", root=fake_mnist, seed=7), data.load("mnist", root=fake_mnist, seed=7)
    c = data.load("mnist", root=fake_mnist, seed=8)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).x, getattr(b, split).x)
        assert torch.equal(getattr(a, split).y, getattr(b, split).y)
    assert set(fakes.ids(a.val.x).tolist()) != set(fakes.ids(c.val.x).tolist())
    assert torch.equal(a.test.x, c.test.x)


def test_train_and_val_are_disjoint_and_together_the_whole_training_pool(fake_mnist):
    mnist = data.load("mnist", root=fake_mnist, val_fraction=0.25, seed=3)
    train, val = fakes.ids(mnist.train.x), fakes.ids(mnist.val.x)
    assert (len(train), len(val)) == (150, 50)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(200))
    assert torch.equal(mnist.train.y, train % 10) and torch.equal(mnist.val.y, val % 10)


def test_val_fraction_zero_gives_an_empty_val_split_of_the_right_shape(fake_mnist):
    mnist = data.load("mnist", root=fake_mnist, val_fraction=0.0)
    assert mnist.val.x.shape == (0, 1, 28, 28) and mnist.val.y.shape == (0,)
    assert len(mnist.train) == 200


def test_val_split_and_subsets_keep_class_proportions_to_within_one():
    full = data.load("digits", val_fraction=0.0)

    def share(y: torch.Tensor, n: int) -> torch.Tensor:
        """The expected class counts of n examples drawn in proportion from labels y."""
        return torch.bincount(y).double() * n / len(y)

    for seed in range(5):
        digits = data.load("digits", seed=seed, val_fraction=0.3)
        assert (torch.bincount(digits.val.y) - share(full.train.y, len(digits.val))).abs().max() < 1
        small = data.load("digits", seed=seed, subset=137, val_fraction=0.0)
        assert (torch.bincount(small.train.y) - share(full.train.y, 137)).abs().max() < 1
        assert (torch.bincount(small.test.y) - share(full.test.y, 137)).abs().max() < 1


@needs_shared("MNIST")
def test_mnist_val_split_holds_each_class_in_proportion_to_within_one():
    mnist = data.load("mnist", root=SHARED, seed=4)
    expected = torch.tensor(MNIST_TRAIN_COUNTS).double() * 6000 / 60000
    assert (torch.bincount(mnist.val.y) - expected).abs().max() < 1


@pytest.mark.parametrize("subset, sizes", [(50, (45, 5, 50)), (1000, (180, 20, 100)), (0.5, (90, 10, 50)),
                                           (0.001, (1, 0, 1)), (1, (1, 0, 1))])
def test_subset_keeps_a_count_or_fraction_of_pool_and_test(fake_mnist, subset, sizes):
    mnist = data.load("mnist", root=fake_mnist, subset=subset)
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == sizes


def test_a_subset_of_the_test_split_does_not_depend_on_the_seed_and_keeps_its_order(fake_mnist):
    a, b = (data.load("mnist", root=fake_mnist, subset=30, seed=seed) for seed in (0, 1))
    assert torch.equal(a.test.x, b.test.x)
    assert fakes.ids(a.test.x).tolist() == sorted(fakes.ids(a.test.x).tolist())


def test_every_prefix_of_a_stratified_order_holds_each_class_in_proportion_to_within_one():
    y = torch.repeat_interleave(torch.arange(5), torch.tensor([500, 30, 7, 1, 60]))
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    order = data.stratified_order(y, seed=3)
    assert sorted(order.tolist()) == list(range(len(y)))
    counts = torch.nn.functional.one_hot(y[order]).double().cumsum(0)
    expected = torch.arange(1, len(y) + 1).double()[:, None] * torch.bincount(y).double() / len(y)
    assert (counts - expected).abs().max() < 1


def test_stratified_folds_validate_every_example_once_and_train_on_the_rest():
    y = torch.repeat_interleave(torch.arange(4), torch.tensor([50, 23, 9, 1]))
    folds = data.stratified_folds(y, 5, seed=2)
    assert len(folds) == 5
    validated = torch.cat([val for _, val in folds])
    assert sorted(validated.tolist()) == list(range(len(y)))
    for train, val in folds:
        assert len(val) in (16, 17) and len(train) + len(val) == len(y)
        assert sorted(torch.cat([train, val]).tolist()) == list(range(len(y)))
        assert train.dtype == val.dtype == torch.int64


def test_stratified_folds_hold_each_class_in_proportion_to_within_two():
    y = torch.repeat_interleave(torch.arange(5), torch.tensor([500, 30, 7, 1, 60]))
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    for k in (2, 3, 5, 10):
        for _, val in data.stratified_folds(y, k, seed=1):
            expected = torch.bincount(y).double() * len(val) / len(y)
            assert (torch.bincount(y[val], minlength=5) - expected).abs().max() < 2, k


def test_stratified_folds_are_drawn_from_the_seed():
    y = data.load("digits", val_fraction=0.0).train.y
    folds, again, other = (data.stratified_folds(y, 5, seed=seed) for seed in (3, 3, 4))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(folds, again))
    assert not torch.equal(folds[0][1], other[0][1])


@pytest.mark.parametrize("k", [1, 0, 2.5, 1000])
def test_stratified_folds_refuse_a_k_outside_two_to_n(k):
    with pytest.raises(ConfigError, match=r"^k(=| must)"):
        data.stratified_folds(torch.arange(10) % 2, k, seed=0)


def test_batches_have_the_asked_size_and_cover_every_example_once_per_pass():
    split = data.Split(torch.arange(100.0)[:, None], torch.arange(100))
    batches = list(split.batches(32, generator=torch.Generator().manual_seed(0)))
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(100))
    assert all(torch.equal(x[:, 0].long(), y) for x, y in batches)


def test_batches_drawn_with_the_same_seed_come_in_the_same_order():
    split = data.Split(torch.arange(50.0)[:, None], torch.arange(50))

    def labels(seed: int) -> list[torch.Tensor]:
        return [y for _, y in split.batches(8, generator=torch.Generator().manual_seed(seed))]

    first, second, third = labels(1), labels(1), labels(2)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, third))


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_batch_size_of_at_least_n_gives_one_batch(shuffle):
    split = data.Split(torch.zeros(10, 2), torch.arange(10))
    assert [len(y) for _, y in split.batches(10, shuffle=shuffle)] == [10]
    assert [len(y) for _, y in split.batches(500, shuffle=shuffle)] == [10]


def test_device_auto_puts_every_split_on_the_available_device():
    digits = data.load("digits", device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert {digits.train.device.type, digits.val.device.type, digits.test.device.type} == {expected}


# Regression data -----------------------------------------------------------------------------------

def test_target_function_is_x1_times_a_gaussian_bump():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    assert torch.allclose(data.target_function(x), torch.tensor([np.exp(-1), 0.0, -np.exp(-2)]).float())


def test_regression_data_samples_the_square_uniformly_and_tests_on_a_grid():
    reg = data.regression_data(500, seed=2, grid=11)
    assert reg.train.x.shape == (500, 2) and reg.train.y.shape == (500,)
    assert reg.train.x.dtype == reg.train.y.dtype == torch.float32
    assert reg.train.x.min() >= -2 and reg.train.x.max() <= 2 and abs(reg.train.x.mean()) < 0.2
    assert torch.allclose(reg.train.y, data.target_function(reg.train.x))
    assert reg.test.x.shape == (121, 2) and len(reg.val) == 0 and reg.classes == ()
    assert set(reg.test.x[:, 0].tolist()) == set(torch.linspace(-2, 2, 11).tolist())
    assert torch.equal(reg.train.x, data.regression_data(500, seed=2, grid=11).train.x)
    assert not torch.equal(reg.train.x, data.regression_data(500, seed=3, grid=11).train.x)

