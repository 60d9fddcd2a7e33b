"""The phase diagram (Luo et al. 2021): `config` (the sweep and its default grid), `engine` (RD of
every point at each width, `sweep`), `fits` (slopes, regimes, boundaries, agreement), `resume`
(finished widths saved and read back)."""
from __future__ import annotations

from .config import ENGINE_VERSION, PhaseConfig, parse_values
from .engine import group_size, group_sizes, initial_weights, run_width, sweep
from .fits import (REGIMES, PhaseResult, WidthResult, agreement, boundary_distance, classify, combine, measured_boundary,
                   slopes, theory_boundary, theory_regime)
from .resume import load_finished, run_sweep, save_part, width_arrays, width_from_arrays

__all__ = ["ENGINE_VERSION", "PhaseConfig", "PhaseResult", "REGIMES", "WidthResult", "agreement",
           "boundary_distance", "classify", "combine", "group_size", "group_sizes", "initial_weights",
           "measured_boundary", "parse_values", "run_width", "slopes", "sweep", "theory_boundary",
           "theory_regime", "width_arrays", "width_from_arrays", "load_finished", "run_sweep", "save_part"]
