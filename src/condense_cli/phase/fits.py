"""From RD to regimes: the theory's regimes and boundary, the slope of log RD against log m, the
measured boundary, the agreement over finished points, and `combine` (widths -> `PhaseResult`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..io import finite_or_none
from .config import PhaseConfig

REGIMES = ("linear", "critical", "condensed")



def theory_regime(gamma: float, gamma_prime: float) -> str:
    """Luo et al.: linear if γ < 1 or γ′ > γ − 1, condensed if γ > 1 and γ′ < γ − 1, else critical."""
    if gamma < 1 or gamma_prime > gamma - 1:
        return "linear"
    if gamma > 1 and gamma_prime < gamma - 1:
        return "condensed"
    return "critical"


def boundary_distance(gamma: float, gamma_prime: float) -> float:
    """Euclidean distance in the (γ′, γ) plane to the boundary {γ = 1, γ′ ≤ 0} ∪ {γ′ = γ − 1, γ′ ≥ 0}."""
    # vertical ray γ = 1, γ′ ≤ 0
    d1 = abs(gamma - 1) if gamma_prime <= 0 else math.hypot(gamma - 1, gamma_prime)
    # ray γ′ = γ − 1 from (0, 1) along (1, 1)/√2
    t = max(((gamma_prime - 0) + (gamma - 1)) / 2, 0.0)
    d2 = math.hypot(gamma_prime - t, gamma - 1 - t)
    return min(d1, d2)


def theory_boundary(gamma_primes: np.ndarray) -> np.ndarray:
    """γ on the theoretical boundary at each γ′ (1 for γ′ ≤ 0, γ′ + 1 above)."""
    gp = np.asarray(gamma_primes, float)
    return np.where(gp <= 0, 1.0, gp + 1.0)


def slopes(rd: np.ndarray, widths) -> np.ndarray:
    """Least-squares slope of mean-over-seeds log RD against log m: rd (Γ, Γ′, W, S) -> (Γ, Γ′).
    NaN where fewer than two widths have a positive finite RD."""
    logm = np.log(np.asarray(widths, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log(np.where(rd > 0, rd, np.nan))
    y = np.nanmean(np.where(np.isfinite(lr), lr, np.nan), axis=-1) if lr.shape[-1] else lr
    out = np.full(rd.shape[:2], np.nan)
    for idx in np.ndindex(out.shape):
        ok = np.isfinite(y[idx])
        if ok.sum() >= 2:
            out[idx] = np.polyfit(logm[ok], y[idx][ok], 1)[0]
    return out


def classify(slope: np.ndarray, margin: float) -> np.ndarray:
    """'linear' (slope < −margin), 'condensed' (> margin), 'critical' (within), '' where NaN."""
    out = np.full(slope.shape, "", dtype=object)
    out[slope < -margin] = "linear"
    out[slope > margin] = "condensed"
    out[np.abs(slope) <= margin] = "critical"
    return out.astype(str)


def measured_boundary(gammas, slope: np.ndarray) -> np.ndarray:
    """At each γ′ column, the γ where the slope first crosses 0 going up in γ (linear
    interpolation); NaN where it does not cross."""
    g = np.asarray(gammas, float)
    out = np.full(slope.shape[1], np.nan)
    for j in range(slope.shape[1]):
        s = slope[:, j]
        for i in range(len(g) - 1):
            if np.isfinite(s[i]) and np.isfinite(s[i + 1]) and s[i] <= 0 < s[i + 1]:
                out[j] = g[i] + (g[i + 1] - g[i]) * (-s[i]) / (s[i + 1] - s[i])
                break
    return out


def agreement(gammas, gamma_primes, regime: np.ndarray, boundary_margin: float,
              finished: np.ndarray | None = None) -> tuple[float | None, int]:
    """(share, count): over the grid points farther than `boundary_margin` from the theoretical
    boundary that finished (`finished` (Γ, Γ′): converged at every width and seed, none diverged),
    the share whose measured regime matches the theory; (None, 0) when there is no such point."""
    hits = total = 0
    for i, g in enumerate(gammas):
        for j, gp in enumerate(gamma_primes):
            if boundary_distance(g, gp) <= boundary_margin or not regime[i, j]:
                continue
            if finished is not None and not finished[i, j]:
                continue
            total += 1
            hits += regime[i, j] == theory_regime(g, gp)
    return (hits / total if total else None), total


@dataclass
class WidthResult:
    """One width's sweep; arrays shaped (Γ, Γ′, S)."""

    width: int
    rd: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    seconds: float
    point_steps: int = 0  # steps computed for points, padding and finished points included
    groups: tuple = ()  # the group sizes used, in order


@dataclass(frozen=True)
class PhaseResult:
    """The whole sweep: arrays (Γ, Γ′, W, S) and the fitted (Γ, Γ′) maps."""

    config: PhaseConfig
    rd: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    slope: np.ndarray
    regime: np.ndarray  # "" where not measured; unfinished points carry their slope but no regime
    boundary: np.ndarray
    agreement: float | None  # over finished points away from the boundary
    agreement_points: int = 0  # how many points that share is taken over
    finished: np.ndarray | None = None  # (Γ, Γ′): converged at every width and seed, none diverged
    work: dict | None = None  # per width: seconds, steps of the slowest point, compute spent on finished points

    def to_json(self) -> dict:
        """The numbers of `condense phase-diagram --json` (the command adds seconds and outputs)."""
        cfg = self.config
        unconverged = ~self.converged.all(axis=(2, 3))
        return {
            "widths": list(cfg.widths), "gammas": list(cfg.gammas), "gamma_primes": list(cfg.gamma_primes),
            "slope": [[finite_or_none(v) for v in row] for row in self.slope.tolist()],
            "regime": self.regime.tolist(), "agreement": self.agreement,
            "agreement_points": self.agreement_points, "finished": self.finished.tolist(),
            "unconverged": int(unconverged.sum()), "diverged": int(self.diverged.any(axis=(2, 3)).sum()),
        }


def combine(config: PhaseConfig, parts: list[WidthResult]) -> PhaseResult:
    """Stack the widths (in config order) and fit slopes and regimes."""
    by_width = {p.width: p for p in parts}
    stack = lambda name: np.stack([getattr(by_width[m], name) for m in config.widths], axis=2)
    rd = stack("rd")
    converged, diverged = stack("converged"), stack("diverged")
    finished = converged.all(axis=(2, 3)) & ~diverged.any(axis=(2, 3))
    slope = slopes(rd, config.widths)
    regime = classify(slope, config.margin)
    regime[~finished] = ""  # a point stopped before the end has no regime
    share, count = agreement(config.gammas, config.gamma_primes, regime, config.boundary_margin, finished)
    work = {}
    for m in config.widths:
        p = by_width[m]
        useful = int(p.steps.sum())
        work[str(m)] = {"seconds": round(p.seconds, 3), "slowest_steps": int(p.steps.max()), "point_steps": p.point_steps,
                        "groups": list(p.groups),
                        "finished_share": None if not p.point_steps else round(1 - useful / p.point_steps, 4)}
    return PhaseResult(config=config, rd=rd, converged=converged, diverged=diverged,
                       steps=stack("steps"), final_loss=stack("final_loss"), slope=slope, regime=regime,
                       boundary=measured_boundary(config.gammas, np.where(finished, slope, np.nan)),
                       agreement=share, agreement_points=count, finished=finished, work=work)
