"""Benchmark `condense train` against the PyTorch eager reference (W1), side by side in one run.

Prints:
1. W1 steady state: steps per second after compilation, weights recorded every step, for
   condense (a 120,000-step run through the public `train`, everything it does included) and
   for the reference's own loop, best of 3 each; the ratio (target: at least 50x); and the same
   run as one unchunked compiled program, for the cost of chunking (target: at most 5 %).
2. W1 as a whole process: `condense train --steps 20000 --record-every 100` against
   `torch_reference.py w1 --steps 20000 --record-every 100`, wall clock start to end, with a cold
   and a warm compilation cache (target: at least 3x).
3. Memory: peak RSS of `condense train --width 10000 --steps 100000 --snapshots 200`
   (target: under 1 GiB), unless --skip-memory.

The reference needs PyTorch: pass --torch-python PATH (a Python with torch==2.13.0), or set
CONDENSE_TORCH_PYTHON; without one the reference columns are skipped.

    python benchmarks/bench_train.py --torch-python /tmp/torchenv/bin/python
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "bench" / "torch_reference.py"


STEADY_STEPS = 120_000  # W1 steady state: a run this long, timed after compilation


def condense_steady_state(steps: int = STEADY_STEPS, repeats: int = 3) -> float:
    """Steps/s of W1 (Fig. 2 net, Adam, record every step) through the public `train`, best of
    `repeats` runs of `steps` steps after a first run compiled the program. Everything `train`
    does is in the time (data, initialization, chunks, copying every snapshot to the host)."""
    from condense_cli import TrainConfig, train

    best = float("inf")
    for i in range(repeats + 1):  # the first run compiles
        start = time.perf_counter()
        train(TrainConfig(steps=steps, record_every=1))
        if i:
            best = min(best, time.perf_counter() - start)
    return steps / best


def unchunked_steady_state(steps: int = STEADY_STEPS, repeats: int = 3) -> float:
    """Steps/s of the same run as one compiled chunk of all its steps (no host loop, no
    chunking), its snapshots and losses then copied to host memory as `train` keeps them, best
    of `repeats` after compilation: the yardstick for the cost of chunking."""
    import jax
    import jax.numpy as jnp

    from condense_cli import TrainConfig
    from condense_cli.training import prepare
    from condense_cli.training.programs import programs

    ds, spec, stds = prepare(TrainConfig(record_every=1))
    L = steps + 1
    init, buffer, run_chunk = programs(spec, "adam", None, 1, L, L, "float32")
    state, buf = init([0], stds), buffer()
    x, y = jnp.asarray(ds.x, jnp.float32), jnp.asarray(ds.y, jnp.float32)
    hyper = {"T": jnp.int32(steps), "lr": jnp.float32(1e-3), "ratio": jnp.float32(-np.inf)}
    events = jnp.arange(L, dtype=jnp.int32)  # every step recorded, in slot i
    takes = jnp.zeros(L, bool)  # full batch: every step's loss comes with its gradient
    best = float("inf")
    for i in range(repeats + 1):  # the first call compiles
        start = time.perf_counter()
        _, (loss, *_), buf = run_chunk(state, buf, x, y, hyper, jnp.int32(0), events, events, takes)
        kept = [np.array(loss)] + [np.array(leaf[:, :L]) for leaf in jax.tree.leaves(buf)]  # host copies
        del kept
        if i:
            best = min(best, time.perf_counter() - start)
    return steps / best


def reference_steady_state(torch_python: str, steps: int = 3000, repeats: int = 3) -> float:
    """Steps/s of the reference's own W1 loop, best of `repeats` runs in one process."""
    code = (f"import sys; sys.path.insert(0, {str(REFERENCE.parent)!r}); import torch_reference as t;"
            f"t.w1(200); print(max(t.w1({steps})[0] for _ in range({repeats})))")
    out = subprocess.run([torch_python, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, **(env or {})})
    return time.perf_counter() - start


def condense_cmd() -> list[str]:
    exe = shutil.which("condense", path=str(Path(sys.executable).parent)) or shutil.which("condense")
    return [exe] if exe else [sys.executable, "-m", "condense_cli"]


_PEAK_RSS = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss_gib(cmd: list[str]) -> float:
    """Peak resident memory of this one command: its own rusage (wait4), read by a small
    Python that starts it, since a child's peak counts what it shared with its parent before
    exec (this benchmark's own process holds JAX and large arrays by then)."""
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, *cmd], capture_output=True, text=True, check=True)
    code, kib = (int(v) for v in out.stdout.split())
    if code:
        raise subprocess.CalledProcessError(code, cmd)
    return kib / 2 ** 20  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--torch-python", default=os.environ.get("CONDENSE_TORCH_PYTHON"))
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="whole-process timings: best of N")
    args = ap.parse_args()
    os.environ.setdefault("CONDENSE_CACHE_DIR", "off")
    torch_py = args.torch_python
    if torch_py and not REFERENCE.exists():
        sys.exit(f"reference not found at {REFERENCE}")

    print("W1 steady state (5-50-1 tanh, n=80, Adam lr 1e-3, full batch, weights recorded every step)")
    ours = condense_steady_state()
    whole = unchunked_steady_state()
    print(f"  condense : {ours:10.0f} steps/s (`train`, {STEADY_STEPS:,} steps, after compilation)")
    print(f"  one chunk: {whole:10.0f} steps/s (the same run as one compiled chunk, results copied out); "
          f"chunking costs {max(0.0, 1 - ours / whole):.1%} (target <= 5 %)")
    if torch_py:
        ref = reference_steady_state(torch_py)
        print(f"  reference: {ref:10.0f} steps/s (PyTorch eager)")
        print(f"  ratio    : {ours / ref:10.1f}x   (target >= 50x)")

    print("\nW1 whole process (20,000 steps, weights every 100), best of", args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "w1.npz")
        cmd = [*condense_cmd(), "train", "--steps", "20000", "--record-every", "100", "-q", "--force", "--out", out]
        cold = min(wall(cmd, {"CONDENSE_CACHE_DIR": "off"}) for _ in range(args.repeats))
        cache = str(Path(tmp) / "cache")
        wall(cmd, {"CONDENSE_CACHE_DIR": cache})  # fills the cache
        warm = min(wall(cmd, {"CONDENSE_CACHE_DIR": cache}) for _ in range(args.repeats))
        print(f"  condense train, cold compilation cache: {cold:6.2f} s")
        print(f"  condense train, warm compilation cache: {warm:6.2f} s")
        if torch_py:
            ref = min(wall([torch_py, str(REFERENCE), "w1", "--steps", "20000", "--record-every", "100"])
                      for _ in range(args.repeats))
            print(f"  torch_reference.py w1               : {ref:6.2f} s")
            print(f"  ratio cold: {ref / cold:.1f}x, warm: {ref / warm:.1f}x   (target >= 3x)")

        if not args.skip_memory:
            print("\nMemory: m = 10,000, 100,000 steps, 200 snapshots (sin5d, Adam)")
            start = time.perf_counter()
            gib = peak_rss_gib([*condense_cmd(), "train", "--width", "10000", "--steps", "100000",
                                "--snapshots", "200", "-q", "--force", "--out", out])
            size = Path(out).stat().st_size / 2 ** 20
            print(f"  peak RSS {gib:.2f} GiB (target < 1 GiB), run file {size:.0f} MiB, "
                  f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
