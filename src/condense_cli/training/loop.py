"""Training: one compiled program per run, S seeds at once, snapshots from the scan.

`TrainConfig` (frozen) says what to train; `train(config, progress=None)` returns a
`TrainResult` whose arrays follow the run-file contract (`condense.run/2`; /1 plus meta "arch", "layers"):
loss (S, T+1), step (K,), hidden[l] (S, K, m_l, fan_in_l+1), out (S, K, d_out, m_L+1).

Design: a step function closed over the config evaluates the full-batch loss at step t, writes
the parameters into a snapshot slot when t is a recorded step, and updates. Only where the final
weights are read (early stop, a ResNet18 trunk) is the update skipped once t = T, the seed has
stopped or its loss is not finite; elsewhere steps past T or after a non-finite loss are simply
discarded by the host. `lax.scan` runs the step over a chunk of steps inside `jit`, `vmap` over
seeds; the host only loops over chunks (each about a quarter second of work, `chunk_plan`) to
move a progress bar, stop early and keep finished work when interrupted. Chunk c+1 is launched before chunk c's results are
copied out, and two donated snapshot buffers take turns, so the copying overlaps the computing.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from .. import __version__
from ..data import Dataset, resolve
from ..errors import BadInput, RunFailure
from ..nn import activations
from ..run import SCHEMA, TrainResult
from .config import DEFAULT_INIT_STD, TrainConfig
from .programs import _recorded, programs
from .schedule import plan_chunks

def prepare(config: TrainConfig, dataset: Dataset | None = None):
    """Validate the config and build (dataset, NetSpec, init stds). Raises BadInput."""
    from ..nn.models import NetSpec
    from ..nn.init import gamma_stds

    config.validate()
    ds = dataset if dataset is not None else resolve(config.data, config.n, config.data_seed, config.data_dir,
                                                     config.test_fraction)
    if config.loss == "ce" and not (ds.y.shape[1] >= 2 and ds.classification):
        raise BadInput("--loss ce needs a classification data set (digits, mnist, fashion-mnist, cifar10, cifar100)")
    if config.batch_size is not None and config.batch_size > len(ds.x):
        raise BadInput(f"--batch-size {config.batch_size} exceeds the {len(ds.x)} training points")
    conv = trunk = None
    if config.arch in ("cnn", "resnet18"):
        if "image" not in ds.spec:
            raise BadInput(f"--arch {config.arch} needs image data (digits, mnist, fashion-mnist, cifar10, "
                           f"cifar100), not {ds.spec.get('name')!r}")
        image = tuple(int(v) for v in ds.spec["image"])
        if config.arch == "cnn":
            conv = (int(config.kernel), image)
        else:
            trunk = ("resnet18", int(config.trunk_width), image)
    spec = NetSpec(d=ds.x.shape[1], widths=config.layer_widths(), d_out=ds.y.shape[1],
                   acts=config.activation_names(), alpha=float(config.alpha),
                   residual=config.residual, output_bias=config.output_bias, conv=conv, trunk=trunk)
    if config.gamma is not None:
        stds = gamma_stds(spec, config.gamma)
    else:
        given = DEFAULT_INIT_STD if config.init_std is None else config.init_std
        given = tuple(given) if isinstance(given, tuple) else (float(given),)
        stds = [float(v) for v in given] * (len(spec.widths) + 1 if len(given) == 1 else 1)
    return ds, spec, stds


def train(config: TrainConfig, progress: Callable[[int, int], None] | None = None,
          dataset: Dataset | None = None, initial_params: dict | None = None) -> TrainResult:
    """Train `config.seeds` networks at once; returns every finite step computed.

    `progress(done, total)` is called after each compiled chunk. A KeyboardInterrupt between
    or during chunks ends training early and the result keeps every completed chunk
    (meta status "stopped", reason "interrupted"). `stop_at_loss_ratio` ends a run early with
    status "finished" and the reason in meta. A non-finite loss stops the run: the result
    keeps the steps before it and meta says at which step; the caller decides the exit code.
    `initial_params` (one network's `models` layout, NumPy) starts every seed from those
    weights instead of a random draw (e.g. fine-tuning a reduced network); the widths of the
    config must match them.
    """
    from ..runtime import x64

    ds, spec, stds = prepare(config, dataset)
    with x64(config.x64):  # float64 only inside this run: JAX's global flag is left as it was
        return _train(config, progress, ds, spec, stds, initial_params)


def _train(config: TrainConfig, progress, ds: Dataset, spec, stds: list[float], initial_params) -> TrainResult:
    """The body of `train`, run inside the run's precision."""
    import jax
    import jax.numpy as jnp

    dtype = jnp.float64 if config.x64 else jnp.float32
    if config.x64 and jnp.zeros(()).dtype != jnp.float64:  # pragma: no cover
        raise RunFailure("--x64 was asked for but JAX could not enable float64")
    started = time.perf_counter()
    T, S = config.steps, config.seeds
    batch = config.batch_size if config.optimizer == "sgd" else None  # None: full batch
    rec, L, Kc = plan_chunks(config, spec, len(ds.x), np.dtype(dtype).itemsize)
    n_chunks = math.ceil((T + 1) / L)
    chunk_of = rec // L

    init, buffer, run_chunk = programs(spec, config.optimizer, batch, S, L, Kc, jnp.dtype(dtype).name,
                                        float(config.dropout), config.loss, len(ds.x) if batch else 0,
                                        config.stop_at_loss_ratio is not None)
    state = init([config.seed + s for s in range(S)], stds)
    if initial_params is not None:
        if spec.trunk is not None:
            raise BadInput("starting from given parameters is not supported for a ResNet18 trunk")
        shapes = [tuple(np.shape(w)) for w in [*initial_params["hidden"], initial_params["out"]]]
        if shapes != [tuple(s) for s in spec.shapes]:
            raise BadInput(f"initial parameters have shapes {shapes}, the network needs {spec.shapes}")
        state["params"] = jax.tree.map(lambda a: np.broadcast_to(np.asarray(a, dtype), (S,) + np.shape(a)).copy(),
                                       {"hidden": list(initial_params["hidden"]), "out": initial_params["out"]})
    x, y = jnp.asarray(ds.x, dtype), jnp.asarray(ds.y, dtype)
    ratio = config.stop_at_loss_ratio
    hyper = {"T": jnp.int32(T), "lr": jnp.asarray(config.lr, dtype),
             "ratio": jnp.asarray(-np.inf if ratio is None else ratio, dtype)}

    # Host copies of everything recorded, filled chunk by chunk (what survives an interrupt).
    loss_host = np.empty((S, T + 1), dtype)
    snap_host = jax.tree.map(lambda leaf: np.empty((S, len(rec)) + leaf.shape[1:], leaf.dtype),
                             _recorded(state["params"]))
    status, reason, nan_step, stop_steps = "finished", None, None, None
    evals = recorded = 0  # steps evaluated and snapshots taken so far
    try:
        # Two snapshot buffers take turns: chunk c+1 is launched (JAX runs it asynchronously)
        # before chunk c's results are copied to the host, so the copying overlaps the
        # computing; after a stop, the chunk in flight is simply not used.
        spare = [buffer() for _ in range(min(2, n_chunks))]

        def launch(c, state):
            slots = np.full(L, Kc, dtype=np.int32)
            mine = rec[chunk_of == c]
            slots[mine - c * L] = np.arange(len(mine), dtype=np.int32)
            return run_chunk(state, spare.pop(), x, y, hyper, jnp.int32(c * L), jnp.asarray(slots))

        pending = launch(0, state)
        for c in range(n_chunks):
            state, chunk_loss, chunk_snap = pending
            if c + 1 < n_chunks:
                pending = launch(c + 1, state)
            t0 = c * L
            mine = rec[chunk_of == c]
            valid = min(L, T + 1 - t0)
            chunk_loss = np.asarray(chunk_loss)[:valid].T  # (S, valid): waits for the chunk
            k = len(mine)
            jax.tree.map(lambda host, dev: host.__setitem__((slice(None), slice(recorded, recorded + k)),
                                                             np.asarray(dev)[:, :k]), snap_host, chunk_snap)
            spare.append(chunk_snap)
            loss_host[:, t0:t0 + valid] = chunk_loss
            evals, recorded = t0 + valid, recorded + k
            if progress is not None:
                progress(evals - 1, T)
            bad = ~np.isfinite(chunk_loss).all(axis=0)
            if bad.any():
                nan_step = int(t0 + np.argmax(bad))
                status, reason = "stopped", f"loss became non-finite at step {nan_step}"
                break
            if config.stop_at_loss_ratio is not None and np.asarray(state["stopped"]).all():
                stop_steps = np.asarray(state["stop_step"])  # asked for: the run is finished
                reason = (f"stopped early as asked: the loss reached {config.stop_at_loss_ratio} of its "
                          f"initial value (step {int(stop_steps.max())})")
                break
    except KeyboardInterrupt:
        status, reason = "stopped", "interrupted"
        if evals == 0:
            raise RunFailure("interrupted before the first chunk of training finished; nothing to keep") from None

    if nan_step is not None:
        last = nan_step - 1
    elif stop_steps is not None:
        last = int(stop_steps.max())
    else:
        last = evals - 1
    if last < 0:
        raise RunFailure("the loss is not finite at step 0 (check the data and initialization)")
    loss = loss_host[:, : last + 1]
    kept = int(np.searchsorted(rec[:recorded], last, side="right"))  # recorded steps <= last
    steps_kept = rec[:kept]
    hidden = [w[:, :kept] for w in snap_host["hidden"]]  # (S, K, m, fan+1)
    out = snap_host["out"][:, :kept]
    if stop_steps is not None and steps_kept[-1] < last:
        # Stopped seeds are frozen at their stop step: the final state is their final weights.
        final = jax.tree.map(np.asarray, state["params"])
        hidden = [np.concatenate([h, f[:, None]], 1) for h, f in zip(hidden, final["hidden"])]
        out = np.concatenate([out, final["out"][:, None]], 1)
        steps_kept = np.concatenate([steps_kept, [last]])

    extra = {}
    trunk = None
    if spec.trunk is not None:  # the trunk at the last step: enough to rebuild the final network
        trunk = [np.asarray(k) for k in state["params"]["trunk"]]
        extra.update({f"trunk_{i}": k for i, k in enumerate(trunk)})
    if ds.classification:
        extra.update(_accuracies(spec, hidden, out, ds, dtype, trunk))
    seconds = time.perf_counter() - started
    meta = {
        "schema": SCHEMA,
        "version": __version__,
        "config": config.to_dict(),
        "activation": list(spec.acts),
        "multiplicity": [activations.multiplicity(a) for a in spec.acts],
        "widths": list(spec.widths),
        "depth": len(spec.widths),
        "arch": config.arch,
        "layers": spec.layer_kinds(),
        "trunk": None if spec.trunk is None else {
            "name": "resnet18", "width": spec.trunk[1], "features": 8 * spec.trunk[1], "image": list(spec.trunk[2]),
            "init": "He-normal (std sqrt(2/fan_in)), no batch normalization, ReLU",
            "recorded": "final kernels only, as trunk_0..trunk_N (S, out, in, k, k)"},
        "d": spec.d,
        "d_out": spec.d_out,
        "alpha": spec.alpha,
        "residual": spec.residual,
        "output_bias": spec.output_bias,
        "init_std": None if initial_params is not None else stds,
        "initialized_from": "given parameters" if initial_params is not None else "random",
        "init_std_layers": [f"w{l + 1}" for l in range(len(spec.widths))] + ["a"],
        "optimizer": config.optimizer,
        "lr": config.lr,
        "dropout": config.dropout,
        "loss": config.loss,
        "steps_requested": T,
        "steps_done": int(last),
        "seeds": [config.seed + s for s in range(S)],
        "data": ds.spec,
        "dtype": "float64" if config.x64 else "float32",
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "status": status,
        "reason": reason,
        "stop_step": None if stop_steps is None else [int(s) for s in stop_steps],
        "seconds": seconds,
    }
    return TrainResult(x=np.asarray(ds.x, np.float64), y=np.asarray(ds.y, np.float64),
                       loss=loss, step=steps_kept.astype(np.int64), hidden=hidden, out=out, meta=meta,
                       extra=extra)


def _accuracies(spec, hidden, out, ds, dtype, trunk=None) -> dict:
    """Train and test accuracy (S, K) of every recorded snapshot (argmax of f against the
    one-hot label), data in batches of 4,096 so memory stays bounded; plus x_test, y_test.
    With a trunk (recorded only at the end) only the last snapshot is evaluated, the rest NaN."""
    import jax
    import jax.numpy as jnp

    from ..nn.models import forward

    @jax.jit
    def correct(params, xb, yb):  # params with leading (S, K) axes -> (S, K) counts
        f = jax.vmap(jax.vmap(lambda p: forward(p, xb, spec)))(params)
        return jnp.sum(jnp.argmax(f, -1) == jnp.argmax(yb, -1)[None, None], axis=-1)

    K_total = out.shape[1]
    if trunk is not None:
        hidden, out = [w[:, -1:] for w in hidden], out[:, -1:]
    params = {"hidden": [jnp.asarray(w, dtype) for w in hidden], "out": jnp.asarray(out, dtype)}
    if trunk is not None:  # the same trunk for every seed's last snapshot: broadcast over (S, 1)
        params["trunk"] = [jnp.broadcast_to(jnp.asarray(k, dtype)[:, None], k.shape[:1] + (1,) + k.shape[1:])
                           for k in trunk]
    result = {"x_test": ds.x_test.astype(np.float32), "y_test": ds.y_test.astype(np.float32)}
    for name, x, y in (("train_acc", ds.x, ds.y), ("test_acc", ds.x_test, ds.y_test)):
        total = np.zeros(out.shape[:2])
        for i in range(0, len(x), 4096):
            total += np.asarray(correct(params, jnp.asarray(x[i:i + 4096], dtype), jnp.asarray(y[i:i + 4096], dtype)))
        result[name] = total / max(len(x), 1) if len(x) else np.full(out.shape[:2], np.nan)
        if trunk is not None:
            result[name] = np.concatenate([np.full((out.shape[0], K_total - 1), np.nan), result[name]], axis=1)
    return result
