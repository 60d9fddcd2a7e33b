"""Resuming a sweep: each finished width is one part file (`save_part`, `load_finished`, keyed by
the config, the data and the engine's version); `width_arrays` / `width_from_arrays` turn a
`WidthResult` into its arrays and back (None when anything is missing or malformed); `run_sweep`
runs a resumable sweep into a folder and writes `phase.npz`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import io
from ..data import Dataset
from ..errors import BadInput
from .config import PhaseConfig
from .engine import sweep
from .fits import REGIMES, PhaseResult, WidthResult


def width_arrays(part: WidthResult) -> dict[str, np.ndarray]:
    """A width's arrays for its resumable part file."""
    return {"rd": part.rd, "converged": part.converged, "diverged": part.diverged, "steps": part.steps,
            "final_loss": part.final_loss}


def width_from_arrays(m: int, arrays: dict, shape: tuple, seconds: float, point_steps: int = 0,
                      groups: tuple = ()) -> WidthResult | None:
    """A width back from its part file, or None when anything is missing or malformed."""
    try:
        parts = {k: np.asarray(arrays[k]) for k in ("rd", "converged", "diverged", "steps", "final_loss")}
    except KeyError:
        return None
    if any(v.shape != shape for v in parts.values()):
        return None
    if not np.issubdtype(parts["rd"].dtype, np.floating) or np.any(parts["rd"] < 0):
        return None
    return WidthResult(width=m, seconds=seconds, point_steps=point_steps, groups=tuple(groups), **parts)


PART_SCHEMA = "condense.phase-width/1"
PHASE_SCHEMA = "condense.phase/1"


def part_path(parts_dir: Path, m: int) -> Path:
    return Path(parts_dir) / f"m{m}.npz"


def load_finished(parts_dir: Path, config: PhaseConfig, key: str, fresh: bool = False) -> tuple[dict, list[int]]:
    """(width -> WidthResult read back, widths whose part was corrupt and will be redone). A part
    counts only when its key (config, data, engine version) and width match; a readable part of
    another configuration is BadInput (its folder belongs to another sweep) unless `fresh`."""
    shape = (len(config.gammas), len(config.gamma_primes), config.seeds)
    finished, redone, foreign = {}, [], []
    for m in config.widths:
        path = part_path(parts_dir, m)
        if fresh or not path.exists():
            continue
        try:
            arrays, meta = io.read_npz(path)
            part = width_from_arrays(m, arrays, shape, float(meta.get("seconds", 0.0)),
                                     int(meta.get("point_steps", 0)), tuple(meta.get("groups", ())))
            ok = part is not None and meta.get("key") == key and meta.get("width") == m
            if part is not None and meta.get("schema") == PART_SCHEMA and meta.get("key") != key:
                foreign.append(m)
                continue
        except BadInput:
            ok = False
        if ok:
            finished[m] = part
        else:
            redone.append(m)  # corrupt: never trusted
    if foreign:
        raise BadInput(f"{parts_dir.parent} holds finished widths {foreign} of a sweep with another configuration "
                       "(grid, data, activation or settings); pass --fresh to replace them or choose another --out-dir")
    return finished, redone


LOCK_NAME = ".condense-sweep.lock"


