"""Condensation measures on recorded weights (NumPy only).

- `relative_distance(w0, wt)`: RD = |θ(t) − θ(0)| / |θ(0)| over everything but the leading axis.
"""
from __future__ import annotations

import numpy as np


def relative_distance(w0: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """RD per leading index: w0, wt (S, ...) -> (S,); inf where θ(0) = 0 and θ moved."""
    w0 = np.asarray(w0, np.float64)
    wt = np.asarray(wt, np.float64)
    axes = tuple(range(1, w0.ndim))
    num = np.sqrt(np.sum((wt - w0) ** 2, axis=axes))
    den = np.sqrt(np.sum(w0 ** 2, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
