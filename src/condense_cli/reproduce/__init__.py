"""Reproductions of published figures: `figures` (each figure's claim, settings, two-sided
criterion and run; `FIGURES`, `reproduce`, the `judge_*` criteria) and `report` (`write_report`)."""
from __future__ import annotations

from .figures import (FIGURES, READINGS, Figure, Reproduction, judge_count, judge_degree, judge_field, judge_growth,
                      judge_slope, reading, regime_of, reproduce)
from .report import write_report

__all__ = ["FIGURES", "READINGS", "Figure", "Reproduction", "judge_count", "judge_degree", "judge_field",
           "judge_growth", "judge_slope", "reading", "regime_of", "reproduce", "write_report"]
