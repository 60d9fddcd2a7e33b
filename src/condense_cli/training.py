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

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable, NamedTuple

import numpy as np

from . import __version__, activations
from .data import Dataset, resolve
from .errors import BadInput, RunFailure

SCHEMA = "condense.run/2"  # /2 adds meta "arch" and "layers" (convolution kernels as input weights)
OPTIMIZERS = ("adam", "gd", "sgd")
DEFAULT_INIT_STD = 0.005  # initial-condensation Fig. 2: var = 0.005²


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults: initial-condensation Fig. 2
    (5-50-1 tanh network, sin5d data, n = 80, std 0.005, Adam lr 1e-3, full batch)."""

    act: tuple[str, ...] | str = "tanh"
    arch: str = "mlp"  # "mlp", or "cnn": one convolution layer of `channels` k x k kernels, then the dense layers
    channels: int = 8
    kernel: int = 3
    trunk_width: int = 64  # arch "resnet18": channels of the first stage (64 in ResNet18; tiny for CPU smoke runs)
    data: str = "sin5d"
    n: int | None = None
    data_seed: int = 0
    depth: int = 1
    width: int = 50
    widths: tuple[int, ...] | None = None
    residual: bool = False
    output_bias: bool = True
    alpha: float = 1.0
    gamma: float | None = None
    init_std: float | tuple[float, ...] | None = None  # one for every layer, or one per layer (hidden..., output)
    optimizer: str = "adam"
    lr: float = 1e-3
    steps: int = 1000
    batch_size: int | None = None
    seed: int = 0
    seeds: int = 1
    record_every: int | None = None
    snapshots: int | None = None
    log_spaced: bool = False
    stop_at_loss_ratio: float | None = None
    dropout: float = 0.0
    loss: str = "mse"
    data_dir: str | None = None
    test_fraction: float = 0.2
    x64: bool = False

    def hidden_widths(self) -> tuple[int, ...]:
        """(m_1..m_L): `widths` if given, else `depth` layers of `width`."""
        return tuple(int(m) for m in self.widths) if self.widths else (int(self.width),) * int(self.depth)

    def layer_widths(self) -> tuple[int, ...]:
        """Neurons of every hidden layer: for a CNN the channels first, then the dense widths."""
        head = self.hidden_widths()
        return (int(self.channels), *head) if self.arch == "cnn" else head

    def activation_names(self) -> tuple[str, ...]:
        """One activation per hidden layer (a single name is used for every layer)."""
        depth = len(self.layer_widths())
        acts = (self.act,) if isinstance(self.act, str) else tuple(self.act)
        if len(acts) == 1:
            acts = acts * depth
        if len(acts) != depth:
            raise BadInput(f"{len(acts)} activations given for {depth} hidden layers")
        return acts

    def validate(self) -> None:
        """Raise BadInput (one line) for anything impossible, before any work is done."""
        widths = self.hidden_widths()
        if self.depth < 1 and not self.widths:
            raise BadInput(f"--depth must be at least 1, got {self.depth}")
        if any(m < 1 for m in widths):
            raise BadInput(f"width must be at least 1, got {list(widths)}")
        for a in self.activation_names():
            activations.get(a)
        if self.arch not in ("mlp", "cnn", "resnet18"):
            raise BadInput(f"unknown architecture {self.arch!r}; choose one of: mlp, cnn, resnet18")
        if self.arch == "resnet18" and self.trunk_width < 1:
            raise BadInput(f"--trunk-width must be at least 1, got {self.trunk_width}")
        if self.arch == "cnn" and (self.channels < 1 or self.kernel < 1):
            raise BadInput(f"--channels and --kernel must be at least 1, got {self.channels} and {self.kernel}")
        if self.optimizer not in OPTIMIZERS:
            raise BadInput(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.steps < 1:
            raise BadInput(f"--steps must be at least 1, got {self.steps}")
        if self.seeds < 1:
            raise BadInput(f"--seeds must be at least 1, got {self.seeds}")
        if not 0 <= self.seed < 2 ** 31:
            raise BadInput(f"--seed must be a non-negative integer below 2^31, got {self.seed}")
        _positive("lr", self.lr)
        _positive("alpha", self.alpha)
        if self.gamma is not None and not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise BadInput(f"--gamma must be a non-negative finite number, got {self.gamma}")
        if self.init_std is not None:
            stds = self.init_std if isinstance(self.init_std, tuple) else (self.init_std,)
            if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in stds):
                raise BadInput(f"--init-std must be non-negative finite numbers, got {self.init_std}")
            layers = len(self.layer_widths())
            if len(stds) not in (1, layers + 1):
                raise BadInput(f"--init-std takes one value or {layers + 1} (each hidden layer, then the "
                               f"output layer), got {len(stds)}")
        if self.gamma is not None and self.init_std is not None:
            raise BadInput("give --gamma or --init-std, not both")
        if self.record_every is not None and self.record_every < 1:
            raise BadInput(f"--record-every must be at least 1, got {self.record_every}")
        if self.snapshots is not None and self.snapshots < 1:
            raise BadInput(f"--snapshots must be at least 1, got {self.snapshots}")
        if self.record_every is not None and self.snapshots is not None:
            raise BadInput("give --record-every or --snapshots, not both")
        if self.log_spaced and self.snapshots is None:
            raise BadInput("--log-spaced needs --snapshots K")
        if self.batch_size is not None:
            if self.optimizer != "sgd":
                raise BadInput("--batch-size applies to --optimizer sgd only")
            if self.batch_size < 1:
                raise BadInput(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.loss not in ("mse", "ce"):
            raise BadInput(f"unknown loss {self.loss!r}; choose one of: mse, ce")
        if not (math.isfinite(self.test_fraction) and 0 <= self.test_fraction < 1):
            raise BadInput(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        if not (math.isfinite(self.dropout) and 0 <= self.dropout < 1):
            raise BadInput(f"--dropout must be in [0, 1), got {self.dropout}")
        r = self.stop_at_loss_ratio
        if r is not None and not (math.isfinite(r) and 0 < r < 1):
            raise BadInput(f"--stop-at-loss-ratio must be in (0, 1), got {r}")
        if self.residual and len(set(widths)) > 1:
            raise BadInput(f"--residual needs equal hidden widths, got {list(widths)}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["act"] = list(self.activation_names())
        d["widths"] = list(self.hidden_widths())
        d["layer_widths"] = list(self.layer_widths())
        if isinstance(self.init_std, tuple):
            d["init_std"] = list(self.init_std)
        return d


def _positive(name: str, v: float) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
        raise BadInput(f"--{name} must be a positive finite number, got {v}")


@dataclass
class TrainResult:
    """The arrays of a run file and its metadata (see module docstring for shapes)."""

    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray
    step: np.ndarray
    hidden: list[np.ndarray]
    out: np.ndarray
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # optional arrays: x_test, y_test, train_acc, test_acc

    @property
    def finished(self) -> bool:
        return self.meta.get("status") == "finished"

    def arrays(self) -> dict[str, np.ndarray]:
        """Run-file arrays by name: x, y, loss, step, w1..wL, a."""
        arr = {"x": self.x, "y": self.y, "loss": self.loss, "step": self.step, "a": self.out}
        arr.update({f"w{l + 1}": w for l, w in enumerate(self.hidden)})
        arr.update(self.extra)
        return arr


def record_steps(config: TrainConfig) -> np.ndarray:
    """The sorted recorded steps in [0, T], 0 and T always included.

    Default: every max(1, T // 100) steps; `record_every k`; or `snapshots K` evenly or
    log-spaced (K distinct steps at most, 0 and T included)."""
    T = config.steps
    if config.snapshots is not None:
        K = config.snapshots
        if config.log_spaced:
            steps = np.unique(np.round(np.geomspace(1, T, max(K - 1, 1))).astype(np.int64))
            steps = np.concatenate([[0], steps])
        else:
            steps = np.round(np.linspace(0, T, max(K, 2))).astype(np.int64)
    else:
        k = config.record_every or max(1, T // 100)
        steps = np.arange(0, T + 1, k, dtype=np.int64)
    return np.unique(np.concatenate([[0], steps, [T]]))


def _recorded(params: dict) -> dict:
    """The parameters a run file records at every snapshot: hidden layers and output (a ResNet18
    trunk is kept only at the end)."""
    return {"hidden": params["hidden"], "out": params["out"]}


CHUNK_SECONDS = 0.25  # the aimed-for duration of one compiled chunk
SNAPSHOT_BUFFER_BYTES = 256 * 2 ** 20  # the two per-chunk snapshot buffers on the device, at most


def step_seconds(spec, n: int, batch: int | None, seeds: int) -> float:
    """A rough a-priori estimate of one training step's seconds on a CPU: a fixed ~3 µs of
    kernel launches plus the flops (the full-batch loss on n points, and forward and backward
    passes on the batch) at 60 GFLOP/s, what this project's 2-core AVX-512 machines reach on
    the papers' networks (a slower CPU only makes chunks last longer). Only used to size
    chunks; it need not be exact."""
    macs = spec.macs_per_example() * seeds
    flops = 2 * macs * n + 4 * macs * (n if batch is None else batch)
    return 3e-6 + flops / 6e10


def chunk_plan(T: int, rec: np.ndarray, seconds_per_step: float, snapshot_bytes: int) -> tuple[int, int]:
    """(L, Kc): steps per compiled chunk and snapshot slots per chunk. A chunk is about
    CHUNK_SECONDS of work, so that launching it and copying out its results (a fraction of a
    millisecond) costs well under 5 % while the progress bar still moves several times a
    second; the run is split into chunks of equal length (the last computes at most a few
    steps past T); and the two snapshot buffers stay under SNAPSHOT_BUFFER_BYTES together."""
    evals = T + 1
    target = min(evals, max(1, round(CHUNK_SECONDS / seconds_per_step)))
    while True:
        L = math.ceil(evals / math.ceil(evals / target))
        Kc = int(np.bincount(rec // L).max())
        if target == 1 or 2 * (Kc + 1) * snapshot_bytes <= SNAPSHOT_BUFFER_BYTES:
            return L, Kc
        target = max(1, target // 2)


def plan_chunks(config: TrainConfig, spec, n: int, itemsize: int) -> tuple[np.ndarray, int, int]:
    """(recorded steps, L, Kc) of this config's run on n training points with parameters of
    `itemsize` bytes: `record_steps` and `chunk_plan`, as `train` compiles them."""
    rec = record_steps(config)
    batch = config.batch_size if config.optimizer == "sgd" else None
    snapshot_bytes = config.seeds * sum(r * c for r, c in spec.shapes) * itemsize
    return rec, *chunk_plan(config.steps, rec, step_seconds(spec, n, batch, config.seeds), snapshot_bytes)


def prepare(config: TrainConfig, dataset: Dataset | None = None):
    """Validate the config and build (dataset, NetSpec, init stds). Raises BadInput."""
    from .models import NetSpec
    from .init import gamma_stds

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
    ds, spec, stds = prepare(config, dataset)
    import jax

    if config.x64:
        jax.config.update("jax_enable_x64", True)
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

    init, buffer, run_chunk = _programs(spec, config.optimizer, batch, S, L, Kc, jnp.dtype(dtype).name,
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

    from .models import forward

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


@lru_cache(maxsize=32)
def _programs(spec, optimizer: str, batch: int | None, S: int, L: int, Kc: int, dtype_name: str,
              dropout: float = 0.0, loss_name: str = "mse", n_data: int = 0, early_stop: bool = False):
    """The pieces of a run, cached by everything that shapes them (not by data, steps,
    learning rate, stop ratio or seeds, which are arguments):

    - `init(seeds (S,), stds (L+1,))` -> the host-built state of S networks (no compilation);
    - `buffer()` -> a snapshot buffer on the device, leaves (S, Kc+1, ...);
    - `run_chunk(state, buf, x (n, d), y (n, d_out), hyper, t0, slots (L,))` ->
      (state, loss (L, S), buf): evaluations t0..t0+L-1, parameters at step t0+i written to
      slot `slots[i]` of `buf` (slot Kc is scratch). `buf` is donated: its memory is reused in
      place (a fresh buffer per chunk costs page faults on every chunk), so it must not be read
      after the call; only the slots written in this call are meaningful in the result.
      `hyper` = {"T": int32, "lr": float, "ratio": float}; the stop ratio is read only by the
      program built with `early_stop` (without it, no per-step stop bookkeeping is compiled).
    """
    import jax
    import jax.numpy as jnp
    import optax

    from .init import init_params
    from .models import LOSSES
    from .runtime import compiler_options

    mse = LOSSES[loss_name]  # the training loss (MSE or cross-entropy), same signature
    freeze = early_stop or spec.trunk is not None

    dtype = np.dtype(dtype_name)

    def make_opt(lr):
        return optax.adam(lr) if optimizer == "adam" else optax.sgd(lr)

    grad_fn = jax.value_and_grad(lambda p, xb, yb, k=None: mse(p, xb, yb, spec, dropout, k))

    def seed_step(st, t, slot, buf, x, y, hyper):
        p = st["params"]
        key = st["key"]
        perm = st["perm"]
        if batch is None and dropout == 0:
            loss, g = grad_fn(p, x, y)
        else:  # the recorded loss is the full-batch loss without dropout
            loss = mse(p, x, y, spec)
            xb, yb = x, y
            if batch is not None:  # epochs of n // batch minibatches, reshuffled at each epoch's start
                per_epoch = x.shape[0] // batch
                epoch, pos = t // per_epoch, t % per_epoch
                perm = jax.lax.cond(
                    pos == 0,
                    lambda: jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 2), epoch),
                                                   x.shape[0]).astype(jnp.int32),
                    lambda: perm)
                idx = jax.lax.dynamic_slice(perm, (pos * batch,), (batch,))
                xb, yb = x[idx], y[idx]
            k_drop = jax.random.fold_in(jax.random.fold_in(key, 1), t)
            _, g = grad_fn(p, xb, yb, k_drop if dropout > 0 else None)
        if not spec.output_bias:
            g = {**g, "out": g["out"].at[:, -1].set(0.0)}
        loss0, stopped, stop_step = st["loss0"], st["stopped"], st["stop_step"]
        if early_stop:
            loss0 = jnp.where(t == 0, loss, loss0)
            reach = (~stopped) & (loss <= hyper["ratio"] * loss0)
            stop_step = jnp.where(reach, t, stop_step)
            stopped = stopped | reach
        buf = jax.tree.map(lambda b, leaf: jax.lax.dynamic_update_index_in_dim(b, leaf, slot, 0), buf,
                           _recorded(p))

        def update(operands):
            params, opt_state, grads = operands
            updates, opt_state = make_opt(hyper["lr"]).update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        if freeze:  # stopped seeds, steps past T and non-finite losses leave the weights as they are
            active = (t < hyper["T"]) & jnp.isfinite(loss) & ~stopped
            new_p, opt_state = jax.lax.cond(active, update, lambda ops: (ops[0], ops[1]), (p, st["opt"], g))
        else:
            new_p, opt_state = update((p, st["opt"], g))
        st = {"params": new_p, "opt": opt_state,
              "key": key, "perm": perm, "loss0": loss0, "stopped": stopped, "stop_step": stop_step}
        return st, loss, buf

    if S == 1:  # one network: no batch axis inside the step (XLA's small dots are faster so)
        def v_step(st, t, slot, buf, x, y, hyper):
            squeeze = lambda tree: jax.tree.map(lambda a: a[0], tree)
            st, loss, buf = seed_step(squeeze(st), t, slot, squeeze(buf), x, y, hyper)
            return jax.tree.map(lambda a: a[None], (st, loss, buf))
    else:
        v_step = jax.vmap(seed_step, in_axes=(0, None, None, 0, None, None, None))

    @partial(jax.jit, donate_argnums=1, compiler_options=compiler_options())
    def run_chunk(state, buf, x, y, hyper, t0, slots):
        def body(carry, i):
            st, b = carry
            st, loss, b = v_step(st, t0 + i, slots[i], b, x, y, hyper)
            return (st, b), loss

        (state, buf), loss = jax.lax.scan(body, (state, buf), jnp.arange(L, dtype=jnp.int32))
        return state, loss, buf  # buf: (S, Kc+1, ...), the last slot is scratch

    def buffer():
        zeros = lambda shape: jnp.zeros((S, Kc + 1) + tuple(shape), dtype)
        return {"hidden": [zeros(shape) for shape in spec.shapes[:-1]], "out": zeros(spec.shapes[-1])}

    def init(seeds: list[int], stds: list[float]):
        """The state of S networks, built on the host: parameters from `init_params`, the
        optimizer's state (all zeros for Adam and SGD, shaped by `eval_shape`), and a raw
        threefry key [0, seed] per network for minibatches."""
        nets = [init_params(seed, spec, stds, dtype) for seed in seeds]
        params = jax.tree.map(lambda *leaves: np.stack(leaves), *nets)
        opt_shape = jax.eval_shape(make_opt(1.0).init, jax.tree.map(lambda a: a[0], params))
        opt = jax.tree.map(lambda sd: np.zeros((len(seeds),) + sd.shape, sd.dtype), opt_shape)
        zeros = lambda dt: np.zeros(len(seeds), dt)
        return {"params": params, "opt": opt,
                "key": np.array([[0, seed] for seed in seeds], np.uint32),
                "perm": np.zeros((len(seeds), n_data), np.int32),  # the current epoch's order
                "loss0": zeros(dtype), "stopped": zeros(bool),
                "stop_step": np.full(len(seeds), -1, np.int32)}

    return Programs(init, buffer, run_chunk)


class Programs(NamedTuple):
    """What `_programs` returns."""

    init: Callable
    buffer: Callable
    run_chunk: Callable
