"""When things happen in a run: the recorded steps, and the chunks of steps compiled at once
(each about a quarter second of estimated work, equal chunks, the two snapshot buffers bounded).

`record_steps(config) -> (K,)`; `loss_steps(config, rec) -> (J,)`; `pass_steps(config, rec)`; `chunk_inputs(rec, passes, L, Kc,
n_chunks)` -> the per-chunk events (snapshot slots, full-batch passes) the compiled program reads;
`plan_chunks(config, spec, n, itemsize) -> (recorded steps, chunk length, snapshot slots per chunk)`."""
from __future__ import annotations

import math

import numpy as np

from .config import TrainConfig
from .host import evenly_recorded


def record_steps(config: TrainConfig) -> np.ndarray:
    """The sorted recorded steps in [0, T], 0 and T always included.

    Default: every max(1, T // 100) steps; `record_every k`; or `snapshots K` evenly or
    log-spaced (K distinct steps at most, 0 and T included)."""
    T = config.steps
    if config.snapshots is not None:
        K = min(config.snapshots, T + 1)  # more snapshots than steps record every step
        if config.log_spaced:
            steps = np.unique(np.round(np.geomspace(1, T, max(K - 1, 1))).astype(np.int64))
            steps = np.concatenate([[0], steps])
        else:
            steps = np.round(np.linspace(0, T, max(K, 2))).astype(np.int64)
    else:
        steps = evenly_recorded(T, config.record_every or max(1, T // 100))
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


def pass_steps(config: TrainConfig, rec: np.ndarray) -> np.ndarray:
    """The steps whose full-batch loss needs a pass over the data of its own: minibatch
    training's loss steps; none for full-batch training, whose every step computes it."""
    return loss_steps(config, rec) if config.batch_size is not None else np.zeros(0, np.int64)


def chunk_inputs(rec: np.ndarray, passes: np.ndarray, L: int, Kc: int,
                 n_chunks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events of each chunk, the steps where more happens than a training step:
    (steps (n_chunks, E) int32, slots (n_chunks, E) int32, takes (n_chunks, E) bool). Event j of
    chunk c is at step c·L + steps[c, j] (ascending); its parameters go to snapshot slot
    slots[c, j] (Kc, the scratch slot, unless it is a recorded step of `rec`), and its full-batch
    loss is taken in a pass of its own where takes[c, j] (a step of `passes`: minibatch
    training's loss steps; none for full-batch training, whose every step computes it). E is
    the most events any chunk has (at least 1); shorter rows are padded with step L (past the
    chunk: no event), slot Kc and no pass. When some chunk is all events (E = L: every step
    recorded), every row lists the steps 0..L-1, those that are not events with slot Kc and no
    pass, and the program runs one event per step without inner loops."""
    rec, passes = np.asarray(rec, np.int64), np.asarray(passes, np.int64)
    at = np.union1d(rec, passes)
    chunk_of = at // L
    E = max(1, int(np.bincount(chunk_of, minlength=n_chunks).max()) if len(at) else 1)
    rec_slot = np.arange(len(rec)) - np.searchsorted(rec // L, rec // L)  # each recorded step's slot in its chunk
    if E == L:  # some chunk is all events: every row lists all L steps, the others as events that do nothing
        steps = np.tile(np.arange(L, dtype=np.int32), (n_chunks, 1))
        slots = np.full((n_chunks, L), Kc, np.int32)
        takes = np.zeros((n_chunks, L), bool)
        slots.reshape(-1)[rec] = rec_slot
        takes.reshape(-1)[passes] = True
        return steps, slots, takes
    steps = np.full((n_chunks, E), L, np.int32)
    slots = np.full((n_chunks, E), Kc, np.int32)
    takes = np.zeros((n_chunks, E), bool)
    col = np.arange(len(at)) - np.searchsorted(chunk_of, chunk_of)  # index among its chunk's events
    steps[chunk_of, col] = at - chunk_of * L
    is_rec = np.isin(at, rec)  # `at` is sorted, so its recorded steps come in the order of `rec`
    slots[chunk_of[is_rec], col[is_rec]] = rec_slot
    takes[chunk_of, col] = np.isin(at, passes)
    return steps, slots, takes


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
