"""Figures from arrays: each function returns a matplotlib `Figure` (Agg, no pyplot state),
never trains and never shows; the command layer saves them.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def cosine_heatmap(D: np.ndarray, title: str, blocks: np.ndarray | None = None) -> Figure:
    """Heat map of the cosine similarity D (m, m) of ordered neurons, colour scale [−1, 1]."""
    fig = Figure(figsize=(5.6, 4.8), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(D, cmap="RdYlBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="D(u, v) = cos of input weights")
    if blocks is not None:
        for edge in np.flatnonzero(np.diff(blocks)) + 0.5:
            ax.axhline(edge, color="k", lw=0.4, alpha=0.5)
            ax.axvline(edge, color="k", lw=0.4, alpha=0.5)
    ax.set_xlabel("neuron (ordered by cluster)")
    ax.set_ylabel("neuron (ordered by cluster)")
    ax.set_title(title, fontsize=10)
    return fig


def loss_curve(loss: np.ndarray, step: int, stage_ratio: float, title: str, loss_step: np.ndarray | None = None,
               batch_loss: np.ndarray | None = None) -> Figure:
    """Full-batch training loss (J,) at `loss_step` (J,; None: every step) on a log scale with the
    analyzed step and the initial-stage level; a minibatch run's batch loss (T+1,) behind it."""
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    t = np.arange(len(loss)) if loss_step is None else np.asarray(loss_step)
    if batch_loss is not None:
        ax.plot(np.arange(len(batch_loss)), batch_loss, lw=0.6, color="0.7", label="minibatch loss")
        loss = np.asarray(loss)
    ax.plot(t, loss, lw=1.2, marker="." if len(t) < 200 and loss_step is not None else None,
            label="training loss (full batch)")
    ax.axhline(stage_ratio * loss[0], color="gray", ls="--", lw=0.8,
               label=f"{stage_ratio:.0%} of initial loss (end of initial stage)")
    ax.axvline(step, color="C3", lw=1, label=f"analyzed step {step}")
    if np.all(loss > 0) and (batch_loss is None or np.all(batch_loss > 0)):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def training_series(steps, directions, lines, rd, layers, bounds, step, loss=None, condensed=None,
                    model_rank=None) -> Figure:
    """Persistent directions and lines (with the bound 2p) and RD over the recorded steps;
    `condensed` (layers, K) marks the snapshots judged condensed (filled) or not (hollow);
    `model_rank` (K,; −1 where not computed) adds a panel of the network's model rank."""
    ranked = model_rank is not None and (np.asarray(model_rank) >= 0).any()
    fig = Figure(figsize=(7, 7.0 if ranked else 5.2), layout="constrained")
    axes = fig.subplots(3 if ranked else 2, 1, sharex=True)
    ax1, ax2 = axes[0], axes[1]
    steps = np.asarray(steps)
    for j, l in enumerate(layers):
        c = f"C{j}"
        ax1.step(steps, directions[j], where="post", color=c, label=f"layer {l}: directions")
        ax1.step(steps, lines[j], where="post", color=c, ls=":", label=f"layer {l}: lines")
        if condensed is not None:
            cj = np.asarray(condensed[j], bool)
            ax1.scatter(steps[cj], np.asarray(directions[j])[cj], s=10, color=c, zorder=3)
            ax1.scatter(steps[~cj], np.asarray(directions[j])[~cj], s=10, facecolors="none", edgecolors=c,
                        zorder=3, label=f"layer {l}: not condensed" if (~cj).any() else None)
        if bounds[j] is not None:
            ax1.axhline(bounds[j], color=c, ls="--", lw=0.8, alpha=0.7, label=f"layer {l}: bound 2p = {bounds[j]}")
        ax2.plot(steps, rd[j], color=c, label=f"layer {l}")
    if ranked:
        r = np.asarray(model_rank)
        ok = r >= 0
        axes[2].plot(np.asarray(steps)[ok], r[ok], marker=".", color="k")
        axes[2].set_ylabel("model rank (Jacobian)")
    for ax in axes:
        ax.axvline(step, color="C3", lw=0.8, alpha=0.7)
    ax1.set_ylabel("condensed orientations")
    ax1.legend(fontsize=7, ncol=2)
    ax1.set_title("condensation over training (red line: analyzed step)", fontsize=10)
    ax2.set_ylabel("RD = |θ(t)−θ(0)| / |θ(0)|")
    if np.asarray(rd).shape[1] > 1 and np.all(np.asarray(rd)[:, 1:] > 0):
        ax2.set_yscale("log")
    axes[-1].set_xlabel("step")
    ax2.legend(fontsize=7)
    if len(steps) > 1 and np.all(steps[1:] > 0) and steps[-1] > 100 * max(steps[1], 1):
        axes[-1].set_xscale("symlog", linthresh=max(steps[1], 1))
    return fig


