"""What a network learns: the `Dataset` every data source returns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """x: (n, d), y: (n, d_out), float64 (images read from pixel files: x float32, pixels / 255); `spec` is JSON-able and goes into run metadata.
    Classification sets (one-hot y) also carry a held-out x_test, y_test."""

    x: np.ndarray
    y: np.ndarray
    spec: dict
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def classification(self) -> bool:
        return "classes" in self.spec
