"""Condensation measures on recorded weights (NumPy), and the analysis of a whole run.

Measures (W: (m, k) input weights of one layer, bias last; rows are neurons):
- `relative_distance(w0, wt)`: RD = |θ(t) − θ(0)| / |θ(0)| over everything but the leading axis.
- `cosine_matrix(W)`: D(u, v) = uᵀv / (|u||v|), (m, m).
- `layer_condensation(W, ...)`: kept / left-out neurons, then `clustering.condensation` on the
  kept ones (a stated sample of `max_neurons` when there are more; the others join the cluster
  whose mean direction is nearest): the persistent and fixed counts of directions and lines, the
  coverage, the verdict `condensed`, and the heat-map order.

`analyze(run, options)` puts these together with `theory` for every seed and layer of a run
file: the chosen step, per-layer report, the series over training and when the count held
within 2p, and the 1-d extras.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import clustering
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


# ----------------------------------------------------------------------------- whole runs


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyze a run: which moment, which layers, and the stated tolerances. `tol` None
    reports the persistent count; a cosine reports the count at that fixed tolerance."""

    at: str = "initial"  # "initial", "end", "most-condensed", or a recorded step number
    at_loss_ratio: float | None = None
    layers: tuple[int, ...] | None = None  # 1-based hidden layers; None: all
    min_norm: float = 0.1
    tol: float | None = None
    fixed_tol: float = 0.95
    min_share: float = 0.05
    min_coverage: float = 0.5
    fit_tol: float = 0.05
    stage_ratio: float = 0.7
    max_neurons: int = 2000
    series_max_neurons: int = 1000

    def validate(self, n_layers: int) -> None:
        if not (0 <= self.min_norm < 1):
            raise BadInput(f"--min-norm must be in [0, 1), got {self.min_norm}")
        for name, t in (("--tol", self.tol), ("--fixed-tol", self.fixed_tol)):
            if t is not None and not (0 <= t <= 1):
                raise BadInput(f"{name} must be a cosine in [0, 1], got {t}")
        if not (0 < self.min_share <= 1):
            raise BadInput(f"--min-share must be in (0, 1], got {self.min_share}")
        if not (0 <= self.min_coverage <= 1):
            raise BadInput(f"--min-coverage must be in [0, 1], got {self.min_coverage}")
        if not (self.fit_tol > 0 and math.isfinite(self.fit_tol)):
            raise BadInput(f"--fit-tol must be positive, got {self.fit_tol}")
        if self.max_neurons < 3 or self.series_max_neurons < 3:
            raise BadInput("--max-neurons must be at least 3")
        r = self.at_loss_ratio
        if r is not None and not (0 < r < 1):
            raise BadInput(f"--at-loss-ratio must be in (0, 1), got {r}")
        if self.layers is not None:
            bad = [l for l in self.layers if not 1 <= l <= n_layers]
            if bad:
                raise BadInput(f"--layer {bad[0]} does not exist; the run has hidden layers 1..{n_layers}")

    def measure(self, W: np.ndarray, series: bool = False) -> LayerCondensation:
        """`layer_condensation` of W with these options (cheaper for the series)."""
        return layer_condensation(W, tol=self.tol, min_norm=self.min_norm, min_share=self.min_share,
                                  fixed_tol=self.fixed_tol, min_coverage=self.min_coverage,
                                  max_neurons=self.series_max_neurons if series else self.max_neurons,
                                  curve=not series)


def first_below(loss: np.ndarray, ratio: float) -> int | None:
    """The first step whose loss is at most ratio × loss[0], or None."""
    hit = np.flatnonzero(loss <= ratio * loss[0])
    return int(hit[0]) if len(hit) else None


