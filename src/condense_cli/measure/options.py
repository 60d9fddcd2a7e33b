"""How to analyze a run (`AnalysisOptions`): the moment, the layers and the stated tolerances. The
defaults here are the CLI's (`condense analyze` reads them), and this module imports no NumPy or
JAX so `--help` stays fast."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import BadInput


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyze a run: which moment, which layers, and the stated tolerances. `tol` None
    reports the persistent count; a cosine reports the count at that fixed tolerance."""

    at: str = "initial"  # "initial", "end", "most-condensed", or a recorded step number
    at_loss_ratio: float | None = None
    layers: tuple[int, ...] | None = None  # 1-based hidden layers; None: all
    min_norm: float = 0.1
    tol: float | None = None
    fixed_tol: float = 0.95
    min_share: float = 0.05
    min_coverage: float = 0.5
    fit_tol: float = 0.05
    stage_ratio: float = 0.7
    max_neurons: int = 2000
    series_max_neurons: int = 1000
    model_rank: bool = True  # the Jacobian's rank at the step and over training (fully connected networks)
    rank_points: int | None = None  # None: the training inputs; N: N inputs drawn from their range
    rank_tol: float = 1e-8  # relative: singular values ≤ rank_tol · σ_max count as zero

    def validate(self, n_layers: int) -> None:
        if not (0 <= self.min_norm < 1):
            raise BadInput(f"--min-norm must be in [0, 1), got {self.min_norm}")
        for name, t in (("--tol", self.tol), ("--fixed-tol", self.fixed_tol)):
            if t is not None and not (0 <= t <= 1):
                raise BadInput(f"{name} must be a cosine in [0, 1], got {t}")
        if not (0 < self.min_share <= 1):
            raise BadInput(f"--min-share must be in (0, 1], got {self.min_share}")
        if not (0 <= self.min_coverage <= 1):
            raise BadInput(f"--min-coverage must be in [0, 1], got {self.min_coverage}")
        if not (self.fit_tol > 0 and math.isfinite(self.fit_tol)):
            raise BadInput(f"--fit-tol must be positive, got {self.fit_tol}")
        if self.max_neurons < 3 or self.series_max_neurons < 3:
            raise BadInput("--max-neurons must be at least 3")
        if self.rank_points is not None and self.rank_points < 1:
            raise BadInput(f"--rank-points must be positive, got {self.rank_points}")
        if not (0 < self.rank_tol < 1):
            raise BadInput(f"--rank-tol must be in (0, 1), got {self.rank_tol}")
        r = self.at_loss_ratio
        if r is not None and not (0 < r < 1):
            raise BadInput(f"--at-loss-ratio must be in (0, 1), got {r}")
        if self.layers is not None:
            bad = [l for l in self.layers if not 1 <= l <= n_layers]
            if bad:
                raise BadInput(f"--layer {bad[0]} does not exist; the run has hidden layers 1..{n_layers}")

    def to_json(self) -> dict:
        """The `options` object of the `--json` report."""
        return {"at": self.at, "at_loss_ratio": self.at_loss_ratio, "tol": self.tol, "fixed_tol": self.fixed_tol,
                "count": "fixed" if self.tol is not None else "persistent", "min_norm": self.min_norm,
                "min_share": self.min_share, "min_coverage": self.min_coverage, "max_neurons": self.max_neurons,
                "series_max_neurons": self.series_max_neurons, "fit_tol": self.fit_tol,
                "stage_ratio": self.stage_ratio, "model_rank": self.model_rank, "rank_points": self.rank_points,
                "rank_tol": self.rank_tol}

    def measure(self, W, series: bool = False):
        """`layer_condensation` of W (m, fan_in + 1) with these options (cheaper for the series)."""
        from .condensation import layer_condensation

        return layer_condensation(W, tol=self.tol, min_norm=self.min_norm, min_share=self.min_share,
                                  fixed_tol=self.fixed_tol, min_coverage=self.min_coverage,
                                  max_neurons=self.series_max_neurons if series else self.max_neurons,
                                  curve=not series)
