"""Real classification data from local files: digits (shipped inside scikit-learn), MNIST and
Fashion-MNIST (the four IDX files, raw or .gz), CIFAR-10/100 (their *binary* versions only: the
pickled Python version is never read, since unpickling a downloaded file can run code).

`load(name, data_dir, n, test_fraction, seed)` returns a `data.Dataset` with x (n_train, d)
scaled to [0, 1] (images flattened in (row, column, channel) order, shape in spec["image"]), y
one-hot (n_train, classes), and the held-out x_test, y_test. Nothing is ever
downloaded; every fault is a one-line `BadInput` naming the file.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from ..choices import REAL_DATA, TEST_SETS
from ..errors import BadInput
from .dataset import Dataset

REAL = REAL_DATA
SOURCES = {
    "mnist": "the MNIST page (yann.lecun.com/exdb/mnist) or any mirror of its four IDX files",
    "fashion-mnist": "the Fashion-MNIST repository (github.com/zalandoresearch/fashion-mnist)",
    "cifar10": "the CIFAR page (www.cs.toronto.edu/~kriz/cifar.html), 'CIFAR-10 binary version'",
    "cifar100": "the CIFAR page (www.cs.toronto.edu/~kriz/cifar.html), 'CIFAR-100 binary version'",
}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
IDX_TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CLASSES = {"digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100}


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits through its public `load_digits` (pixels / 16, labels)."""
    if importlib.util.find_spec("sklearn") is None:
        raise BadInput("the digits data set ships with scikit-learn, which is not installed "
                       "(pip install scikit-learn)")
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.asarray(digits.data, np.float64) / 16.0, np.asarray(digits.target, np.int64)


def _read(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise BadInput(f"{path}: cannot be read ({e.__class__.__name__}: truncated or not gzip?)") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX array of unsigned bytes with `ndim` dimensions (magic 0x0000 08 ndim)."""
    raw = _read(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != ndim:
        raise BadInput(f"{path}: wrong magic number (expected 0x000008{ndim:02x}: unsigned bytes, {ndim}-d)")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise BadInput(f"{path}: truncated header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims))
    if len(raw) - head != size:
        raise BadInput(f"{path}: holds {len(raw) - head} bytes of data, its header says {size} (truncated?)")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


def _find(folder: Path, stem: str, name: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise BadInput(f"{name}: {stem}[.gz] not found in {folder}; get it from {SOURCES[name]}")


def _idx(name: str, folder: Path, files=IDX_FILES) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(_find(folder, files[0], name), 3)
    labels = read_idx(_find(folder, files[1], name), 1)
    if len(images) != len(labels):
        raise BadInput(f"{name}: {len(images)} images but {len(labels)} labels in {folder}")
    return images.reshape(len(images), -1), labels.astype(np.int64), [images.shape[1], images.shape[2], 1]


def _cifar_folder(name: str, folder: Path) -> Path:
    sub = folder / ("cifar-10-batches-bin" if name == "cifar10" else "cifar-100-binary")
    return sub if sub.is_dir() else folder


def _cifar(name: str, folder: Path, test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    where = _cifar_folder(name, folder)
    if test:
        files = ["test_batch.bin"] if name == "cifar10" else ["test.bin"]
    else:
        files = [f"data_batch_{i}.bin" for i in range(1, 6)] if name == "cifar10" else ["train.bin"]
    labels_per_record = 1 if name == "cifar10" else 2  # CIFAR-100: coarse then fine label
    record = labels_per_record + 3072
    xs, ys = [], []
    for fname in files:
        path = where / fname
        if not path.is_file():
            raise BadInput(f"{name}: {fname} not found in {where}; get it from {SOURCES[name]} "
                           "(the binary version; the pickled Python version is never read)")
        raw = np.fromfile(path, np.uint8)
        if raw.size == 0 or raw.size % record:
            raise BadInput(f"{path}: {raw.size} bytes is not a whole number of {record}-byte records "
                           f"(wrong file or truncated)")
        rows = raw.reshape(-1, record)
        ys.append(rows[:, labels_per_record - 1].astype(np.int64))  # the fine label for CIFAR-100
        planes = rows[:, labels_per_record:].reshape(-1, 3, 32, 32)  # stored R, G, B planes
        xs.append(planes.transpose(0, 2, 3, 1).reshape(len(rows), -1))  # flattened (H, W, C), uint8
    return np.concatenate(xs), np.concatenate(ys), [32, 32, 3]


def official_test_present(name: str, folder: Path) -> bool:
    """Whether the data set's official test files are in `folder` (MNIST/Fashion-MNIST `t10k-*`,
    CIFAR-10 `test_batch.bin`, CIFAR-100 `test.bin`); the digits have none."""
    if name in ("mnist", "fashion-mnist"):
        return all((folder / s).is_file() or (folder / f"{s}.gz").is_file() for s in IDX_TEST_FILES)
    if name in ("cifar10", "cifar100"):
        return (_cifar_folder(name, folder) / ("test_batch.bin" if name == "cifar10" else "test.bin")).is_file()
    return False


def _official_test(name: str, folder: Path, image: list) -> tuple[np.ndarray, np.ndarray]:
    """The official test images and labels, checked against the training images' shape."""
    x, labels, test_image = (_idx(name, folder, IDX_TEST_FILES) if name in ("mnist", "fashion-mnist")
                             else _cifar(name, folder, test=True))
    if list(test_image) != list(image):
        raise BadInput(f"{name}: the official test images are {test_image[0]}x{test_image[1]}x{test_image[2]}, "
                       f"the training images {image[0]}x{image[1]}x{image[2]} (mismatched files in {folder})")
    return x, labels


