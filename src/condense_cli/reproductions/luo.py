"""Reproduction of Luo et al. 2021 ("Phase diagram for two-layer ReLU neural networks at infinite-width
limit"): the slopes of log RD against log m at γ′ = 0."""
from __future__ import annotations

import numpy as np

from .base import Figure, Plot, PlotKind, Reproduction, register
from .criteria import SLOPE_BAND, regime_of, run_entry, slope_reason


LUO = {0.5: -0.506, 1.0: 0.007, 1.75: 0.372}


def _luo(quick: bool, seeds: int) -> Reproduction:
    from .. import phase
    from ..data import make

    widths = (1000, 10000) if quick else (1000, 5000, 10000, 20000, 40000)
    cfg = phase.PhaseConfig(gammas=tuple(LUO), gamma_primes=(0.0,), widths=widths, seeds=seeds)
    res = phase.sweep(cfg, make("phase4"))
    got = [float(res.slope[i, 0]) for i in range(len(LUO))]
    conv = [bool(res.converged[i, 0].all()) for i in range(len(LUO))]
    entries = [run_entry(f"γ = {g}", "mean of seeds", slope_reason(v, want, c))
               for g, v, want, c in zip(LUO, got, LUO.values(), conv)]
    ok = sum(e.agree for e in entries)
    mean_rd = np.exp(np.nanmean(np.log(np.where(res.rd[:, 0] > 0, res.rd[:, 0], np.nan)), axis=-1))
    spec = Plot("luo-slopes", PlotKind.RD_VS_WIDTH, {"widths": widths, "rd_by_gamma": mean_rd, "gammas": cfg.gammas,
                                          "slopes_by_gamma": res.slope[:, 0], "gamma_prime": 0.0})
    measured = "; ".join(f"γ = {g}: {s:+.3f} ({regime_of(s)}{'' if c else ', not converged'})"
                         for g, s, c in zip(LUO, got, conv)) + f" (widths {', '.join(map(str, widths))})"
    return Reproduction("luo-slopes", "", "", measured, ok, len(LUO),
                        {"slopes": got, "converged": conv, "widths": list(widths)}, [spec],
                        measured_fixed="(no cluster count in this figure)", agree_fixed=ok, runs=entries)


register(Figure("luo-slopes", "Phase diagram slopes at γ′ = 0", "Luo et al. 2021 (overview Sec. 5)",
         "slope of log RD against log m: −0.506 at γ = 0.5, 0.007 at γ = 1, 0.372 at γ = 1.75",
         f"per γ: every width converged, the slope within ±{SLOPE_BAND} (the critical band) of the published one "
         "and in its regime (linear S < −0.1, critical |S| ≤ 0.1, condensed S > 0.1)",
         "ReLU, 4 points of sin 3x, widths 1000 to 40000 (Luo et al. 2021)", _luo,
         quick="widths 1000 and 10000 instead of five widths"))
