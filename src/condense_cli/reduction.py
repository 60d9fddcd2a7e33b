"""Reducing a condensed network, and its converse, splitting a neuron (NumPy, layout of `models`).

- `reduce_network(params, spec, tol, min_norm)`: layer by layer, the neurons of each direction
  cluster of the analysis' measure (the persistent reading, or the fixed one at `tol`) become
  one neuron. With members w_j ≈ |w_j| u (u the cluster's unit centre) and
  r = the mean member norm, the merged neuron has input weight r·u and outgoing weights
  Σ_j (|w_j| / r) · out_j: exact for positively homogeneous σ (ReLU) when the members differ only
  by a positive scale, and for any σ it reduces to the summed outgoing weight when the norms are
  equal (u is the normalized sum of the members' input weights). Neurons below `min_norm` of the largest norm are dropped (their share is reported).
- `reduce_run(run, ..., loss_tol)`: the reduction a user asks for. Unless a fixed cosine `tol` is
  given, it reads the clusters from coarse to fine (`readings`: the persistent reading, then fixed
  cosines `COSINES`, then the finest with no neuron left out) and keeps the first whose full-batch
  loss is within `loss_tol` (relative) of the original's; none within it is a RunFailure.
  Residual networks are refused: merging changes a width that the residual sum needs.
- `split_neuron(params, layer, j, ratio)`: the embedding principle's one-step splitting: neuron j
  is copied and its outgoing weights shared as ratio and 1 − ratio. The output is unchanged and a
  critical point stays critical (the gradients of the copies are ratio and 1 − ratio times the
  original input-weight gradient; both copies' outgoing gradients equal the original's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .measure.condensation import layer_condensation
from .mechanisms.embedding import outgoing, set_outgoing
from .command_defaults import REDUCE
from .errors import BadInput

if TYPE_CHECKING:  # nn.models imports JAX: not needed to check reduce's options (before the run file is read)
    from .nn.models import NetSpec

COSINES = (0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)  # the fixed readings tried after the persistent one


def relative_change(before: float, after: float) -> float:
    """after / before − 1; 0 when both are 0, inf when only `before` is (the loss was exactly
    zero and is no longer)."""
    if before > 0:
        return after / before - 1
    return 0.0 if after == 0 else math.inf


def readings(tol: float | None, min_norm: float, loss_tol: float) -> list[tuple[float | None, float]]:
    """The (tol, min_norm) readings `reduce_run` tries in order, coarse to fine: only the given one
    when `tol` is fixed or `loss_tol` is infinite; else the persistent reading, the fixed cosines
    `COSINES`, and the finest again with no neuron left out (when `min_norm` > 0)."""
    if tol is not None or math.isinf(loss_tol):
        return [(tol, min_norm)]
    rungs = [(None, min_norm)] + [(c, min_norm) for c in COSINES]
    return rungs + [(COSINES[-1], 0.0)] if min_norm > 0 else rungs


def reading_name(tol: float | None, min_norm: float) -> str:
    """'persistent' or 'cosine 0.99', with ', no neuron left out' when `min_norm` is 0."""
    return ("persistent" if tol is None else f"cosine {tol:g}") + (", no neuron left out" if min_norm == 0 else "")


@dataclass(frozen=True)
class Reduction:
    """What `reduce` did to one network: the step reduced and why, widths and full-batch losses
    before and after (and after fine-tuning, or None), one report per layer, the reduced run
    (`TrainResult`) and the file it was written to (None: not written). `to_json()` is the
    `--json` object of `condense reduce`."""

    width_before: int | list[int]
    width_after: int | list[int]
    loss_before: float
    loss_after: float
    loss_finetuned: float | None
    step: int
    why: str
    layers: list
    run: object = field(repr=False, compare=False)
    out: str | None = None
    max_output_change: float | None = None  # max |f_reduced − f| on the training inputs, before fine-tuning
    reading: str = "persistent"  # the reading whose clusters were merged (`reading_name`)
    loss_tol: float = REDUCE.loss_tol  # the bound on loss_change the reading was chosen by (inf: none)
    tried: list = field(default_factory=list)  # per reading tried, in order: reading, width_after, loss_change

    @property
    def loss_change(self) -> float:
        """loss_after / loss_before − 1 (the relative change of the loss by the reduction alone;
        `relative_change`)."""
        return relative_change(self.loss_before, self.loss_after)

    @property
    def within_loss_tol(self) -> bool:
        """Whether the loss rose by at most `loss_tol` (always so without --tol: else no reduction)."""
        return bool(self.loss_change <= self.loss_tol)

    def to_json(self) -> dict:
        out = {"width_before": self.width_before, "width_after": self.width_after, "loss_before": self.loss_before,
               "loss_after": self.loss_after, "loss_change": _finite_or_none(self.loss_change),
               "max_output_change": self.max_output_change, "loss_finetuned": self.loss_finetuned,
               "step": self.step, "why": self.why, "layers": self.layers, "reading": self.reading,
               "loss_tol": self.loss_tol if math.isfinite(self.loss_tol) else None,
               "within_loss_tol": self.within_loss_tol,
               "tried": [{**t, "loss_change": _finite_or_none(t["loss_change"])} for t in self.tried]}
        if self.out is not None:
            out["out"] = self.out
        return out


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def reduce_network(params: dict, spec: NetSpec, tol: float | None = None, min_norm: float = REDUCE.min_norm,
                   min_share: float = 0.05, refit_on: np.ndarray | None = None):
    """(reduced params, reduced NetSpec, per-layer report). `params` hold NumPy arrays
    (hidden[l] (m_l, fan_in+1), out (d_out, m_L+1)) of one network. `tol` None merges the
    clusters of the persistent reading, a cosine those of the fixed reading at that tolerance;
    every cluster is merged (counted or not, `min_share` only decides the persistent count)."""
    if spec.conv is not None:
        raise BadInput("reduce supports fully connected networks only (this run has a convolution layer)")
    if spec.residual:
        raise BadInput("reduce does not support residual networks (merging changes the widths "
                       "the residual sum adds)")
    params = {"hidden": [np.array(w, np.float64) for w in params["hidden"]],
              "out": np.array(params["out"], np.float64)}
    report = []
    if refit_on is not None:  # what each layer's outgoing matrix computes in the original network
        hs = [_outputs(params, refit_on, spec, l) for l in range(len(params["hidden"]))]
        target = [h @ outgoing(params, l)[:, :-1].T + outgoing(params, l)[:, -1] for l, h in enumerate(hs)]
    for l in range(len(params["hidden"])):
        W = params["hidden"][l]
        lc = layer_condensation(W, tol=tol, min_norm=min_norm, min_share=min_share, curve=False)
        nxt = outgoing(params, l)
        rows, cols = [], []
        for c in range(len(lc.clusters)):
            members = lc.kept_index[lc.labels == c]
            norms = np.linalg.norm(W[members], axis=1)
            r = norms.mean()
            total = W[members].sum(axis=0)
            u = total / np.linalg.norm(total)
            rows.append(r * u)
            cols.append((nxt[:, members] * (norms / r)[None, :]).sum(axis=1))
        new_W = np.array(rows).reshape(len(rows), W.shape[1])
        new_next = np.concatenate([np.array(cols).reshape(len(cols), nxt.shape[0]).T, nxt[:, -1:]], axis=1)
        params["hidden"][l] = new_W
        if refit_on is not None and len(rows):
            last = l + 1 == len(params["hidden"])
            new_next = _refit(_outputs(params, refit_on, spec, l), target[l], new_next,
                              fixed_bias=last and not spec.output_bias)
        set_outgoing(params, l, new_next)
        report.append({"layer": l + 1, "width_before": int(W.shape[0]), "width_after": int(len(rows)),
                       "dropped_negligible": int(lc.left_out + lc.nonfinite),
                       "largest_cluster": int(max((c["neurons"] for c in lc.clusters), default=0)),
                       "condensed": lc.condensed, "verdict": lc.measure.get("verdict"),
                       "tol_used": lc.measure.get("tol_used")})
    from .nn.models import NetSpec

    widths = tuple(w.shape[0] for w in params["hidden"])
    if min(widths) < 1:
        raise BadInput("every neuron of a layer is negligible: nothing to keep")
    new_spec = NetSpec(d=spec.d, widths=widths, d_out=spec.d_out, acts=spec.acts, alpha=spec.alpha,
                       residual=False, output_bias=spec.output_bias)
    return params, new_spec, report


def _outputs(params: dict, x: np.ndarray, spec: NetSpec, l: int) -> np.ndarray:
    """Hidden layer l's (0-based) outputs (n, m_l) on inputs x (n, d) of a fully connected network."""
    import jax.numpy as jnp

    from .nn import activations
    from .runtime import x64

    h = np.asarray(x, np.float64)
    with x64(True):  # the refit's least squares in float64 throughout
        for w, act in list(zip(params["hidden"], spec.acts))[:l + 1]:
            h = np.asarray(activations.get(act).fn(jnp.asarray(h @ w[:, :-1].T + w[:, -1])), np.float64)
    return h


