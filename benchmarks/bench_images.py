"""Benchmark training at MNIST size (W4a, W4b, W4c) against the PyTorch eager reference
`../shared/bench/torch_images.py`, side by side in one run.

The data: 60,000 random 28x28 images with 10 labels written as MNIST IDX files, plus a 10,000-image
official test set (t10k-*), so that condense trains on all 60,000 as the reference does; speed
does not depend on the pixels. The workloads (the reference's own settings):

- W4a: 784-1024-10 ReLU, SGD lr 0.05, minibatch 128, cross-entropy;
- W4b: initial-condensation Fig. 4b, 784-30-10 x^2 tanh, std 0.001, Adam 5e-5, full batch, MSE;
- W4c: one convolution (16 kernels 3x3, ReLU), 32 tanh units, 10 outputs, SGD lr 0.05, batch 64, CE.

Printed per workload, best of `--repeats` alternating runs (this machine's timings are noisy):
1. steps/s of the reference's loop, and of condense through the public `train` (a run of T steps
   with snapshots at 0 and T, everything `train` does included: the full-batch loss and training
   accuracy at both snapshots, the test accuracy, copying out), and their ratio;
2. steps/s of the compiled chunks alone (the same program and chunks `train` runs, called
   directly), the share of `train`'s wall time spent outside them; the same chunks without
   their events (training steps only: what the reference's loop computes, no full-batch pass
   over the 60,000 images at the snapshots), and the GFLOP/s those steps reach (forward and
   backward products, counted below) beside what XLA's own matrix product reaches on this
   machine (4096x784 times 784x1024, float32);
3. a one-epoch W4a run (375 steps, weights every 100 steps) as a whole `condense train` process,
   wall clock, cold and warm compilation cache (target: under 10 s).

    python benchmarks/bench_images.py --torch-python /tmp/torchenv/bin/python
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "bench" / "torch_images.py"

WORKLOADS = {  # name: (TrainConfig keywords, steps timed for condense, steps for the reference)
    "w4a": (dict(width=1024, act="relu", optimizer="sgd", lr=0.05, batch_size=128, loss="ce", init_std=0.03), 3000, 500),
    "w4b": (dict(width=30, act="x2tanh", optimizer="adam", lr=5e-5, loss="mse", init_std=0.001), 60, 30),
    "w4c": (dict(arch="cnn", channels=16, kernel=3, width=32, act=("relu", "tanh"), optimizer="sgd", lr=0.05,
                 batch_size=64, loss="ce", init_std=0.05), 2000, 300),
}


def write_data(folder: Path, n: int = 60000, n_test: int = 10000, seed: int = 0) -> None:
    """Random MNIST-shaped IDX files (uint8 pixels, labels 0..9), training and official test."""
    rng = np.random.default_rng(seed)

    def idx(array: np.ndarray) -> bytes:
        return struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", v) for v in array.shape) + array.tobytes()

    for prefix, count in (("train", n), ("t10k", n_test)):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx(rng.integers(0, 256, (count, 28, 28), np.uint8)))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(rng.integers(0, 10, count, np.uint8)))


def step_flops(spec, batch: int) -> float:
    """FLOPs of one training step's products: forward 2·MACs per example, backward 2·MACs for
    every weight gradient and 2·MACs for every input gradient but the first layer's (the data
    needs none), times the examples of the step."""
    macs = spec.macs_per_example()
    first = spec.fans[0] * spec.widths[0] * (int(np.prod(spec.conv_out)) if spec.conv is not None else 1)
    return 2.0 * batch * (3 * macs - first)


def matmul_gflops(repeats: int = 20) -> float:
    """XLA's float32 matrix product on this machine: 4096x784 times 784x1024, best of `repeats`."""
    import jax
    import jax.numpy as jnp

    a, b = jnp.ones((4096, 784), jnp.float32), jnp.ones((784, 1024), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * 4096 * 784 * 1024 / best / 1e9


def time_chunks(cfg, ds, events: bool = True) -> float:
    """Seconds of the compiled chunks `train` runs for `cfg` (one seed, float32) on `ds`, called
    directly with the same program, chunks, events and data, each chunk waited for as `train`
    waits for it; the host loop between chunks is not counted. Run after a `train` of the same
    config, so nothing compiles here. events=False: the same chunks with their events taken out
    (training steps only: no snapshot, no full-batch pass, no test count)."""
    import jax.numpy as jnp

    from condense_cli.training import plan_chunks, prepare
    from condense_cli.training.programs import programs
    from condense_cli.training.schedule import chunk_inputs, pass_steps

    _, spec, stds = prepare(cfg, ds)
    batch = cfg.batch_size  # None: full batch
    rec, L, Kc = plan_chunks(cfg, spec, len(ds.x), 4)  # the same chunks as `train` makes
    init, buffer, run_chunk = programs(spec, cfg.optimizer, batch, 1, L, Kc, "float32", float(cfg.dropout), cfg.loss,
                                       len(ds.x) if batch else 0, cfg.stop_at_loss_ratio is not None, ds.classification)
    n_chunks = -(-(cfg.steps + 1) // L)
    evs = chunk_inputs(rec, pass_steps(cfg, rec), L, Kc, n_chunks)  # as `train` sets them
    if not events:  # every row padding only
        evs = (np.full_like(evs[0], L), np.full_like(evs[1], Kc), np.zeros_like(evs[2]))
    x, y = jnp.asarray(ds.x, jnp.float32), jnp.asarray(ds.y, jnp.float32)
    test = ((jnp.asarray(ds.x_test, jnp.float32), jnp.asarray(ds.y_test, jnp.float32))
            if ds.classification and len(ds.x_test) else None)  # as `train` passes it
    ratio = -np.inf if cfg.stop_at_loss_ratio is None else cfg.stop_at_loss_ratio
    hyper = {"T": jnp.int32(cfg.steps), "lr": jnp.float32(cfg.lr), "ratio": jnp.float32(ratio)}
    state, buf = init([cfg.seed], stds), buffer()
    seconds = 0.0
    for c in range(n_chunks):
        start = time.perf_counter()
        state, losses, buf = run_chunk(state, buf, x, y, hyper, jnp.int32(c * L), *(jnp.asarray(a[c]) for a in evs),
                                       test)
        np.asarray(losses[0])
        seconds += time.perf_counter() - start
    return seconds


def condense_run(name: str, folder: Path, steps: int):
    """(seconds of `train` for `steps` steps, seconds of the same compiled chunks called alone,
    seconds of those chunks without their events (training steps only: no snapshot, no
    full-batch pass, no test accuracy), the NetSpec, the batch), after a first run compiled
    everything."""
    from condense_cli import TrainConfig, train
    from condense_cli.data import resolve
    from condense_cli.training import prepare

    kw = WORKLOADS[name][0]
    cfg = TrainConfig(data="mnist", data_dir=str(folder), steps=steps, snapshots=2, **kw)
    ds = resolve(cfg.data, cfg.n, cfg.data_seed, cfg.data_dir, cfg.test_fraction, cfg.test_set)
    train(cfg, dataset=ds)  # compiles
    start = time.perf_counter()
    train(cfg, dataset=ds)
    total = time.perf_counter() - start
    spec = prepare(cfg, ds)[1]
    return total, time_chunks(cfg, ds), time_chunks(cfg, ds, events=False), spec, cfg.batch_size or len(ds.x)


def reference_run(torch_python: str, name: str, steps: int, folder: Path) -> float:
    """Steps/s of the reference's own loop (it makes its own random data of the same size)."""
    out = subprocess.run([torch_python, str(REFERENCE), name, "--steps", str(steps)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1].split(":")[1].split()[0])


def condense_cmd() -> list[str]:
    exe = shutil.which("condense", path=str(Path(sys.executable).parent)) or shutil.which("condense")
    return [exe] if exe else [sys.executable, "-m", "condense_cli"]


def import_seconds(modules: str) -> float:
    """Wall clock of a Python process that only imports `modules` (what a command loads before it works)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
    return time.perf_counter() - start


def breakdown(run_file: Path, wall: float, imports: float) -> str:
    """Where a whole `condense train` process spent its time: the imports (a process that only
    imports), the run's own `timings` (data, setup, compile, training chunks or steps, snapshots,
    finishing), and the rest (writing the run file, exiting)."""
    import json

    import numpy as np

    with np.load(run_file) as f:
        meta = json.loads(str(f["meta"]))
    t = meta.get("timings", {})
    inside = sum(t.values())
    parts = [f"import {imports:.2f}"] + [f"{k} {v:.2f}" for k, v in t.items()]
    parts.append(f"write and exit {max(0.0, wall - imports - inside):.2f}")
    return ", ".join(parts) + " s"


def one_epoch(folder: Path, cache: Path) -> float:
    """Wall clock of `condense train` on W4a for the issue's epoch (375 steps of 128: 48,000 images),
    weights every 100 steps, as a whole process (start, data, compiling, training, run file)."""
    kw = WORKLOADS["w4a"][0]
    cmd = [*condense_cmd(), "train", "--data", "mnist", "--data-dir", str(folder), "--width", str(kw["width"]),
           "--act", "relu", "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "128", "--loss", "ce",
           "--init-std", "0.03", "--steps", "375", "--record-every", "100", "-q", "--force", "--out", str(folder / "epoch.npz")]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "CONDENSE_CACHE_DIR": str(cache)})
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--torch-python", default=os.environ.get("CONDENSE_TORCH_PYTHON"))
    ap.add_argument("--workloads", default="w4a,w4b,w4c")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-epoch", action="store_true")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_data(folder)
        ceiling = matmul_gflops()
        print(f"XLA float32 matrix product on this machine: {ceiling:.0f} GFLOP/s")
        for name in a.workloads.split(","):
            kw, steps, ref_steps = WORKLOADS[name]
            best_total = best_compiled = best_steps = float("inf")
            ref = 0.0
            for _ in range(a.repeats):  # alternate, so that both see the same machine
                total, compiled, steps_only, spec, batch = condense_run(name, folder, steps)
                best_total, best_compiled = min(best_total, total), min(best_compiled, compiled)
                best_steps = min(best_steps, steps_only)
                if a.torch_python:
                    ref = max(ref, reference_run(a.torch_python, name, ref_steps, folder))
            ours, alone, bare = steps / best_total, steps / best_compiled, steps / best_steps
            gflops = step_flops(spec, batch) * bare / 1e9
            ratio = f", {ours / ref:.2f}x the reference's {ref:.1f} steps/s" if ref else ""
            print(f"{name}: condense {ours:.1f} steps/s through `train` ({steps} steps in {best_total:.2f} s){ratio}; "
                  f"compiled chunks alone {alone:.1f} steps/s, {max(0.0, 1 - best_compiled / best_total):.1%} of "
                  f"the wall time outside them; training steps alone (no snapshot, no full-batch pass) {bare:.1f} "
                  f"steps/s, {gflops:.0f} GFLOP/s ({gflops / ceiling:.0%} of the matrix product's)")
        if not a.skip_epoch:
            imports = import_seconds("condense_cli.cli, condense_cli.training.loop, jax, optax")
            with tempfile.TemporaryDirectory() as cache:
                cold = one_epoch(folder, Path(cache))
                cold_parts = breakdown(folder / "epoch.npz", cold, imports)
                warm = one_epoch(folder, Path(cache))
                warm_parts = breakdown(folder / "epoch.npz", warm, imports)
            ref = ""
            if a.torch_python:
                start = time.perf_counter()
                reference_run(a.torch_python, "w4a", 375, folder)
                t_ref = time.perf_counter() - start
                ref = f"; the reference's whole process (375 steps) {t_ref:.2f} s: {t_ref / cold:.2f}x / {t_ref / warm:.2f}x"
            print(f"one-epoch W4a (375 steps, weights every 100 steps) as a whole process: {cold:.2f} s with a cold "
                  f"compilation cache, {warm:.2f} s warm (target: under 10 s){ref}")
            print(f"  cold: {cold_parts}")
            print(f"  warm: {warm_parts}")


if __name__ == "__main__":
    main()
