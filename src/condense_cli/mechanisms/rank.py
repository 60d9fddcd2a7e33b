"""The model rank of a fully connected network (Zhang, Zhang, Zhang, Bai, arXiv 2307.08921,
App. A; JMLR 2025, Def. 4-6): R(θ) = dim span{∂f/∂θ_i}, computed as the rank of the Jacobian
∇_θ f(X; θ) over enough inputs X, and the rank of the narrow network the condensed clusters
imply (one neuron per measured cluster, built by `reduction.reduce_network`, not by formula).

The Jacobian is (n·d_out, M), formed row by row with vector-Jacobian products when n·d_out < M and
column by column with Jacobian-vector products otherwise, in float64; never an M × M matrix. Its
rank counts singular values above `tol`·σ_max (relative; default 1e-8). For an analytic network
that has not condensed, the count depends on the tolerance (the singular values decay without a
gap), so the tolerance and the singular values on either side of the cut are always reported.

`jacobian_singular_values(params, spec, x) -> (min(n·d_out, M),)`; `model_rank(params, spec, x,
tol, narrow=True) -> ModelRank`; `rank_points(x, n, seed)`: n inputs drawn uniformly from the
box the data span.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import BadInput
from .landscape import flatten

RANK_TOL = 1e-8
MAX_ENTRIES = 50_000_000  # Jacobian entries (400 MB in float64): past this, fewer points are asked for
MAX_ROWS = 256  # Jacobian rows (points × outputs) in `analyze`: its SVD at every snapshot stays a fraction of a second


@dataclass(frozen=True)
class ModelRank:
    """rank of the Jacobian at `points` inputs, relative tolerance `tol`, the smallest singular
    value kept and the largest dropped (None: none dropped), the parameter count M, and the rank
    of the narrow network of one neuron per cluster (`narrow_rank`, its widths `narrow_widths`;
    None where not built)."""

    rank: int
    tol: float
    points: int
    parameters: int
    sigma_kept: float | None
    sigma_dropped: float | None
    narrow_rank: int | None = None
    narrow_widths: tuple[int, ...] | None = None
    singular_values: np.ndarray = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        return {"rank": self.rank, "tol": self.tol, "points": self.points, "parameters": self.parameters,
                "sigma_kept": self.sigma_kept, "sigma_dropped": self.sigma_dropped, "narrow_rank": self.narrow_rank,
                "narrow_widths": None if self.narrow_widths is None else list(self.narrow_widths)}


def rank_points(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n inputs drawn uniformly from the box [min x, max x] per coordinate (a fixed seed)."""
    if n < 1:
        raise BadInput(f"--rank-points must be positive, got {n}")
    x = np.asarray(x, np.float64)
    lo, hi = x.min(axis=0), x.max(axis=0)
    return np.random.default_rng(seed).uniform(lo, hi, (n, x.shape[1]))


@lru_cache(maxsize=32)
def _jacobian_fn(spec, shapes: tuple, reverse: bool):
    """The compiled (theta, out_bias, x) -> ∇_θ f(x; θ) (n·d_out, M) for one architecture."""
    import jax

    from ..nn.models import forward
    from .landscape import unflatten

    def f(theta, out_bias, x):
        return forward(unflatten(theta, out_bias, shapes), x, spec).reshape(-1)

    return jax.jit(jax.jacrev(f) if reverse else jax.jacfwd(f))


def jacobian_singular_values(params: dict, spec, x) -> tuple[np.ndarray, int]:
    """(singular values of ∇_θ f(x; θ), sorted descending; M) in float64."""
    import jax.numpy as jnp

    from ..runtime import x64

    with x64(True):
        theta, unflat = flatten(params, spec)
        M, rows = theta.size, len(x) * spec.d_out
        if rows * M > MAX_ENTRIES:
            raise BadInput(f"the Jacobian at {len(x)} points would hold {rows * M:,} entries (M = {M:,} parameters); "
                           f"ask for fewer points (--rank-points, at most {MAX_ENTRIES // max(M * spec.d_out, 1):,})")
        out_bias = unflat.keywords["out_bias"]
        J = _jacobian_fn(spec, unflat.keywords["shapes"], rows < M)(
            jnp.asarray(theta), None if out_bias is None else jnp.asarray(out_bias), jnp.asarray(x, jnp.float64))
        s = np.linalg.svd(np.asarray(J, np.float64), compute_uv=False)
    return s, M


