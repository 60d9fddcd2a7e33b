"""A user's own data file: NPZ with arrays `x`, `y` (read without pickles) or a CSV whose last
column is y. `load_file(path)` returns a `Dataset`; every fault is a one-line `BadInput`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..io import load_arrays
from .dataset import Dataset


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
