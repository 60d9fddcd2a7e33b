"""Initialization: per-layer standard deviations and the phase-diagram parameterization.

- `gamma_stds(spec, gamma)`: the variance reading of N(0, m^−γ): every weight and bias of hidden
  layer l gets std m_l^(−γ/2), the output layer std m_L^(−γ/2) (m the hidden width).
- `phase_scales(gamma, gamma_prime, m, split)`: (α, β1, β2) with κ = β1β2/α = m^−γ and
  κ′ = β1/β2 = m^−γ′ (Luo et al. 2021).
- `init_params(seed, spec, stds)`: Gaussian parameters in the layout of `models` (host draws).
"""
from __future__ import annotations

import math

import numpy as np

from ..choices import SPLITS
from ..errors import BadInput
from .models import NetSpec, Params


def gamma_stds(spec: NetSpec, gamma: float) -> list[float]:
    """One std per layer (hidden layers then output) for N(0, m^−γ), m the hidden width."""
    if not math.isfinite(gamma):
        raise BadInput(f"gamma must be a finite number, got {gamma}")
    hidden = [float(m) ** (-gamma / 2) for m in spec.widths]
    return hidden + [float(spec.widths[-1]) ** (-gamma / 2)]


def phase_scales(gamma: float, gamma_prime: float, m: int, split: str = "unit-beta2"):
    """(α, β1, β2) with β1β2/α = m^−γ and β1/β2 = m^−γ′.

    Splits: `unit-beta2` (β2 = 1, β1 = m^−γ′, α = m^(γ−γ′)); `unit-alpha` (α = 1,
    β1 = m^−(γ+γ′)/2, β2 = m^−(γ−γ′)/2); `balanced` (β1 = m^−γ′/2, β2 = m^γ′/2, so
    β1β2 = 1 and α = m^γ). Training on the normalized flow makes results independent of it for
    positively homogeneous σ (ReLU); otherwise σ sees β2 and the split matters.
    """
    if split not in SPLITS:
        raise BadInput(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    m = float(m)
    if split == "unit-beta2":
        beta2, beta1 = 1.0, m ** (-gamma_prime)
    elif split == "unit-alpha":
        beta1, beta2 = m ** (-(gamma + gamma_prime) / 2), m ** (-(gamma - gamma_prime) / 2)
    else:
        beta1, beta2 = m ** (-gamma_prime / 2), m ** (gamma_prime / 2)
    alpha = beta1 * beta2 * m ** gamma
    return alpha, beta1, beta2


def init_params(seed: int, spec: NetSpec, stds: list[float], dtype=np.float32) -> Params:
    """Every weight and bias ~ N(0, std_l²), layer by layer, drawn on the host from
    `np.random.default_rng(seed)` (no compilation, same bits on every backend); the output bias
    is 0 when absent. Arrays are NumPy, in the layout of `models`."""
    shapes = spec.shapes
    if len(stds) != len(shapes):
        raise BadInput(f"need {len(shapes)} init stds (one per layer), got {len(stds)}")
    for s in stds:
        if not (math.isfinite(s) and s >= 0):
            raise BadInput(f"init std must be a non-negative finite number, got {s}")
    rng = np.random.default_rng(seed)
    layers = [(s * rng.standard_normal(shape)).astype(dtype) for s, shape in zip(stds, shapes)]
    out = layers[-1]
    if not spec.output_bias:
        out[:, -1] = 0.0
    params = {"hidden": layers[:-1], "out": out}
    if spec.trunk is not None:  # He-normal kernels so the deep trunk passes signal; stated in meta
        params["trunk"] = [(np.sqrt(2.0 / (i * k * k)) * rng.standard_normal((o, i, k, k))).astype(dtype)
                           for o, i, k, _ in spec.trunk_shapes()]
    return params
