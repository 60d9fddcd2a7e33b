"""`condense embed`: the embedding principle tested on one trained network of a run.

`embed_run(run, embeddings, at, seed_index, polish, bar, zero_tol) -> EmbedResult`: take seed
`seed_index` at the step `--at` names (default the end), optionally polish it to a critical point
(`landscape.polish`, float64), then apply the embeddings one after another (`embedding.apply`). For
the network before and after each embedding: the full-batch loss, the gradient's L1 and L2 norms,
the largest change of the output on the training inputs against the network before any embedding,
and the Hessian inertia at `zero_tol` with the eigenvalues on either side of the cut. The embedded
network comes back as a one-snapshot run (`EmbedResult.run`) that every command reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInput
from .embedding import Embedding, apply
from .landscape import MAX_EXACT, POLISH_BAR, ZERO_TOL, Inertia, Landscape, Polish, inertia, polish as polish_network


@dataclass(frozen=True)
class NetworkState:
    """One network of the sequence: `label` ('before' or the embedding), widths, loss, gradient
    norms, the largest |Δf| on the training inputs against 'before', the inertia and the sorted
    Hessian eigenvalues."""

    label: str
    widths: tuple[int, ...]
    parameters: int
    loss: float
    grad_norm: float  # L2
    grad_l1: float
    max_output_change: float
    inertia: Inertia
    eigenvalues: np.ndarray = field(repr=False, compare=False)

    def to_json(self) -> dict:
        return {"label": self.label, "widths": list(self.widths), "parameters": self.parameters, "loss": self.loss,
                "grad_norm": self.grad_norm, "grad_l1": self.grad_l1, "max_output_change": self.max_output_change,
                "inertia": self.inertia.to_json()}


@dataclass(frozen=True)
class EmbedResult:
    """`before` and one `after` entry per embedding (in the order applied), the step and why, the
    polish (None when not asked), and the last embedded network as a one-snapshot run."""

    step: int
    why: str
    seed_index: int
    polish: Polish | None
    embeddings: tuple[Embedding, ...]
    before: NetworkState
    after: tuple[NetworkState, ...]
    run: object = field(repr=False, compare=False)
    out: str | None = None

    def to_json(self) -> dict:
        out = {"step": self.step, "why": self.why, "seed_index": self.seed_index,
               "polish": None if self.polish is None else self.polish.to_json(),
               "embeddings": [e.to_json() for e in self.embeddings],
               "before": self.before.to_json(), "after": [a.to_json() for a in self.after]}
        if self.out is not None:
            out["out"] = self.out
        return out


def _state(label, params, spec, x, y, loss, f0, zero_tol) -> NetworkState:
    land = Landscape(params, spec, x, y, loss)
    g = land.grad()
    lam = np.linalg.eigvalsh(land.hessian())
    return NetworkState(label=label, widths=tuple(spec.widths), parameters=land.M, loss=land.loss(),
                        grad_norm=float(np.linalg.norm(g)), grad_l1=float(np.abs(g).sum()),
                        max_output_change=float(np.max(np.abs(land.outputs() - f0))) if f0 is not None else 0.0,
                        inertia=inertia(lam, zero_tol), eigenvalues=lam)


def parameters_after(spec, embeddings) -> int:
    """The free-parameter count after every embedding (each adds fan_in + 1 + outgoing weights)."""
    widths = list(spec.widths)
    for e in embeddings:
        if 1 <= e.layer <= len(widths):
            widths[e.layer - 1] += 1
    fans = [spec.d, *widths]
    M = sum(m * (f + 1) for m, f in zip(widths, fans))
    return M + spec.d_out * (widths[-1] + (1 if spec.output_bias else 0))


def embed_run(run, embeddings=(), at: str = "end", seed_index: int = 0, polish: bool = False, bar: float = POLISH_BAR,
              zero_tol: float = ZERO_TOL, max_iter: int = 500) -> EmbedResult:
    """See the module docstring. BadInput for a bad seed, step, embedding or tolerance, or a
    network past the exact Hessian's size (checked before any work)."""
    from ..measure.steps import pick
    from ..run import TrainResult, network, params_at
    from ..runtime import x64

    if not (zero_tol >= 0 and np.isfinite(zero_tol)):
        raise BadInput(f"--zero-tol must be a non-negative number, got {zero_tol}")
    if not (bar > 0 and np.isfinite(bar)):
        raise BadInput(f"--bar must be a positive number, got {bar}")
    if run.meta.get("trunk") or run.meta.get("arch") in ("cnn", "resnet18"):
        raise BadInput("embed works on fully connected networks (this run has a convolution layer or a trunk)")
    k, why = pick(run, at, seed_index)
    _, spec = network(run, seed_index, k)
    if spec.residual and embeddings:
        raise BadInput("embeddings change a layer's width, which a residual network's sums cannot take")
    biggest = parameters_after(spec, embeddings)
    if biggest > MAX_EXACT:
        raise BadInput(f"an exact Hessian is computed up to {MAX_EXACT:,} parameters; the embedded network would have "
                       f"{biggest:,} (embed a narrower network, e.g. one reduced by `condense reduce`)")
    params = params_at(run, seed_index, k)
    if not all(np.isfinite(w).all() for w in [*params["hidden"], params["out"]]):
        raise BadInput(f"the weights at step {int(run.step[k])} are not finite")
    check, check_spec = params, spec
    for e in embeddings:  # every index checked before any work
        check, check_spec = apply(check, check_spec, e)
    loss_name = run.meta.get("loss", "mse")
    x, y = np.asarray(run.x, np.float64), np.asarray(run.y, np.float64)
    with x64(True):
        pol = None
        if polish:
            land = Landscape(params, spec, x, y, loss_name)
            pol = polish_network(land, bar=bar, max_iter=max_iter)
            params = land.unflatten(pol.theta)
        before = _state("before", params, spec, x, y, loss_name, None, zero_tol)
        f0 = np.asarray(Landscape(params, spec, x, y, loss_name).outputs())
        after, cur, cur_spec = [], params, spec
        for e in embeddings:
            cur, cur_spec = apply(cur, cur_spec, e)
            after.append(_state(e.label, cur, cur_spec, x, y, loss_name, f0, zero_tol))
    last = after[-1] if after else before
    meta = {**run.meta, "widths": list(cur_spec.widths), "depth": len(cur_spec.widths), "steps_done": 0,
            "layers": cur_spec.layer_kinds(), "status": "finished", "reason": "embedded, not trained",
            "seeds": [0], "stop_step": None,
            "embedded_from": {"step": int(run.step[k]), "why": why, "seed_index": seed_index,
                              "polished": pol is not None, "embeddings": [e.to_json() for e in embeddings]}}
    dtype = run.hidden[0].dtype if not polish else np.float64
    result = TrainResult(x=run.x, y=run.y, loss=np.array([[last.loss]]), step=np.array([0]),
                         hidden=[np.asarray(w)[None, None].astype(dtype) for w in cur["hidden"]],
                         out=np.asarray(cur["out"])[None, None].astype(dtype), meta=meta)
    return EmbedResult(step=int(run.step[k]), why=why, seed_index=seed_index, polish=pol, embeddings=tuple(embeddings),
                       before=before, after=tuple(after), run=result)
