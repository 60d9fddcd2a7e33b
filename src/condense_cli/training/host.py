"""The host side that every training engine shares (the dense networks' `training.loop` and the
anchor-task transformer's `transformer.training`); each keeps its own compiled step function.

- `evenly_recorded(T, every)`: the recorded steps, every `every` steps from 0 with T always included.
- `Ending`: how a run ended (status, reason, the step each seed failed at), filled as the chunks
  come back: `interrupted(done)` on Ctrl-C (keeping every finished chunk; a `RunFailure` when
  none finished), `seeds_failed(fail_steps)` when seeds' losses turned non-finite (a failed seed
  is frozen inside the compiled step; the run stops only when all have failed).
- `Ending.meta(seeds, seconds)`: the run file's header fields that describe the end of a run, the
  same keys for both engines: version, backend, devices, status, reason, failed_seeds, seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RunFailure

FAILED_SEED = "loss or updated weights not finite; weights frozen from then on"


def evenly_recorded(T: int, every: int) -> np.ndarray:
    """Steps 0, every, 2·every, … and T (sorted, distinct, int64)."""
    return np.unique(np.concatenate([np.arange(0, T + 1, max(1, int(every))), [T]])).astype(np.int64)


@dataclass
class Ending:
    """How a run ended: status 'finished' or 'stopped', the reason in words (None: ran to the
    end), and per seed the step its loss or weights became non-finite (−1: never), when known."""

    status: str = "finished"
    reason: str | None = None
    fail_steps: np.ndarray | None = None
    failure: str = FAILED_SEED  # what became of a failed seed, in words (each engine's own)

    def interrupted(self, done: int) -> None:
        """Ctrl-C after `done` finished chunks: keep them, or fail when there are none."""
        if done == 0:
            raise RunFailure("interrupted before the first chunk of training finished; nothing to keep") from None
        self.status, self.reason = "stopped", "interrupted"

    def seeds_failed(self, fail_steps) -> bool:
        """Record each seed's failure step; True (the run must stop) when every seed failed."""
        self.fail_steps = np.asarray(fail_steps)
        if len(self.fail_steps) and (self.fail_steps >= 0).all():
            self.status = "stopped"
            self.reason = f"loss became non-finite at step {int(self.fail_steps.max())}"
            return True
        return False

    def failed_seeds(self, seeds: list[int]) -> list[dict]:
        if self.fail_steps is None:
            return []
        return [{"seed": seed, "step": int(st), "reason": self.failure} for seed, st in zip(seeds, self.fail_steps)
                if st >= 0]

    def meta(self, seeds: list[int], seconds: float) -> dict:
        """The header fields describing how the run went (both engines' run files carry them)."""
        import jax

        from .. import __version__

        return {"version": __version__, "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
                "status": self.status, "reason": self.reason, "failed_seeds": self.failed_seeds(seeds),
                "seconds": seconds}
