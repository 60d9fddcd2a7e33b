"""Benchmark seeds sharded over the local devices: 8 seeds of a width-1000 network (the Fig. 2
setting, 5-1000-1 tanh, Adam, sin5d), trained through the public `train`, with the CPU as one
XLA device (which already spreads large products over the cores) and split into one device per
core (what `condense train --seeds S` does), best of 3 runs after compilation, alternated in
fresh processes. Also printed: the same on a single core (taskset), the yardstick of "one
device, one core" (Linux only).

    python benchmarks/bench_seeds.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

CODE = """
import time, jax
from condense_cli import TrainConfig, train
cfg = TrainConfig(width=1000, seeds={seeds}, steps={steps})
train(cfg)  # compiles
best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    train(cfg)
    best = min(best, time.perf_counter() - start)
print(len(jax.devices()), cfg.seeds * cfg.steps / best)
"""


def run(devices: int, seeds: int = 8, steps: int = 3000, one_core: bool = False) -> tuple[int, float]:
    env = {**os.environ, "CONDENSE_CACHE_DIR": "off",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    cmd = [sys.executable, "-c", CODE.format(seeds=seeds, steps=steps)]
    if one_core:
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    n, rate = out.stdout.split()
    return int(n), float(rate)


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    best = {"one device": 0.0, "split": 0.0}
    for _ in range(2):  # alternate: this machine's timings drift
        best["one device"] = max(best["one device"], run(1)[1])
        n, rate = run(cores)
        best["split"] = max(best["split"], rate)
    print(f"8 seeds, width 1000, 3000 steps: one XLA device {best['one device']:,.0f} seed-steps/s; "
          f"{n} devices (one per core) {best['split']:,.0f} seed-steps/s: {best['split'] / best['one device']:.2f}x")
    if shutil.which("taskset"):
        single = run(1, one_core=True)[1]
        print(f"one device on one core: {single:,.0f} seed-steps/s; the {n} devices give "
              f"{best['split'] / single:.2f}x that")


if __name__ == "__main__":
    main()
