"""How a network is trained: `config` (TrainConfig), `schedule` (recorded steps, chunks of
compiled steps), `programs` (the compiled step, scan and snapshots), `loop` (the host loop:
progress, early stop, interrupts, NaN, accuracies, the run's meta). The config loads eagerly and
without JAX (the CLI reads its defaults); the rest on first use."""
from __future__ import annotations

import importlib

from .config import DEFAULT_INIT_STD, OPTIMIZERS, TrainConfig

_LAZY = {"prepare": "loop", "train": "loop", "chunk_plan": "schedule", "plan_chunks": "schedule",
         "record_steps": "schedule", "step_seconds": "schedule"}

__all__ = ["DEFAULT_INIT_STD", "OPTIMIZERS", "TrainConfig", *_LAZY]


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
