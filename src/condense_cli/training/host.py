"""The host side that every training engine shares (the dense networks' `training.loop` and the
anchor-task transformer's `transformer.training`); each keeps its own compiled step function.

- `evenly_recorded(T, every)`: the recorded steps, every `every` steps from 0 with T always included.
- `Ending`: how a run ended (status, reason, the step each seed failed at), filled as the chunks
  come back: `interrupted(done)` on Ctrl-C (keeping every finished chunk; a `RunFailure` when
  none finished), `seeds_failed(fail_steps)` when seeds' losses turned non-finite (a failed seed
  is frozen inside the compiled step; the run stops only when all have failed).
- `Ending.meta(seeds, seconds)`: the run file's header fields that describe the end of a run, the
  same keys for both engines: version, backend, devices, status, reason, failed_seeds, seconds.
- `drive(n_chunks, state, launch, absorb, ending, progress, total)`: the chunk loop itself. Each
  engine says how to launch chunk c from a state (asynchronously, its own compiled step) and how
  to take a finished chunk's results to the host; `drive` runs them in order, moves the progress
  bar, stops when the engine says so, and on Ctrl-C keeps every chunk already taken. A pipelined
  engine launches chunk c+1 before chunk c's results are copied out, so copying overlaps computing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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


def drive(n_chunks: int, state: Any, launch: Callable[[int, Any], Any], absorb: Callable[[int, Any], tuple],
          ending: Ending, progress: Callable[[int, int], None] | None, total: int,
          state_of: Callable[[Any], Any] | None = None) -> int:
    """Run chunks 0..n_chunks−1; returns how many were taken to the host.

    `launch(c, state)` starts chunk c and returns what it will produce (JAX's arrays, not waited
    for); `absorb(c, pending)` copies it to the host and returns (state for the next chunk, the
    progress position, whether to stop). With `state_of` (pending -> its final state, not waited
    for) the engine is pipelined: chunk c+1 is launched from chunk c's state before chunk c is
    absorbed, and a stop discards the chunk in flight. Ctrl-C during or between chunks ends the
    loop through `ending.interrupted` (every absorbed chunk kept; a RunFailure when none was)."""
    taken = 0
    try:
        pending = launch(0, state)
        for c in range(n_chunks):
            ahead = launch(c + 1, state_of(pending)) if state_of is not None and c + 1 < n_chunks else None
            state, position, stop = absorb(c, pending)
            taken = c + 1
            if progress is not None:
                progress(position, total)
            if stop or c + 1 == n_chunks:
                break
            pending = ahead if state_of is not None else launch(c + 1, state)
    except KeyboardInterrupt:
        ending.interrupted(taken)
    return taken
