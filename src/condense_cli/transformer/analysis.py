"""What a transformer run says: for each recorded matrix at one snapshot, the condensation measure
of the dense layers (`measure.condensation.layer_condensation` on its rows: counted directions,
lines, the condensed verdict against isotropic layers) and its stable rank Σ(σ_i/σ_1)²; the
accuracies at that snapshot. `analyze_transformer(result, options=None, names=None, **settings)
-> dict` (JSON-able; the options those of `condense analyze`); `snapshot_index(result, at)` reads
`--at` for a transformer run."""
from __future__ import annotations

from ..errors import BadInput
from ..measure.condensation import cosine_matrix, layer_condensation, stable_rank
from .training import TransformerResult

__all__ = ["analyze_transformer", "snapshot_index", "stable_rank"]


def snapshot_index(r: TransformerResult, at) -> int:
    """The snapshot `--at` names on a transformer run: 'end' or a recorded step; BadInput for
    'initial' and 'most-condensed' (both read a loss-ratio stage, which the anchor task's
    minibatch losses do not define) or a step that was not recorded."""
    at = str(at).strip().lower()
    if at == "end":
        return len(r.step) - 1
    if at in ("initial", "most-condensed"):
        raise BadInput(f"--at {at} reads the initial stage of a run's full-batch loss, which a transformer run "
                       "does not record; it takes --at end or a recorded step")
    try:
        want = int(at)
    except ValueError:
        raise BadInput(f"--at must be end or a recorded step number for a transformer run, got {at!r}") from None
    from ..measure.steps import recorded_index

    return recorded_index(r.step, want)


def analyze_transformer(r: TransformerResult, options=None, names=None, **settings) -> dict:
    """Per seed: each recorded matrix's measure (the persistent count, or the fixed reading at
    cosine `tol`) and stable rank at the snapshot `at` (default the last), and the accuracies.
    `options`: an `AnalysisOptions` (`condense analyze`'s; its `at` must then be 'end' or a
    recorded step, since its default 'initial' reads a loss-ratio stage), or its fields as
    keywords (`at=1000`, `tol=0.9`, `min_norm`, `min_share`, `fixed_tol`, `min_coverage`,
    `max_neurons`); the options of a run's loss, inputs and layers (`at_loss_ratio`, `fit_tol`,
    the model rank, `layers`) are refused. `names`: the matrices to measure (None: all; BadInput
    naming the recorded ones for a name that is not)."""
    import dataclasses

    from ..measure.options import AnalysisOptions

    if options is not None and not isinstance(options, AnalysisOptions):
        raise BadInput(f"options must be an AnalysisOptions (or give its fields as keywords), got {options!r}")
    fields = {f.name for f in dataclasses.fields(AnalysisOptions)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise BadInput(f"transformer.analyze: unknown setting {unknown[0]!r}")
    base = options if options is not None else AnalysisOptions(at="end")
    options = dataclasses.replace(base, **settings)
    default = AnalysisOptions()
    for name in ("layers", "at_loss_ratio", "fit_tol", "stage_ratio", "series_max_neurons", "model_rank", "rank_points",
                 "rank_tol"):
        if getattr(options, name) != getattr(default, name):
            hint = " (name the matrices with names=[...])" if name == "layers" else ""
            raise BadInput(f"{name} does not apply to a transformer run{hint}; it takes at='end' or a recorded step, "
                           "tol, min_norm and the clustering options")
    options.validate(0)
    k = snapshot_index(r, options.at)
    unknown = [n for n in (names or ()) if n not in r.matrices]
    if unknown:
        raise BadInput(f"--layer {unknown[0]} is not a recorded matrix; this run records: {', '.join(r.matrices)}")
    matrices = {n: W for n, W in r.matrices.items() if names is None or n in names}
    S = r.train_acc.shape[0]
    seeds = r.meta.get("seeds") or list(range(S))
    out, heatmaps = [], {}
    for s in range(S):
        entry = {"seed": seeds[s], "step": int(r.step[k]), "matrices": {}}
        for name in ("train_acc", "id_acc", "ood_inferential", "ood_symmetric"):
            entry[name] = float(getattr(r, name)[s, k])
        for name, W in matrices.items():
            lc = layer_condensation(W[s, k], tol=options.tol, min_norm=options.min_norm, min_share=options.min_share,
                                    fixed_tol=options.fixed_tol, max_neurons=options.max_neurons,
                                    min_coverage=options.min_coverage, curve=False)
            m = lc.measure
            entry["matrices"][name] = {"rows": int(W.shape[2]), "kept": int(lc.kept), "directions": int(lc.directions),
                                       "lines": int(lc.lines), "condensed": bool(lc.condensed),
                                       "verdict": m.get("verdict"), "stable_rank": stable_rank(W[s, k])}
            if s == 0:
                heatmaps[name] = {"D": cosine_matrix(lc.unit[lc.order]), "blocks": lc.labels[lc.order]}
        out.append(entry)
    return {"step": int(r.step[k]), "seeds": out, "heatmaps": heatmaps}
