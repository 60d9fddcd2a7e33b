"""The initial-condensation theory (Sec. 5 of the paper), evaluated on a recorded network.

With e_i = f(x_i) − y_i (scalar output):
- `p1_line(e, feats)`: for p = 1, any layer k, the stable line ±Σ_i e_i x̃_i^[k−1] / |…|
  (x̃ includes the constant 1 that multiplies the bias).
- `one_d_lines(e, x, p)`: for 1-d input and any p, the lines (w, b) ∝ (û, 1) whose slope
  û = w/b is a real root of Σ_i e_i (x_i − û)(û x_i + 1)^(p−1), a polynomial of degree p
  (the vertical line (1, 0) when the degree drops): at most p lines, 2p directions.
- `line_is_stable(e, x, p, u)`: whether the stationary line u attracts the neurons that grow
  along it. To leading order a neuron with output weight a moves as φ̇ ∝ a·g(φ) (g the tangential
  part of the field F(u) = −Σ_i e_i x̃_i (u·x̃_i)^(p−1) at the unit direction u(φ)) and grows as
  ṙ ∝ a·ρ (ρ = u·F(u)); attraction needs a·g′ < 0 and growth a·ρ > 0, so the line is stable
  when g′·ρ < 0. The test is the same at u and −u (a property of the line); for p = 1 every
  stationary line is stable (g′ = −ρ).
- `match_lines(predicted, measured)`: each predicted line's angle to the nearest measured line,
  matched within `MATCH_DEG` (= the count's MIN_APART, 10°: closer orientations are one), the
  same bound for every activation.
- `direction_field(e, x, act, grid)`: ω̇ = −(1/n) Σ_i e_i x̃_i σ′(ω·x̃_i) (Fig. 6).
- `poly_fits(xs, f, fit_tol)`: relative residual of polynomial fits of degree 1..4 (Fig. 5).

`layer_theory` and `one_d_extras` apply these to one seed, snapshot and layer of a run.
"""
from __future__ import annotations

import numpy as np

