"""The defaults of `reduce` and `reproduce`, in one place: the library functions
(`reduction.reduce_run`, `reproductions.reproduce`) and the CLI's options read them from here.
This module imports neither NumPy nor JAX, so `condense --help` stays fast. (The other commands'
defaults live in their configs: `TrainConfig`, `AnalysisOptions`, `PhaseConfig`, and
`condense_cli.mechanisms` for `embed`.)"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReduceDefaults:
    """`reduce_run`'s defaults: the recorded moment, the network, the reading, fine-tuning."""

    at: str = "end"  # "end", "initial" or a recorded step
    seed_index: int = 0
    tol: float | None = None  # None: the persistent reading (finer ones while the loss rises too much)
    min_norm: float = 0.1  # neurons below this fraction of the largest input weight are dropped
    finetune_steps: int = 0
    lr: float | None = None  # None: the run's own
    refit: bool = True  # refit the merged outgoing weights by least squares
    loss_tol: float = 0.01  # largest relative rise of the full-batch loss the merge may cause


@dataclass(frozen=True)
class ReproduceDefaults:
    """`reproduce`'s defaults."""

    quick: bool = False
    seeds: int = 3  # networks per setting


REDUCE = ReduceDefaults()
REPRODUCE = ReproduceDefaults()
