"""Benchmark minibatch training of the digits CNN: steps per second, and the share of wall time
spent outside the compiled step (host loop, transfers, snapshot copies).

Network: 8x8 digits -> 16 channels of 3x3 kernels (ReLU) -> 32 (ReLU) -> 10, cross-entropy,
SGD with batches of 64 (epochs reshuffled inside the compiled step), 20,000 steps, 100
snapshots. The compiled chunks alone are timed by calling the cached program directly on the
same state; the share outside is 1 − (their time / the time of `train`).

    python benchmarks/bench_cnn.py
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("CONDENSE_CACHE_DIR", "off")


def main() -> None:
    from bench_images import time_chunks  # this folder's own helper (the script's folder is on sys.path)
    from condense_cli import TrainConfig, train
    from condense_cli.training import prepare

    cfg = TrainConfig(data="digits", arch="cnn", channels=16, kernel=3, width=32, act="relu", loss="ce",
                      init_std=0.1, optimizer="sgd", batch_size=64, lr=0.05, steps=20000, snapshots=100)
    train(cfg)  # compile
    start = time.perf_counter()
    result = train(cfg)
    total = time.perf_counter() - start
    T = cfg.steps
    compiled = time_chunks(cfg, prepare(cfg)[0])
    print(f"digits CNN, SGD batch 64, {T} steps: {T / total:,.0f} steps/s through `train` "
          f"({total:.2f} s, train accuracy {result.extra['train_acc'][0, -1]:.3f}, "
          f"test {result.extra['test_acc'][0, -1]:.3f})")
    print(f"compiled chunks alone: {compiled:.2f} s; share of time outside the compiled step: "
          f"{max(0.0, 1 - compiled / total):.1%}")


if __name__ == "__main__":
    main()