def choose_step(loss: np.ndarray, steps: np.ndarray, options: AnalysisOptions,
                most_condensed: int | None = None) -> tuple[int, str]:
    """(index into `steps`, why) for one seed's loss (T+1,) and the recorded steps (K,).
    `most_condensed` is the index `--at most-condensed` takes (None: no snapshot condensed)."""
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
    if at == "most-condensed":
        if most_condensed is None:
            k, why = choose_step(loss, steps, AnalysisOptions(stage_ratio=options.stage_ratio))
            return k, "no recorded step of the initial stage is condensed; " + why
        return most_condensed, ("the step of the initial stage where the layer was most condensed "
                                "(widest persistent range)")
    try:
        want = int(at)
    except ValueError:
        raise BadInput(f"--at must be initial, end, most-condensed or a step number, got {options.at!r}") from None
    hits = np.flatnonzero(steps == want)
    if not len(hits):
        near = steps[np.argsort(np.abs(steps - want))[:2]]
        raise BadInput(f"step {want} was not recorded; nearest recorded steps: "
                       f"{', '.join(map(str, sorted(near)))} (recorded {steps[0]}..{steps[-1]})")
    return int(hits[0]), f"step {want} (--at)"


def stage_end(loss: np.ndarray, steps: np.ndarray, ratio: float) -> int:
    """Number of recorded steps inside the initial stage (before the loss fell to ratio × initial)."""
    t = first_below(loss, ratio)
    return len(steps) if t is None else max(int(np.searchsorted(steps, t, side="left")), 1)


def held_within_bound(steps, directions, condensed, persistence, p, stage_k: int) -> dict:
    """Over the first `stage_k` recorded steps: the runs of steps where the layer was condensed
    with directions ≤ 2p, the longest of them, and the most condensed step (widest persistence
    among condensed snapshots)."""
    ok = np.asarray(condensed[:stage_k], bool)
    if p is not None:
        ok = ok & (np.asarray(directions[:stage_k]) <= 2 * p)
    runs, start = [], None
    for k in range(stage_k + 1):
        if k < stage_k and ok[k]:
            start = k if start is None else start
        elif start is not None:
            runs.append((int(steps[start]), int(steps[k - 1])))
            start = None
    cond = np.flatnonzero(np.asarray(condensed[:stage_k], bool))
    best = int(cond[np.argmax(np.asarray(persistence)[cond])]) if len(cond) else None
    longest = max(runs, key=lambda r: (r[1] - r[0], -r[0]), default=None)
    return {"bound": None if p is None else 2 * p, "runs": [list(r) for r in runs],
            "from": None if longest is None else longest[0], "to": None if longest is None else longest[1],
            "most_condensed_step": None if best is None else int(steps[best]), "most_condensed_index": best,
            "stage_steps": [int(steps[0]), int(steps[stage_k - 1])]}


def resolve_run(run, act: str | None = None, alpha: float | None = None, residual: bool | None = None):
    """The run with its meta completed for analysis: the activation from `act` where the file
    does not name one (BadInput where it contradicts the file's own), p computed where missing,
    `alpha` and `residual` where given. Never assumes an activation."""
    from . import activations

    meta = dict(run.meta)
    L = len(run.hidden)
    own = meta.get("activation")
    if act is not None:
        given = [a.strip() for a in str(act).split(",")]
        if len(given) == 1:
            given = given * L
        if len(given) != L:
            raise BadInput(f"--act names {len(given)} activations; the run has {L} hidden layers")
        for a in given:
            activations.get(a)  # unknown names and unsafe formulas are refused here
        if own and list(own) != given:
            raise BadInput(f"--act {act} contradicts the run's own activation {','.join(own)}; "
                           "leave --act out for this file")
        meta["activation"] = given
    elif not own:
        raise BadInput("the run file does not name its activation; pass --act NAME or a formula of x")
    acts = list(meta["activation"])
    if len(acts) != L:
        raise BadInput(f"the run names {len(acts)} activations for {L} hidden layers")
    mult = meta.get("multiplicity")
    if not isinstance(mult, list) or len(mult) != L:
        meta["multiplicity"] = [activations.multiplicity(a) for a in acts]
    if alpha is not None:
        if "alpha" in run.meta and float(run.meta["alpha"]) != float(alpha):
            raise BadInput(f"--alpha {alpha} contradicts the run's own alpha {run.meta['alpha']}")
        meta["alpha"] = float(alpha)
    if residual is not None:
        if "residual" in run.meta and bool(run.meta["residual"]) != bool(residual):
            raise BadInput(f"--residual contradicts the run's own setting (residual={run.meta['residual']})")
        meta["residual"] = bool(residual)
    import dataclasses

    return dataclasses.replace(run, meta=meta)


