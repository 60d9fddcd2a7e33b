"""When things happen in a run: the recorded steps, and the chunks of steps compiled at once
(each about a quarter second of estimated work, equal chunks, the two snapshot buffers bounded).

`record_steps(config) -> (K,)`; `loss_steps(config, rec) -> (J,)`; `chunk_inputs(rec, taken, L, Kc,
n_chunks)` -> the per-chunk slots and loss flags the compiled program reads; `plan_chunks(config, spec, n, itemsize) -> (recorded steps,
chunk length, chunks)`."""
from __future__ import annotations

import math

import numpy as np

from .config import TrainConfig


def record_steps(config: TrainConfig) -> np.ndarray:
    """The sorted recorded steps in [0, T], 0 and T always included.

    Default: every max(1, T // 100) steps; `record_every k`; or `snapshots K` evenly or
    log-spaced (K distinct steps at most, 0 and T included)."""
    T = config.steps
    if config.snapshots is not None:
        K = config.snapshots
        if config.log_spaced:
            steps = np.unique(np.round(np.geomspace(1, T, max(K - 1, 1))).astype(np.int64))
            steps = np.concatenate([[0], steps])
        else:
            steps = np.round(np.linspace(0, T, max(K, 2))).astype(np.int64)
    else:
        k = config.record_every or max(1, T // 100)
        steps = np.arange(0, T + 1, k, dtype=np.int64)
    return np.unique(np.concatenate([[0], steps, [T]]))


def loss_steps(config: TrainConfig, rec: np.ndarray) -> np.ndarray:
    """The sorted steps whose full-batch loss is recorded: every step of full-batch training;
    for minibatch training (a pass over all data costs n / batch steps' forward passes) the
    recorded snapshot steps `rec`, every `loss_every` steps when asked, and T."""
    T = config.steps
    if config.batch_size is None:
        return np.arange(T + 1, dtype=np.int64)
    extra = np.arange(0, T + 1, config.loss_every, dtype=np.int64) if config.loss_every else np.zeros(0, np.int64)
    return np.unique(np.concatenate([np.asarray(rec, np.int64), extra, [0, T]]))


def chunk_inputs(rec: np.ndarray, taken: np.ndarray, L: int, Kc: int, n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """(slots (n_chunks, L) int32, takes (n_chunks, L) bool): for evaluation i of chunk c (step
    c·L + i), the snapshot slot its parameters go to (Kc, the scratch slot, unless it is a recorded
    step of `rec`) and whether its full-batch loss is taken (a step of `taken`)."""
    slots = np.full(n_chunks * L, Kc, np.int32)
    chunk_of = rec // L
    slots[rec] = np.arange(len(rec)) - np.searchsorted(chunk_of, chunk_of)  # index within its chunk
    takes = np.zeros(n_chunks * L, bool)
    takes[taken] = True
    return slots.reshape(n_chunks, L), takes.reshape(n_chunks, L)


CHUNK_SECONDS = 0.25  # the aimed-for duration of one compiled chunk
SNAPSHOT_BUFFER_BYTES = 256 * 2 ** 20  # the two per-chunk snapshot buffers on the device, at most


def step_seconds(spec, n: int, batch: int | None, seeds: int, full_loss_share: float = 0.0) -> float:
    """A rough a-priori estimate of one training step's seconds on a CPU: a fixed ~3 µs of
    kernel launches plus the flops (forward and backward passes on the batch, and for full-batch
    training the loss on n points; minibatch training adds its full-batch losses, a
    `full_loss_share` of the steps) at 60 GFLOP/s, what this project's 2-core AVX-512 machines reach on
    the papers' networks (a slower CPU only makes chunks last longer). Only used to size
    chunks; it need not be exact."""
    macs = spec.macs_per_example() * seeds
    flops = 6 * macs * n if batch is None else 6 * macs * batch + 2 * macs * n * full_loss_share
    return 3e-6 + flops / 6e10


def chunk_plan(T: int, rec: np.ndarray, seconds_per_step: float, snapshot_bytes: int) -> tuple[int, int]:
    """(L, Kc): steps per compiled chunk and snapshot slots per chunk. A chunk is about
    CHUNK_SECONDS of work, so that launching it and copying out its results (a fraction of a
    millisecond) costs well under 5 % while the progress bar still moves several times a
    second; the run is split into chunks of equal length (the last computes at most a few
    steps past T); and the two snapshot buffers stay under SNAPSHOT_BUFFER_BYTES together."""
    evals = T + 1
    target = min(evals, max(1, round(CHUNK_SECONDS / seconds_per_step)))
    while True:
        L = math.ceil(evals / math.ceil(evals / target))
        Kc = int(np.bincount(rec // L).max())
        if target == 1 or 2 * (Kc + 1) * snapshot_bytes <= SNAPSHOT_BUFFER_BYTES:
            return L, Kc
        target = max(1, target // 2)


def plan_chunks(config: TrainConfig, spec, n: int, itemsize: int) -> tuple[np.ndarray, int, int]:
    """(recorded steps, L, Kc) of this config's run on n training points with parameters of
    `itemsize` bytes: `record_steps` and `chunk_plan`, as `train` compiles them."""
    rec = record_steps(config)
    batch = config.batch_size  # None: full batch
    snapshot_bytes = config.seeds * sum(r * c for r, c in spec.shapes) * itemsize
    share = len(loss_steps(config, rec)) / (config.steps + 1)
    return rec, *chunk_plan(config.steps, rec, step_seconds(spec, n, batch, config.seeds, share), snapshot_bytes)
