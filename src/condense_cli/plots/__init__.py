"""Figures: `figures` (drawing primitives: each takes arrays, returns a matplotlib Figure, never
trains, never shows) and `assemble` (each command's figures from its results)."""
from __future__ import annotations

from .assemble import analysis_figures, phase_figures
from .figures import (cosine_heatmap, loss_curve, training_series, feature_map, count_vs_tolerance, direction_field, output_fit, phase_diagram, rd_vs_width, rd_vs_width_rows, heatmap_grid, loss_comparison, accuracy_curves, hessian_spectra, checkpoint_series, recovery_curves, loss_distribution)

FIGURES = ("cosine_heatmap", "loss_curve", "training_series", "feature_map", "count_vs_tolerance", "direction_field", "output_fit", "phase_diagram", "rd_vs_width", "rd_vs_width_rows", "heatmap_grid", "loss_comparison", "accuracy_curves", "hessian_spectra", "checkpoint_series", "recovery_curves", "loss_distribution")  # the drawing primitives


def draw(plot):
    """The Figure of a reproduction's `Plot` spec (its `PlotKind` names one of `FIGURES`)."""
    name = plot.kind.value
    if name not in FIGURES:
        raise ValueError(f"no drawing primitive {name!r}")
    return globals()[name](**plot.args)

__all__ = ["analysis_figures", "phase_figures", "draw", "FIGURES", "accuracy_curves", "cosine_heatmap", "loss_curve", "training_series", "feature_map", "count_vs_tolerance", "direction_field", "output_fit", "phase_diagram", "rd_vs_width", "rd_vs_width_rows", "heatmap_grid", "loss_comparison", "hessian_spectra", "checkpoint_series", "recovery_curves", "loss_distribution"]
