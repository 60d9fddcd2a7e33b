"""Which recorded step of a run is meant: `choose_step(loss, steps, options)` reads `--at` and
`--at-loss-ratio` against a seed's loss (J,) and the recorded steps (K,); `first_below`,
`stage_end` find the initial stage; `recorded_index` a step by number. Depends on nothing but the
options, so training, reduction and the mechanisms can use it without the whole analysis."""
from __future__ import annotations

import numpy as np

from ..errors import BadInput
from .options import AnalysisOptions


def first_below(loss: np.ndarray, ratio: float, loss_step: np.ndarray | None = None) -> int | None:
    """The first step whose loss is at most ratio × loss[0], or None. `loss_step` (J,): the steps
    of the loss entries (None: entry t is step t)."""
    hit = np.flatnonzero(loss <= ratio * loss[0])
    if not len(hit):
        return None
    return int(hit[0]) if loss_step is None else int(loss_step[hit[0]])


def choose_step(loss: np.ndarray, steps: np.ndarray, options: AnalysisOptions,
                most_condensed: int | None = None, loss_step: np.ndarray | None = None) -> tuple[int, str]:
    """(index into `steps`, why) for one seed's loss (J,) at `loss_step` (J,; None: every step)
    and the recorded steps (K,). `most_condensed` is the index `--at most-condensed` takes (None:
    no snapshot condensed)."""
    at = str(options.at).strip().lower()
    if options.at_loss_ratio is not None:
        r = options.at_loss_ratio
        t = first_below(loss, r, loss_step)
        if t is None:
            return len(steps) - 1, f"last recorded step (the loss never fell to {r} of its initial value)"
        return stage_end(loss, steps, r, loss_step) - 1, f"last recorded step before the loss fell to {r} of its initial value (step {t})"
    if at == "end":
        return len(steps) - 1, "last recorded step (--at end)"
    if at == "initial":
        r = options.stage_ratio
        t = first_below(loss, r, loss_step)
        if t is None:
            return len(steps) - 1, f"last recorded step; the loss never fell to {r:.0%} of its initial value"
        return stage_end(loss, steps, r, loss_step) - 1, (f"last recorded step of the initial stage (the loss fell to {r:.0%} "
                                               f"of its initial value at step {t})")
    if at == "most-condensed":
        if most_condensed is None:
            k, why = choose_step(loss, steps, AnalysisOptions(stage_ratio=options.stage_ratio), loss_step=loss_step)
            return k, "no recorded step of the initial stage is condensed; " + why
        return most_condensed, ("the step of the initial stage where the layer was most condensed "
                                "(widest persistent range)")
    try:
        want = int(at)
    except ValueError:
        raise BadInput(f"--at must be initial, end, most-condensed or a step number, got {options.at!r}") from None
    return recorded_index(steps, want), f"step {want} (--at)"


def recorded_index(steps: np.ndarray, want: int) -> int:
    """The index of step `want` among the recorded steps (K,); BadInput naming the nearest ones."""
    steps = np.asarray(steps)
    hits = np.flatnonzero(steps == want)
    if not len(hits):
        near = steps[np.argsort(np.abs(steps - want))[:2]]
        raise BadInput(f"step {want} was not recorded; nearest recorded steps: "
                       f"{', '.join(map(str, sorted(near)))} (recorded {steps[0]}..{steps[-1]})")
    return int(hits[0])


def stage_end(loss: np.ndarray, steps: np.ndarray, ratio: float, loss_step: np.ndarray | None = None) -> int:
    """Number of recorded steps inside the initial stage (before the loss fell to ratio × initial)."""
    t = first_below(loss, ratio, loss_step)
    return len(steps) if t is None else max(int(np.searchsorted(steps, t, side="left")), 1)


def pick(run, at: str = "end", seed_index: int = 0) -> tuple[int, str]:
    """(snapshot index, why) of network `seed_index` of a run at the moment `at` names; BadInput
    for a seed the run does not hold."""
    S = run.out.shape[0]
    if not 0 <= seed_index < S:
        raise BadInput(f"--seed-index {seed_index} does not exist; the run holds {S} network(s)")
    return choose_step(np.asarray(run.loss[seed_index], np.float64), np.asarray(run.step), AnalysisOptions(at=at),
                       loss_step=run.loss_step)