def _refit(h: np.ndarray, target: np.ndarray, current: np.ndarray, fixed_bias: bool) -> np.ndarray:
    """The outgoing matrix (rows, m + 1) that best maps the layer outputs h (n, m) onto `target`
    (n, rows) in least squares (its bias column kept as it is when `fixed_bias`)."""
    if fixed_bias:
        body = np.linalg.lstsq(h, target - current[:, -1], rcond=None)[0].T
        return np.concatenate([body, current[:, -1:]], axis=1)
    H = np.concatenate([h, np.ones((len(h), 1))], axis=1)
    return np.linalg.lstsq(H, target, rcond=None)[0].T


def split_neuron(params: dict, layer: int, j: int, ratio: float = 0.5) -> dict:
    """A copy of `params` with neuron j of hidden layer `layer` (1-based) split in two: the same
    input weight, outgoing weights ratio·v and (1 − ratio)·v (the copy is appended last): the
    embedding principle's split with α = 1 − ratio (`mechanisms.embedding`)."""
    from .mechanisms.embedding import Embedding, embed_params

    dtype = np.result_type(*[np.asarray(w).dtype for w in [*params["hidden"], params["out"]]])
    return embed_params(params, Embedding("split", layer, j, 1.0 - ratio), dtype=dtype)


def check_reduce_options(tol: float | None, min_norm: float, finetune_steps: int,
                         loss_tol: float = REDUCE.loss_tol) -> None:
    """BadInput for a tolerance outside [0, 1], --min-norm outside [0, 1), negative fine-tuning or a
    --loss-tol that is negative or NaN (inf is allowed: no bound)."""
    if not loss_tol >= 0:
        raise BadInput(f"--loss-tol must be a relative loss change of at least 0 (inf: no bound), got {loss_tol}")
    if finetune_steps < 0:
        raise BadInput(f"--finetune-steps must be at least 0, got {finetune_steps}")
    if finetune_steps > 2 ** 31 - 2:
        raise BadInput(f"--finetune-steps must be at most {2 ** 31 - 2:,}, got {finetune_steps}")
    if (tol is not None and not (0 <= tol <= 1)) or not (0 <= min_norm < 1):
        raise BadInput("--tol must be a cosine in [0, 1] and --min-norm in [0, 1)")


