"""Training data: the papers' named targets and a user's own NPZ or CSV file.

`make(name, n=None, seed=0)` returns `Dataset(x (n, d), y (n, d_out), description)` as float64
NumPy arrays; `load_file(path)` reads arrays `x`, `y` from an NPZ (no pickles) or a CSV whose
last column is y. Every failure is a one-line `BadInput`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import BadInput


@dataclass(frozen=True)
class Dataset:
    """x: (n, d), y: (n, d_out), both float64; `spec` is JSON-able and goes into run metadata.
    Classification sets (one-hot y) also carry a held-out x_test, y_test."""

    x: np.ndarray
    y: np.ndarray
    spec: dict
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def classification(self) -> bool:
        return "classes" in self.spec


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _uniform(rng: np.random.Generator, n: int, d: int, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, size=(n, d))


def _even(n: int, lo: float, hi: float) -> np.ndarray:
    return np.linspace(lo, hi, n)[:, None]


@dataclass(frozen=True)
class _Named:
    n: int
    text: str
    make: Callable[[np.random.Generator, int], np.ndarray]  # returns x
    target: Callable[[np.ndarray], np.ndarray]  # x (n, d) -> y (n,)


NAMED: dict[str, _Named] = {
    "sin5d": _Named(80, "x ~ U[-4,2]^5, y = sum_k 3.5 sin(5 x_k + 1) (initial-condensation Fig. 2)",
                    lambda r, n: _uniform(r, n, 5, -4, 2),
                    lambda x: (3.5 * np.sin(5 * x + 1)).sum(1)),
    "sin5d-low": _Named(80, "x ~ U[-4,2]^5, y = sum_k 3.5 sin(2 x_k + 1) (initial-condensation Fig. 4a)",
                        lambda r, n: _uniform(r, n, 5, -4, 2),
                        lambda x: (3.5 * np.sin(2 * x + 1)).sum(1)),
    "sin3d": _Named(80, "x ~ U[-4,2]^3, y = sum_k 4 sin(12 x_k + 1) (initial-condensation Fig. 3)",
                    lambda r, n: _uniform(r, n, 3, -4, 2),
                    lambda x: (4 * np.sin(12 * x + 1)).sum(1)),
    "sin1d": _Named(40, "x evenly on [-1, 1.5], y = sin 3x + sin(6x)/2 (initial-condensation Figs. 5-6)",
                    lambda r, n: _even(n, -1, 1.5),
                    lambda x: (np.sin(3 * x) + 0.5 * np.sin(6 * x))[:, 0]),
    "relu-combo": _Named(40, "x evenly on [-1, 1], y = -r(x)+r(2(x+0.3))-r(1.5(x-0.4))+r(0.5(x-0.8)), "
                             "r = ReLU (overview Fig. 1)",
                         lambda r, n: _even(n, -1, 1),
                         lambda x: (-_relu(x) + _relu(2 * (x + 0.3)) - _relu(1.5 * (x - 0.4))
                                    + _relu(0.5 * (x - 0.8)))[:, 0]),
    "tanh1d": _Named(40, "x evenly on [-15, 15], y = tanh x (overview Fig. 2)",
                     lambda r, n: _even(n, -15, 15),
                     lambda x: np.tanh(x)[:, 0]),
    "sin1": _Named(40, "x evenly on [-pi, pi], y = sin x (overview Fig. 6)",
                   lambda r, n: _even(n, -np.pi, np.pi),
                   lambda x: np.sin(x)[:, 0]),
    "phase4": _Named(4, "x = -1, -1/3, 1/3, 1 with y = sin(3x): the small 1-d problem of the phase diagram",
                     lambda r, n: _even(n, -1, 1),
                     lambda x: np.sin(3 * x)[:, 0]),
}


def make(name: str, n: int | None = None, seed: int = 0) -> Dataset:
    """The named data set with n points (its paper's n by default), x drawn with `seed`."""
    if name not in NAMED:
        from .realdata import REAL

        raise BadInput(f"unknown data set {name!r}; choose one of: {', '.join(NAMED)}, "
                       f"{', '.join(REAL)} or give a .npz/.csv file")
    spec = NAMED[name]
    n = spec.n if n is None else n
    if n < 1:
        raise BadInput(f"--n must be at least 1, got {n}")
    x = spec.make(np.random.default_rng(seed), n).astype(np.float64)
    y = spec.target(x)[:, None].astype(np.float64)
    return Dataset(x, y, {"name": name, "n": n, "seed": seed, "description": spec.text})


def _check(x: np.ndarray, y: np.ndarray, path: Path) -> Dataset:
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise BadInput(f"{path}: x and y must be 1-d or 2-d arrays with the same number of rows "
                       f"(got x {x.shape}, y {y.shape})")
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number)):
        raise BadInput(f"{path}: x and y must be numeric arrays")
    x, y = x.astype(np.float64), y.astype(np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise BadInput(f"{path}: x and y must be finite (found NaN or inf)")
    return Dataset(x, y, {"name": "file", "path": str(path), "n": len(x)})


def load_file(path: str | Path) -> Dataset:
    """A user's data: NPZ with arrays `x` (n,) or (n, d) and `y` (n,) or (n, d_out), or a CSV
    (comma-separated, optional header line, last column y)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        from .io import load_arrays

        arrays = load_arrays(path, ("x", "y"))
        return _check(np.asarray(arrays["x"]), np.asarray(arrays["y"]), path)
    if suffix == ".csv":
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"{path}: cannot read ({e.__class__.__name__})") from None
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if lines and not _numeric_row(lines[0]):
            lines = lines[1:]
        try:
            table = np.array([[float(v) for v in ln.split(",")] for ln in lines], dtype=np.float64)
        except ValueError:
            raise BadInput(f"{path}: every row must be comma-separated numbers") from None
        if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] < 2:
            raise BadInput(f"{path}: need at least one row of two or more columns (x..., y)")
        return _check(table[:, :-1], table[:, -1], path)
    raise BadInput(f"{path}: data file must end in .npz or .csv")


def _numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
        return True
    except ValueError:
        return False


def resolve(data: str, n: int | None = None, seed: int = 0, data_dir: str | None = None,
            test_fraction: float = 0.2) -> Dataset:
    """A named data set, a real classification set (`realdata.REAL`, read from `data_dir`, with
    `test_fraction` held out), or a file when `data` ends in .npz/.csv (`n` subsets the first n)."""
    from .realdata import REAL, load

    if data in REAL:
        return load(data, data_dir, n, test_fraction, seed)
    if data.lower().endswith((".npz", ".csv")):
        ds = load_file(data)
        if n is not None:
            if n < 1:
                raise BadInput(f"--n must be at least 1, got {n}")
            ds = Dataset(ds.x[:n], ds.y[:n], {**ds.spec, "n": min(n, len(ds.x))})
        return ds
    return make(data, n, seed)
