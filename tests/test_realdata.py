"""Real data from local files: tiny IDX and CIFAR-binary files built here, every bad file refused
with one line, and classification training with accuracies."""
import gzip
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli.cli import app
from condense_cli.data import resolve
from condense_cli.errors import BadInput

runner = CliRunner()
RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_mnist(folder, n=30, gz=False, labels=None):
    images = RNG.integers(0, 256, (n, 4, 4))
    labels = RNG.integers(0, 10, n) if labels is None else labels
    for stem, arr in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        data = idx_bytes(np.asarray(arr))
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / stem).write_bytes(data)
    return images, labels


def write_cifar(folder, n=12, hundred=False):
    labels = RNG.integers(0, 100 if hundred else 10, n)
    pixels = RNG.integers(0, 256, (n, 3072))
    if hundred:
        records = np.concatenate([np.zeros((n, 1)), labels[:, None], pixels], axis=1).astype(np.uint8)
        (folder / "train.bin").write_bytes(records.tobytes())
    else:
        records = np.concatenate([labels[:, None], pixels], axis=1).astype(np.uint8)
        for i in range(1, 6):
            (folder / f"data_batch_{i}.bin").write_bytes(records.tobytes())
    return pixels, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_raw_and_gz(tmp_path, gz):
    images, labels = write_mnist(tmp_path, gz=gz)
    ds = resolve("mnist", data_dir=str(tmp_path), test_fraction=0.2)
    assert ds.x.shape == (24, 16) and ds.x_test.shape == (6, 16) and ds.y.shape == (24, 10)
    assert ds.x.min() >= 0 and ds.x.max() <= 1 and ds.spec["normalization"] == "pixels scaled to [0, 1]"
    # every training row is one of the images with its label
    flat = images.reshape(30, -1) / 255.0
    for row, y in zip(ds.x, ds.y):
        i = int(np.flatnonzero((flat == row).all(axis=1))[0])
        assert np.argmax(y) == labels[i]


def test_cifar_binary_10_and_100(tmp_path):
    pixels, labels = write_cifar(tmp_path)
    ds = resolve("cifar10", data_dir=str(tmp_path), test_fraction=0.0)
    assert ds.x.shape == (60, 3072) and ds.y.shape == (60, 10)
    (tmp_path / "c100").mkdir()
    _, labels100 = write_cifar(tmp_path / "c100", hundred=True)
    ds = resolve("cifar100", data_dir=str(tmp_path / "c100"), test_fraction=0.25, n=8)
    assert ds.y.shape == (6, 100) and ds.x_test.shape == (2, 3072)


def test_digits_ship_with_scikit_learn():
    ds = resolve("digits")
    assert ds.x.shape[1] == 64 and ds.y.shape[1] == 10 and len(ds.x) + len(ds.x_test) == 1797


def test_bad_files_one_line(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        resolve("mnist", data_dir=str(tmp_path / "nope"))
    with pytest.raises(BadInput, match="give --data-dir"):
        resolve("mnist")
    with pytest.raises(BadInput, match="train-images-idx3-ubyte.*not found in.*get it from"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist(tmp_path)
    bad = bytearray((tmp_path / "train-images-idx3-ubyte").read_bytes())
    bad[2] = 0x0D
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes(bad))
    with pytest.raises(BadInput, match="wrong magic number"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist(tmp_path)
    full = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(full[:-5])
    with pytest.raises(BadInput, match="header says"):
        resolve("mnist", data_dir=str(tmp_path))
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29)))
    with pytest.raises(BadInput, match="30 images but 29 labels"):
        resolve("mnist", data_dir=str(tmp_path))
    c = tmp_path / "c"
    c.mkdir()
    write_cifar(c)
    (c / "data_batch_3.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(BadInput, match="not a whole number of 3073-byte records"):
        resolve("cifar10", data_dir=str(c))
    (c / "data_batch_3.bin").unlink()
    with pytest.raises(BadInput, match="data_batch_3.bin not found.*pickled Python version is never read"):
        resolve("cifar10", data_dir=str(c))


def test_classification_training_records_accuracies(tmp_path):
    write_mnist(tmp_path, n=40)
    out = tmp_path / "m.npz"
    res = runner.invoke(app, ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--loss", "ce", "--width", "8",
                              "--steps", "50", "--lr", "0.01", "--record-every", "10", "--seeds", "2", "-q", "--json",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert 0 <= obj["train_acc"] <= 1 and 0 <= obj["test_acc"] <= 1
    with np.load(out, allow_pickle=False) as f:
        assert f["train_acc"].shape == (2, 6) and f["test_acc"].shape == (2, 6)
        assert f["x_test"].shape == (8, 16) and json.loads(str(f["meta"]))["loss"] == "ce"
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--data", "sin1d", "--loss", "ce", "-q", "--out", str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "needs a classification data set" in res.stderr
    res = runner.invoke(app, ["train", "--data", "mnist", "--data-dir", str(tmp_path / "none"), "-q",
                              "--out", str(tmp_path / "y.npz")])
    assert res.exit_code == 2 and "does not exist" in res.stderr
