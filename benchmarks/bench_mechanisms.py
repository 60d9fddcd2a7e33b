"""Benchmark the mechanisms' measurements (issue: the embedding principle and the model rank).

1. The exact float64 Hessian of a width-500 tanh network on 1-d data (1,501 parameters, 50
   points) and its inertia (one symmetric eigendecomposition), in process after the imports,
   the first call (compilation included) and a second one. Target: under 10 s.
2. The model rank over training: `condense analyze` of a width-1000 two-layer tanh run on the
   default 80 points (5-d, 7,001 parameters) with 100 snapshots, whole process, with and without
   `--no-model-rank` (the difference is the rank's cost: a Jacobian (80, 7,001) and its singular
   values at each of the 100 snapshots, and the narrow network's at the analyzed step). Target:
   the rank's share under 30 s.

    python benchmarks/bench_mechanisms.py
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_analyze import condense  # this folder's own helper (the script's folder is on sys.path)


def hessian_timing() -> None:
    from condense_cli.mechanisms.landscape import Landscape, inertia
    from condense_cli.nn.models import NetSpec
    from condense_cli.runtime import x64

    rng = np.random.default_rng(0)
    m = 500
    spec = NetSpec(d=1, widths=(m,), d_out=1, acts=("tanh",))
    params = {"hidden": [rng.normal(0, 0.1, (m, 2))], "out": rng.normal(0, 0.1, (1, m + 1))}
    x = np.linspace(-1, 1, 50)[:, None]
    y = np.sin(3 * x)
    with x64():
        for attempt in ("first (compiles)", "second"):
            start = time.perf_counter()
            land = Landscape(params, spec, x, y)
            H = land.hessian()
            t_h = time.perf_counter() - start
            i = inertia(np.linalg.eigvalsh(H))
            total = time.perf_counter() - start
            print(f"Hessian of {land.M:,} parameters, {attempt}: {t_h:.2f} s, with the inertia {total:.2f} s "
                  f"(+, 0, −) = ({i.positive}, {i.zero}, {i.negative}) (target < 10 s)")


def rank_timing() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "w1000.npz"
        subprocess.run([*condense(), "train", "--width", "1000", "--steps", "2000", "--snapshots", "100", "-q",
                        "--force", "--out", str(run)], check=True)
        times = {}
        for flag in ("--no-model-rank", "--model-rank"):
            start = time.perf_counter()
            subprocess.run([*condense(), "analyze", str(run), flag, "-q", "--no-figures", "--out-dir", tmp], check=True)
            times[flag] = time.perf_counter() - start
        from condense_cli.mechanisms.rank import rank_setup, series_ranks
        from condense_cli.run import load_run

        r = load_run(run)
        spec, x, _ = rank_setup(r, None)
        start = time.perf_counter()
        ranks = series_ranks(r, 0, spec, x, 1e-8, most=len(r.step))
        lib = time.perf_counter() - start
        print(f"model rank at all {len(r.step)} snapshots (Jacobian {len(x)} x 7,001), in process: {lib:.1f} s; "
              f"ranks from {ranks[0]} to {ranks[-1]} (target < 30 s)")
        print(f"analyze width 1000, 100 snapshots: {times['--model-rank']:.1f} s with the model rank, "
              f"{times['--no-model-rank']:.1f} s without: the rank costs {times['--model-rank'] - times['--no-model-rank']:.1f} s "
              "(target < 30 s)")


if __name__ == "__main__":
    hessian_timing()
    rank_timing()
