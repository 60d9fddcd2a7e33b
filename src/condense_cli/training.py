"""Training: one compiled program per run, S seeds at once, snapshots from the scan.

`TrainConfig` (frozen) says what to train; `train(config, progress=None)` returns a
`TrainResult` whose arrays follow the run-file contract (`condense.run/1`):
loss (S, T+1), step (K,), hidden[l] (S, K, m_l, fan_in_l+1), out (S, K, d_out, m_L+1).

Design: a step function closed over the config evaluates the full-batch loss at step t, writes
the parameters into a snapshot slot when t is a recorded step, and updates (unless t = T, the
seed has stopped, or its loss is not finite). `lax.scan` runs it over a chunk of steps inside
`jit`, `vmap` runs it over seeds; the host only loops over chunks (a few dozen per run) to move
a progress bar, stop early and keep finished work when interrupted.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import __version__, activations
from .data import Dataset, resolve
from .errors import BadInput, RunFailure

SCHEMA = "condense.run/1"
OPTIMIZERS = ("adam", "gd", "sgd")
DEFAULT_INIT_STD = 0.005  # initial-condensation Fig. 2: var = 0.005²


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults: initial-condensation Fig. 2
    (5-50-1 tanh network, sin5d data, n = 80, std 0.005, Adam lr 1e-3, full batch)."""

    act: tuple[str, ...] | str = "tanh"
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
    init_std: float | None = None
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
    x64: bool = False

    def hidden_widths(self) -> tuple[int, ...]:
        """(m_1..m_L): `widths` if given, else `depth` layers of `width`."""
        return tuple(int(m) for m in self.widths) if self.widths else (int(self.width),) * int(self.depth)

    def activation_names(self) -> tuple[str, ...]:
        """One activation per hidden layer (a single name is used for every layer)."""
        depth = len(self.hidden_widths())
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
        if self.optimizer not in OPTIMIZERS:
            raise BadInput(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.steps < 1:
            raise BadInput(f"--steps must be at least 1, got {self.steps}")
        if self.seeds < 1:
            raise BadInput(f"--seeds must be at least 1, got {self.seeds}")
        _positive("lr", self.lr)
        _positive("alpha", self.alpha)
        if self.gamma is not None and not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise BadInput(f"--gamma must be a non-negative finite number, got {self.gamma}")
        if self.init_std is not None and not (math.isfinite(self.init_std) and self.init_std >= 0):
            raise BadInput(f"--init-std must be a non-negative finite number, got {self.init_std}")
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
        r = self.stop_at_loss_ratio
        if r is not None and not (math.isfinite(r) and 0 < r < 1):
            raise BadInput(f"--stop-at-loss-ratio must be in (0, 1), got {r}")
        if self.residual and len(set(widths)) > 1:
            raise BadInput(f"--residual needs equal hidden widths, got {list(widths)}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["act"] = list(self.activation_names())
        d["widths"] = list(self.hidden_widths())
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

    @property
    def finished(self) -> bool:
        return self.meta.get("status") == "finished"

    def arrays(self) -> dict[str, np.ndarray]:
        """Run-file arrays by name: x, y, loss, step, w1..wL, a."""
        arr = {"x": self.x, "y": self.y, "loss": self.loss, "step": self.step, "a": self.out}
        arr.update({f"w{l + 1}": w for l, w in enumerate(self.hidden)})
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


def _chunk_length(T: int) -> int:
    """Steps per compiled chunk: long enough that the host loop costs well under 5 %
    (at least 2,000 steps unless the run is shorter), at most about 50 chunks per run."""
    evals = T + 1
    return int(min(evals, max(2000, math.ceil(evals / 50))))


def prepare(config: TrainConfig, dataset: Dataset | None = None):
    """Validate the config and build (dataset, NetSpec, init stds). Raises BadInput."""
    from .models import NetSpec
    from .init import gamma_stds

    config.validate()
    ds = dataset if dataset is not None else resolve(config.data, config.n, config.data_seed)
    if config.batch_size is not None and config.batch_size > len(ds.x):
        raise BadInput(f"--batch-size {config.batch_size} exceeds the {len(ds.x)} training points")
    spec = NetSpec(d=ds.x.shape[1], widths=config.hidden_widths(), d_out=ds.y.shape[1],
                   acts=config.activation_names(), alpha=float(config.alpha),
                   residual=config.residual, output_bias=config.output_bias)
    if config.gamma is not None:
        stds = gamma_stds(spec, config.gamma)
    else:
        s = DEFAULT_INIT_STD if config.init_std is None else float(config.init_std)
        stds = [s] * (len(spec.widths) + 1)
    return ds, spec, stds


def train(config: TrainConfig, progress: Callable[[int, int], None] | None = None,
          dataset: Dataset | None = None) -> TrainResult:
    """Train `config.seeds` networks at once; returns every finite step computed.

    `progress(done, total)` is called after each compiled chunk. A KeyboardInterrupt between
    or during chunks ends training early and the result keeps every completed chunk
    (meta status "stopped", reason "interrupted"). A non-finite loss stops the run: the result
    keeps the steps before it and meta says at which step; the caller decides the exit code.
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
    rec = record_steps(config)
    L = _chunk_length(T)
    n_chunks = math.ceil((T + 1) / L)
    chunk_of = rec // L
    per_chunk = np.bincount(chunk_of, minlength=n_chunks)
    Kc = int(per_chunk.max())

    run_chunk, state = _build(config, ds, spec, stds, dtype, L, Kc)

    losses, snaps, snap_steps = [], [], []
    status, reason, nan_step = "finished", None, None
    done_evals = 0
    stop_steps = None
    try:
        for c in range(n_chunks):
            t0 = c * L
            slots = np.full(L, Kc, dtype=np.int32)
            mine = rec[chunk_of == c]
            slots[mine - t0] = np.arange(len(mine), dtype=np.int32)
            state, chunk_loss, chunk_snap = run_chunk(state, jnp.int32(t0), jnp.asarray(slots))
            chunk_loss = np.asarray(chunk_loss)  # (L, S): waits for the chunk
            chunk_snap = jax.tree.map(lambda a: np.asarray(a[: len(mine)]), chunk_snap)
            valid = min(L, T + 1 - t0)
            losses.append(chunk_loss[:valid])
            snaps.append(chunk_snap)
            snap_steps.append(mine)
            done_evals = t0 + valid
            if progress is not None:
                progress(min(done_evals - 1, T), T)
            bad = ~np.isfinite(chunk_loss[:valid])
            if bad.any():
                nan_step = int(t0 + np.argmax(bad.any(axis=1)))
                status, reason = "stopped", f"loss became non-finite at step {nan_step}"
                break
            stopped = np.asarray(state["stopped"])
            if config.stop_at_loss_ratio is not None and stopped.all():
                stop_steps = np.asarray(state["stop_step"])
                status = "stopped"
                reason = f"loss reached {config.stop_at_loss_ratio} of its initial value"
                break
    except KeyboardInterrupt:
        status, reason = "stopped", "interrupted"

    loss = np.concatenate(losses, axis=0).T if losses else np.zeros((S, 0))  # (S, evals)
    steps_all = np.concatenate(snap_steps) if snap_steps else np.zeros(0, np.int64)
    snap = (jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *snaps) if snaps else None)
    if nan_step is not None:
        last = nan_step - 1
    elif stop_steps is not None:
        last = int(stop_steps.max())
    else:
        last = loss.shape[1] - 1
    if last < 0:
        raise RunFailure("the loss is not finite at step 0 (check the data and initialization)")
    loss = loss[:, : last + 1]
    keep = steps_all <= last
    steps_kept = steps_all[keep]
    hidden = [np.moveaxis(w[keep], 0, 1) for w in snap["hidden"]]  # (S, K, m, fan+1)
    out = np.moveaxis(snap["out"][keep], 0, 1)
    if stop_steps is not None and steps_kept[-1] < last:
        # Stopped seeds are frozen at their stop step: the final state is their final weights.
        final = jax.tree.map(np.asarray, state["params"])
        hidden = [np.concatenate([h, f[:, None]], 1) for h, f in zip(hidden, final["hidden"])]
        out = np.concatenate([out, final["out"][:, None]], 1)
        steps_kept = np.concatenate([steps_kept, [last]])

    seconds = time.perf_counter() - started
    meta = {
        "schema": SCHEMA,
        "version": __version__,
        "config": config.to_dict(),
        "activation": list(spec.acts),
        "multiplicity": [activations.multiplicity(a) for a in spec.acts],
        "widths": list(spec.widths),
        "depth": len(spec.widths),
        "d": spec.d,
        "d_out": spec.d_out,
        "alpha": spec.alpha,
        "residual": spec.residual,
        "output_bias": spec.output_bias,
        "init_std": stds,
        "init_std_layers": [f"w{l + 1}" for l in range(len(spec.widths))] + ["a"],
        "optimizer": config.optimizer,
        "lr": config.lr,
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
                       loss=loss, step=steps_kept.astype(np.int64), hidden=hidden, out=out, meta=meta)


def _build(config: TrainConfig, ds: Dataset, spec, stds, dtype, L: int, Kc: int):
    """The jitted chunk function (L steps, Kc snapshot slots plus a scratch slot) and the
    initial state, vmapped over seeds."""
    import jax
    import jax.numpy as jnp
    import optax

    from .init import init_params
    from .models import mse

    T, S = config.steps, config.seeds
    x = jnp.asarray(ds.x, dtype)
    y = jnp.asarray(ds.y, dtype)
    n = x.shape[0]
    ratio = config.stop_at_loss_ratio
    opt = optax.adam(config.lr) if config.optimizer == "adam" else optax.sgd(config.lr)
    batch = config.batch_size if config.optimizer == "sgd" and config.batch_size else None

    def loss_fn(p, xb, yb):
        return mse(p, xb, yb, spec)

    grad_fn = jax.value_and_grad(loss_fn)

    def seed_step(st, t, slot, buf):
        p = st["params"]
        loss, g = grad_fn(p, x, y)
        if batch is not None:
            key, sub = jax.random.split(st["key"])
            idx = jax.random.choice(sub, n, (batch,), replace=False)
            _, g = grad_fn(p, x[idx], y[idx])
        else:
            key = st["key"]
        if not spec.output_bias:
            g = {**g, "out": g["out"].at[:, -1].set(0.0)}
        loss0 = jnp.where(t == 0, loss, st["loss0"])
        stopped = st["stopped"]
        if ratio is not None:
            reach = (~stopped) & (loss <= ratio * loss0)
            stop_step = jnp.where(reach, t, st["stop_step"])
            stopped = stopped | reach
        else:
            stop_step = st["stop_step"]
        active = (t < T) & (~stopped) & jnp.isfinite(loss)
        updates, opt_state = opt.update(g, st["opt"], p)
        new_p = optax.apply_updates(p, updates)
        keep = lambda new, old: jnp.where(active, new, old)
        buf = jax.tree.map(lambda b, leaf: jax.lax.dynamic_update_index_in_dim(b, leaf, slot, 0), buf, p)
        st = {"params": jax.tree.map(keep, new_p, p), "opt": jax.tree.map(keep, opt_state, st["opt"]),
              "key": key, "loss0": loss0, "stopped": stopped, "stop_step": stop_step}
        return st, loss, buf

    v_step = jax.vmap(seed_step, in_axes=(0, None, None, 0))

    @jax.jit
    def run_chunk(state, t0, slots):
        buf = jax.tree.map(lambda leaf: jnp.zeros((S, Kc + 1) + leaf.shape[1:], leaf.dtype), state["params"])

        def body(carry, i):
            st, b = carry
            st, loss, b = v_step(st, t0 + i, slots[i], b)
            return (st, b), loss

        (state, buf), loss = jax.lax.scan(body, (state, buf), jnp.arange(L, dtype=jnp.int32))
        buf = jax.tree.map(lambda b: jnp.moveaxis(b, 1, 0), buf)  # (Kc+1, S, ...)
        return state, loss, buf

    @jax.jit
    def init_state(seed_ids):
        def one(seed_id):
            init_key, run_key = jax.random.split(jax.random.PRNGKey(seed_id))
            params = init_params(init_key, spec, stds, dtype)
            return {"params": params, "opt": opt.init(params), "key": run_key,
                    "loss0": jnp.zeros((), dtype), "stopped": jnp.zeros((), bool),
                    "stop_step": jnp.full((), -1, jnp.int32)}

        return jax.vmap(one)(seed_ids)

    state = init_state(jnp.arange(config.seed, config.seed + S, dtype=jnp.uint32))
    return run_chunk, state
