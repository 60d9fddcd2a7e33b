"""Training: one compiled program per run, S seeds at once, snapshots from the scan.

`TrainConfig` (frozen) says what to train; `train(config, progress=None)` returns a
`TrainResult` whose arrays follow the run-file contract (`condense.run/3`): loss (S, J) at loss_step
(J,) (every step of full-batch training; a minibatch run's loss steps, `loss_steps`), batch_loss
(S, T+1) for minibatch training, step (K,), hidden[l] (S, K, m_l, fan_in_l+1), out (S, K, d_out, m_L+1).

Design: a training step function closed over the config evaluates the loss of step t and
updates; at the chunk's events (`chunk_inputs`: recorded steps, minibatch training's full-batch
passes) an event function writes the parameters into a snapshot slot, takes the full-batch loss
and counts the test points classified right, so that between events the compiled loop runs
nothing but training steps. Only where the final weights are read (early stop, a ResNet18 trunk,
several seeds) is the update skipped once t = T, the seed has stopped or its loss is not finite;
elsewhere steps past T or after a non-finite loss are simply discarded by the host. Inside `jit`,
`vmap` over seeds, a `lax.scan` over a chunk's events runs the steps before each in a loop; the
host only loops over chunks (each about a quarter second of work, `chunk_plan`) to move a
progress bar, stop early and keep finished work when interrupted. Chunk c+1 is launched before
chunk c's results are copied out, and two donated snapshot buffers take turns, so the copying
overlaps the computing.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import __version__
from ..data import Dataset, resolve
from ..errors import BadInput, RunFailure
from ..nn import activations
from ..run import SCHEMA, TrainResult
from .config import DEFAULT_INIT_STD, TrainConfig
from .host import Ending, drive
from .programs import _recorded, data_block, programs
from .schedule import chunk_inputs, loss_steps, pass_steps, plan_chunks

def prepare(config: TrainConfig, dataset: Dataset | Callable[[], Dataset] | None = None):
    """Validate the config and build (dataset, NetSpec, init stds); `dataset` given, or a function
    that returns it (`data.resolve_in_background`), or None: read by the config. Raises BadInput."""
    from ..nn.models import NetSpec
    from ..nn.init import gamma_stds
    from .config import check_memory

    config.validate()
    if callable(dataset):
        dataset = dataset()
    ds = dataset if dataset is not None else resolve(config.data, config.n, config.data_seed, config.data_dir,
                                                     config.test_fraction, config.test_set)
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
    check_memory(config, spec, len(ds.x))
    if config.gamma is not None:
        stds = gamma_stds(spec, config.gamma)
    else:
        given = DEFAULT_INIT_STD if config.init_std is None else config.init_std
        given = tuple(given) if isinstance(given, tuple) else (float(given),)
        stds = [float(v) for v in given] * (len(spec.widths) + 1 if len(given) == 1 else 1)
    return ds, spec, stds


def data_arrays(ds: Dataset) -> dict[str, np.ndarray]:
    """The run file's data members: x (n, d) (images from pixel files stay float32), y (n, d_out)
    float64, and for classification data the test set x_test, y_test (float32)."""
    arrays = {"x": np.asarray(ds.x, np.float32 if ds.x.dtype == np.float32 else np.float64),
              "y": np.asarray(ds.y, np.float64)}
    if ds.classification:
        arrays.update(x_test=np.asarray(ds.x_test, np.float32), y_test=np.asarray(ds.y_test, np.float32))
    return arrays


def train(config: TrainConfig, progress: Callable[[int, int], None] | None = None,
          dataset: Dataset | Callable[[], Dataset] | None = None, initial_params: dict | None = None,
          on_data: Callable[[dict[str, np.ndarray]], None] | None = None) -> TrainResult:
    """Train `config.seeds` networks at once; returns every finite step computed.

    `progress(done, total)` is called after each compiled chunk. A KeyboardInterrupt between
    or during chunks ends training early and the result keeps every completed chunk
    (meta status "stopped", reason "interrupted"). `stop_at_loss_ratio` ends a run early with
    status "finished" and the reason in meta. A non-finite loss stops the run: the result
    keeps the steps before it and meta says at which step; the caller decides the exit code.
    `initial_params` (one network's `models` layout, NumPy) starts every seed from those
    weights instead of a random draw (e.g. fine-tuning a reduced network); the widths of the
    config must match them. `dataset`: the data to train on instead of the config's, or a
    function returning it (`data.resolve_in_background`, waited for after the config is checked).
    `on_data(arrays)`: called once the data is read, before anything is compiled, with the
    result's own data arrays (`data_arrays`; the very objects the result will hold, not to be
    changed), e.g. to start writing them (`io.StagedNpz.begin`) while the run trains.
    """
    from ..runtime import x64

    start = time.perf_counter()
    ds, spec, stds = prepare(config, dataset)
    data_seconds = time.perf_counter() - start
    data = data_arrays(ds)
    if on_data is not None:
        on_data(data)
    with x64(config.x64):  # float64 only inside this run: JAX's global flag is left as it was
        result = _train(config, progress, ds, data, spec, stds, initial_params)
    result.meta["timings"] = {"data": round(data_seconds, 4), **result.meta["timings"]}
    return result


@dataclass
class _Outcome:
    """What the chunk loop computed: host copies of the full-batch loss (S, T+1; NaN at the
    steps it was not taken), the loss each step was taken on (S, T+1) and the snapshots, how far
    it got, the device state, and why it stopped."""

    loss: np.ndarray
    step_loss: np.ndarray
    right: np.ndarray  # (S, T+1) training points classified right where the full-batch loss was taken
    test_right: np.ndarray  # (S, T+1) test points classified right at the recorded steps (−1 elsewhere)
    snapshots: dict
    state: dict
    evals: int = 0  # steps evaluated
    recorded: int = 0  # snapshots taken
    nan_step: int | None = None
    stop_steps: np.ndarray | None = None
    ending: Ending = field(default_factory=Ending)  # status, reason, each seed's failure step (several seeds)


def _train(config: TrainConfig, progress, ds: Dataset, data: dict[str, np.ndarray], spec, stds: list[float],
           initial_params) -> TrainResult:
    """The body of `train`, run inside the run's precision: plan, start, run the chunks, keep
    the finite steps, evaluate accuracies, describe the run."""
    import jax.numpy as jnp

    dtype = jnp.float64 if config.x64 else jnp.float32
    if config.x64 and jnp.zeros(()).dtype != jnp.float64:  # pragma: no cover
        raise RunFailure("--x64 was asked for but JAX could not enable float64")
    started = time.perf_counter()
    batch = config.batch_size  # None: full batch
    rec, L, Kc = plan_chunks(config, spec, len(ds.x), np.dtype(dtype).itemsize)
    taken = loss_steps(config, rec)
    init, buffer, run_chunk = programs(spec, config.optimizer, batch, config.seeds, L, Kc, jnp.dtype(dtype).name,
                                       float(config.dropout), config.loss, len(ds.x) if batch else 0,
                                       config.stop_at_loss_ratio is not None, ds.classification)
    state = _start_state(init(_seeds(config), stds), spec, initial_params, dtype, config.seeds)
    shard = seed_sharding(config.seeds)
    if shard is not None:  # the seeds split over the local devices: each runs its share of the vmapped step
        import jax

        state, plain = jax.device_put(state, shard), buffer
        buffer = lambda: jax.device_put(plain(), shard)  # noqa: E731
    timings = {"setup": time.perf_counter() - started}  # the programs built, the initial draws (compiled, run)
    outcome = _run_chunks(config, ds, state, buffer, run_chunk, rec, taken, L, Kc, dtype, progress, timings)
    finishing = time.perf_counter()
    last, steps_kept, hidden, out = _keep_finite(outcome, rec)
    loss_step = taken[taken <= last]
    extra, trunk = {}, None
    if spec.trunk is not None:  # the trunk at the last step: enough to rebuild the final network
        trunk = [np.asarray(k) for k in outcome.state["params"]["trunk"]]
        extra.update({f"trunk_{i}": k for i, k in enumerate(trunk)})
    if ds.classification:  # both counted inside the training program
        extra.update(x_test=data["x_test"], y_test=data["y_test"],
                     train_acc=outcome.right[:, steps_kept] / len(ds.x),
                     test_acc=_test_accuracy(outcome.test_right[:, steps_kept], spec, hidden, out, ds, dtype, trunk))
    meta = _meta(config, spec, ds, stds, initial_params, last, outcome, time.perf_counter() - started)
    meta["seed_devices"] = 1 if shard is None else int(shard.mesh.devices.size)  # devices the seeds were split over
    # where the time went (seconds): reading the data, setting up (the initial draws), compiling the training
    # program (its first call), the compiled chunks (training steps, snapshots and full-batch passes, copied
    # out as they finish), the host's finishing work (test accuracies, the result)
    timings["finish"] = time.perf_counter() - finishing
    meta["timings"] = {k: round(v, 4) for k, v in timings.items()}
    return TrainResult(x=data["x"], y=data["y"],
                       loss=outcome.loss[:, loss_step], step=steps_kept.astype(np.int64), hidden=hidden, out=out,
                       meta=meta, extra=extra, loss_step=loss_step,
                       batch_loss=outcome.step_loss[:, : last + 1] if batch is not None else None)


def seed_sharding(S: int):
    """How S seeds are laid out: a `NamedSharding` of their leading axis over the largest number
    (> 1) of local devices that divides S (on CPU one device per core when the command split the
    CPU, `runtime.split_cpu_into_devices`), or None (one device, or one seed)."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.local_devices()
    nd = max(k for k in range(1, min(len(devices), S) + 1) if S % k == 0)
    if nd < 2:
        return None
    return NamedSharding(Mesh(np.array(devices[:nd]), ("seeds",)), PartitionSpec("seeds"))


