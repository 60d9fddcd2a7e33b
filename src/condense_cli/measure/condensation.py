"""Condensation measures on one layer's recorded weights (NumPy).

Measures (W: (m, k) input weights of one layer, bias last; rows are neurons):
- `relative_distance(w0, wt)`: RD = |θ(t) − θ(0)| / |θ(0)| over everything but the leading axis.
- `cosine_matrix(W)`: D(u, v) = uᵀv / (|u||v|), (m, m).
- `stable_rank(W)`: Σ(σ_i/σ_1)² of a matrix.
- `layer_condensation(W, ...)`: kept / left-out neurons, then `clustering.condensation` on the
  kept ones (a stated sample of `max_neurons` when there are more; the others join the cluster
  whose mean direction is nearest): the persistent and fixed counts of directions and lines, the
  coverage, the verdict `condensed`, and the heat-map order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import clustering


def relative_distance(w0: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """RD per leading index: w0, wt (S, ...) -> (S,); inf where θ(0) = 0 and θ moved."""
    w0 = np.asarray(w0, np.float64)
    wt = np.asarray(wt, np.float64)
    axes = tuple(range(1, w0.ndim))
    num = np.sqrt(np.sum((wt - w0) ** 2, axis=axes))
    den = np.sqrt(np.sum(w0 ** 2, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))


def stable_rank(W: np.ndarray) -> float:
    """Σ_i (σ_i / σ_1)² of a matrix (0 for a zero matrix): 1 for rank one, n for an n × n identity."""
    s = np.linalg.svd(np.asarray(W, np.float64), compute_uv=False)
    return float(np.sum((s / s[0]) ** 2)) if len(s) and s[0] > 0 else 0.0


def unit_rows(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(norms (m,), unit rows (m, k)); zero rows stay zero."""
    W = np.asarray(W, np.float64)
    norms = np.linalg.norm(W, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        U = np.where(norms[:, None] > 0, W / np.where(norms > 0, norms, 1.0)[:, None], 0.0)
    return norms, U


def features_1d(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 1-d features of neurons with input weights W (m, 2) = (w, b): θ = sign(b)·arccos(w/A)
    (θ = 0 or π where b = 0) and A = |(w, b)|, each (m,)."""
    W = np.asarray(W, np.float64)
    w, b = W[:, 0], W[:, 1]
    A = np.hypot(w, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.sign(b) * np.arccos(np.clip(np.where(A > 0, w / np.where(A > 0, A, 1), 1.0), -1, 1))
    return np.where(b == 0, np.where(w >= 0, 0.0, np.pi), theta), A


def cosine_matrix(W: np.ndarray) -> np.ndarray:
    """D[i, j] = cos(w_i, w_j) for the rows of W (m, k) -> (m, m), clipped to [−1, 1]."""
    _, U = unit_rows(W)
    return np.clip(U @ U.T, -1.0, 1.0)


@dataclass
class LayerCondensation:
    """One layer at one step. Shares are fractions of the kept neurons; `directions` and `lines`
    are the reported reading (persistent unless a fixed tolerance was asked for)."""

    neurons: int
    kept: int
    left_out: int
    nonfinite: int
    min_norm: float
    clustered: int  # kept neurons in the clustering (all of them, or a stated sample)
    directions: int
    lines: int
    condensed: bool
    coverage: float
    clusters: list  # direction clusters: {"share", "neurons", "counted", "line", "direction"}
    line_clusters: list  # lines: {"share", "neurons", "counted", "direction"}
    measure: dict  # clustering.Condensation.summary(): both readings, persistence, verdict
    kept_index: np.ndarray = field(repr=False)  # indices of kept neurons (kept,)
    labels: np.ndarray = field(repr=False)  # direction cluster of each kept neuron (kept,)
    line_labels: np.ndarray = field(repr=False)  # line of each kept neuron (kept,)
    unit: np.ndarray = field(repr=False)  # unit input weights of kept neurons (kept, k)
    norms: np.ndarray = field(repr=False)  # their norms (kept,)
    order: np.ndarray = field(repr=False)  # heat-map positions into the kept neurons
    curve: dict | None = field(default=None, repr=False)  # counts against the tolerance

    def within_bound(self, p: int | None):
        """directions ≤ 2p, claimed only for a condensed layer of defined p (else None)."""
        return None if p is None or not self.condensed else bool(self.directions <= 2 * p)


def _kept_neurons(W: np.ndarray, min_norm: float):
    """(finite rows (m,), unit rows (m, k), norms (m,), indices of the kept neurons): finite rows
    whose norm is positive and at least `min_norm` × the largest finite norm."""
    finite = np.isfinite(W).all(axis=1)
    norms, U = unit_rows(np.where(finite[:, None], W, 0.0))
    top = norms[finite].max() if finite.any() else 0.0
    return finite, U, norms, np.flatnonzero(finite & (norms > 0) & (norms >= min_norm * top))


def _sample(U: np.ndarray, max_neurons: int, rng_seed: int = 0) -> np.ndarray:
    """Positions of at most `max_neurons` rows of U, chosen independently of the row order
    (rows are ranked by their values before a fixed random choice)."""
    n = len(U)
    if n <= max_neurons:
        return np.arange(n)
    ranked = np.lexsort(U.T[::-1])
    return np.sort(ranked[np.random.default_rng(rng_seed).choice(n, max_neurons, replace=False)])


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def layer_condensation(W: np.ndarray, tol: float | None = None, min_norm: float = 0.1, min_share: float = 0.05,
                       fixed_tol: float = 0.95, max_neurons: int = 2000, min_coverage: float = 0.5,
                       curve: bool = True, heatmap_neurons: int = 1000) -> LayerCondensation:
    """Condensation of one layer's input weights W (m, k) (bias last).

    Neurons whose norm is below `min_norm` × the largest are left out; non-finite rows are left
    out and counted. `tol` None reports the persistent count, a cosine the count at that fixed
    tolerance (the fixed reading at `fixed_tol` is reported beside the persistent one either
    way). Clusters holding less than `min_share` of the kept neurons are reported, not counted."""
    W = np.asarray(W, np.float64)
    m, k = W.shape
    finite, U, norms, idx = _kept_neurons(W, min_norm)
    Uk, nk = U[idx], norms[idx]
    kept = len(idx)
    base = dict(neurons=m, kept=kept, left_out=int(m - kept - (~finite).sum()), nonfinite=int((~finite).sum()),
                min_norm=min_norm, kept_index=idx, unit=Uk, norms=nk)
    if kept == 0:
        empty = np.zeros(0, np.int64)
        return LayerCondensation(**base, clustered=0, directions=0, lines=0, condensed=False, coverage=0.0,
                                 clusters=[], line_clusters=[], labels=empty, line_labels=empty, order=empty,
                                 measure={"method": "persistent" if tol is None else "fixed", "condensed": False,
                                          "verdict": "no kept neurons: nothing to measure"})
    pos = _sample(Uk, max_neurons)
    cond = clustering.condensation(clustering.cosine_of_rows(Uk[pos]), min_share=min_share, fixed_tol=fixed_tol,
                                   tol=tol, dim=k, min_coverage=min_coverage, curve=curve)
    rd = cond.reading
    K = len(rd.sizes)
    centres = np.array([_unit(Uk[pos][rd.labels == c].sum(0)) for c in range(K)])
    labels = np.empty(kept, np.int64)
    labels[pos] = rd.labels
    rest = np.setdiff1d(np.arange(kept), pos)
    if len(rest):  # neurons outside the sample join the cluster whose mean direction is nearest
        labels[rest] = np.argmax(Uk[rest] @ centres.T, axis=1)
    line_labels = rd.line_of[labels]
    clusters = []
    for c in range(K):
        n_c = int(np.sum(labels == c))
        clusters.append({"share": round(n_c / kept, 6), "neurons": n_c, "counted": bool(rd.counted[c]),
                         "line": int(rd.line_of[c]), "direction": [round(float(v), 6) for v in centres[c]]})
    line_clusters = []
    for l in range(len(rd.line_counted)):
        members = np.flatnonzero(rd.line_of == l)
        lead = centres[members[0]]
        signed = sum(np.sign(centres[c] @ lead or 1.0) * Uk[labels == c].sum(0) for c in members)
        n_l = int(np.isin(labels, members).sum())
        line_clusters.append({"share": round(n_l / kept, 6), "neurons": n_l, "counted": bool(rd.line_counted[l]),
                              "direction": [round(float(v), 6) for v in _unit(np.asarray(signed, np.float64))]})
    order = pos[clustering.block_order(rd, cond.leaves)]
    if len(order) > heatmap_neurons:  # thin evenly: blocks keep their proportions
        order = order[np.linspace(0, len(order) - 1, heatmap_neurons).round().astype(int)]
    measure = cond.summary()
    if len(pos) < kept:
        measure["sample"] = (f"clustered a fixed random sample of {len(pos)} of the {kept} kept neurons; "
                             "the others joined the nearest cluster")
    return LayerCondensation(**base, clustered=len(pos), directions=rd.directions, lines=rd.lines,
                             condensed=cond.condensed, coverage=cond.coverage, clusters=clusters,
                             line_clusters=line_clusters, measure=measure, labels=labels,
                             line_labels=line_labels, order=order, curve=cond.curve if curve else None)


def conv_output_cosine(run, s: int, k: int, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For a run whose first layer is a convolution: (cosine (c, c) of the channels' outputs over
    all training images and positions, output norms (c,)), accumulated over batches of images so
    memory stays bounded (overview Fig. 3c/3f: channels condense in what they compute)."""
    import jax
    import jax.numpy as jnp

    from ..nn import activations
    from ..nn.models import convolve
    from ..run import network

    params, spec = network(run, s, k)
    w, act = params["hidden"][0], activations.get(spec.acts[0]).fn
    gram_fn = jax.jit(lambda xb: (lambda o: o.T @ o)(act(convolve(xb, w, spec)).reshape(-1, w.shape[0])))
    c = w.shape[0]
    gram = np.zeros((c, c))
    for i in range(0, len(run.x), batch):
        gram += np.asarray(gram_fn(jnp.asarray(run.x[i:i + batch], jnp.float32)), np.float64)
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(np.outer(norms, norms) > 0, gram / np.outer(norms, norms), 0.0)
    return np.clip(cos, -1, 1), norms


def channel_output_clusters(cos: np.ndarray, norms: np.ndarray, min_share: float, tol: float | None,
                            fixed_tol: float) -> dict:
    """The layer measure on convolution channels by the cosine of their outputs (c, c); channels
    whose output is zero are left out. No verdict: there is no isotropic reference for outputs."""
    live = np.flatnonzero(norms > 0)
    if not len(live):
        return {"clusters": 0, "shares": [], "note": "every channel's output is zero"}
    cond = clustering.condensation(cos[np.ix_(live, live)], min_share=min_share, fixed_tol=fixed_tol, tol=tol,
                                   dim=None, curve=False)
    shares = cond.reading.sizes / len(norms)
    return {"clusters": cond.reading.directions, "shares": [round(float(v), 6) for v in shares],
            "measure": cond.summary(),
            "note": "channels clustered by the cosine of their outputs over the training images"}