def check_output(target, source, force: bool) -> None:
    """BadInput when `target` is the run file `source` (None: an in-memory run) — reduce never
    overwrites its input — or already exists without `force`."""
    from . import io

    if source is not None and io.same_file(target, source):
        raise BadInput(f"--out {target} is the input run file; reduce never overwrites its input")
    io.check_new(target, force)


def reduce_run(run, at: str = REDUCE.at, seed_index: int = REDUCE.seed_index, tol: float | None = REDUCE.tol,
               min_norm: float = REDUCE.min_norm, finetune_steps: int = REDUCE.finetune_steps,
               lr: float | None = REDUCE.lr, progress=None, source: str = "", refit: bool = REDUCE.refit,
               loss_tol: float = REDUCE.loss_tol):
    """Reduce one network of a run (a `TrainResult`) at a recorded step; optionally fine-tune it.

    The clusters merged are those of the first of `readings(tol, min_norm, loss_tol)` whose loss is at
    most (1 + loss_tol) × the original's. Returns a `Reduction` (the reduced run as a `TrainResult`
    in `.run`; not written). Raises BadInput for a bad seed index, step or option, RunFailure when
    the weights are not finite, nothing is condensed, or no reading keeps the loss within `loss_tol`."""
    check_reduce_options(tol, min_norm, finetune_steps, loss_tol)
    import dataclasses

    import jax.numpy as jnp

    from .measure.steps import pick
    from .data import Dataset
    from .errors import RunFailure
    from .nn.models import LOSSES, forward
    from .run import TrainResult, network, params_at
    from .training import TrainConfig, train

    if run.meta.get("trunk"):
        raise BadInput("reduce supports fully connected networks only (this run has a ResNet18 trunk)")
    k, why = pick(run, at, seed_index)
    step = int(run.step[k])
    _, spec = network(run, seed_index, k)
    params = params_at(run, seed_index, k)
    if not all(np.isfinite(w).all() for w in [*params["hidden"], params["out"]]):
        raise RunFailure(f"the weights at step {step} are not finite; nothing to reduce")
    meta = run.meta
    loss_fn = LOSSES[meta.get("loss", "mse")]
    x, y = jnp.asarray(run.x, jnp.float32), jnp.asarray(run.y, jnp.float32)
    as_jax = lambda p: {"hidden": [jnp.asarray(w, jnp.float32) for w in p["hidden"]],
                        "out": jnp.asarray(p["out"], jnp.float32)}
    loss_before = float(loss_fn(as_jax(params), x, y, spec))
    if not math.isfinite(loss_before):
        raise RunFailure(f"the loss at step {step} is not finite ({loss_before}); nothing to reduce")
    f_before = forward(as_jax(params), x, spec)
    width_before = sum(np.shape(w)[0] for w in params["hidden"])
    tried, rungs, persistent_tol = [], readings(tol, min_norm, loss_tol), None
    for n, (tol_k, min_norm_k) in enumerate(rungs):
        if n > 0 and persistent_tol is not None and tol_k <= persistent_tol:
            continue  # not finer than the persistent reading was
        reduced, new_spec, layers = reduce_network(params, spec, tol=tol_k, min_norm=min_norm_k,
                                                   refit_on=np.asarray(run.x, np.float64) if refit else None)
        if n == 0:
            if not any(l["condensed"] for l in layers):
                verdicts = "; ".join(f"layer {l['layer']}: {l['verdict']}" for l in layers)
                raise RunFailure(f"not condensed at step {step} ({verdicts}); nothing written")
            used = [l["tol_used"] for l in layers if l["tol_used"] is not None]
            persistent_tol = max(used) if used else None  # the cosine the first reading read at
        elif sum(new_spec.widths) >= width_before:
            break  # a reading that merges nothing is no reduction: stop reading finer
        loss_after = float(loss_fn(as_jax(reduced), x, y, new_spec))
        change = relative_change(loss_before, loss_after)
        tried.append({"reading": reading_name(tol_k, min_norm_k), "tol": tol_k, "min_norm": min_norm_k,
                      "width_after": [l["width_after"] for l in layers], "loss_change": change})
        if change <= loss_tol:
            break
    if not change <= loss_tol and tol is None:
        last = tried[-1]
        raise RunFailure(f"no reading keeps the loss within --loss-tol {loss_tol:g} (the finest that still merges "
                         f"neurons, {last['reading']}: {sum(last['width_after'])} neurons, loss "
                         f"{last['loss_change']:+.2%}); pass a larger --loss-tol, or --tol for a reading of your own; "
                         "nothing written")
    tol_k, min_norm_k = tried[-1]["tol"], tried[-1]["min_norm"]  # the reading kept (`reduced` is its network)
    max_change = float(jnp.max(jnp.abs(forward(as_jax(reduced), x, new_spec) - f_before)))
    if finetune_steps > 0:
        base = dataclasses.asdict(TrainConfig.from_dict(meta.get("config") or {}))
        base.update(widths=new_spec.widths, act=tuple(new_spec.acts), steps=finetune_steps, seeds=1, residual=False,
                    stop_at_loss_ratio=None, record_every=None, loss_every=None, snapshots=None, log_spaced=False, gamma=None,
                    init_std=None, data="file", arch="mlp")
        if lr is not None:
            base["lr"] = lr
        data = Dataset(run.x, run.y, meta.get("data") or {}, run.extra.get("x_test"), run.extra.get("y_test"))
        result = train(TrainConfig(**base), progress=progress, dataset=data, initial_params=reduced)
        loss_finetuned = float(result.loss[0, -1])
    else:
        result = TrainResult(
            x=run.x, y=run.y, loss=np.array([[loss_after]]), step=np.array([0]),
            hidden=[w[None, None].astype(run.hidden[0].dtype) for w in reduced["hidden"]],
            out=reduced["out"][None, None].astype(run.out.dtype),
            meta={**meta, "widths": list(new_spec.widths), "depth": len(new_spec.widths), "steps_done": 0,
                  "layers": new_spec.layer_kinds(), "status": "finished", "reason": "reduced, not trained",
                  "seeds": [0], "stop_step": None})
        loss_finetuned = None
    result.meta["reduced_from"] = {"file": source, "step": step, "why": why, "seed_index": seed_index,
                                   "tol": tol_k, "min_norm": min_norm_k, "refit": refit, "layers": layers,
                                   "reading": tried[-1]["reading"], "loss_tol": loss_tol if math.isfinite(loss_tol) else None}
    one = len(layers) == 1
    return Reduction(width_before=layers[0]["width_before"] if one else [l["width_before"] for l in layers],
                     width_after=layers[0]["width_after"] if one else [l["width_after"] for l in layers],
                     loss_before=loss_before, loss_after=loss_after, loss_finetuned=loss_finetuned, step=step,
                     why=why, layers=layers, run=result, max_output_change=max_change,
                     reading=tried[-1]["reading"], loss_tol=loss_tol, tried=tried)
