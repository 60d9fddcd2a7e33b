"""What a finished run says in numbers: `train_summary(result, out)`, the `--json` of `condense train`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import finite_or_none
from ..measure.condensation import relative_distance


def train_summary(result, out: Path) -> dict:
    loss0, lossT = result.loss[:, 0], result.loss[:, -1]
    ratio = lossT / np.where(loss0 > 0, loss0, np.nan)
    rd = [relative_distance(w[:, 0], w[:, -1]) for w in result.hidden]  # each (S,)
    p = result.meta["multiplicity"]
    summary = {
        "out": str(out),
        "steps": int(result.meta["steps_done"]),
        "loss_initial": finite_or_none(float(np.mean(loss0))),
        "loss_final": finite_or_none(float(np.mean(lossT))),
        "loss_ratio": finite_or_none(float(np.mean(ratio))),
        "rd": [finite_or_none(float(np.mean(r))) for r in rd],
        "multiplicity": p[0] if len(set(p)) == 1 else p,
        "seconds": round(float(result.meta["seconds"]), 3),
        "status": result.meta["status"],
        "failed_seeds": result.meta.get("failed_seeds", []),
    }
    if "train_acc" in result.extra:
        summary["train_acc"] = finite_or_none(float(np.mean(result.extra["train_acc"][:, -1])))
        summary["test_acc"] = finite_or_none(float(np.mean(result.extra["test_acc"][:, -1])))
    if len(loss0) > 1:
        summary["per_seed"] = {
            "seed": result.meta["seeds"],
            "loss_final": [finite_or_none(float(v)) for v in lossT],
            "loss_ratio": [finite_or_none(float(v)) for v in ratio],
            "rd": [[finite_or_none(float(v)) for v in r] for r in rd],
        }
    return summary