def feature_map(theta, A, A_weighted, title: str) -> Figure:
    """1-d features (θ_k, A_k) and (θ_k, A_k |a_k|) of the first layer."""
    n = 2 if A_weighted is not None else 1
    fig = Figure(figsize=(5 * n, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    axes[0].scatter(theta, A, s=10, color="C3")
    axes[0].set_ylabel("A = |(w, b)|")
    if A_weighted is not None:
        axes[1].scatter(theta, A_weighted, s=10, color="C0")
        axes[1].set_ylabel("A · |a|")
    for ax in axes:
        ax.set_xlim(-np.pi, np.pi)
        ax.set_xticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi], ["−π", "−π/2", "0", "π/2", "π"])
        ax.set_xlabel("θ = sign(b)·arccos(w/|(w, b)|)")
    fig.suptitle(title, fontsize=10)
    return fig


def _deg(t):
    return np.degrees(np.arccos(np.clip(np.asarray(t, np.float64), -1.0, 1.0)))


def count_vs_tolerance(tols, directions, lines, persistent_range, fixed_tol: float, title: str,
                       candidates=(), needed: float | None = None, chosen=None) -> Figure:
    """Counted directions and lines against the tolerance, drawn as the angle arccos t on a log
    scale (top), the read range shaded and the fixed tolerance marked; below, the separation of
    each candidate partition over the range where its count holds, the separation needed and
    the partition read (why that count won). `candidates`: (lo, hi, count, separation) in
    cosines; `chosen`: (lo, hi, count) or None."""
    fig = Figure(figsize=(6.4, 5.6 if len(candidates) else 3.8), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2)) if len(candidates) else [fig.subplots()]
    ax = axes[0]
    lo, hi = persistent_range
    read = "separated partition" if chosen is not None else "widest range"
    floor = 0.05  # degrees: the left end of the log axis
    ax.axvspan(max(_deg(hi), floor), _deg(lo), color="C2", alpha=0.18,
               label=f"read ({read}): {_deg(hi):.1f}°-{_deg(lo):.0f}°")
    angle = np.maximum(_deg(tols), floor)
    ax.step(angle, directions, where="mid", color="C0", lw=1.6, label="directions")
    ax.step(angle, lines, where="mid", color="C1", lw=1.4, ls="--", label="lines")
    ax.axvline(_deg(fixed_tol), color="0.4", lw=0.8, ls=":", label=f"fixed reading at cos {fixed_tol:g}")
    ax.set_xscale("log")
    ax.set_xlim(floor, 180)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("counted clusters")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    xlabel = "tolerance as an angle, arccos t (degrees)"
    if len(candidates):
        sx = axes[1]
        for c_lo, c_hi, count, sep in candidates:
            won = chosen is not None and (c_lo, c_hi, count) == tuple(chosen)
            x0, x1 = max(_deg(c_hi), floor), _deg(c_lo)
            sx.hlines(sep, x0, x1, color="C3" if won else "C0", lw=3 if won else 1.5)
            sx.annotate(str(count), (np.sqrt(x0 * x1), sep), fontsize=7, ha="center", va="bottom")
        if needed is not None:
            sx.axhline(needed, color="0.3", ls="--", lw=0.9, label=f"separation needed: {needed:.2f}")
        sx.set_yscale("log")
        sx.set_ylabel("separation\n(across / within)")
        sx.legend(fontsize=8, loc="upper left")
        sx.set_xlabel(xlabel + "\nbelow: each partition (its cluster count) over its range; red: the one read")
    else:
        ax.set_xlabel(xlabel)
    return fig


