"""What is saved: the run file (`condense.run/3`, reading /1 and /2 too), its in-memory form
`TrainResult`, and the adapter from a recorded snapshot back to a network.

- `TrainResult`: x (n, d), y (n, d_out), loss (S, J) the full-batch loss at the steps loss_step
  (J,) (every step 0..T of full-batch training; files before /3 have no loss_step: every step),
  batch_loss (S, T+1) the minibatch loss of every step (minibatch training, /3) or None, step
  (K,), hidden[l] (S, K, m_l, fan_in_l + 1) with the bias last, out (S, K, d_out, m_L + 1),
  meta (JSON-able), extra arrays.
- `save_run(path, result)` / `load_run(path) -> TrainResult`: the run-file contract (docs/files.md)
  (every array plain numeric, read with `allow_pickle=False`, every fault one `BadInput` line).
- `network(run, s, k) -> (params, NetSpec)`: seed s at snapshot k as a network `nn.models` runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BadInput
from .io import StagedNpz, check_schema, read_npz, save_npz

RUN_SCHEMA = "condense.run"
RUN_VERSION = 3  # /2 added meta "arch" and "layers" (convolution kernels as input weights); /3 the arrays
# loss_step (the steps of the full-batch loss, which minibatch runs take only at some steps) and batch_loss;
# /1 and /2 are read too
SCHEMA = f"{RUN_SCHEMA}/{RUN_VERSION}"


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
    loss_step: np.ndarray | None = None  # (J,); None: every step 0..J-1
    batch_loss: np.ndarray | None = None  # (S, T+1), minibatch training only

    def __post_init__(self):
        if self.loss_step is None:
            self.loss_step = np.arange(np.shape(self.loss)[1], dtype=np.int64)

    @property
    def finished(self) -> bool:
        return self.meta.get("status") == "finished"

    def loss_at(self, s: int, step: int) -> float:
        """Seed s's full-batch loss at `step`, or at the last loss step before it."""
        j = max(int(np.searchsorted(self.loss_step, step, side="right")) - 1, 0)
        return float(self.loss[s, j])

    def arrays(self) -> dict[str, np.ndarray]:
        """Run-file arrays by name: x, y, loss, loss_step, (batch_loss,) step, w1..wL, a."""
        arr = {"x": self.x, "y": self.y, "loss": self.loss, "loss_step": np.asarray(self.loss_step, np.int64),
               "step": self.step, "a": self.out}
        if self.batch_loss is not None:
            arr["batch_loss"] = self.batch_loss
        arr.update({f"w{l + 1}": w for l, w in enumerate(self.hidden)})
        arr.update(self.extra)
        return arr


def first_layer_conv(meta: dict) -> dict | None:
    """The first layer's description when it is a convolution (meta "layers"[0]), else None."""
    kinds = meta.get("layers") or []
    return kinds[0] if kinds and isinstance(kinds[0], dict) and kinds[0].get("kind") == "conv" else None


