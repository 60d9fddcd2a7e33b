"""Condensation measures on recorded weights (NumPy), and the analysis of a whole run.

Measures (W: (m, k) input weights of one layer, bias last; rows are neurons):
- `relative_distance(w0, wt)`: RD = |θ(t) − θ(0)| / |θ(0)| over everything but the leading axis.
- `cosine_matrix(W)`: D(u, v) = uᵀv / (|u||v|), (m, m).
- `cluster(U, norms, tol, signed)`: greedy leader clustering of unit rows U (m, k): neurons in
  order of decreasing norm open a cluster and take every unassigned neuron within cosine `tol`
  of it (|cos| when `signed=False`: lines), the centre is refined once. O(m · clusters), never
  an m × m matrix. The result does not depend on the order of the rows.
- `layer_condensation(W, ...)`: kept / left-out neurons, direction and line clusters with their
  shares, counts against the bound 2p.

`analyze(run, options)` puts these together with `theory` for every seed and layer of a run
file: the chosen step, per-layer report, the series over training, and the 1-d extras.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import BadInput


def relative_distance(w0: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """RD per leading index: w0, wt (S, ...) -> (S,); inf where θ(0) = 0 and θ moved."""
    w0 = np.asarray(w0, np.float64)
    wt = np.asarray(wt, np.float64)
    axes = tuple(range(1, w0.ndim))
    num = np.sqrt(np.sum((wt - w0) ** 2, axis=axes))
    den = np.sqrt(np.sum(w0 ** 2, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))


def unit_rows(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(norms (m,), unit rows (m, k)); zero rows stay zero."""
    W = np.asarray(W, np.float64)
    norms = np.linalg.norm(W, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        U = np.where(norms[:, None] > 0, W / np.where(norms > 0, norms, 1.0)[:, None], 0.0)
    return norms, U


def cosine_matrix(W: np.ndarray) -> np.ndarray:
    """D[i, j] = cos(w_i, w_j) for the rows of W (m, k) -> (m, m), clipped to [−1, 1]."""
    _, U = unit_rows(W)
    return np.clip(U @ U.T, -1.0, 1.0)


def _leader_order(U: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Rows by decreasing norm, ties broken by the row's values: independent of row order."""
    keys = [U[:, j] for j in range(U.shape[1] - 1, -1, -1)] + [-norms]
    return np.lexsort(keys)


def cluster(U: np.ndarray, norms: np.ndarray, tol: float, signed: bool = True):
    """Greedy leader clustering of unit rows U (m, k).

    Returns (labels (m,) int, centres (C, k)), clusters numbered by decreasing size (ties: by
    their leader's order). `signed=False` clusters lines: a row and its negative are the same.
    """
    m = U.shape[0]
    labels = np.full(m, -1, dtype=np.int64)
    centres = []
    free = np.ones(m, dtype=bool)
    for i in _leader_order(U, norms):
        if not free[i]:
            continue
        c = U[i]
        for _ in range(2):  # take the neighbours, refine the centre once, take again
            cos = U @ c
            near = free & ((cos if signed else np.abs(cos)) >= tol)
            near[i] = near[i] or free[i]
            sign = np.ones(m) if signed else np.sign(np.where(cos == 0, 1.0, cos))
            mean = (U[near] * (sign[near] * norms[near])[:, None]).sum(0)
            norm = np.linalg.norm(mean)
            if norm > 0:
                c = mean / norm
        labels[near] = len(centres)
        free[near] = False
        centres.append(c)
    centres = np.array(centres).reshape(-1, U.shape[1])
    sizes = np.bincount(labels, minlength=len(centres)) if m else np.zeros(0, int)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return (relabel[labels] if m else labels), centres[order]


@dataclass
class LayerCondensation:
    """One layer at one step. Shares are fractions of the kept neurons."""

    neurons: int
    kept: int
    left_out: int
    nonfinite: int
    min_norm: float
    directions: int
    lines: int
    clusters: list  # direction clusters: {"share", "direction", "neurons", "counted"}
    line_clusters: list  # line clusters: {"share", "direction", "neurons", "counted"}
    kept_index: np.ndarray = field(repr=False)  # indices of kept neurons
    labels: np.ndarray = field(repr=False)  # direction cluster of each kept neuron
    line_labels: np.ndarray = field(repr=False)
    unit: np.ndarray = field(repr=False)  # unit input weights of kept neurons (kept, k)
    norms: np.ndarray = field(repr=False)

    def within_bound(self, p: int | None):
        return None if p is None else bool(self.directions <= 2 * p)


def _clusters_summary(labels, centres, kept, min_share):
    out = []
    for c, centre in enumerate(centres):
        n = int(np.sum(labels == c))
        share = n / kept if kept else 0.0
        out.append({"share": round(share, 6), "neurons": n, "counted": bool(share >= min_share),
                    "direction": [round(float(v), 6) for v in centre]})
    return out


def _kept_neurons(W: np.ndarray, min_norm: float):
    """(finite rows (m,), unit rows (m, k), norms (m,), indices of the kept neurons): finite rows
    whose norm is positive and at least `min_norm` × the largest finite norm."""
    finite = np.isfinite(W).all(axis=1)
    norms, U = unit_rows(np.where(finite[:, None], W, 0.0))
    top = norms[finite].max() if finite.any() else 0.0
    return finite, U, norms, np.flatnonzero(finite & (norms > 0) & (norms >= min_norm * top))


def layer_condensation(W: np.ndarray, tol: float = 0.95, min_norm: float = 0.1,
                       min_share: float = 0.05) -> LayerCondensation:
    """Condensation of one layer's input weights W (m, k) (bias last).

    Neurons whose norm is below `min_norm` × the largest norm are left out; non-finite rows are
    left out and counted. Clusters holding less than `min_share` of the kept neurons are
    reported but not counted as condensed orientations."""
    W = np.asarray(W, np.float64)
    m = W.shape[0]
    finite, U, norms, idx = _kept_neurons(W, min_norm)
    Uk, nk = U[idx], norms[idx]
    labels, centres = cluster(Uk, nk, tol, signed=True)
    line_labels, line_centres = cluster(Uk, nk, tol, signed=False)
    dirs = _clusters_summary(labels, centres, len(idx), min_share)
    lines = _clusters_summary(line_labels, line_centres, len(idx), min_share)
    return LayerCondensation(
        neurons=m, kept=len(idx), left_out=int(m - len(idx) - (~finite).sum()),
        nonfinite=int((~finite).sum()), min_norm=min_norm,
        directions=sum(c["counted"] for c in dirs), lines=sum(c["counted"] for c in lines),
        clusters=dirs, line_clusters=lines, kept_index=idx, labels=labels,
        line_labels=line_labels, unit=Uk, norms=nk)


def count_orientations(W: np.ndarray, tol: float, min_norm: float, min_share: float,
                       max_neurons: int = 2000, rng_seed: int = 0) -> tuple[int, int]:
    """(directions, lines) of W (m, k), cheaply: when more than `max_neurons` neurons are
    kept, a fixed random subset of that many is clustered (shares then carry a sampling error
    of about sqrt(share/max_neurons))."""
    _, U, norms, idx = _kept_neurons(np.asarray(W, np.float64), min_norm)
    if len(idx) > max_neurons:
        idx = np.sort(np.random.default_rng(rng_seed).choice(idx, max_neurons, replace=False))
    if len(idx) == 0:
        return 0, 0
    Uk = U[idx]
    counts = []
    for signed in (True, False):
        labels, centres = cluster(Uk, norms[idx], tol, signed)
        shares = np.bincount(labels, minlength=len(centres)) / len(idx)
        counts.append(int(np.sum(shares >= min_share)))
    return counts[0], counts[1]


def heatmap_order(lc: LayerCondensation, max_neurons: int = 1000, rng_seed: int = 0) -> np.ndarray:
    """Positions (into the kept neurons) for the heat map: clusters as contiguous blocks
    (largest first), each block by decreasing cosine to its centre; at most `max_neurons`,
    a fixed random subset when there are more."""
    pos = np.arange(lc.kept)
    if lc.kept > max_neurons:
        pos = np.sort(np.random.default_rng(rng_seed).choice(pos, max_neurons, replace=False))
    labels = lc.labels[pos]
    centres = np.array([c["direction"] for c in lc.clusters]).reshape(-1, lc.unit.shape[1])
    closeness = np.einsum("ij,ij->i", lc.unit[pos], centres[labels]) if len(pos) else np.zeros(0)
    return pos[np.lexsort((-closeness, labels))]


def conv_output_cosine(run, s: int, k: int, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For a run whose first layer is a convolution: (cosine (c, c) of the channels' outputs over
    all training images and positions, output norms (c,)), accumulated over batches of images so
    memory stays bounded (overview Fig. 3c/3f: channels condense in what they compute)."""
    import jax
    import jax.numpy as jnp

    from . import activations
    from .models import _convolve
    from .theory import network

    params, spec = network(run, s, k)
    w, act = params["hidden"][0], activations.get(spec.acts[0]).fn
    gram_fn = jax.jit(lambda xb: (lambda o: o.T @ o)(act(_convolve(xb, w, spec)).reshape(-1, w.shape[0])))
    c = w.shape[0]
    gram = np.zeros((c, c))
    for i in range(0, len(run.x), batch):
        gram += np.asarray(gram_fn(jnp.asarray(run.x[i:i + batch], jnp.float32)), np.float64)
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(np.outer(norms, norms) > 0, gram / np.outer(norms, norms), 0.0)
    return np.clip(cos, -1, 1), norms


def cluster_by_cosine(cos: np.ndarray, norms: np.ndarray, tol: float) -> np.ndarray:
    """Greedy leader clustering from a cosine matrix (c, c): channels by decreasing norm open a
    cluster and take every unassigned channel within `tol`. Labels numbered by decreasing size."""
    c = len(norms)
    labels = np.full(c, -1)
    for i in np.argsort(-norms, kind="stable"):
        if labels[i] >= 0:
            continue
        near = (labels < 0) & (cos[i] >= tol)
        near[i] = True
        labels[near] = labels.max() + 1
    sizes = np.bincount(labels)
    relabel = np.empty_like(sizes)
    relabel[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return relabel[labels]


# ----------------------------------------------------------------------------- whole runs


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyze a run: which moment, which layers, and the stated tolerances."""

    at: str = "initial"  # "initial", "end", or a recorded step number
    at_loss_ratio: float | None = None
    layers: tuple[int, ...] | None = None  # 1-based hidden layers; None: all
    min_norm: float = 0.1
    tol: float = 0.95
    min_share: float = 0.05
    fit_tol: float = 0.05
    stage_ratio: float = 0.7
    series_max_neurons: int = 2000

    def validate(self, n_layers: int) -> None:
        if not (0 <= self.min_norm < 1):
            raise BadInput(f"--min-norm must be in [0, 1), got {self.min_norm}")
        if not (0 < self.tol <= 1):
            raise BadInput(f"--tol must be in (0, 1], got {self.tol}")
        if not (0 < self.min_share <= 1):
            raise BadInput(f"--min-share must be in (0, 1], got {self.min_share}")
        if not (self.fit_tol > 0 and math.isfinite(self.fit_tol)):
            raise BadInput(f"--fit-tol must be positive, got {self.fit_tol}")
        r = self.at_loss_ratio
        if r is not None and not (0 < r < 1):
            raise BadInput(f"--at-loss-ratio must be in (0, 1), got {r}")
        if self.layers is not None:
            bad = [l for l in self.layers if not 1 <= l <= n_layers]
            if bad:
                raise BadInput(f"--layer {bad[0]} does not exist; the run has hidden layers 1..{n_layers}")


def first_below(loss: np.ndarray, ratio: float) -> int | None:
    """The first step whose loss is at most ratio × loss[0], or None."""
    hit = np.flatnonzero(loss <= ratio * loss[0])
    return int(hit[0]) if len(hit) else None


def choose_step(loss: np.ndarray, steps: np.ndarray, options: AnalysisOptions) -> tuple[int, str]:
    """(index into `steps`, why) for one seed's loss (T+1,) and the recorded steps (K,)."""
    at = str(options.at).strip().lower()
    if options.at_loss_ratio is not None:
        r = options.at_loss_ratio
        t = first_below(loss, r)
        if t is None:
            return len(steps) - 1, f"last recorded step (the loss never fell to {r} of its initial value)"
        k = max(int(np.searchsorted(steps, t, side="left")) - 1, 0)
        return k, f"last recorded step before the loss fell to {r} of its initial value (step {t})"
    if at == "end":
        return len(steps) - 1, "last recorded step (--at end)"
    if at == "initial":
        r = options.stage_ratio
        t = first_below(loss, r)
        if t is None:
            return len(steps) - 1, f"last recorded step; the loss never fell to {r:.0%} of its initial value"
        k = max(int(np.searchsorted(steps, t, side="left")) - 1, 0)
        return k, (f"last recorded step of the initial stage (the loss fell to {r:.0%} of its "
                   f"initial value at step {t})")
    try:
        want = int(at)
    except ValueError:
        raise BadInput(f"--at must be initial, end or a step number, got {options.at!r}") from None
    hits = np.flatnonzero(steps == want)
    if not len(hits):
        near = steps[np.argsort(np.abs(steps - want))[:2]]
        raise BadInput(f"step {want} was not recorded; nearest recorded steps: "
                       f"{', '.join(map(str, sorted(near)))} (recorded {steps[0]}..{steps[-1]})")
    return int(hits[0]), f"step {want} (--at)"


def analyze(run, options: AnalysisOptions = AnalysisOptions(), progress=None) -> dict:
    """Analyze every seed and chosen layer of a run (a `TrainResult` from `io.load_run`).

    Returns {"report": JSON-able dict (the `--json` contract), "arrays": dict of arrays for the
    analysis NPZ, "figures": data the plots need (first seed)}. `progress(done, total)` is
    called as the series over training is computed."""
    from . import theory

    meta = run.meta
    n_layers = len(run.hidden)
    options.validate(n_layers)
    layers = list(options.layers) if options.layers else list(range(1, n_layers + 1))
    acts = meta.get("activation") or ["?"] * n_layers
    mult = meta.get("multiplicity") or [None] * n_layers
    S, K = run.out.shape[:2]
    steps = np.asarray(run.step)

    # Series over training (every recorded step), cheap counts per snapshot.
    series_dirs = np.zeros((S, len(layers), K), np.int64)
    series_lines = np.zeros((S, len(layers), K), np.int64)
    series_rd = np.zeros((S, len(layers), K))
    total, done = S * len(layers) * K, 0
    for s in range(S):
        for j, l in enumerate(layers):
            W = run.hidden[l - 1][s]
            series_rd[s, j] = relative_distance(np.broadcast_to(W[0], W.shape), W)
            for k in range(K):
                series_dirs[s, j, k], series_lines[s, j, k] = count_orientations(
                    W[k], options.tol, options.min_norm, options.min_share, options.series_max_neurons)
                done += 1
                if progress is not None and done % 20 == 0:
                    progress(done, total)
    if progress is not None:
        progress(total, total)

    per_seed, figures = [], None
    for s in range(S):
        loss = np.asarray(run.loss[s], np.float64)
        k, why = choose_step(loss, steps, options)
        step = int(steps[k])
        ratio = float(loss[step] / loss[0]) if loss[0] > 0 else float("nan")
        t_stage = first_below(loss, options.stage_ratio)
        stage = "initial" if (t_stage is None or step < t_stage) else "later"
        entry = {"seed": (meta.get("seeds") or list(range(S)))[s], "step": step, "why": why,
                 "loss": float(loss[step]), "loss_ratio": _num(ratio), "stage": stage, "layers": []}
        fig_layers = []
        for j, l in enumerate(layers):
            W = np.asarray(run.hidden[l - 1][s, k], np.float64)
            lc = layer_condensation(W, options.tol, options.min_norm, options.min_share)
            p = mult[l - 1] if l - 1 < len(mult) else None
            th = theory.layer_theory(run, s, k, l, p, lc, options.tol)
            rd = float(series_rd[s, j, k])
            outputs = None
            if l == 1 and (meta.get("layers") or [{}])[0].get("kind") == "conv" and np.isfinite(W).all():
                cos, norms = conv_output_cosine(run, s, k)
                out_labels = cluster_by_cosine(cos, norms, options.tol)
                shares = np.bincount(out_labels) / len(out_labels)
                outputs = {"clusters": int(np.sum(shares >= options.min_share)),
                           "shares": [round(float(v), 6) for v in shares],
                           "note": "channels clustered by the cosine of their outputs over the training images"}
            entry["layers"].append({
                "layer": l, "activation": acts[l - 1], "multiplicity": p,
                "bound": None if p is None else 2 * p,
                "neurons": lc.neurons, "kept": lc.kept, "left_out": lc.left_out,
                "nonfinite": lc.nonfinite, "directions": lc.directions, "lines": lc.lines,
                "clusters": lc.clusters, "line_clusters": lc.line_clusters, "rd": _num(rd),
                "within_bound": lc.within_bound(p), "theory": th["report"], "outputs": outputs,
                "note": _layer_note(lc, p),
            })
            if s == 0:
                fig_layers.append({"layer": l, "lc": lc, "order": heatmap_order(lc), "theory": th})
        if s == 0:
            figures = {"k": k, "step": step, "layers": fig_layers,
                       "one_d": theory.one_d_extras(run, s, k, options.fit_tol, fig_layers)}
            if figures["one_d"] is not None:
                entry["one_d"] = figures["one_d"]["report"]
        per_seed.append(entry)

    first = per_seed[0]
    layer_mult = [mult[l - 1] if l - 1 < len(mult) else None for l in layers]
    report = {
        "file": None,
        "activation": acts[0] if len(set(acts)) == 1 else acts,
        "multiplicity": layer_mult[0] if len(set(layer_mult)) == 1 else layer_mult,
        "bound": (None if layer_mult[0] is None else 2 * layer_mult[0]) if len(set(layer_mult)) == 1
        else [None if p is None else 2 * p for p in layer_mult],
        "step": first["step"], "why": first["why"], "loss_ratio": first["loss_ratio"],
        "stage": first["stage"], "layers": first["layers"],
        "options": {"at": options.at, "at_loss_ratio": options.at_loss_ratio, "tol": options.tol,
                    "min_norm": options.min_norm, "min_share": options.min_share,
                    "fit_tol": options.fit_tol, "stage_ratio": options.stage_ratio},
        "series": {"step": steps.tolist(), "directions": series_dirs[0].tolist(),
                   "lines": series_lines[0].tolist()},
    }
    if "one_d" in first:
        report["one_d"] = first["one_d"]
    if S > 1:
        report["seeds"] = per_seed
        report["summary"] = _seed_summary(per_seed, layers)
    arrays = {"series_step": steps, "series_directions": series_dirs, "series_lines": series_lines,
              "series_rd": series_rd, "layers": np.asarray(layers),
              "series_loss": np.asarray(run.loss)[:, steps]}
    for fl in figures["layers"]:
        lc = fl["lc"]
        arrays[f"kept_l{fl['layer']}"] = lc.kept_index
        arrays[f"labels_l{fl['layer']}"] = lc.labels
        arrays[f"line_labels_l{fl['layer']}"] = lc.line_labels
    return {"report": report, "arrays": arrays, "figures": figures}


def _layer_note(lc: LayerCondensation, p) -> str | None:
    if lc.neurons and lc.nonfinite == lc.neurons:
        return "every input weight is NaN or infinite at this step"
    if lc.kept == 0:
        return "every neuron's input weight is zero: nothing to measure"
    if lc.kept == 1:
        return "a single neuron above --min-norm: one orientation by definition"
    if lc.nonfinite:
        return f"{lc.nonfinite} neurons with NaN or infinite weights were left out"
    return None


def _seed_summary(per_seed: list, layers: list) -> dict:
    out = {"seeds": len(per_seed), "layers": []}
    for j, l in enumerate(layers):
        dirs = [e["layers"][j]["directions"] for e in per_seed]
        lines = [e["layers"][j]["lines"] for e in per_seed]
        within = [e["layers"][j]["within_bound"] for e in per_seed]
        out["layers"].append({
            "layer": l, "directions": dirs, "lines": lines,
            "directions_mode": int(np.bincount(dirs).argmax()),
            "lines_mode": int(np.bincount(lines).argmax()),
            "within_bound": None if within[0] is None else int(sum(bool(w) for w in within)),
        })
    return out


def _num(v):
    return float(v) if v is not None and math.isfinite(v) else None
