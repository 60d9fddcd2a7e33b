"""The typed result of `analyze`: `Analysis` holds one `SeedAnalysis` per seed (always a tuple, one
seed or many), each holding one `LayerAnalysis` per analyzed layer. `Analysis.to_json()` is the
`--json` object of `condense analyze`, field for field; the NPZ arrays and the data the figures
need ride along without entering the JSON.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LayerAnalysis:
    """One hidden layer of one seed at the analyzed step. `measure` is the measure's own report
    (persistent and fixed readings, verdict statistics); `clusters`/`line_clusters` list each
    cluster's size, share and whether it is counted; `held` the runs of the initial stage where
    the layer was condensed within 2p; `theory` the stable lines of the field (None where not
    evaluated, with `theory_note` saying why)."""

    layer: int
    activation: str
    multiplicity: int | None
    bound: int | None
    neurons: int
    kept: int
    left_out: int
    nonfinite: int
    clustered: int
    directions: int
    lines: int
    condensed: bool
    coverage: float
    measure: dict
    clusters: list
    line_clusters: list
    rd: float | None
    within_bound: bool | None
    held: dict
    theory: dict | None
    theory_note: str | None
    outputs: dict | None
    note: str | None
    bound_note: str | None

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Series:
    """One seed's measure at every recorded step: arrays (K,) per step, (L, K) per analyzed layer."""

    step: np.ndarray
    directions: np.ndarray
    lines: np.ndarray
    condensed: np.ndarray
    persistence: np.ndarray
    rd: np.ndarray
    model_rank: np.ndarray | None = None  # (K,) the Jacobian's rank per snapshot (−1: not computed); None: off

    def to_json(self) -> dict:
        out = {"step": self.step.tolist(), "directions": self.directions.tolist(), "lines": self.lines.tolist(),
               "condensed": self.condensed.tolist(), "persistence": np.round(self.persistence, 6).tolist()}
        if self.model_rank is not None:
            out["model_rank"] = [None if r < 0 else int(r) for r in self.model_rank]
        return out


@dataclass(frozen=True)
class SeedAnalysis:
    """One seed: the analyzed step and why it was chosen, the loss there, its stage, its layers,
    its series over training, and for 1-d input of the first seed the output's polynomial fit."""

    seed: int
    step: int
    why: str
    loss: float
    loss_ratio: float | None
    stage: str
    layers: tuple[LayerAnalysis, ...]
    series: Series = field(repr=False, compare=False)
    one_d: dict | None = None
    model_rank: dict | None = None  # {rank, tol, points, narrow_rank, ...} at the step (None: not computed)

    def layer(self, l: int) -> LayerAnalysis:
        """The analyzed hidden layer l (1-based, as in the run)."""
        for e in self.layers:
            if e.layer == l:
                return e
        raise KeyError(f"layer {l} was not analyzed (analyzed: {[e.layer for e in self.layers]})")

    def to_json(self) -> dict:
        out = {"seed": self.seed, "step": self.step, "why": self.why, "loss": self.loss,
               "loss_ratio": self.loss_ratio, "stage": self.stage, "layers": [e.to_json() for e in self.layers]}
        if self.one_d is not None:
            out["one_d"] = self.one_d
        if self.model_rank is not None:
            out["model_rank"] = self.model_rank
        return out


@dataclass(frozen=True)
class Analysis:
    """A run's analysis: `seeds` (one `SeedAnalysis` each), the options it used, and for the
    writers `arrays` (the analysis NPZ) and `plot_data` (what `plots.analysis_figures` draws, first
    seed). `file` is the run file analyzed (None for an in-memory run); `outputs` the files a
    command wrote (None when nothing was written)."""

    seeds: tuple[SeedAnalysis, ...]
    options: object  # AnalysisOptions
    optimizer: str | None
    arrays: dict = field(repr=False, compare=False)
    plot_data: dict = field(repr=False, compare=False)
    file: str | None = None
    outputs: tuple[str, ...] | None = None

    @property
    def first(self) -> SeedAnalysis:
        return self.seeds[0]

    @property
    def layers(self) -> tuple[LayerAnalysis, ...]:
        """The first seed's layers (the ones the table and figures show)."""
        return self.seeds[0].layers

    def to_json(self) -> dict:
        """The `--json` object of `condense analyze`."""
        first = self.seeds[0]
        acts = [e.activation for e in first.layers]
        mult = [e.multiplicity for e in first.layers]
        bounds = [e.bound for e in first.layers]
        one = len(set(mult)) == 1
        out = {
            "file": self.file,
            "activation": acts[0] if len(set(acts)) == 1 else acts,
            "multiplicity": mult[0] if one else mult,
            "bound": bounds[0] if one else bounds,
            "optimizer": self.optimizer,
            "step": first.step, "why": first.why, "loss_ratio": first.loss_ratio, "stage": first.stage,
            "layers": [e.to_json() for e in first.layers],
            "options": self.options.to_json(),
            "series": first.series.to_json(),
        }
        if first.one_d is not None:
            out["one_d"] = first.one_d
        if first.model_rank is not None:
            out["model_rank"] = first.model_rank
        if len(self.seeds) > 1:
            out["seeds"] = [s.to_json() for s in self.seeds]
            out["summary"] = self.summary()
        if self.outputs is not None:
            out["outputs"] = list(self.outputs)
        return out

    def summary(self) -> dict:
        """Counts per layer across seeds: each seed's directions, lines and verdict, the modes."""
        out = {"seeds": len(self.seeds), "layers": []}
        for j, e0 in enumerate(self.seeds[0].layers):
            per = [s.layers[j] for s in self.seeds]
            dirs, lines, cond = [e.directions for e in per], [e.lines for e in per], [e.condensed for e in per]
            out["layers"].append({
                "layer": e0.layer, "directions": dirs, "lines": lines, "condensed": cond,
                "directions_mode": int(np.bincount(dirs).argmax()),
                "lines_mode": int(np.bincount(lines).argmax()),
                "condensed_seeds": int(sum(cond)),
                "within_bound": int(sum(e.within_bound is True for e in per)),
            })
        return out