def rank_of(s: np.ndarray, tol: float = RANK_TOL) -> tuple[int, float | None, float | None]:
    """(rank, smallest kept σ, largest dropped σ) of singular values s at relative tolerance tol."""
    if not len(s) or s[0] <= 0:
        return 0, None, float(s[0]) if len(s) else None
    keep = s > tol * s[0]
    r = int(keep.sum())
    return r, float(s[r - 1]), (float(s[r]) if r < len(s) else None)


def model_rank(params: dict, spec, x, tol: float = RANK_TOL, narrow: bool = True, min_norm: float = 0.1,
               cluster_tol: float | None = None) -> ModelRank:
    """The empirical model rank at inputs x (n, d) and, with `narrow`, the rank of the network of
    one neuron per measured direction cluster at the same inputs (see the module docstring)."""
    if not (0 < tol < 1):
        raise BadInput(f"the rank tolerance must be in (0, 1), got {tol}")
    s, M = jacobian_singular_values(params, spec, x)
    r, kept, dropped = rank_of(s, tol)
    nr = widths = None
    if narrow and not spec.residual:
        from ..reduction import reduce_network

        try:
            small, small_spec, _ = reduce_network(params, spec, tol=cluster_tol, min_norm=min_norm)
        except BadInput:
            small = None
        if small is not None:
            nr = rank_of(jacobian_singular_values(small, small_spec, x)[0], tol)[0]
            widths = tuple(small_spec.widths)
    return ModelRank(rank=r, tol=tol, points=len(x), parameters=M, sigma_kept=kept, sigma_dropped=dropped,
                     narrow_rank=nr, narrow_widths=widths, singular_values=s)


SERIES_RANKS = 50  # snapshots of a run's series whose rank `analyze` computes (evenly spread, the analyzed one added)


def rank_setup(run, points: int | None):
    """(spec, inputs (n, d) float64, note) for the model rank of a run's networks; spec None (with
    the note saying why) where it is not computed. The inputs are the training inputs, or `points`
    drawn from their range, cut to what the Jacobian's size allows (the note says so)."""
    from ..run import network

    if run.meta.get("trunk") or run.meta.get("arch") in ("cnn", "resnet18") or any(
            (l or {}).get("kind") == "conv" for l in run.meta.get("layers") or []):
        return None, None, "the model rank is computed for fully connected networks only"
    _, spec = network(run, 0, 0)
    x = np.asarray(run.x if points is None else rank_points(run.x, points), np.float64)
    M = sum(r * c for r, c in spec.shapes) - (0 if spec.output_bias else spec.d_out)
    if M * spec.d_out > MAX_ENTRIES:
        return None, None, (f"not computed: one input's Jacobian alone would hold {M * spec.d_out:,} entries "
                            f"(past {MAX_ENTRIES:,})")
    most = max(1, min(MAX_ENTRIES // max(M * spec.d_out, 1), MAX_ROWS // spec.d_out))
    note = None
    if len(x) > most:
        note = (f"at the first {most} of the {len(x)} inputs (the Jacobian kept to {MAX_ROWS} rows of points × outputs "
                f"and {MAX_ENTRIES:,} entries; --rank-points N draws N from the data's range)")
        x = x[:most]
    return spec, x, note


def series_ranks(run, s: int, spec, x, tol: float, always: int | None = None, most: int = SERIES_RANKS) -> np.ndarray:
    """(K,) the Jacobian's rank at up to `most` snapshots of seed s (evenly spread, and snapshot
    `always`); −1 where not computed or the weights are not finite."""
    from ..run import params_at

    K = len(run.step)
    ks = set(np.unique(np.linspace(0, K - 1, min(K, most)).round().astype(int)).tolist())
    if always is not None:
        ks.add(int(always) % K)
    out = np.full(K, -1, np.int64)
    for k in sorted(ks):
        p = params_at(run, s, k)
        if all(np.isfinite(w).all() for w in [*p["hidden"], p["out"]]):
            out[k] = rank_of(jacobian_singular_values(p, spec, x)[0], tol)[0]
    return out
