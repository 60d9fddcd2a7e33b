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

import numpy as np

os.environ.setdefault("CONDENSE_CACHE_DIR", "off")


def main() -> None:
    import jax.numpy as jnp

    from condense_cli import TrainConfig, train
    from condense_cli.training import plan_chunks, prepare
    from condense_cli.training.programs import programs
    from condense_cli.training.schedule import chunk_inputs, pass_steps

    cfg = TrainConfig(data="digits", arch="cnn", channels=16, kernel=3, width=32, act="relu", loss="ce",
                      init_std=0.1, optimizer="sgd", batch_size=64, lr=0.05, steps=20000, snapshots=100)
    train(cfg)  # compile
    start = time.perf_counter()
    result = train(cfg)
    total = time.perf_counter() - start

    ds, spec, stds = prepare(cfg)
    T = cfg.steps
    rec, L, Kc = plan_chunks(cfg, spec, len(ds.x), 4)  # the same chunks as `train` makes
    init, buffer, run_chunk = programs(spec, "sgd", 64, 1, L, Kc, "float32", 0.0, "ce", len(ds.x), False, True)

    n_chunks = -(-(T + 1) // L)
    events = chunk_inputs(rec, pass_steps(cfg, rec), L, Kc, n_chunks)  # as `train` sets them
    state = init([cfg.seed], stds)
    x, y = jnp.asarray(ds.x, jnp.float32), jnp.asarray(ds.y, jnp.float32)
    test = (jnp.asarray(ds.x_test, jnp.float32), jnp.asarray(ds.y_test, jnp.float32))  # as `train` passes it
    hyper = {"T": jnp.int32(T), "lr": jnp.float32(cfg.lr), "ratio": jnp.float32(-np.inf)}
    buf = buffer()
    compiled = 0.0
    for c in range(n_chunks):
        t0 = time.perf_counter()
        state, losses, buf = run_chunk(state, buf, x, y, hyper, jnp.int32(c * L),
                                       *(jnp.asarray(a[c]) for a in events), test)
        np.asarray(losses[0])
        compiled += time.perf_counter() - t0
    print(f"digits CNN, SGD batch 64, {T} steps: {T / total:,.0f} steps/s through `train` "
          f"({total:.2f} s, train accuracy {result.extra['train_acc'][0, -1]:.3f}, "
          f"test {result.extra['test_acc'][0, -1]:.3f})")
    print(f"compiled chunks alone: {compiled:.2f} s; share of time outside the compiled step: "
          f"{max(0.0, 1 - compiled / total):.1%}")


if __name__ == "__main__":
    main()
