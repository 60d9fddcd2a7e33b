"""Benchmark the phase-diagram engine against the PyTorch eager reference (W2), in one run.

W2: 1-d input, n = 20 points on [−1, 1], y = sin 3x, two-layer ReLU network scaled by 1/α,
6 values of γ in [0.5, 2.5] at γ′ = 0 (β1 = β2 = 1, α = m^γ), full-batch gradient descent, RD at
the end; widths 1,000 and 10,000. condense trains the same points (`--data phase4 --n 20`, split
unit-beta2, no early stop: `--loss-tol 0`).

Prints:
1. steady state grid-steps per second at m = 1,000 and 10,000 (best of --repeats; targets:
   at least 10x and 5x the reference);
2. the whole process with 5,000 steps per point: `condense phase-diagram` against
   `torch_reference.py w2 --steps 5000` (target: at least 4x faster);
3. the converged default grid, `condense phase-diagram --widths 1e3,1e4` (every point trained to
   the loss tolerance): wall time (target: under 10 minutes on 2 cores), points that stopped
   early, the steps of each width's slowest point and the share of compute spent on points that
   had already finished (padding included), unless --skip-default.

    python benchmarks/bench_phase.py --torch-python /path/to/python-with-torch
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import REFERENCE, condense_cmd, wall  # noqa: E402

GAMMAS = ",".join(f"{0.5 + 2.0 * i / 5:g}" for i in range(6))


def ours_steady(steps: int, repeats: int) -> dict[int, float]:
    from condense_cli.runtime import split_cpu_into_devices

    split_cpu_into_devices()  # as `condense phase-diagram` does: one XLA host device per core
    from condense_cli import phase
    from condense_cli.data import make

    data = make("phase4", n=20)
    cfg = phase.PhaseConfig(gammas=tuple(float(g) for g in GAMMAS.split(",")), gamma_primes=(0.0,),
                            widths=(1000, 10000), tol=0.0, max_steps=steps)
    rates = {}
    for m in cfg.widths:
        phase.run_width(cfg, data, m)  # compile
        best = min(_timed(lambda: phase.run_width(cfg, data, m)) for _ in range(repeats))
        rates[m] = 6 * steps / best
    return rates


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def reference_steady(torch_python: str, repeats: int) -> dict[int, float]:
    best = {1000: 0.0, 10000: 0.0}
    for _ in range(repeats):
        out = subprocess.run([torch_python, str(REFERENCE), "w2"], capture_output=True, text=True, check=True).stdout
        a, b = (float(v) for v in re.findall(r"([\d.]+) and ([\d.]+)", out)[0])
        best = {1000: max(best[1000], a), 10000: max(best[10000], b)}
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--torch-python", default=os.environ.get("CONDENSE_TORCH_PYTHON"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-default", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("CONDENSE_CACHE_DIR", "off")

    print("W2 steady state (grid-steps per second: points x steps / seconds, after compilation)")
    ours = ours_steady(2000, args.repeats)
    ref = reference_steady(args.torch_python, args.repeats) if args.torch_python else None
    for m, target in ((1000, 10), (10000, 5)):
        line = f"  m = {m:5d}: condense {ours[m]:9.0f}"
        if ref:
            line += f", reference {ref[m]:7.0f}, ratio {ours[m] / ref[m]:5.1f}x (target >= {target}x)"
        print(line)

    print("\nW2 whole process, 5,000 steps per point, widths 1e3 and 1e4, best of", args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*condense_cmd(), "phase-diagram", "--widths", "1e3,1e4", "--gammas", GAMMAS, "--gamma-primes", "0",
               "--data", "phase4", "--n", "20", "--loss-tol", "0", "--max-steps", "5000", "-q", "--fresh",
               "--out-dir", str(Path(tmp) / "w2")]
        cold = min(wall([*cmd, "--no-figures"]) for _ in range(args.repeats))
        cold_fig = min(wall(cmd) for _ in range(args.repeats))
        cache = {"CONDENSE_CACHE_DIR": str(Path(tmp) / "cache")}
        wall(cmd, cache)  # fills the compilation cache
        warm_fig = min(wall(cmd, cache) for _ in range(args.repeats))
        print(f"  condense phase-diagram, no figures, cold compilation cache: {cold:6.1f} s")
        print(f"  condense phase-diagram, with figures, cold cache          : {cold_fig:6.1f} s")
        print(f"  condense phase-diagram, with figures, warm cache          : {warm_fig:6.1f} s")
        if args.torch_python:
            ref_wall = min(wall([args.torch_python, str(REFERENCE), "w2", "--steps", "5000"])
                           for _ in range(args.repeats))
            print(f"  torch_reference.py w2 (writes nothing)                    : {ref_wall:6.1f} s")
            print(f"  ratio (target >= 4x): {ref_wall / cold:.1f}x like for like (no figures, cold), "
                  f"{ref_wall / cold_fig:.1f}x with figures cold, {ref_wall / warm_fig:.1f}x with figures warm")
        if not args.skip_default:
            out = Path(tmp) / "d"
            t = wall([*condense_cmd(), "phase-diagram", "--widths", "1e3,1e4", "-q", "--out-dir", str(out)])
            meta = _meta(out / "phase.npz")
            print(f"\ncondense phase-diagram --widths 1e3,1e4 (default grid: 9 x 9 points, converged): {t:.0f} s "
                  f"(target < 600 s); points not converged at some width: {meta['unconverged_points']}, "
                  f"diverged: {meta['diverged_points']}; agreement {meta['agreement']} over "
                  f"{meta['agreement_points']} points")
            for m, w in meta["work"].items():
                print(f"  m = {int(m):5d}: {w['seconds']:6.1f} s, slowest point {w['slowest_steps']:,} steps, "
                      f"{w['point_steps']:,} point-steps computed, {w['finished_share']:.1%} of them on points "
                      f"already finished; group sizes {w['groups']}")


def _meta(path: Path) -> dict:
    import json

    import numpy as np

    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["meta"]))


if __name__ == "__main__":
    main()