def _seeds(config: TrainConfig) -> list[int]:
    return [config.seed + s for s in range(config.seeds)]


def _start_state(state: dict, spec, initial_params: dict | None, dtype, S: int) -> dict:
    """The initial state: random draws (from `init`), or every seed from the given parameters."""
    import jax

    if initial_params is None:
        return state
    if spec.trunk is not None:
        raise BadInput("starting from given parameters is not supported for a ResNet18 trunk")
    shapes = [tuple(np.shape(w)) for w in [*initial_params["hidden"], initial_params["out"]]]
    if shapes != [tuple(s) for s in spec.shapes]:
        raise BadInput(f"initial parameters have shapes {shapes}, the network needs {spec.shapes}")
    state["params"] = jax.tree.map(lambda a: np.broadcast_to(np.asarray(a, dtype), (S,) + np.shape(a)).copy(),
                                   {"hidden": list(initial_params["hidden"]), "out": initial_params["out"]})
    return state


def _run_chunks(config: TrainConfig, ds: Dataset, state: dict, buffer, run_chunk, rec: np.ndarray, taken: np.ndarray,
                L: int, Kc: int, dtype, progress, timings: dict | None = None) -> _Outcome:
    """Run the compiled chunks, copying losses and snapshots to the host as each finishes; stop
    at a non-finite loss, when every seed reached the asked loss ratio, or on Ctrl-C. `taken`:
    the steps whose full-batch loss is computed."""
    import jax
    import jax.numpy as jnp

    T, S = config.steps, config.seeds
    n_chunks = math.ceil((T + 1) / L)
    chunk_of = rec // L
    x, y = jnp.asarray(ds.x, dtype), jnp.asarray(ds.y, dtype)
    test = (jnp.asarray(ds.x_test, dtype), jnp.asarray(ds.y_test, dtype)) if ds.classification and len(ds.x_test) else None
    ratio = config.stop_at_loss_ratio
    hyper = {"T": jnp.int32(T), "lr": jnp.asarray(config.lr, dtype),
             "ratio": jnp.asarray(-np.inf if ratio is None else ratio, dtype)}
    ev_steps, ev_slots, ev_takes = chunk_inputs(rec, pass_steps(config, rec), L, Kc, n_chunks)
    takes = np.zeros(n_chunks * L, bool)
    takes[taken] = True
    takes = takes.reshape(n_chunks, L)  # per step: whether its full-batch loss is taken
    o = _Outcome(loss=np.full((S, T + 1), np.nan, dtype), step_loss=np.empty((S, T + 1), dtype),
                 right=np.full((S, T + 1), -1, np.int64), test_right=np.full((S, T + 1), -1, np.int64), state=state,
                 snapshots=jax.tree.map(lambda leaf: np.empty((S, len(rec)) + leaf.shape[1:], leaf.dtype),
                                        _recorded(state["params"])))
    # Two snapshot buffers take turns: chunk c+1 is launched (JAX runs it asynchronously) before
    # chunk c's results are copied to the host (`host.drive`, pipelined), so the copying overlaps
    # the computing; after a stop, the chunk in flight is simply not used.
    spare, clock = [], {}

    def launch(c, state):
        if c == 0:  # (inside `drive`: Ctrl-C while the buffers are made is an interruption like any other)
            spare.extend(buffer() for _ in range(min(2, n_chunks)))
            clock["compiling"] = time.perf_counter()
        pending = run_chunk(state, spare.pop(), x, y, hyper, jnp.int32(c * L), jnp.asarray(ev_steps[c]),
                            jnp.asarray(ev_slots[c]), jnp.asarray(ev_takes[c]), test)
        if c == 0:  # the first call compiles (or loads from the cache), then runs asynchronously
            clock["running"] = time.perf_counter()
            if timings is not None:
                timings["compile"] = clock["running"] - clock["compiling"]
        return pending

    def absorb(c, pending):
        o.state, (chunk_loss, chunk_step_loss, chunk_right, chunk_test), chunk_snap = pending
        t0 = c * L
        valid = min(L, T + 1 - t0)
        chunk_loss = np.asarray(chunk_loss)[:valid].T  # (S, valid): waits for the chunk
        chunk_step_loss = np.asarray(chunk_step_loss)[:valid].T
        chunk_takes = takes[c, :valid]
        k = int(np.sum(chunk_of == c))
        jax.tree.map(lambda host, dev: host.__setitem__((slice(None), slice(o.recorded, o.recorded + k)),
                                                         np.asarray(dev)[:, :k]), o.snapshots, chunk_snap)
        spare.append(chunk_snap)
        o.loss[:, t0:t0 + valid] = np.where(chunk_takes, chunk_loss, np.nan)
        o.step_loss[:, t0:t0 + valid] = chunk_step_loss
        o.right[:, t0:t0 + valid] = np.asarray(chunk_right)[:valid].T
        o.test_right[:, t0:t0 + valid] = np.asarray(chunk_test)[:valid].T
        o.evals, o.recorded = t0 + valid, o.recorded + k
        if S > 1:  # a failed seed is frozen inside the program; the run stops only when all have failed
            bad = np.zeros(valid, bool)
            if o.ending.seeds_failed(o.state["fail_step"]):
                bad[min(max(int(o.ending.fail_steps.max()) - t0, 0), valid - 1)] = True
        else:
            bad = ~np.isfinite(chunk_step_loss).all(axis=0) | (chunk_takes & ~np.isfinite(chunk_loss).all(axis=0))
        if bad.any():
            o.nan_step = int(t0 + np.argmax(bad))
            o.ending.status, o.ending.reason = "stopped", f"loss became non-finite at step {o.nan_step}"
            return o.state, o.evals - 1, True
        if ratio is not None and np.asarray(o.state["stopped"]).all():
            o.stop_steps = np.asarray(o.state["stop_step"])  # asked for: the run is finished
            o.ending.reason = (f"stopped early as asked: the loss reached {ratio} of its "
                               f"initial value (step {int(o.stop_steps.max())})")
            return o.state, o.evals - 1, True
        return o.state, o.evals - 1, False

    drive(n_chunks, state, launch, absorb, o.ending, progress, T, state_of=lambda pending: pending[0])
    if timings is not None and "running" in clock:
        timings["chunks"] = time.perf_counter() - clock["running"]
    return o


