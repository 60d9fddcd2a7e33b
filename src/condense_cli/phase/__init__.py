"""The phase diagram (Luo et al. 2021): `config` (the sweep and its default grid), `engine` (RD of
every point at each width, `sweep`), `fits` (slopes, regimes, boundaries, agreement), `resume`
(finished widths saved and read back). Names load on first use: `phase.config` imports no JAX,
so the CLI reads the default grid without starting it."""
from __future__ import annotations

import importlib

_WHERE = {
    "config": ("ENGINE_VERSION", "PhaseConfig", "parse_values"),
    "engine": ("group_size", "group_sizes", "initial_weights", "run_width", "sweep"),
    "fits": ("REGIMES", "PhaseResult", "WidthResult", "agreement", "boundary_distance", "classify", "combine",
             "measured_boundary", "slopes", "theory_boundary", "theory_regime"),
    "resume": ("load_finished", "run_sweep", "save_part", "width_arrays", "width_from_arrays"),
}
_LAZY = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