class SweepLock:
    """`out_dir/.condense-sweep.lock` holding the sweeping process's id, taken with O_EXCL: a
    second sweep into a folder in use is BadInput; a lock whose process is gone is taken over."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK_NAME
        self.held = False

    def __enter__(self):
        import os

        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and io.pid_alive(pid) and pid != os.getpid():
                    raise BadInput(f"another sweep (process {pid}) is using {self.path.parent}; wait for it to "
                                   "finish or choose another --out-dir") from None
                try:  # its process is gone: take the lock over
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise BadInput(f"cannot take the sweep lock {self.path}")

    def __exit__(self, *exc):
        if self.held:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        return False


def save_part(parts_dir: Path, key: str, part: WidthResult) -> Path:
    """One finished width, written atomically as its part file."""
    return io.save_npz(part_path(parts_dir, part.width), width_arrays(part),
                       {"schema": PART_SCHEMA, "key": key, "width": part.width, "seconds": part.seconds,
                        "point_steps": part.point_steps, "groups": list(part.groups)})


def finished_widths(parts_dir: Path) -> list[int]:
    """The widths whose part files exist (after an interruption, say)."""
    return sorted(int(p.stem[1:]) for p in Path(parts_dir).glob("m*.npz") if p.stem[1:].isdigit())


def _agree_across_processes(config: PhaseConfig, finished: dict) -> None:
    """In a multi-process job every process must run the same widths: the finished widths each
    one read must be process 0's (the output folder on a filesystem they share). BadInput if not."""
    import sys

    if "jax" not in sys.modules:
        return
    import jax

    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    mine = np.array([m in finished for m in config.widths], np.int32)
    first = np.asarray(multihost_utils.broadcast_one_to_all(mine))
    if not np.array_equal(first, mine):
        raise BadInput(f"process {jax.process_index()} finds other finished widths in the output folder than "
                       "process 0: put --out-dir on a filesystem every process shares, or pass --fresh")


def run_sweep(config: PhaseConfig, dataset: Dataset, out_dir: Path, fresh: bool = False,
              progress: Callable[[int, int], None] | None = None) -> tuple[PhaseResult, dict]:
    """The resumable sweep: widths already finished in `out_dir/widths` are read back (`fresh`
    redoes them), every other width is saved there as soon as it finishes, and `out_dir/phase.npz`
    is written at the end. Returns (result, info: resumed and redone widths, the NPZ path,
    seconds). A KeyboardInterrupt leaves every finished width in place."""
    from ..runtime import is_writer

    from contextlib import nullcontext

    writer = is_writer()  # several processes (jax.distributed): only process 0 writes
    if writer:
        Path(out_dir).mkdir(parents=True, exist_ok=True)  # a folder the caller names is created
    with SweepLock(out_dir) if writer else nullcontext():
        return _run_sweep(config, dataset, Path(out_dir), fresh, progress, writer)


def _run_sweep(config, dataset, out_dir: Path, fresh: bool, progress, writer: bool):
    started = time.perf_counter()
    parts_dir = Path(out_dir) / "widths"
    if writer:
        parts_dir.mkdir(exist_ok=True)
        io.check_writable(Path(out_dir) / "phase.npz")
    key = config.key(dataset.spec)
    finished, redone = load_finished(parts_dir, config, key, fresh)
    _agree_across_processes(config, finished)
    result = sweep(config, dataset, finished,
                   on_width=(lambda part: save_part(parts_dir, key, part)) if writer else None, progress=progress)
    unconverged = ~result.converged.all(axis=(2, 3))
    seconds = time.perf_counter() - started
    meta = {"schema": PHASE_SCHEMA, "config": {**config.__dict__}, "data": dataset.spec,
            "regimes": list(REGIMES), "agreement": result.agreement, "agreement_points": result.agreement_points,
            "unconverged_points": int(unconverged.sum()), "diverged_points": int(result.diverged.any(axis=(2, 3)).sum()),
            "resumed_widths": sorted(finished), "redone_widths": redone, "seconds": seconds, "work": result.work}
    regime_code = np.select([result.regime == r for r in REGIMES], [i - 1 for i in range(len(REGIMES))], default=-2)
    if not writer:
        return result, {"resumed": sorted(finished), "redone": redone, "npz": None, "seconds": seconds}
    npz = io.save_npz(Path(out_dir) / "phase.npz", {
        "gamma": np.asarray(config.gammas), "gamma_prime": np.asarray(config.gamma_primes),
        "widths": np.asarray(config.widths), "rd": result.rd, "slope": result.slope, "regime": regime_code,
        "converged": result.converged, "diverged": result.diverged, "steps": result.steps,
        "final_loss": result.final_loss, "measured_boundary": result.boundary}, meta)
    return result, {"resumed": sorted(finished), "redone": redone, "npz": npz, "seconds": seconds}
