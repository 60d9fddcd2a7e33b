"""What a transformer run says: for each recorded matrix at one snapshot, the condensation measure
of the dense layers (`measure.condensation.layer_condensation` on its rows: counted directions,
lines, the condensed verdict against isotropic layers) and its stable rank Σ(σ_i/σ_1)²; the
accuracies at that snapshot. `analyze_transformer(result, k=-1, min_norm=0.1) -> dict` (JSON-able)."""
from __future__ import annotations

import numpy as np

from ..measure.condensation import cosine_matrix, layer_condensation
from .training import TransformerResult


def stable_rank(W: np.ndarray) -> float:
    """Σ_i (σ_i / σ_1)² of a matrix (0 for a zero matrix)."""
    s = np.linalg.svd(np.asarray(W, np.float64), compute_uv=False)
    return float(np.sum((s / s[0]) ** 2)) if len(s) and s[0] > 0 else 0.0


def analyze_transformer(r: TransformerResult, k: int = -1, min_norm: float = 0.1) -> dict:
    """Per seed: each recorded matrix's measure and stable rank at snapshot k, and the accuracies."""
    S = r.train_acc.shape[0]
    seeds = r.meta.get("seeds") or list(range(S))
    out, heatmaps = [], {}
    for s in range(S):
        entry = {"seed": seeds[s], "step": int(r.step[k]), "matrices": {}}
        for name in ("train_acc", "id_acc", "ood_inferential", "ood_symmetric"):
            entry[name] = float(getattr(r, name)[s, k])
        for name, W in r.matrices.items():
            lc = layer_condensation(W[s, k], min_norm=min_norm, curve=False)
            m = lc.measure
            entry["matrices"][name] = {"rows": int(W.shape[2]), "kept": int(lc.kept), "directions": int(lc.directions),
                                       "lines": int(lc.lines), "condensed": bool(lc.condensed),
                                       "verdict": m.get("verdict"), "stable_rank": stable_rank(W[s, k])}
            if s == 0:
                heatmaps[name] = {"D": cosine_matrix(lc.unit[lc.order]), "blocks": lc.labels[lc.order]}
        out.append(entry)
    return {"step": int(r.step[k]), "seeds": out, "heatmaps": heatmaps}
