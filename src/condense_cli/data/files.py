"""A user's own data file: NPZ with arrays `x`, `y` (read without pickles) or a CSV whose last
column is y. `load_file(path)` returns a `Dataset`; every fault is a one-line `BadInput`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..io import load_arrays, require_file
from .dataset import Dataset


def _check(x: np.ndarray, y: np.ndarray, path: Path) -> Dataset:
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise BadInput(f"{path}: x and y must be 1-d or 2-d arrays with the same number of rows "
                       f"(got x {x.shape}, y {y.shape})")
    if x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu":
        raise BadInput(f"{path}: x and y must be arrays of real numbers (got {x.dtype} and {y.dtype})")
    x, y = x.astype(np.float64), y.astype(np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise BadInput(f"{path}: x and y must be finite (found NaN or inf)")
    return Dataset(x, y, {"name": "file", "path": str(path), "n": len(x)})


def load_file(path: str | Path) -> Dataset:
    """A user's data: NPZ with arrays `x` (n,) or (n, d) and `y` (n,) or (n, d_out), or a CSV
    (comma-separated, optional header line, last column y)."""
    path = require_file(path, "data file")
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
        header = None
        if lines and not any(_is_number(v) for v in lines[0].split(",")):  # a header holds no number at all
            header, lines = lines[0], lines[1:]
        rows = []
        for i, ln in enumerate(lines, 2 if header is not None else 1):
            try:
                rows.append([float(v) for v in ln.split(",")])
            except ValueError:
                raise BadInput(f"{path}: row {i} is not comma-separated numbers: {ln[:60]!r}") from None
        if len({len(r) for r in rows}) > 1:
            raise BadInput(f"{path}: rows have different numbers of columns")
        table = np.array(rows, dtype=np.float64)
        if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] < 2:
            raise BadInput(f"{path}: need at least one row of two or more columns (x..., y)")
        ds = _check(table[:, :-1], table[:, -1], path)
        if header is not None:
            ds.spec["skipped_header"] = header[:200]
        return ds
    raise BadInput(f"{path}: data file must end in .npz or .csv")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
