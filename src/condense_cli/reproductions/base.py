"""What every reproduction shares: `Reproduction` (what a run measured, beside the paper), `Figure`
(a figure's claim, criterion, settings and run), `FIGURES` and `register` (each paper module
declares its figures beside their functions), and the helpers the paper modules use to analyze
and describe their runs. Figures are described by `Plot` specs (file, `PlotKind`, arguments):
this package never imports matplotlib and never writes files."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

import numpy as np

from ..measure.analyze import AnalysisOptions, analyze
from ..measure.condensation import cosine_matrix, layer_condensation
from .criteria import RunVerdict, reading


@dataclass(frozen=True)
class Ablation:
    """The same criterion on a changed setting: what changed, where that setting comes from, what
    was measured, and how many of `total` runs agree."""

    setting: str
    source: str
    measured: str
    agree: int
    total: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Reproduction:
    """What a reproduction measured against the paper's result: the counts of agreeing runs
    under the persistent count and the fixed reading, each run's entry, ablations, plot specs."""

    figure: str
    title: str
    paper: str
    measured: str  # under the persistent count
    agree: int
    total: int
    details: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)  # Plot specs the command draws
    measured_fixed: str = ""  # the same under the fixed 0.95 reading
    agree_fixed: int | None = None
    ablations: list[Ablation] = field(default_factory=list)
    criterion: str = ""
    settings: str = ""
    runs: list[RunVerdict] = field(default_factory=list)  # per run, under the persistent count; agree adds up to `agree`

    def to_json(self) -> dict:
        """The reproduction's entry in `condense reproduce --json` (the command adds the seconds
        and the figure files it wrote; `details` last)."""
        return {"figure": self.figure, "title": self.title, "source": self.details.get("source"),
                "paper": self.paper, "criterion": self.criterion, "settings": self.settings,
                "measured": self.measured, "agree": self.agree, "total": self.total,
                "measured_fixed": self.measured_fixed, "agree_fixed": self.agree_fixed,
                "ablations": [a.to_json() for a in self.ablations], "runs": [r.to_json() for r in self.runs],
                "details": _plain(self.details)}


def _plain(obj):
    """`obj` with every typed entry in it (a `RunVerdict` in a figure's rows) as its JSON dict."""
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    source: str
    paper: str
    criterion: str
    settings: str
    run: Callable[..., Reproduction]  # run(quick, seeds), plus data_dir= when `data`
    data: bool = False  # reads real data: takes --data-dir
    quick: str | None = None  # what --quick makes cheaper; None: no cheaper version (already the paper's short run)


class PlotKind(Enum):
    """The drawing primitives of `condense_cli.plots` a reproduction may ask for (value: its name there)."""

    HEATMAP_GRID = "heatmap_grid"
    LOSS_COMPARISON = "loss_comparison"
    RD_VS_WIDTH = "rd_vs_width"
    OUTPUT_FIT = "output_fit"
    DIRECTION_FIELD = "direction_field"
    TRAINING_SERIES = "training_series"
    FEATURE_MAP = "feature_map"
    HESSIAN_SPECTRA = "hessian_spectra"
    RECOVERY_CURVES = "recovery_curves"
    LOSS_DISTRIBUTION = "loss_distribution"


@dataclass(frozen=True)
class Plot:
    """One figure of a reproduction: `file` (name without extension), the primitive `kind`, and the
    keyword arguments it is drawn with (`plots.draw(plot)` draws it; this package never does)."""

    file: str
    kind: PlotKind
    args: dict = field(repr=False)

    def __post_init__(self):
        if not isinstance(self.kind, PlotKind):
            raise TypeError(f"Plot kind must be a PlotKind, got {self.kind!r}")


FIGURES: dict[str, Figure] = {}  # in the order the paper modules register them


def register(figure: Figure) -> Figure:
    """Declare a reproducible figure (its id must be new)."""
    if figure.id in FIGURES:
        raise ValueError(f"figure {figure.id!r} is registered twice")
    FIGURES[figure.id] = figure
    return figure


def _heatmap_panel(W: np.ndarray, title: str, min_norm: float = 0.1) -> dict:
    lc = layer_condensation(W, min_norm=min_norm, curve=False)
    return {"title": title, "D": cosine_matrix(lc.unit[lc.order]), "blocks": lc.labels[lc.order]}


def _per_seed(run, at: str, **opts) -> list[dict]:
    return [s.to_json() for s in analyze(run, AnalysisOptions(at=at, **opts)).seeds]


def _fmt_counts(values) -> str:
    return ", ".join(str(v) for v in values)


def _fmt_reading(layers: list[dict], which: str) -> str:
    """'directions/lines' per seed, a layer that is not condensed marked with *."""
    return ", ".join("{}/{}".format(*reading(layer, which)) + ("" if layer["condensed"] else "*") for layer in layers)