def analyze(run, options: AnalysisOptions = AnalysisOptions(), progress=None) -> dict:
    """Analyze every seed and chosen layer of a run (a `TrainResult` from `io.load_run`, its meta
    completed by `resolve_run` where it lacks the activation).

    Returns {"report": JSON-able dict (the `--json` contract), "arrays": dict of arrays for the
    analysis NPZ, "figures": data the plots need (first seed)}. `progress(done, total)` is
    called as the series over training is computed."""
    from . import theory

    meta = run.meta
    n_layers = len(run.hidden)
    options.validate(n_layers)
    if not meta.get("activation"):
        raise BadInput("the run file does not name its activation; pass --act NAME or a formula of x")
    layers = list(options.layers) if options.layers else list(range(1, n_layers + 1))
    acts = list(meta["activation"])
    mult = list(meta.get("multiplicity") or [None] * n_layers)
    S, K = run.out.shape[:2]
    steps = np.asarray(run.step)
    loss_all = np.asarray(run.loss, np.float64)

    # Series over training (every recorded step): the same measure on a smaller sample.
    series_dirs = np.zeros((S, len(layers), K), np.int64)
    series_lines = np.zeros((S, len(layers), K), np.int64)
    series_cond = np.zeros((S, len(layers), K), bool)
    series_pers = np.zeros((S, len(layers), K))
    series_rd = np.zeros((S, len(layers), K))
    total, done = S * len(layers) * K, 0
    for s in range(S):
        for j, l in enumerate(layers):
            W = run.hidden[l - 1][s]
            series_rd[s, j] = relative_distance(np.broadcast_to(W[0], W.shape), W)
            for k in range(K):
                lc = options.measure(W[k], series=True)
                series_dirs[s, j, k], series_lines[s, j, k] = lc.directions, lc.lines
                series_cond[s, j, k] = lc.condensed
                series_pers[s, j, k] = lc.measure.get("persistence") or 0.0
                done += 1
                if progress is not None and done % 10 == 0:
                    progress(done, total)
    if progress is not None:
        progress(total, total)

    per_seed, figures = [], None
    for s in range(S):
        loss = loss_all[s]
        stage_k = stage_end(loss, steps, options.stage_ratio)
        held = [held_within_bound(steps, series_dirs[s, j], series_cond[s, j], series_pers[s, j],
                                  mult[l - 1], stage_k) for j, l in enumerate(layers)]
        k, why = choose_step(loss, steps, options, held[0]["most_condensed_index"])
        step = int(steps[k])
        ratio = float(loss[step] / loss[0]) if loss[0] > 0 and step < len(loss) else float("nan")
        t_stage = first_below(loss, options.stage_ratio)
        stage = "initial" if (t_stage is None or step < t_stage) else "later"
        entry = {"seed": (meta.get("seeds") or list(range(S)))[s], "step": step, "why": why,
                 "loss": float(loss[min(step, len(loss) - 1)]), "loss_ratio": _num(ratio), "stage": stage,
                 "layers": []}
        fig_layers = []
        for j, l in enumerate(layers):
            W = np.asarray(run.hidden[l - 1][s, k], np.float64)
            lc = options.measure(W)
            p = mult[l - 1] if l - 1 < len(mult) else None
            th = theory.layer_theory(run, s, k, l, p, lc, mult)
            rd = float(series_rd[s, j, k])
            outputs = None
            if l == 1 and (meta.get("layers") or [{}])[0].get("kind") == "conv" and np.isfinite(W).all():
                cos, norms = conv_output_cosine(run, s, k)
                outputs = channel_output_clusters(cos, norms, options.min_share, options.tol, options.fixed_tol)
            entry["layers"].append({
                "layer": l, "activation": acts[l - 1], "multiplicity": p,
                "bound": None if p is None else 2 * p,
                "neurons": lc.neurons, "kept": lc.kept, "left_out": lc.left_out,
                "nonfinite": lc.nonfinite, "clustered": lc.clustered,
                "directions": lc.directions, "lines": lc.lines,
                "condensed": lc.condensed, "coverage": round(lc.coverage, 6), "measure": lc.measure,
                "clusters": lc.clusters, "line_clusters": lc.line_clusters, "rd": _num(rd),
                "within_bound": lc.within_bound(p), "held": {k_: v for k_, v in held[j].items()
                                                             if k_ != "most_condensed_index"},
                "theory": th["report"], "theory_note": th.get("note"), "outputs": outputs,
                "note": _layer_note(lc, p),
            })
            if s == 0:
                fig_layers.append({"layer": l, "lc": lc, "order": lc.order, "theory": th})
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
        "optimizer": (meta.get("config") or {}).get("optimizer", meta.get("optimizer")),
        "step": first["step"], "why": first["why"], "loss_ratio": first["loss_ratio"],
        "stage": first["stage"], "layers": first["layers"],
        "options": {"at": options.at, "at_loss_ratio": options.at_loss_ratio, "tol": options.tol,
                    "fixed_tol": options.fixed_tol, "count": "fixed" if options.tol is not None else "persistent",
                    "min_norm": options.min_norm, "min_share": options.min_share,
                    "min_coverage": options.min_coverage, "max_neurons": options.max_neurons,
                    "series_max_neurons": options.series_max_neurons,
                    "fit_tol": options.fit_tol, "stage_ratio": options.stage_ratio},
        "series": {"step": steps.tolist(), "directions": series_dirs[0].tolist(),
                   "lines": series_lines[0].tolist(), "condensed": series_cond[0].tolist(),
                   "persistence": np.round(series_pers[0], 6).tolist()},
    }
    if "one_d" in first:
        report["one_d"] = first["one_d"]
    if S > 1:
        report["seeds"] = per_seed
        report["summary"] = _seed_summary(per_seed, layers)
    arrays = {"series_step": steps, "series_directions": series_dirs, "series_lines": series_lines,
              "series_condensed": series_cond, "series_persistence": series_pers,
              "series_rd": series_rd, "layers": np.asarray(layers),
              "series_loss": loss_all[:, np.minimum(steps, loss_all.shape[1] - 1)]}
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
    if lc.kept < 3:
        return f"only {lc.kept} neuron(s) above --min-norm: too few to judge condensation"
    if lc.nonfinite:
        return f"{lc.nonfinite} neurons with NaN or infinite weights were left out"
    if not lc.condensed:
        return "not condensed: no count against 2p is claimed"
    return None


def _seed_summary(per_seed: list, layers: list) -> dict:
    out = {"seeds": len(per_seed), "layers": []}
    for j, l in enumerate(layers):
        dirs = [e["layers"][j]["directions"] for e in per_seed]
        lines = [e["layers"][j]["lines"] for e in per_seed]
        cond = [e["layers"][j]["condensed"] for e in per_seed]
        within = [e["layers"][j]["within_bound"] for e in per_seed]
        out["layers"].append({
            "layer": l, "directions": dirs, "lines": lines, "condensed": cond,
            "directions_mode": int(np.bincount(dirs).argmax()),
            "lines_mode": int(np.bincount(lines).argmax()),
            "condensed_seeds": int(sum(cond)),
            "within_bound": int(sum(w is True for w in within)),
        })
    return out


def _num(v):
    return float(v) if v is not None and math.isfinite(v) else None
