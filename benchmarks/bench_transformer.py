"""Benchmark the anchor-task transformer (W3) against the PyTorch eager reference
`../shared/bench/torch_transformer.py`, side by side in one run: d_model 64, depth 2, one head,
batch 256, 60,000 training sequences, on this machine's cores.

Printed:
1. steady-state steps per second: condense from two runs of `train_transformer` that differ only
   in length (1,200 and 200 steps, the same compilations and snapshots), (1,000 steps) / (the
   difference of their times); the reference's own loop (300 steps after its warm-up), best of 2;
2. the same for 4 seeds trained at once (seed-steps per second);
3. a 3,000-step run as a whole process: `condense train --arch transformer --data anchors --n 60000
   --depth 2 --steps 3000` with a cold and a warm compilation cache, against `torch_transformer.py
   --steps 3000` (its 20-step warm-up included), wall clock.

    python benchmarks/bench_transformer.py --torch-python /tmp/torchenv/bin/python
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "bench" / "torch_transformer.py"


def condense_steady(seeds: int = 1) -> float:
    from condense_cli.data.anchors import make_anchors
    from condense_cli.transformer.training import TransformerConfig, train_transformer

    data = make_anchors(60000, 0)
    times = {}
    for steps in (200, 1200):
        cfg = TransformerConfig(n=60000, steps=steps, seeds=seeds, record_every=steps)
        start = time.perf_counter()
        train_transformer(cfg, data)
        times[steps] = time.perf_counter() - start
    return 1000 * seeds / (times[1200] - times[200])


def reference_steady(torch_python: str) -> float:
    out = subprocess.run([torch_python, str(REFERENCE), "--steps", "300"], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1].split(":")[1].split()[0])


def whole(cmd: list[str], cache: str = "off") -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "CONDENSE_CACHE_DIR": cache})
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--torch-python", default=os.environ.get("CONDENSE_TORCH_PYTHON"))
    a = ap.parse_args()
    ours = condense_steady(1)
    ref = max(reference_steady(a.torch_python) for _ in range(2)) if a.torch_python else 0.0
    ratio = f", {ours / ref:.2f}x the reference's {ref:.1f}" if ref else ""
    print(f"W3 steady state, 1 seed: condense {ours:.1f} steps/s{ratio} (target 1.5x)")
    print(f"W3 steady state, 4 seeds at once: condense {condense_steady(4):.1f} seed-steps/s")
    cmd = [sys.executable, "-c", "from condense_cli.cli import main; main()", "train", "--arch", "transformer",
           "--data", "anchors", "--n", "60000", "--depth", "2", "--steps", "3000", "--record-every", "3000", "-q"]
    from bench_images import breakdown, import_seconds  # this folder's own helpers

    imports = import_seconds("condense_cli.cli, condense_cli.transformer.training, jax, optax, flax.nnx")
    with tempfile.TemporaryDirectory() as tmp:
        cold = whole([*cmd, "--force", "--out", f"{tmp}/t.npz"], cache=f"{tmp}/cache")
        cold_parts = breakdown(Path(tmp) / "t.npz", cold, imports)
        warm = whole([*cmd, "--force", "--out", f"{tmp}/t.npz"], cache=f"{tmp}/cache")
        warm_parts = breakdown(Path(tmp) / "t.npz", warm, imports)
    print(f"  cold: {cold_parts}\n  warm: {warm_parts}")
    line = f"W3 3,000 steps as a whole `condense train` process: {cold:.1f} s cold cache, {warm:.1f} s warm"
    if a.torch_python:
        t_ref = whole([a.torch_python, str(REFERENCE), "--steps", "3000"])
        line += f"; reference {t_ref:.1f} s ({t_ref / cold:.2f}x / {t_ref / warm:.2f}x)"
    print(line)


if __name__ == "__main__":
    main()
