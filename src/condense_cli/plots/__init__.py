"""Figures: `figures` (drawing primitives: each takes arrays, returns a matplotlib Figure, never
trains, never shows) and `assemble` (each command's figures from its results). `draw(plot)`
draws a reproduction's `Plot` spec with the primitive its `PlotKind` names (`PRIMITIVES`)."""
from __future__ import annotations

from .assemble import analysis_figures, phase_figures
from .figures import (accuracy_curves, checkpoint_series, cosine_heatmap, count_vs_tolerance, direction_field,
                      feature_map, heatmap_grid, hessian_spectra, loss_comparison, loss_curve, loss_distribution,
                      output_fit, phase_diagram, rd_vs_width, rd_vs_width_rows, recovery_curves, training_series)

# the drawing primitives by name (a `PlotKind`'s value names one)
PRIMITIVES = {f.__name__: f for f in (
    cosine_heatmap, loss_curve, training_series, feature_map, count_vs_tolerance, direction_field, output_fit,
    phase_diagram, rd_vs_width, rd_vs_width_rows, heatmap_grid, loss_comparison, accuracy_curves, hessian_spectra,
    checkpoint_series, recovery_curves, loss_distribution)}
FIGURES = tuple(PRIMITIVES)


def draw(plot):
    """The Figure of a reproduction's `Plot` spec (its `PlotKind` names one of `PRIMITIVES`)."""
    primitive = PRIMITIVES.get(plot.kind.value)
    if primitive is None:
        raise ValueError(f"no drawing primitive {plot.kind.value!r}")
    return primitive(**plot.args)


__all__ = ["analysis_figures", "phase_figures", "draw", "FIGURES", "PRIMITIVES", *PRIMITIVES]