def direction_field(grid, field, w, b, lines, title: str, unstable=()) -> Figure:
    """The field ω̇ of Fig. 6 (unit arrows), the neurons, the predicted stable lines (solid) and
    the unstable stationary lines (dashed)."""
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    norm = np.linalg.norm(field, axis=-1, keepdims=True)
    unit = np.where(norm > 0, field / np.where(norm > 0, norm, 1), 0)
    ax.quiver(grid[..., 0], grid[..., 1], unit[..., 0], unit[..., 1], color="0.6", angles="xy",
              pivot="mid", width=0.003)
    r = np.abs(grid).max()
    for i, v in enumerate(lines):
        ax.plot([-r * v[0], r * v[0]], [-r * v[1], r * v[1]], color="C1", lw=1.5,
                label="predicted stable line" if i == 0 else None)
    for i, v in enumerate(unstable):
        ax.plot([-r * v[0], r * v[0]], [-r * v[1], r * v[1]], color="C3", lw=1.2, ls="--",
                label="unstable stationary line" if i == 0 else None)
    ax.scatter(w, b, s=12, color="C2", zorder=3, label="neurons (w, b)")
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, fontsize=10)
    return fig


def output_fit(xs, f, fits, x, y, expected, title: str) -> Figure:
    """Network output against polynomial fits of degree 1..4 (Fig. 5)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.scatter(x, y, s=12, color="C2", label="training data")
    ax.plot(xs, f, color="C0", lw=2, label="network output")
    for deg, curve in fits["curves"].items():
        res = fits["residuals"][deg]
        style = "--" if deg == expected else ":"
        ax.plot(xs, curve, ls=style, lw=1.2, label=f"degree {deg} fit (rel. residual {res:.3f})")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return fig


KNOWN_SCHEMES = (  # (γ′, γ, label) on the phase diagram (Luo et al. 2021, Table 1)
    (0.0, 1.0, "Xavier, mean-field"),
    (0.0, 0.5, "NTK"),
    (0.5, 0.5, "LeCun, He"),
)


def _edges(v) -> np.ndarray:
    v = np.asarray(v, float)
    if len(v) == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def phase_diagram(gammas, gamma_primes, slope, measured, unconverged, title: str) -> Figure:
    """Slope of log RD against log m over (γ′, γ), with the theoretical and measured boundaries,
    the known initialization schemes, and unconverged points marked."""
    fig = Figure(figsize=(6.6, 6.2), layout="constrained")
    ax = fig.subplots()
    g, gp = np.asarray(gammas, float), np.asarray(gamma_primes, float)
    finite = np.abs(slope[np.isfinite(slope)])
    lim = min(max(float(finite.max()) if finite.size else 1.0, 1e-3), 1.0)  # colours saturate at |S| = 1
    mesh = ax.pcolormesh(_edges(gp), _edges(g), np.ma.masked_invalid(slope), cmap="coolwarm", vmin=-lim, vmax=lim)
    fig.colorbar(mesh, ax=ax, extend="both", label="slope S of log RD vs log m  (S<0 linear, S>0 condensed)")
    lo, hi = _edges(gp)[[0, -1]]
    tx = np.linspace(lo, hi, 200)
    from ..phase.fits import theory_boundary

    ax.plot(tx, theory_boundary(tx), color="k", lw=2, label="theory: γ = 1 (γ′ ≤ 0), γ′ = γ − 1")
    ax.plot(tx, tx, color="0.3", lw=1, ls=":", label="E et al.: γ′ = γ")
    ok = np.isfinite(measured)
    if ok.any():
        ax.plot(gp[ok], measured[ok], "o--", color="gold", mec="k", lw=1.5, label="measured boundary (S = 0)")
    for x, y, label in KNOWN_SCHEMES:
        ax.plot(x, y, marker="*", ms=13, color="w", mec="k")
        ax.annotate(label, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "w", "alpha": 0.7})
    bad = np.argwhere(unconverged)
    if len(bad):
        ax.scatter(gp[bad[:, 1]], g[bad[:, 0]], marker="x", color="k", s=25, label="not converged (some width/seed)")
    missing = np.argwhere(~np.isfinite(slope))
    if len(missing):  # no slope: RD was zero or not finite at some width
        ax.scatter(gp[missing[:, 1]], g[missing[:, 0]], marker="s", facecolors="none", edgecolors="0.3", s=60,
                   hatch="////", label="no measurement (RD not finite or zero)")
    ax.set_xlim(*_edges(gp)[[0, -1]])
    ax.set_ylim(*_edges(g)[[0, -1]])
    ax.set_xlabel("γ′  (κ′ = β1/β2 = m^−γ′)")
    ax.set_ylabel("γ  (κ = β1β2/α = m^−γ)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ax.set_title(title, fontsize=10)
    return fig


def rd_vs_width(widths, rd_by_gamma, gammas, slopes_by_gamma, gamma_prime: float) -> Figure:
    """RD against m on log-log axes, one line per γ, with the fitted slopes (Luo et al. Fig. 3).
    rd_by_gamma: (Γ, W) mean RD over seeds."""
    fig = Figure(figsize=(6, 4.6), layout="constrained")
    _rd_panel(fig.subplots(), widths, rd_by_gamma, gammas, slopes_by_gamma, gamma_prime)
    return fig


def rd_vs_width_rows(widths, rd_rows, gammas, slope_rows, gamma_primes) -> Figure:
    """`rd_vs_width` for a few γ′ rows side by side: rd_rows (R, Γ, W), slope_rows (R, Γ)."""
    R = len(gamma_primes)
    fig = Figure(figsize=(5.2 * R, 4.6), layout="constrained")
    for ax, rd, sl, gp in zip(np.atleast_1d(fig.subplots(1, R)), rd_rows, slope_rows, gamma_primes):
        _rd_panel(ax, widths, rd, gammas, sl, gp)
    return fig


def _rd_panel(ax, widths, rd_by_gamma, gammas, slopes_by_gamma, gamma_prime: float) -> None:
    m = np.asarray(widths, float)
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i, g in enumerate(gammas):
        c = cmap(i / max(len(gammas) - 1, 1))
        r = rd_by_gamma[i]
        ok = np.isfinite(r) & (r > 0)
        if not ok.any():
            continue
        ax.plot(m[ok], r[ok], "o", color=c)
        s = slopes_by_gamma[i]
        if np.isfinite(s) and ok.sum() >= 2:
            lm = np.log(m[ok])
            b = np.mean(np.log(r[ok]) - s * lm)
            ax.plot(m[ok], np.exp(b + s * lm), "-", color=c, label=f"γ = {g:g}: slope {s:+.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel("RD of input weights at the end of training")
    ax.set_title(f"RD against width at γ′ = {gamma_prime:g}", fontsize=10)
    ax.legend(fontsize=7, ncol=2)


def heatmap_grid(panels: list[dict]) -> Figure:
    """Several cosine heat maps side by side: panels of {"title", "D", "blocks"}."""
    n = len(panels)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.9 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    im = None
    for ax, panel in zip(axes, panels):
        im = ax.imshow(panel["D"], cmap="RdYlBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.axis("off")
    if im is not None:
        fig.colorbar(im, ax=list(axes[:n]), shrink=0.8, label="cosine of input weights")
    return fig


def checkpoint_series(steps, names, directions, condensed) -> Figure:
    """A series of checkpoints: the persistent count of every layer (rows) at every checkpoint
    (columns), condensed layers outlined; below, the share of condensed layers against the step."""
    steps, directions, condensed = np.asarray(steps), np.asarray(directions), np.asarray(condensed, bool)
    L = len(names)
    fig = Figure(figsize=(max(5.0, 0.5 * len(steps) + 3), 2.2 + 0.22 * L + 2.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[max(1.0, 0.22 * L), 1.6])
    im = top.imshow(directions.T, aspect="auto", cmap="viridis", interpolation="nearest")
    rows, cols = np.nonzero(condensed.T)
    top.scatter(cols, rows, marker="s", s=18, facecolors="none", edgecolors="white", linewidths=0.8,
                label="condensed")
    top.set_yticks(range(L), names if L <= 40 else [n if i % max(1, L // 40) == 0 else "" for i, n in enumerate(names)],
                   fontsize=6)
    top.set_xticks(range(len(steps)), [str(int(s)) for s in steps], fontsize=7)
    top.set_title("persistent count of directions per layer (outlined: condensed)", fontsize=9)
    fig.colorbar(im, ax=top, label="directions")
    bottom.plot(steps, condensed.mean(axis=1), marker="o")
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("step")
    bottom.set_ylabel("share condensed")
    return fig


def hessian_spectra(labels, spectra, tol: float, title: str) -> Figure:
    """Hessian eigenvalues of several networks side by side (one column each, symmetric-log
    scale), the band |λ| ≤ tol counted as zero shaded, with each column's (+, 0, −) counts."""
    fig = Figure(figsize=(1.6 + 1.5 * len(labels), 4.2), layout="constrained")
    ax = fig.subplots()
    for i, lam in enumerate(spectra):
        lam = np.asarray(lam)
        zero = np.abs(lam) <= tol
        ax.scatter(np.full(len(lam), i) + np.linspace(-0.15, 0.15, len(lam)), lam, s=10,
                   c=np.where(zero, "tab:gray", np.where(lam > 0, "tab:blue", "tab:red")))
        ax.annotate(f"{int((lam > tol).sum())}, {int(zero.sum())}, {int((lam < -tol).sum())}", (i, 0.98),
                    xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=8,
                    bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})
    ax.axhspan(-tol, tol, color="0.85", zorder=0, label=f"|λ| ≤ {tol:g}: zero")
    ax.set_yscale("symlog", linthresh=max(tol, 1e-300))
    from matplotlib.ticker import SymmetricalLogLocator

    ax.yaxis.set_major_locator(SymmetricalLogLocator(linthresh=max(tol, 1e-300), base=1000))  # every third decade
    ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
    ax.set_ylabel("Hessian eigenvalue")
    ax.set_title(title + "\n(counts: positive, zero, negative)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def recovery_curves(sizes, errors: dict, bar: float, paper_n: int, title: str) -> Figure:
    """Test error against the sample size n: every trial (dots) and the median (line) per
    setting, `errors` {label: (len(sizes), trials)}; the recovery bar and the paper's transition."""
    fig = Figure(figsize=(6.2, 4.0), layout="constrained")
    ax = fig.subplots()
    sizes = np.asarray(sizes)
    for j, (label, e) in enumerate(errors.items()):
        e = np.asarray(e, float)
        off = (j - (len(errors) - 1) / 2) * 0.12
        ax.scatter(np.repeat(sizes + off, e.shape[1]), e.ravel(), s=8, alpha=0.5, color=f"C{j}")
        ax.plot(sizes, np.nanmedian(e, axis=1), color=f"C{j}", marker="o", label=f"{label} (median)")
    ax.axhline(bar, color="k", ls=":", lw=1, label=f"recovered: test MSE ≤ {bar:g}")
    ax.axvline(paper_n, color="C3", ls="--", lw=1, label=f"paper's transition n = {paper_n}")
    ax.set_yscale("log")
    ax.set_xlabel("training samples n")
    ax.set_ylabel("test MSE")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return fig


def loss_distribution(edges, freq, widths, levels: dict, title: str) -> Figure:
    """The share of (trial, step) pairs in each loss bin: rows widths, columns log10-loss bins,
    colour log10 of the share; the plateaus of each row marked."""
    edges, freq = np.asarray(edges), np.asarray(freq, float)
    fig = Figure(figsize=(7.5, 1.2 + 0.8 * len(widths)), layout="constrained")
    ax = fig.subplots()
    with np.errstate(divide="ignore"):
        shown = np.where(freq > 0, np.log10(np.where(freq > 0, freq, 1)), np.nan)
    im = ax.imshow(shown, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                   extent=(edges[0], edges[-1], -0.5, len(widths) - 0.5))
    for i, m in enumerate(widths):
        for v in levels.get(m, []):
            ax.plot([v], [i], marker="v", color="red", markersize=7)
    ax.set_yticks(range(len(widths)), [f"m = {m}" for m in widths])
    ax.set_xlabel("log10 loss (red: plateaus)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="log10 share of (trial, step)")
    return fig


def loss_comparison(curves: dict, title: str) -> Figure:
    """Training-loss curves (log scale) by name."""
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    for name, loss in curves.items():
        ax.plot(np.arange(len(loss)), loss, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def accuracy_curves(steps: np.ndarray, curves: dict, title: str) -> Figure:
    """Accuracies (or shares) in [0, 1] over the recorded steps, one line each, by name."""
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    for name, values in curves.items():
        ax.plot(steps, values, marker=".", label=name.replace("_", " "))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("share")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig
