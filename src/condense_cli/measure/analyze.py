"""The analysis of a whole run: for every seed and chosen layer, the chosen step, the layer
measure (`condensation`), the theory (`theory`), the series over training and when the count
held within 2p, the 1-d extras, and per network the model rank (`mechanisms.rank`) at the step
and over training. `analyze(run, options)` returns an `Analysis` (`results`);
`resolve_run` completes a run file's meta (`--act`, `--alpha`, `--residual`); the analyzed
step is picked by `steps.choose_step`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import BadInput
from ..io import finite_or_none
from ..run import first_layer_conv
from . import theory
from .condensation import LayerCondensation, channel_output_clusters, conv_output_cosine, relative_distance
from .options import AnalysisOptions
from .results import Analysis, LayerAnalysis, SeedAnalysis, Series
from .steps import choose_step, first_below, recorded_index, stage_end

__all__ = ["analyze", "resolve_run", "held_within_bound", "choose_step", "first_below", "recorded_index", "stage_end",
           "AnalysisOptions"]


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
    from ..nn import activations

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
    return dataclasses.replace(run, meta=meta)


def analyze(run, options: AnalysisOptions = AnalysisOptions(), progress=None) -> Analysis:
    """Analyze every seed and chosen layer of a run (a `TrainResult` from `run.load_run`, its meta
    completed by `resolve_run` where it lacks the activation). Returns an `Analysis` (one
    `SeedAnalysis` per seed, whatever their number). `progress(done, total)` is called as the
    series over training is computed."""
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

    rank_spec = rank_x = rank_note = None
    if options.model_rank:
        from ..mechanisms.rank import model_rank, rank_setup, series_ranks
        from ..run import params_at

        rank_spec, rank_x, rank_note = rank_setup(run, options.rank_points)
    series_rank = np.full((S, K), -1, np.int64)
    optimizer = (meta.get("config") or {}).get("optimizer", meta.get("optimizer"))
    seed_ids = meta.get("seeds") or list(range(S))
    per_seed, plot_data = [], None
    for s in range(S):
        loss = loss_all[s]
        stage_k = stage_end(loss, steps, options.stage_ratio, run.loss_step)
        held = [held_within_bound(steps, series_dirs[s, j], series_cond[s, j], series_pers[s, j],
                                  mult[l - 1], stage_k) for j, l in enumerate(layers)]
        k, why = choose_step(loss, steps, options, held[0]["most_condensed_index"], run.loss_step)
        step = int(steps[k])
        loss_k = run.loss_at(s, step)
        ratio = float(loss_k / loss[0]) if loss[0] > 0 else float("nan")
        t_stage = first_below(loss, options.stage_ratio, run.loss_step)
        stage = "initial" if (t_stage is None or step < t_stage) else "later"
        layer_results, fig_layers = [], []
        for j, l in enumerate(layers):
            W = np.asarray(run.hidden[l - 1][s, k], np.float64)
            lc = options.measure(W)
            p = mult[l - 1] if l - 1 < len(mult) else None
            th = theory.layer_theory(run, s, k, l, p, lc, mult)
            outputs = None
            if l == 1 and first_layer_conv(meta) is not None and np.isfinite(W).all():
                cos, norms = conv_output_cosine(run, s, k)
                outputs = channel_output_clusters(cos, norms, options.min_share, options.tol, options.fixed_tol)
            layer_results.append(LayerAnalysis(
                layer=l, activation=acts[l - 1], multiplicity=p, bound=None if p is None else 2 * p,
                neurons=lc.neurons, kept=lc.kept, left_out=lc.left_out, nonfinite=lc.nonfinite,
                clustered=lc.clustered, directions=lc.directions, lines=lc.lines, condensed=lc.condensed,
                coverage=round(lc.coverage, 6), measure=lc.measure, clusters=lc.clusters,
                line_clusters=lc.line_clusters, rd=finite_or_none(float(series_rd[s, j, k])), within_bound=lc.within_bound(p),
                held={k_: v for k_, v in held[j].items() if k_ != "most_condensed_index"},
                theory=th["report"], theory_note=th.get("note"), outputs=outputs,
                note=_layer_note(lc, p), bound_note=_bound_note(lc, p, optimizer)))
            if s == 0:
                fig_layers.append({"layer": l, "lc": lc, "order": lc.order, "theory": th})
        one_d = None
        if s == 0:
            plot_data = {"k": k, "step": step, "layers": fig_layers,
                         "one_d": theory.one_d_extras(run, s, k, options.fit_tol, fig_layers)}
            if plot_data["one_d"] is not None:
                one_d = plot_data["one_d"]["report"]
        rank = None
        if options.model_rank:
            rank = {"rank": None, "note": rank_note}
            if rank_spec is not None:
                if s == 0:  # over training for the first seed (the one the figures show), at the step for each
                    series_rank[s] = series_ranks(run, s, rank_spec, rank_x, options.rank_tol, always=k)
                p_k = params_at(run, s, k)
                if all(np.isfinite(w).all() for w in [*p_k["hidden"], p_k["out"]]):
                    rank = {**model_rank(p_k, rank_spec, rank_x, options.rank_tol, narrow=True,
                                         min_norm=options.min_norm, cluster_tol=options.tol).to_json(),
                            "note": rank_note}
        series = Series(step=steps, directions=series_dirs[s], lines=series_lines[s], condensed=series_cond[s],
                        persistence=series_pers[s], rd=series_rd[s],
                        model_rank=series_rank[s] if options.model_rank else None)
        per_seed.append(SeedAnalysis(seed=seed_ids[s], step=step, why=why, loss=loss_k, loss_ratio=finite_or_none(ratio),
                                     stage=stage, layers=tuple(layer_results), series=series, one_d=one_d,
                                     model_rank=rank))

    arrays = {"series_step": steps, "series_directions": series_dirs, "series_lines": series_lines,
              "series_condensed": series_cond, "series_persistence": series_pers,
              "series_rd": series_rd, "layers": np.asarray(layers), "series_model_rank": series_rank,
              "series_loss": np.array([[run.loss_at(s, t) for t in steps] for s in range(S)])}
    for fl in plot_data["layers"]:
        lc = fl["lc"]
        arrays[f"kept_l{fl['layer']}"] = lc.kept_index
        arrays[f"labels_l{fl['layer']}"] = lc.labels
        arrays[f"line_labels_l{fl['layer']}"] = lc.line_labels
    return Analysis(seeds=tuple(per_seed), options=options, optimizer=optimizer, arrays=arrays, plot_data=plot_data)


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


def _bound_note(lc: LayerCondensation, p, optimizer) -> str | None:
    """The sentence for a condensed layer with more directions than 2p (None otherwise)."""
    if lc.within_bound(p) is not False:
        return None
    why = (" The bound is derived for gradient flow; Adam's first steps move every weight by about the "
           "learning rate in the sign of its gradient, which can leave more orientations."
           if str(optimizer).lower() == "adam" else " The bound is derived for gradient flow (small steps).")
    return f"{lc.directions} directions > 2p = {2 * p}: exceeds the bound.{why}"

