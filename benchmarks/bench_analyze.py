"""Benchmark `condense analyze` on a wide run: m = 10,000 neurons, 200 snapshots.

Trains the run once (5-10000-1 tanh on sin5d, 2,000 Adam steps, 200 snapshots), then times the
analysis as a whole process (load, the per-snapshot counts over training, the full clustering
and the figures at the chosen step) and reads its peak resident memory. The measure clusters a
fixed sample of 2,000 kept neurons at the chosen step and 1,000 at each snapshot of the series,
and judges condensation on 500 (the report states each sample). Targets: under a minute on 2
cores and under 1 GiB.

    python benchmarks/bench_analyze.py
"""
from __future__ import annotations

import os  # noqa: F401
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_train import peak_rss_gib  # this folder's own helper (the script's folder is on sys.path)


def condense() -> list[str]:
    exe = shutil.which("condense", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "condense_cli"]


def main() -> None:
    # small init (condenses: few clusters) and std 1 (no condensation: the clustering's worst case)
    for std in ("1e-4", "1"):
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "wide.npz"
            start = time.perf_counter()
            subprocess.run([*condense(), "train", "--width", "10000", "--steps", "2000", "--snapshots", "200",
                            "--init-std", std, "-q", "--force", "--out", str(run)], check=True)
            print(f"init std {std}: train m=10000, 2000 steps, 200 snapshots: "
                  f"{time.perf_counter() - start:.1f} s ({run.stat().st_size / 2**20:.0f} MiB)")
            start = time.perf_counter()
            peak = peak_rss_gib([*condense(), "analyze", str(run), "-q", "--out-dir", tmp])
            took = time.perf_counter() - start
            print(f"init std {std}: analyze m=10000, 200 snapshots (whole process, figures included): "
                  f"{took:.1f} s (target < 60 s), peak RSS {peak:.2f} GiB (target < 1 GiB)")


if __name__ == "__main__":
    main()
