"""Resuming a sweep: each finished width is one part file; `width_arrays` / `width_from_arrays`
turn a `WidthResult` into its arrays and back (None when anything is missing or malformed)."""
from __future__ import annotations

import numpy as np

from .fits import WidthResult


def width_arrays(part: WidthResult) -> dict[str, np.ndarray]:
    """A width's arrays for its resumable part file."""
    return {"rd": part.rd, "converged": part.converged, "diverged": part.diverged, "steps": part.steps,
            "final_loss": part.final_loss}


def width_from_arrays(m: int, arrays: dict, shape: tuple, seconds: float, point_steps: int = 0,
                      groups: tuple = ()) -> WidthResult | None:
    """A width back from its part file, or None when anything is missing or malformed."""
    try:
        parts = {k: np.asarray(arrays[k]) for k in ("rd", "converged", "diverged", "steps", "final_loss")}
    except KeyError:
        return None
    if any(v.shape != shape for v in parts.values()):
        return None
    if not np.issubdtype(parts["rd"].dtype, np.floating) or np.any(parts["rd"] < 0):
        return None
    return WidthResult(width=m, seconds=seconds, point_steps=point_steps, groups=tuple(groups), **parts)