def _keep_finite(o: _Outcome, rec: np.ndarray):
    """(last kept step, kept recorded steps (K,), hidden [(S, K, m, fan+1)], out (S, K, d_out, m+1)):
    every step before a non-finite loss, up to the last stop when asked to stop early (stopped
    seeds are frozen there: their final weights close the record)."""
    import jax

    if o.nan_step is not None:
        last = o.nan_step - 1
    elif o.stop_steps is not None:
        last = int(o.stop_steps.max())
    else:
        last = o.evals - 1
    if last < 0:
        raise RunFailure("the loss is not finite at step 0 (check the data and initialization)")
    kept = int(np.searchsorted(rec[:o.recorded], last, side="right"))  # recorded steps <= last
    steps_kept = rec[:kept]
    hidden = [w[:, :kept] for w in o.snapshots["hidden"]]
    out = o.snapshots["out"][:, :kept]
    if o.stop_steps is not None and steps_kept[-1] < last:
        final = jax.tree.map(np.asarray, o.state["params"])
        hidden = [np.concatenate([h, f[:, None]], 1) for h, f in zip(hidden, final["hidden"])]
        out = np.concatenate([out, final["out"][:, None]], 1)
        steps_kept = np.concatenate([steps_kept, [last]])
    return last, steps_kept, hidden, out


