"""The papers' named synthetic targets: `NAMED` and `make(name, n=None, seed=0)`, which returns a
`Dataset` with x (n, d) and y (n, 1) as float64 NumPy arrays (x drawn with `seed`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import BadInput
from .dataset import Dataset
from .images import REAL


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
                             "r = ReLU (overview Fig. 1; the overview does not state n)",
                         lambda r, n: _even(n, -1, 1),
                         lambda x: (-_relu(x) + _relu(2 * (x + 0.3)) - _relu(1.5 * (x - 0.4))
                                    + _relu(0.5 * (x - 0.8)))[:, 0]),
    "relu-kinks": _Named(4, "x evenly on [-1, 1], y = 0.2 r(x - 1/3) + 0.2 r(-x - 1/3), r = ReLU (the authors' "
                            "condensation notebook)",
                         lambda r, n: _even(n, -1, 1),
                         lambda x: (0.2 * _relu(x - 1 / 3) + 0.2 * _relu(-x - 1 / 3))[:, 0]),
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
        raise BadInput(f"unknown data set {name!r}; choose one of: {', '.join(NAMED)}, "
                       f"{', '.join(REAL)} or give a .npz/.csv file")
    spec = NAMED[name]
    n = spec.n if n is None else n
    if n < 1:
        raise BadInput(f"--n must be at least 1, got {n}")
    from ..io import gib, memory_budget

    d = spec.make(np.random.default_rng(seed), 1).shape[1]
    if 8 * n * (d + 1) > memory_budget():
        raise BadInput(f"--n {n:,} points need {gib(8 * n * (d + 1))}, more than the {gib(memory_budget())} this "
                       "machine allows")
    x = spec.make(np.random.default_rng(seed), n).astype(np.float64)
    y = spec.target(x)[:, None].astype(np.float64)
    return Dataset(x, y, {"name": name, "n": n, "seed": seed, "description": spec.text})