def load(name: str, data_dir: str | Path | None, n: int | None, test_fraction: float, seed: int,
         test_set: str = "auto"):
    """A classification `Dataset` (one-hot y) with its test set in x_test / y_test: the official
    test files (`test_set` "official", or "auto" when they are present) or `test_fraction` of the
    training files held out ("split", or "auto" without them). `n` counts training points."""
    if test_set not in TEST_SETS:
        raise BadInput(f"--test-set must be one of {', '.join(TEST_SETS)}, got {test_set!r}")
    if not 0 <= test_fraction < 1:
        raise BadInput(f"--test-fraction must be in [0, 1), got {test_fraction}")
    folder = None
    if name == "digits":
        x, labels = _digits()
        image = [8, 8, 1]
        source = "scikit-learn's digits (8x8, pixels / 16)"
        if test_set == "official":
            raise BadInput("digits has no official test set; use --test-set split")
    else:
        if data_dir is None:
            raise BadInput(f"{name} is read from local files: give --data-dir (see {SOURCES[name]})")
        folder = Path(data_dir)
        if not folder.is_dir():
            raise BadInput(f"--data-dir {folder} does not exist or is not a folder")
        x, labels, image = (_idx(name, folder) if name in ("mnist", "fashion-mnist") else _cifar(name, folder))
        source = f"{name} from {folder} (pixels / 255)"
    classes = CLASSES[name]
    if labels.min() < 0 or labels.max() >= classes:
        raise BadInput(f"{name}: labels outside 0..{classes - 1} (wrong file?)")
    official = folder is not None and (test_set == "official" or
                                       (test_set == "auto" and official_test_present(name, folder)))
    if test_set == "official" and not official_test_present(name, folder):
        raise BadInput(f"{name}: --test-set official needs the official test files in {folder} "
                       f"({' and '.join(IDX_TEST_FILES) if name in ('mnist', 'fashion-mnist') else 'test_batch.bin / test.bin'})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    if official:
        x_test, labels_test = _official_test(name, folder, image)
        if labels_test.min() < 0 or labels_test.max() >= classes:
            raise BadInput(f"{name}: official test labels outside 0..{classes - 1} (wrong file?)")
        train_idx = order
    else:
        n_test = int(round(test_fraction * len(order)))
        test, train_idx = order[:n_test], order[n_test:]
        x_test, labels_test = x[test], labels[test]
    if n is not None:
        if n < 1:
            raise BadInput(f"--n must be at least 1, got {n}")
        if n > len(train_idx):
            raise BadInput(f"--n {n} is more than the {len(train_idx)} training points of {name}")
        train_idx = train_idx[:n]  # --n counts training points
    onehot = np.eye(classes)
    spec = {"name": name, "n": int(len(train_idx)), "n_test": int(len(labels_test)), "classes": classes, "seed": seed,
            "test_set": "official" if official else "split",
            "test_fraction": None if official else test_fraction, "normalization": "pixels scaled to [0, 1]",
            "source": source, "image": image,
            "layout": "each row is an image flattened in (row, column, channel) order"}
    # pixel files: float32 pixels / 255 (exact to 1e-8, half the memory of float64 at MNIST size), divided as
    # float32 into one new array (the same numbers as a cast then a division, without a second image-sized array)
    scale = ((lambda a: np.asarray(a, np.float64)) if folder is None
             else (lambda a: np.divide(a, np.float32(255), dtype=np.float32)))
    return Dataset(scale(x[train_idx]), onehot[labels[train_idx]], spec,
                   x_test=scale(x_test), y_test=onehot[labels_test])