def _meta(config: TrainConfig, spec, ds: Dataset, stds, initial_params, last: int, o: _Outcome,
          seconds: float) -> dict:
    """The run file's meta: the config, the network, the data, how the run ended."""
    import jax

    return {
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
        "steps_requested": config.steps,
        "steps_done": int(last),
        "seeds": _seeds(config),
        "data": ds.spec,
        "dtype": "float64" if config.x64 else "float32",
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "status": o.ending.status,
        "reason": o.ending.reason,
        "stop_step": None if o.stop_steps is None else [int(s) for s in o.stop_steps],
        "failed_seeds": o.ending.failed_seeds(_seeds(config)),
        "seconds": seconds,
    }


def _test_accuracy(counted: np.ndarray, spec, hidden, out, ds, dtype, trunk=None) -> np.ndarray:
    """Test accuracy (S, K) of every recorded snapshot from the counts (S, K) made inside the
    training program; a snapshot it did not count (the final weights an early stop appends) is
    evaluated here from its recorded weights (argmax of f against the one-hot label), in blocks
    (`data_block`). With a trunk (its kernels kept only at the end) such a snapshot stays NaN
    unless it is the last."""
    import jax
    import jax.numpy as jnp

    from ..nn.models import forward

    n_test = len(ds.x_test)
    if n_test == 0:
        return np.full(counted.shape, np.nan)
    acc = np.where(counted >= 0, counted / n_test, np.nan)
    missing = np.flatnonzero((counted < 0).any(axis=0))
    if trunk is not None:
        missing = missing[missing == counted.shape[1] - 1]
    if not len(missing):
        return acc

    @jax.jit
    def correct(params, xb, yb):  # params with leading (S, k) axes -> (S, k) counts
        f = jax.vmap(jax.vmap(lambda p: forward(p, xb, spec)))(params)
        return jnp.sum(jnp.argmax(f, -1) == jnp.argmax(yb, -1)[None, None], axis=-1)

    params = {"hidden": [jnp.asarray(w[:, missing], dtype) for w in hidden], "out": jnp.asarray(out[:, missing], dtype)}
    if trunk is not None:  # the same trunk for every seed's last snapshot: broadcast over (S, 1)
        params["trunk"] = [jnp.broadcast_to(jnp.asarray(k, dtype)[:, None], k.shape[:1] + (1,) + k.shape[1:])
                           for k in trunk]
    total = np.zeros((out.shape[0], len(missing)))
    B = max(1, data_block(spec) // total.size)  # the (S, k) networks share a block
    for i in range(0, n_test, B):
        total += np.asarray(correct(params, jnp.asarray(ds.x_test[i:i + B], dtype),
                                    jnp.asarray(ds.y_test[i:i + B], dtype)))
    acc[:, missing] = total / n_test
    return acc