from ..run import first_layer_conv, network
from .clustering import MIN_APART
from .condensation import features_1d


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def p1_line(e: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """Unit direction of Σ_i e_i x̃_i, e (n,), feats (n, fan_in) -> (fan_in + 1,)."""
    xt = np.concatenate([feats, np.ones((len(feats), 1))], axis=1)
    return _unit(e @ xt)


def one_d_polynomial(e: np.ndarray, x: np.ndarray, p: int) -> np.ndarray:
    """Coefficients (ascending powers of û) of Σ_i e_i (x_i − û)(û x_i + 1)^(p−1)."""
    from numpy.polynomial import polynomial as P

    total = np.zeros(p + 1)
    for ei, xi in zip(e, x):
        term = P.polymul([xi, -1.0], P.polypow([1.0, xi], p - 1))
        total[: len(term)] += ei * term
    return total


def one_d_lines(e: np.ndarray, x: np.ndarray, p: int, rel_tol: float = 1e-7) -> list[np.ndarray]:
    """Unit directions (w, b) of the predicted lines for 1-d input (one per real root)."""
    c = one_d_polynomial(np.asarray(e, np.float64), np.asarray(x, np.float64), p)
    scale = np.abs(c).max()
    if scale == 0:
        return []
    lines = []
    if abs(c[-1]) <= rel_tol * scale:  # the degree drops: û = ∞ is a root, the line b = 0
        lines.append(np.array([1.0, 0.0]))
    coeffs = np.trim_zeros(np.where(np.abs(c) <= rel_tol * scale, 0.0, c), "b")
    if len(coeffs) > 1:
        for r in np.roots(coeffs[::-1]):
            if abs(r.imag) <= 1e-6 * (1 + abs(r)):
                lines.append(_unit(np.array([r.real, 1.0])))
    # merge roots that coincide (a double root is one line)
    out = []
    for v in lines:
        if all(abs(v @ u) < 1 - 1e-9 for u in out):
            out.append(v)
    return out


def _field_terms(e: np.ndarray, x: np.ndarray, p: int, u: np.ndarray) -> tuple[float, float]:
    """(g′(φ), ρ) of F at the unit direction u = (w, b) (see the module docstring)."""
    xt = np.stack([np.asarray(x, np.float64), np.ones(len(x))], axis=1)  # (n, 2)
    u = np.asarray(u, np.float64) / np.linalg.norm(u)
    perp = np.array([-u[1], u[0]])
    z, zp = xt @ u, xt @ perp
    F = -(e * z ** (p - 1)) @ xt
    DF_perp = -(p - 1) * ((e * z ** (p - 2) * zp) @ xt) if p >= 2 else np.zeros(2)
    return float(-u @ F + perp @ DF_perp), float(u @ F)


def line_is_stable(e: np.ndarray, x: np.ndarray, p: int, u: np.ndarray) -> bool:
    """Whether the stationary line through u (a root of the 1-d polynomial) is stable: g′·ρ < 0."""
    g_prime, rho = _field_terms(np.asarray(e, np.float64), x, p, u)
    return bool(g_prime * rho < 0)


def alignment(unit: np.ndarray, norms: np.ndarray, lines: list[np.ndarray]) -> float | None:
    """Norm-weighted mean over neurons of max over lines of |cos(w_j, line)|."""
    if not len(lines) or not len(unit) or norms.sum() == 0:
        return None
    cos = np.abs(unit @ np.array(lines).T).max(axis=1)
    return float((cos * norms).sum() / norms.sum())


def direction_field(e: np.ndarray, x: np.ndarray, act: str, grid: np.ndarray) -> np.ndarray:
    """ω̇ at each grid point: e (n,), x (n,) 1-d inputs, grid (G, G, 2) -> (G, G, 2)."""
    import jax
    import jax.numpy as jnp

    from ..nn import activations

    fn = activations.get(act).fn
    dsigma = jax.vmap(jax.grad(lambda z: fn(z)))
    xt = np.stack([x, np.ones_like(x)], axis=1)  # (n, 2)
    z = grid.reshape(-1, 2) @ xt.T  # (G*G, n)
    sp = np.asarray(dsigma(jnp.asarray(z.ravel(), jnp.float32))).reshape(z.shape)
    field = -(sp * e[None, :]) @ xt / len(x)  # (G*G, 2)
    return field.reshape(grid.shape)


def poly_fits(xs: np.ndarray, f: np.ndarray, fit_tol: float, max_degree: int = 4) -> dict:
    """Least-squares polynomial fits of f(xs) for degree 1..max_degree: relative residual
    rms(f − fit) / rms(f − mean f), and the lowest degree within `fit_tol`."""
    import warnings

    from numpy.polynomial import Polynomial

    spread = np.sqrt(np.mean((f - f.mean()) ** 2))
    residuals, curves = {}, {}
    for deg in range(1, max_degree + 1):
        with warnings.catch_warnings():  # a degenerate x range (one point) is poorly conditioned
            warnings.simplefilter("ignore", np.exceptions.RankWarning)
            fit = Polynomial.fit(xs, f, deg)
        curve = fit(xs)
        res = np.sqrt(np.mean((f - curve) ** 2))
        residuals[deg] = float(res / spread) if spread > 0 else 0.0
        curves[deg] = curve
    degree = next((d for d, r in residuals.items() if r <= fit_tol), None)
    return {"residuals": residuals, "degree": degree, "curves": curves}


# ----------------------------------------------------------------------------- on a run


def errors_and_features(run, s: int, k: int):
    """(e (n, d_out), [x^[l−1] (n, fan_in_l) for each hidden layer]) at snapshot k of seed s."""
    import jax.numpy as jnp

    from ..nn.models import forward, hidden_features

    params, spec = network(run, s, k)
    x = jnp.asarray(run.x, jnp.float32)
    e = np.asarray(forward(params, x, spec), np.float64) - np.asarray(run.y, np.float64)
    feats = [np.asarray(f, np.float64) for f in hidden_features(params, x, spec)]
    return e, feats


def _predict(run, s, k, l, p):
    """(method, stable lines, unstable lines) for layer l from the errors at snapshot k."""
    e, feats = errors_and_features(run, s, k)
    if not np.isfinite(e).all():
        return None, [], []
    if l == 1 and run.x.shape[1] == 1:
        x = np.asarray(run.x[:, 0], np.float64)
        lines = one_d_lines(e[:, 0], x, p)
        stable = [v for v in lines if line_is_stable(e[:, 0], x, p, v)]
        unstable = [v for v in lines if not line_is_stable(e[:, 0], x, p, v)]
        return "1-d input: real roots of the degree-p polynomial, stable where g′·ρ < 0", stable, unstable
    if p == 1:
        return "p = 1: ±Σ e_i x_i^[k−1] / |Σ e_i x_i^[k−1]|", [p1_line(e[:, 0], feats[l - 1])], []
    return None, [], []


MATCH_DEG = MIN_APART  # a predicted line is matched by a measured line within this angle (degrees)
CLAIM = ("the paper's Fig. 6 draws the field from the errors at the step shown (epoch 200) and says the neurons "
         "lie on its stable lines: the prediction from the errors at the analyzed step is judged; the one from "
         "the errors at step 0 (Sec. 5's small-weight limit, e ≈ −y) is reported beside it")


def line_angle(u: np.ndarray, v: np.ndarray) -> float:
    """The angle in degrees between the lines through unit vectors u and v, in [0, 90]."""
    return float(np.degrees(np.arccos(np.clip(abs(float(np.dot(u, v))), 0.0, 1.0))))


def match_lines(predicted: list, measured: list) -> tuple[list, list]:
    """(angle to the nearest measured line in degrees, or None where nothing was measured; index of
    that line when within MATCH_DEG, else None) for each predicted line."""
    angles, matched = [], []
    for v in predicted:
        a = [line_angle(v, c) for c in measured]
        best = int(np.argmin(a)) if a else None
        angles.append(None if best is None else a[best])
        matched.append(best if best is not None and a[best] <= MATCH_DEG else None)
    return angles, matched


def _none(note: str) -> dict:
    return {"report": None, "lines": [], "unstable": [], "note": note}


def layer_theory(run, s: int, k: int, l: int, p, lc, mult=None) -> dict:
    """Theory for layer l of seed s at snapshot k: {"report": JSON-able or None, "lines": stable
    lines, "unstable": unstable lines, "note": why there is no report}. `mult` holds every
    layer's p (the p = 1 prediction for layer l assumes p = 1 in every later layer)."""
    if p is None:
        return _none("the multiplicity theory does not apply (p undefined)")
    if run.meta.get("trunk"):
        return _none("the theory is not evaluated behind a ResNet18 trunk")
    if l == 1 and first_layer_conv(run.meta) is not None:
        return _none("the theory is not evaluated for convolution layers")
    if run.y.shape[1] != 1:
        return _none("the theory is stated for a scalar output")
    one_d = l == 1 and run.x.shape[1] == 1
    if not (p == 1 or one_d):
        return _none("the theory covers p = 1 (any layer) and 1-d input (first layer, any p)")
    if not one_d and mult is not None:
        later = [(j + 1, q) for j, q in enumerate(mult) if j >= l and q != 1]
        if later:
            names = ", ".join(f"layer {j} has p = {'undefined' if q is None else q}" for j, q in later)
            return _none(f"the p = 1 prediction assumes p = 1 in every later layer (σ′(0) ≠ 0 downstream); "
                         f"here {names}: not evaluated")
    method, lines, unstable = _predict(run, s, k, l, p)
    if method is None:
        return _none("the network output is not finite here")
    _, lines0, unstable0 = _predict(run, s, 0, l, p)
    counted = [np.array(c["direction"]) for c in lc.line_clusters if c["counted"]]
    angles, matched = match_lines(lines, counted)
    angles0, matched0 = match_lines(lines0, counted)
    rnd = lambda vs: [[round(float(a), 6) for a in v] for v in vs]
    deg = lambda xs: [None if a is None else round(a, 3) for a in xs]
    report = {
        "method": method,
        "predicted_lines": rnd(lines),  # the stable lines: what the paper's claims are about
        "unstable_lines": rnd(unstable),
        "angle_deg": deg(angles),  # each predicted line's angle to the nearest measured (counted) line
        "match_deg": MATCH_DEG,
        "matched_lines": matched,
        "measured_matched": sum(m is not None for m in matched),
        "alignment": alignment(lc.unit, lc.norms, lines),
        "bound_from_theory": 2 * len(lines),
        "judged": "analyzed step",
        "claim": CLAIM,
        "at_step0": {"predicted_lines": rnd(lines0), "unstable_lines": rnd(unstable0), "angle_deg": deg(angles0),
                     "matched_lines": matched0, "alignment": alignment(lc.unit, lc.norms, lines0)},
    }
    return {"report": report, "lines": lines, "unstable": unstable, "lines0": lines0, "note": None}


def one_d_extras(run, s: int, k: int, fit_tol: float, fig_layers: list) -> dict | None:
    """For 1-d input: features (θ, A) of layer 1, the direction field and polynomial fits."""
    import jax.numpy as jnp

    from ..nn.models import forward

    if run.x.shape[1] != 1:
        return None
    params, spec = network(run, s, k)
    W = np.asarray(run.hidden[0][s, k], np.float64)
    if not np.isfinite(W).all():
        return None
    w, b = W[:, 0], W[:, 1]
    theta, A = features_1d(W)
    a_weight = np.abs(run.out[s, k, 0, :-1]) if len(run.hidden) == 1 else None
    x = np.asarray(run.x[:, 0], np.float64)
    xs = np.linspace(x.min(), x.max(), 200)
    f = np.asarray(forward(params, jnp.asarray(xs[:, None], jnp.float32), spec), np.float64)[:, 0]
    fits = poly_fits(xs, f, fit_tol)
    e = np.asarray(forward(params, jnp.asarray(run.x, jnp.float32), spec), np.float64)[:, 0] - run.y[:, 0]
    radius = 1.2 * (A.max() if A.max() > 0 else 1.0)
    g = np.linspace(-radius, radius, 21)
    grid = np.stack(np.meshgrid(g, g, indexing="xy"), axis=-1)  # (G, G, 2): (w, b)
    field = direction_field(e, x, spec.acts[0], grid) if np.isfinite(e).all() else np.zeros_like(grid)
    lines = next((fl["theory"]["lines"] for fl in fig_layers if fl["layer"] == 1), [])
    unstable = next((fl["theory"].get("unstable", []) for fl in fig_layers if fl["layer"] == 1), [])
    p = (run.meta.get("multiplicity") or [None])[0]
    report = {"poly_degree": fits["degree"], "fit_tol": fit_tol,
              "fit_residuals": {str(d): round(r, 6) for d, r in fits["residuals"].items()},
              "expected_degree": p}
    return {"report": report, "theta": theta, "A": A, "A_weighted": None if a_weight is None else A * a_weight,
            "xs": xs, "f": f, "fits": fits, "grid": grid, "field": field, "w": w, "b": b, "lines": lines,
            "unstable": unstable}
