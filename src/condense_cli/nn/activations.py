"""Activation functions and their multiplicity at 0.

Owns the registry of named activations (`ACTIVATIONS`, `get`, which also accepts a formula of
x, see `formula`) and `multiplicity`, which finds p
(σ^(k)(0) = 0 for k < p, σ^(p)(0) ≠ 0) by automatic differentiation at 0, never from a table.
An activation whose derivatives up to the order tested jump at 0 (ReLU, leaky ReLU) is not
differentiable there and gets p = None ("undefined").
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BadInput

Array = jax.Array


def _xtanh(x: Array) -> Array:
    """x·tanh(x) (multiplicity 2)."""
    return x * jnp.tanh(x)


def _x2tanh(x: Array) -> Array:
    """x²·tanh(x) (multiplicity 3)."""
    return x * x * jnp.tanh(x)


def _leaky_relu(x: Array) -> Array:
    """max(x, 0.01·x)."""
    return jax.nn.leaky_relu(x, 0.01)


def _gelu(x: Array) -> Array:
    """x·Φ(x), the exact (erf) form."""
    return jax.nn.gelu(x, approximate=False)


def _identity(x: Array) -> Array:
    """x."""
    return x


def _square(x: Array) -> Array:
    """x² (multiplicity 2)."""
    return x * x


@dataclass(frozen=True)
class Activation:
    """A named elementwise activation σ: R -> R (`fn` acts on arrays of any shape)."""

    name: str
    fn: Callable[[Array], Array]
    formula: str
    # σ' written with σ's output y, where it can be (tanh: 1 − y²): lets a network take the
    # derivative from the stored activations instead of keeping σ's output a second time
    derivative_from_output: Callable[[Array], Array] | None = None


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("tanh", jnp.tanh, "tanh(x)", lambda y: 1 - y * y),
        Activation("sigmoid", jax.nn.sigmoid, "1/(1+exp(-x))", lambda y: y * (1 - y)),
        Activation("softplus", jax.nn.softplus, "log(1+exp(x))"),
        Activation("relu", jax.nn.relu, "max(x, 0)"),
        Activation("xtanh", _xtanh, "x·tanh(x)"),
        Activation("x2tanh", _x2tanh, "x²·tanh(x)"),
        Activation("gelu", _gelu, "x·Φ(x)"),
        Activation("silu", jax.nn.silu, "x·sigmoid(x)"),
        Activation("elu", jax.nn.elu, "x if x>0 else exp(x)-1"),
        Activation("leaky_relu", _leaky_relu, "max(x, 0.01x)"),
        Activation("sin", jnp.sin, "sin(x)"),
        Activation("square", _square, "x²"),
        Activation("identity", _identity, "x"),
    ]
}


def get(name: str) -> Activation:
    """The activation called `name`, or the one a formula of x describes ("x*sigmoid(x)", see
    `formula`); BadInput naming the valid ones otherwise."""
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    from .formula import looks_like_formula

    if looks_like_formula(name):
        return _from_formula(name)
    raise BadInput(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}, "
                   "or give a formula of x such as 'x**2*tanh(x)'")


@lru_cache(maxsize=64)
def _from_formula(text: str) -> Activation:
    from .formula import compile_formula

    return Activation(text, compile_formula(text), text)


def _derivative(fn: Callable[[Array], Array], k: int) -> Callable[[Array], Array]:
    for _ in range(k):
        fn = jax.grad(fn)
    return fn


def multiplicity_of(fn: Callable[[Array], Array], max_order: int = 6, rtol: float = 1e-9,
                    lookahead: int = 2) -> int | None:
    """p such that σ^(k)(0) = 0 for k < p and σ^(p)(0) ≠ 0, by autodiff at 0 in float64.

    Zero is relative, never absolute: with c_k = σ^(k)(0)/k! (the Taylor coefficients), c_k
    counts as zero when |c_k| ≤ rtol · max |c_j| over the orders computed, which run `lookahead`
    orders past the first candidate (at most `max_order`): 1e-7·tanh has p = 1, 1e3·x²·tanh
    p = 3, and rounding noise at a low order shows against the true coefficient after it.
    Returns None when every coefficient vanishes, or when a derivative of order ≤ p jumps at 0:
    the gap σ^(k)(h) − σ^(k)(−h) does not shrink with h (compared at h = 1e-3 and 1e-6), so σ is
    not p times differentiable there (ReLU, leaky ReLU). Each order is one compiled evaluation."""
    import math

    from ..runtime import x64

    points = np.array([-1e-3, -1e-6, 0.0, 1e-6, 1e-3])
    values, coeffs, candidate = [], [], None
    with x64():
        x = jnp.asarray(points, jnp.float64)
        for k in range(1, max_order + 1):
            if candidate is not None and k > candidate + lookahead:
                break
            v = np.asarray(jax.jit(jax.vmap(_derivative(fn, k)))(x), np.float64)
            values.append(v)
            coeffs.append(v[2] / math.factorial(k))
            if candidate is None and _jumps(v):  # every lower order vanished exactly and this one jumps: the
                return None  # answer below whatever the higher orders are (ReLU stops at order 1)
            if candidate is None and coeffs[-1] != 0:
                candidate = k
    coeffs = np.array(coeffs)
    if not np.isfinite(coeffs).all():
        return None
    scale = np.abs(coeffs).max()
    if scale == 0:
        return None
    for k, v in enumerate(values, 1):
        if _jumps(v):
            return None
        if abs(coeffs[k - 1]) > rtol * scale:
            return k
    return None


def _jumps(v: np.ndarray) -> bool:
    """Whether σ^(k), evaluated at (−1e-3, −1e-6, 0, 1e-6, 1e-3), jumps at 0: a smooth σ^(k)
    closes the gap σ^(k)(h) − σ^(k)(−h) 1000-fold from h = 1e-3 to 1e-6; a jump keeps it (and is
    no round-off)."""
    wide, narrow = abs(v[4] - v[0]), abs(v[3] - v[1])
    return bool(narrow > 0.5 * wide and narrow > 1e-6 * max(np.abs(v).max(), 1e-300))


@lru_cache(maxsize=None)
def multiplicity(name: str) -> int | None:
    """Multiplicity p of the named activation, None where undefined (see `multiplicity_of`)."""
    return multiplicity_of(get(name).fn)


@lru_cache(maxsize=None)
def positively_homogeneous(name: str) -> bool:
    """Whether σ(c z) = c σ(z) for c > 0 (ReLU, leaky ReLU, identity), checked numerically on a
    spread of points and scales. Then a network's output depends on the input weights' scale
    only through a common factor, which the phase diagram's normalized flow relies on."""
    fn = get(name).fn
    z = jnp.linspace(-3.0, 3.0, 13)
    base = np.asarray(fn(z), np.float64)
    for c in (0.01, 0.5, 7.0):
        if not np.allclose(np.asarray(fn(c * z), np.float64), c * base, rtol=1e-5, atol=1e-6):
            return False
    return True
