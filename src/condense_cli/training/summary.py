"""What a finished run says in numbers: `summarize(result, out) -> TrainSummary` (typed; its
`to_json()` is the `--json` of `condense train`, field for field), and `train_summary(result, out)`
that dict itself. Means are over seeds; `seeds` holds one `SeedSummary` per seed, whatever their
number."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import finite_or_none
from ..measure.condensation import relative_distance


@dataclass(frozen=True)
class SeedSummary:
    """One seed: its final loss, loss ratio and the RD of each hidden layer."""

    seed: int
    loss_final: float | None
    loss_ratio: float | None
    rd: tuple[float | None, ...]


@dataclass(frozen=True)
class TrainSummary:
    """A run in numbers: where it was written, steps done, the losses and RD (means over seeds),
    the multiplicity p of each hidden layer (None: undefined), the time, how it ended, the accuracies (classification
    only, else None) and every seed's own numbers (`seeds`)."""

    out: str
    steps: int
    loss_initial: float | None
    loss_final: float | None
    loss_ratio: float | None
    rd: tuple[float | None, ...]
    multiplicity: tuple[int | None, ...]  # one per hidden layer, whatever their number
    seconds: float
    status: str
    failed_seeds: tuple[dict, ...]
    seeds: tuple[SeedSummary, ...]
    train_acc: float | None = None
    test_acc: float | None = None
    classification: bool = False

    def to_json(self) -> dict:
        """The `--json` object of `condense train` (per-seed lists only with several seeds; the
        multiplicity one number when every layer has the same, else one per layer)."""
        p = self.multiplicity
        out = {"out": self.out, "steps": self.steps, "loss_initial": self.loss_initial, "loss_final": self.loss_final,
               "loss_ratio": self.loss_ratio, "rd": list(self.rd), "multiplicity": p[0] if len(set(p)) == 1 else list(p),
               "seconds": self.seconds, "status": self.status, "failed_seeds": list(self.failed_seeds)}
        if self.classification:
            out["train_acc"], out["test_acc"] = self.train_acc, self.test_acc
        if len(self.seeds) > 1:
            out["per_seed"] = {"seed": [s.seed for s in self.seeds], "loss_final": [s.loss_final for s in self.seeds],
                               "loss_ratio": [s.loss_ratio for s in self.seeds],
                               "rd": [[s.rd[l] for s in self.seeds] for l in range(len(self.rd))]}
        return out


def summarize(result, out: Path | str) -> TrainSummary:
    """The `TrainSummary` of a `TrainResult` written to `out`."""
    loss0, lossT = result.loss[:, 0], result.loss[:, -1]
    ratio = lossT / np.where(loss0 > 0, loss0, np.nan)
    rd = [relative_distance(w[:, 0], w[:, -1]) for w in result.hidden]  # each (S,)
    p = result.meta["multiplicity"]
    seeds = result.meta.get("seeds") or list(range(len(loss0)))
    classification = "train_acc" in result.extra
    return TrainSummary(
        out=str(out), steps=int(result.meta["steps_done"]),
        loss_initial=finite_or_none(float(np.mean(loss0))), loss_final=finite_or_none(float(np.mean(lossT))),
        loss_ratio=finite_or_none(float(np.mean(ratio))), rd=tuple(finite_or_none(float(np.mean(r))) for r in rd),
        multiplicity=tuple(p), seconds=round(float(result.meta["seconds"]), 3),
        status=result.meta["status"], failed_seeds=tuple(result.meta.get("failed_seeds", [])),
        seeds=tuple(SeedSummary(seed=seeds[s], loss_final=finite_or_none(float(lossT[s])),
                                loss_ratio=finite_or_none(float(ratio[s])),
                                rd=tuple(finite_or_none(float(r[s])) for r in rd)) for s in range(len(loss0))),
        train_acc=finite_or_none(float(np.mean(result.extra["train_acc"][:, -1]))) if classification else None,
        test_acc=finite_or_none(float(np.mean(result.extra["test_acc"][:, -1]))) if classification else None,
        classification=classification)


def train_summary(result, out: Path | str) -> dict:
    """`summarize(result, out).to_json()`: the `--json` of `condense train`."""
    return summarize(result, out).to_json()
