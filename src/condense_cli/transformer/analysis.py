"""What a transformer run says: for each recorded matrix at one snapshot, the condensation measure
of the dense layers (`measure.condensation.layer_condensation` on its rows: counted directions,
lines, the condensed verdict against isotropic layers) and its stable rank Σ(σ_i/σ_1)²; the
accuracies at that snapshot. `analyze_transformer(result, k=-1, min_norm=0.1, tol=None, names=None)
-> dict` (JSON-able); `snapshot_index(result, at)` reads `--at` for a transformer run."""
from __future__ import annotations

from ..errors import BadInput
from ..measure.condensation import cosine_matrix, layer_condensation, stable_rank
from .training import TransformerResult

__all__ = ["analyze_transformer", "snapshot_index", "stable_rank"]


def snapshot_index(r: TransformerResult, at: str) -> int:
    """The snapshot `--at` names on a transformer run: 'end' (also the default 'initial', since the
    anchor task has no loss-ratio stage) or a recorded step; BadInput for 'most-condensed' or a step
    that was not recorded."""
    at = str(at).strip().lower()
    if at in ("end", "initial"):
        return len(r.step) - 1
    if at == "most-condensed":
        raise BadInput("--at most-condensed needs a run's loss over training; a transformer run takes "
                       "--at end or a recorded step")
    try:
        want = int(at)
    except ValueError:
        raise BadInput(f"--at must be end or a recorded step number for a transformer run, got {at!r}") from None
    from ..measure.steps import recorded_index

    return recorded_index(r.step, want)


def analyze_transformer(r: TransformerResult, k: int = -1, min_norm: float = 0.1, tol: float | None = None,
                        names=None) -> dict:
    """Per seed: each recorded matrix's measure (the persistent count, or the fixed reading at
    cosine `tol`) and stable rank at snapshot k, and the accuracies. `names`: the matrices to
    measure (None: all; BadInput naming the recorded ones for a name that is not)."""
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
            lc = layer_condensation(W[s, k], min_norm=min_norm, tol=tol, curve=False)
            m = lc.measure
            entry["matrices"][name] = {"rows": int(W.shape[2]), "kept": int(lc.kept), "directions": int(lc.directions),
                                       "lines": int(lc.lines), "condensed": bool(lc.condensed),
                                       "verdict": m.get("verdict"), "stable_rank": stable_rank(W[s, k])}
            if s == 0:
                heatmaps[name] = {"D": cosine_matrix(lc.unit[lc.order]), "blocks": lc.labels[lc.order]}
        out.append(entry)
    return {"step": int(r.step[k]), "seeds": out, "heatmaps": heatmaps}
