"""Reproductions of published figures, one module per paper (`initial_condensation`, `overview`,
`luo`, `zhang2024`, `embedding_principle`, `optimistic_estimate`), each figure declared beside its function with its claim, criterion, settings
and citation; the criteria in `criteria`; what they share in `base`; the report in `report`.
`reproduce(figure_id, quick, seeds)` runs one and returns a `Reproduction`."""
from __future__ import annotations

import dataclasses

from . import initial_condensation, overview, zhang2024, luo, embedding_principle, optimistic_estimate  # noqa: F401  (each registers its figures, in this order)
from ..command_defaults import REPRODUCE
from .base import FIGURES, Ablation, Figure, Reproduction
from .criteria import READINGS, judge_count, judge_degree, judge_field, judge_growth, judge_slope, reading, regime_of
from .criteria import _with_legend
from .report import write_report

__all__ = ["FIGURES", "READINGS", "Figure", "Reproduction", "judge_count", "judge_degree", "judge_field",
           "judge_growth", "judge_slope", "reading", "regime_of", "reproduce", "write_report"]


def reproduce(figure_id: str, quick: bool = REPRODUCE.quick, seeds: int = REPRODUCE.seeds,
              data_dir: str | None = None) -> Reproduction:
    """Run one reproduction; the title, source, claim, criterion and settings come from `FIGURES`.
    `data_dir` goes to the figures that read real data (the others do not take it)."""
    if figure_id not in FIGURES:
        from ..errors import BadInput

        raise BadInput(f"unknown figure {figure_id!r}; choose one of: {', '.join(FIGURES)}")
    fig = FIGURES[figure_id]
    rep = fig.run(quick, seeds, data_dir=data_dir) if fig.data else fig.run(quick, seeds)
    return dataclasses.replace(
        rep, figure=fig.id, title=fig.title, paper=fig.paper, criterion=fig.criterion, settings=fig.settings,
        measured=_with_legend(rep.measured), measured_fixed=_with_legend(rep.measured_fixed),
        ablations=[dataclasses.replace(a, measured=_with_legend(a.measured)) for a in rep.ablations],
        details={**rep.details, "source": fig.source})