def save_run(path: str | Path, result, staged: StagedNpz | None = None) -> Path:
    """Write a `TrainResult` as a run file; with `staged`, one whose data members it already holds."""
    if staged is not None:
        return staged.finish(path, result.arrays(), result.meta)
    return save_npz(path, result.arrays(), result.meta)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def check_meta(path, meta: dict) -> None:
    """The types of the meta values the analysis reads; BadInput naming the first that is wrong."""
    def bad(key, want):
        raise BadInput(f"{path}: meta {key} is {meta[key]!r}, expected {want}")

    act = meta.get("activation")
    if act is not None and not (isinstance(act, str) or (isinstance(act, list) and all(isinstance(a, str) for a in act))):
        bad("activation", "a name or a list of names")
    mult = meta.get("multiplicity")
    if mult is not None and not (isinstance(mult, list) and all(
            m is None or (isinstance(m, int) and not isinstance(m, bool) and m >= 1) for m in mult)):
        bad("multiplicity", "a list of positive integers or nulls")
    if "alpha" in meta and not (_is_number(meta["alpha"]) and meta["alpha"] > 0):
        bad("alpha", "a positive number")
    for key in ("residual", "output_bias"):
        if key in meta and not isinstance(meta[key], bool):
            bad(key, "true or false")
    for key in ("config", "trunk"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            bad(key, "an object")
    if meta.get("layers") is not None and not isinstance(meta["layers"], list):
        bad("layers", "a list")
    seeds = meta.get("seeds")
    if seeds is not None and not (isinstance(seeds, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in seeds)):
        bad("seeds", "a list of integers")
    for key in ("status", "reason", "optimizer"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            bad(key, "a string")


def load_run(path: str | Path):
    """Read and check a run file; returns a `TrainResult`. The file is never modified."""
    arrays, meta = read_npz(path, ("x", "y", "loss", "step", "w1", "a"))
    check_schema(path, meta, RUN_SCHEMA, RUN_VERSION)
    check_meta(path, meta)
    if isinstance(meta.get("activation"), str):
        meta["activation"] = [meta["activation"]]
    layers = sorted((int(k[1:]) for k in arrays if k[:1] == "w" and k[1:].isdigit()))
    if layers != list(range(1, len(layers) + 1)):
        raise BadInput(f"{path}: hidden layers must be w1..wL, found {['w%d' % l for l in layers]}")
    for k, v in arrays.items():
        if v.dtype.kind not in "fiu":
            raise BadInput(f"{path}: array {k} is not real numbers ({v.dtype})")
    hidden = [arrays[f"w{l}"] for l in layers]
    loss, step, out = arrays["loss"], arrays["step"], arrays["a"]
    x, y = arrays["x"], arrays["y"]
    if loss.ndim != 2 or step.ndim != 1 or out.ndim != 4 or x.ndim != 2 or y.ndim != 2:
        raise BadInput(f"{path}: arrays have the wrong number of dimensions for {RUN_SCHEMA}/1")
    S, K = out.shape[:2]
    if loss.shape[0] != S or len(step) != K or len(step) == 0:
        raise BadInput(f"{path}: loss, step and a disagree on seeds or snapshots")
    conv = first_layer_conv(meta)
    trunk = meta.get("trunk") if isinstance(meta.get("trunk"), dict) else None
    try:
        fan = int(trunk["features"]) if trunk else x.shape[1]
    except (KeyError, TypeError, ValueError):
        raise BadInput(f"{path}: meta describes a trunk without its number of features") from None
    for l, w in enumerate(hidden, 1):
        if l == 1 and conv is not None:
            try:
                fan = int(conv["in_channels"]) * int(conv["kernel"]) ** 2
            except (KeyError, TypeError, ValueError):
                raise BadInput(f"{path}: meta describes a convolution layer without in_channels/kernel") from None
        if w.ndim != 4 or w.shape[:2] != (S, K) or w.shape[3] != fan + 1:
            raise BadInput(f"{path}: w{l} has shape {w.shape}, expected ({S}, {K}, m, {fan + 1})")
        fan = w.shape[2] * (int(np.prod(conv["out"])) if (l == 1 and conv is not None) else 1)
    if out.shape[3] != fan + 1 or out.shape[2] != y.shape[1]:
        raise BadInput(f"{path}: a has shape {out.shape}, expected ({S}, {K}, {y.shape[1]}, {fan + 1})")
    loss_step = arrays.get("loss_step")
    if loss_step is None:  # /1 and /2: the loss of every step
        loss_step = np.arange(loss.shape[1], dtype=np.int64)
    if loss_step.ndim != 1 or len(loss_step) != loss.shape[1] or len(loss_step) == 0 or loss_step[0] != 0 \
            or np.any(np.diff(loss_step) <= 0) or not np.issubdtype(loss_step.dtype, np.integer):
        raise BadInput(f"{path}: loss_step must be increasing integer steps from 0, one per loss column")
    if np.any(step < 0) or np.any(np.diff(step) <= 0) or step[-1] > loss_step[-1]:
        raise BadInput(f"{path}: step must be increasing and within the loss record")
    batch_loss = arrays.get("batch_loss")
    if batch_loss is not None and (batch_loss.ndim != 2 or batch_loss.shape != (S, loss_step[-1] + 1)):
        raise BadInput(f"{path}: batch_loss has shape {batch_loss.shape}, expected ({S}, {loss_step[-1] + 1})")
    extra = {k: v for k, v in arrays.items()
             if k in ("x_test", "y_test", "train_acc", "test_acc") or (k.startswith("trunk_") and k[6:].isdigit())}
    for k in ("train_acc", "test_acc"):
        if k in extra and extra[k].shape != (S, K):
            raise BadInput(f"{path}: {k} has shape {extra[k].shape}, expected ({S}, {K})")
    return TrainResult(x=x, y=y, loss=loss, step=step, hidden=hidden, out=out, meta=meta, extra=extra,
                       loss_step=loss_step, batch_loss=batch_loss)


def params_at(run, s: int, k: int) -> dict:
    """Seed s's network at snapshot k as float64 NumPy arrays (the run file's layout)."""
    return {"hidden": [np.asarray(w[s, k], np.float64) for w in run.hidden], "out": np.asarray(run.out[s, k], np.float64)}


def network(run, s: int, k: int):
    """(params, NetSpec) of seed s at snapshot k of a run."""
    import jax.numpy as jnp

    from .nn.models import NetSpec

    from .errors import BadInput

    meta = run.meta
    if not meta.get("activation"):
        raise BadInput("the run file does not name its activation; pass --act NAME or a formula of x")
    first = first_layer_conv(meta)
    conv = None if first is None else (int(first["kernel"]), tuple(int(v) for v in first["image"]))
    spec = NetSpec(d=run.x.shape[1], widths=tuple(w.shape[2] for w in run.hidden), d_out=run.y.shape[1],
                   acts=tuple(meta["activation"]),
                   alpha=float(meta.get("alpha", 1.0)), residual=bool(meta.get("residual", False)),
                   output_bias=bool(meta.get("output_bias", True)), conv=conv)
    params = {"hidden": [jnp.asarray(w[s, k], jnp.float32) for w in run.hidden],
              "out": jnp.asarray(run.out[s, k], jnp.float32)}
    return params, spec
