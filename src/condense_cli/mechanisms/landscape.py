"""The loss landscape of one fully connected network around its weights, in float64: the free
parameters as one vector, the full-batch loss and gradient, the exact Hessian and its inertia,
and a polish to a critical point.

Shapes: `params` {"hidden": [(m_l, fan_in_l + 1)], "out": (d_out, m_L + 1)} (NumPy, bias last,
the run file's layout); x (n, d), y (n, d_out). The free parameters are every entry except the
output bias when the network has none (`spec.output_bias` False): M = Σ m_l (fan_in_l + 1) +
d_out·m_L (+ d_out). Everything here runs inside `runtime.x64()`.

- `Landscape(params, spec, x, y, loss)`: `theta` (M,), `unflatten(theta)`, `loss(theta)`,
  `grad(theta)`, `hessian(theta)` (M, M; refused past `MAX_EXACT` parameters), `outputs(theta)`.
- `inertia(eigenvalues, tol) -> Inertia`: counts of positive, zero (|λ| ≤ tol) and negative
  eigenvalues, with the eigenvalues on either side of the cut.
- `polish(landscape, bar, max_iter) -> Polish`: Newton steps on the gradient field (−H⁺∇L,
  taken when they lower |∇L|), else Levenberg–Marquardt on it (minimizing ½|∇L|², step
  −(H² + μI)⁻¹ H ∇L): both converge to the nearby critical point whatever its index (a minimum or
  a saddle); it stops once the gradient's L1 norm is ≤ `bar`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInput
from . import POLISH_BAR, ZERO_TOL  # noqa: F401  (the stated tolerances, defined in the package)

MAX_EXACT = 4000  # parameters: an exact Hessian is M² float64 (128 MB) and one eigendecomposition


@dataclass(frozen=True)
class Inertia:
    """Counts of positive, zero (|λ| ≤ tol) and negative Hessian eigenvalues; `smallest_kept` is
    the smallest |λ| counted non-zero, `largest_zero` the largest |λ| counted zero (None when there
    is none), so a reader sees the gap at the cut."""

    positive: int
    zero: int
    negative: int
    tol: float
    smallest_kept: float | None
    largest_zero: float | None

    def to_json(self) -> dict:
        return {"positive": self.positive, "zero": self.zero, "negative": self.negative, "tol": self.tol,
                "smallest_kept": self.smallest_kept, "largest_zero": self.largest_zero}


def inertia(eigenvalues: np.ndarray, tol: float = ZERO_TOL) -> Inertia:
    lam = np.asarray(eigenvalues, np.float64)
    a = np.abs(lam)
    zero = a <= tol
    kept, small = a[~zero], a[zero]
    return Inertia(positive=int(np.sum(lam > tol)), zero=int(zero.sum()), negative=int(np.sum(lam < -tol)), tol=tol,
                   smallest_kept=float(kept.min()) if len(kept) else None,
                   largest_zero=float(small.max()) if len(small) else None)


def check_dense(spec) -> None:
    if spec.conv is not None or spec.trunk is not None:
        raise BadInput("the loss landscape is computed for fully connected networks only (this one has a "
                       "convolution layer or a trunk)")


def flatten(params: dict, spec):
    """(theta (M,) float64, unflat: theta -> params as JAX arrays) over the free parameters."""
    from functools import partial

    check_dense(spec)
    shapes = tuple(tuple(np.shape(w)) for w in [*params["hidden"], params["out"]])
    out = np.asarray(params["out"], np.float64)
    fixed = not spec.output_bias
    leaves = [np.asarray(w, np.float64) for w in params["hidden"]] + [out[:, :-1] if fixed else out]
    theta = np.concatenate([v.ravel() for v in leaves])
    return theta, partial(unflatten, out_bias=out[:, -1].copy() if fixed else None, shapes=shapes)


def unflatten(theta, out_bias, shapes: tuple):
    """The params of `theta` (free parameters) for layer shapes `shapes`; `out_bias` (d_out,) is
    the fixed output bias of a network without a trained one (None: the bias is in theta)."""
    import jax.numpy as jnp

    parts, i = [], 0
    for l, (r, c) in enumerate(shapes):
        cols = c - 1 if (l == len(shapes) - 1 and out_bias is not None) else c
        parts.append(theta[i:i + r * cols].reshape(r, cols))
        i += r * cols
    if out_bias is not None:
        parts[-1] = jnp.concatenate([parts[-1], jnp.asarray(out_bias, parts[-1].dtype)[:, None]], axis=1)
    return {"hidden": parts[:-1], "out": parts[-1]}


class Landscape:
    """The full-batch loss of one network as a function of its free parameters (float64)."""

    def __init__(self, params: dict, spec, x, y, loss: str = "mse"):
        import jax
        import jax.numpy as jnp

        from ..nn.models import OUTPUT_LOSSES, forward

        if loss not in OUTPUT_LOSSES:
            raise BadInput(f"unknown loss {loss!r}")
        self.spec = spec
        self.theta, unflat = flatten(params, spec)
        self.M = self.theta.size
        self.x = jnp.asarray(x, jnp.float64)
        self.y = jnp.asarray(y, jnp.float64)
        loss_of = OUTPUT_LOSSES[loss]

        def L(th):
            return loss_of(forward(unflat(th), self.x, spec), self.y)

        self._unflat = unflat
        self._outputs = jax.jit(lambda th, xs: forward(unflat(th), xs, spec))
        self._loss = jax.jit(L)
        self._grad = jax.jit(jax.grad(L))
        self._hess = jax.jit(jax.hessian(L))

    def unflatten(self, theta) -> dict:
        p = self._unflat(np.asarray(theta, np.float64))
        return {"hidden": [np.asarray(w) for w in p["hidden"]], "out": np.asarray(p["out"])}

    def loss(self, theta=None) -> float:
        return float(self._loss(self.theta if theta is None else theta))

    def grad(self, theta=None) -> np.ndarray:
        return np.asarray(self._grad(self.theta if theta is None else theta))

    def outputs(self, theta=None, x=None) -> np.ndarray:
        import jax.numpy as jnp

        return np.asarray(self._outputs(self.theta if theta is None else theta, self.x if x is None else jnp.asarray(x)))

    def hessian(self, theta=None) -> np.ndarray:
        if self.M > MAX_EXACT:
            raise BadInput(f"an exact Hessian is computed up to {MAX_EXACT:,} parameters; this network has "
                           f"{self.M:,} (reduce it first, or analyze a narrower one)")
        H = np.asarray(self._hess(self.theta if theta is None else theta))
        return 0.5 * (H + H.T)


@dataclass(frozen=True)
class Polish:
    """A polish's outcome: the gradient's L1 and L2 norms before and after, iterations, whether
    the L1 norm reached `bar`, and the polished parameters (`theta`)."""

    grad_l1_before: float
    grad_l2_before: float
    grad_l1: float
    grad_l2: float
    iterations: int
    bar: float
    reached: bool
    loss_before: float
    loss: float
    theta: np.ndarray = field(repr=False)

    def to_json(self) -> dict:
        return {"grad_l1_before": self.grad_l1_before, "grad_l2_before": self.grad_l2_before,
                "grad_l1": self.grad_l1, "grad_l2": self.grad_l2, "iterations": self.iterations, "bar": self.bar,
                "reached": self.reached, "loss_before": self.loss_before, "loss": self.loss}


def polish(land: Landscape, bar: float = POLISH_BAR, max_iter: int = 500) -> Polish:
    """Drive the network to the nearby critical point (see the module docstring)."""
    theta = land.theta.copy()
    g = land.grad(theta)
    g0, loss0 = g.copy(), land.loss(theta)
    mu, it = 1e-3, 0
    norm = np.abs(g).sum()
    while norm > bar and it < max_iter:
        it += 1
        H = land.hessian(theta)
        newton = np.linalg.lstsq(H, -g, rcond=None)[0]  # exact near a non-degenerate critical point
        cand = theta + newton
        g_new = land.grad(cand)
        if np.all(np.isfinite(g_new)) and np.linalg.norm(g_new) < np.linalg.norm(g):
            theta, g = cand, g_new
            norm = np.abs(g).sum()
            continue
        A = H @ H
        scale = max(float(np.trace(A)) / len(A), 1e-300)
        while mu <= 1e12:  # Levenberg–Marquardt on the gradient field: damped towards gradient descent on |g|²
            step = -np.linalg.solve(A + mu * scale * np.eye(len(A)), H @ g)
            g_new = land.grad(theta + step)
            if np.all(np.isfinite(g_new)) and np.linalg.norm(g_new) < np.linalg.norm(g):
                theta, g = theta + step, g_new
                mu = max(mu / 3, 1e-15)
                break
            mu *= 5
        if mu > 1e12:
            break  # no step lowers the gradient: stuck
        norm = np.abs(g).sum()
    return Polish(grad_l1_before=float(np.abs(g0).sum()), grad_l2_before=float(np.linalg.norm(g0)),
                  grad_l1=float(np.abs(g).sum()), grad_l2=float(np.linalg.norm(g)), iterations=it, bar=bar,
                  reached=bool(np.abs(g).sum() <= bar), loss_before=loss0, loss=land.loss(theta), theta=theta)
