"""Figures: `figures` (drawing primitives: each takes arrays, returns a matplotlib Figure, never
trains, never shows) and `assemble` (each command's figures from its results)."""
from __future__ import annotations

from .assemble import analysis_figures, phase_figures
from .figures import (cosine_heatmap, loss_curve, training_series, feature_map, count_vs_tolerance, direction_field, output_fit, phase_diagram, rd_vs_width, rd_vs_width_rows, heatmap_grid, loss_comparison, accuracy_curves)

FIGURES = ("cosine_heatmap", "loss_curve", "training_series", "feature_map", "count_vs_tolerance", "direction_field", "output_fit", "phase_diagram", "rd_vs_width", "rd_vs_width_rows", "heatmap_grid", "loss_comparison", "accuracy_curves",)  # what a reproduction's figure spec may name

__all__ = ["analysis_figures", "phase_figures", "FIGURES", "cosine_heatmap", "loss_curve", "training_series", "feature_map", "count_vs_tolerance", "direction_field", "output_fit", "phase_diagram", "rd_vs_width", "rd_vs_width_rows", "heatmap_grid", "loss_comparison"]
