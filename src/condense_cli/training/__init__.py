"""How a network is trained: `config` (TrainConfig), `schedule` (recorded steps, chunks of
compiled steps), `programs` (the compiled step, scan and snapshots), `loop` (the host loop:
progress, early stop, interrupts, NaN, accuracies, the run's meta)."""
from __future__ import annotations

from .config import DEFAULT_INIT_STD, OPTIMIZERS, TrainConfig
from .loop import prepare, train
from .schedule import chunk_plan, plan_chunks, record_steps, step_seconds

__all__ = ["DEFAULT_INIT_STD", "OPTIMIZERS", "TrainConfig", "chunk_plan", "plan_chunks", "prepare", "record_steps",
           "step_seconds", "train"]
