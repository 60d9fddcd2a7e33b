"""Reproductions of the overview (Xu et al., "An overview of condensation phenomenon in deep
learning"): Figs. 1, 2, 6 and 8-9."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..measure.analyze import AnalysisOptions, analyze, first_below
from ..measure.condensation import features_1d
from ..training import TrainConfig, train
from .base import Ablation, Figure, Plot, PlotKind, Reproduction, _fmt_counts, _fmt_reading, _heatmap_panel, _per_seed, register
from ..wording import count_of
from .criteria import (LOSS_LEVEL, PLATEAU_TOL, READINGS, count_reason, dropout_condensed_reason, dropout_sooner_reason,
                       growth_reason, judge_count, reading, run_entry)


def _growth_series(run, marks):
    """Per seed: persistent direction counts and verdicts at the recorded steps nearest `marks`."""
    arr = analyze(run, AnalysisOptions(at="end")).arrays
    steps_rec = arr["series_step"]
    at = [int(np.searchsorted(steps_rec, t, side="right") - 1) for t in marks]
    S = arr["series_directions"].shape[0]
    counts = [[int(arr["series_directions"][s, 0, k]) for k in at] for s in range(S)]
    cond = [[bool(arr["series_condensed"][s, 0, k]) for k in at] for s in range(S)]
    text = "; ".join(", ".join(f"{n}" + ("" if c else "*") for n, c in zip(cs, ds)) for cs, ds in zip(counts, cond))
    return counts, cond, text, arr


OV_FIG1_MARKS = (1000, 3000, 5000, 10000, 100000)


def _ov_fig1_run(seeds: int, steps: int, **over):
    cfg = dict(act="relu", data="relu-combo", width=100, gamma=4, optimizer="gd", lr=0.1, steps=steps, snapshots=60,
               log_spaced=True, seeds=seeds, x64=True)
    return train(TrainConfig(**{**cfg, **over}))


def _ov_fig1(quick: bool, seeds: int) -> Reproduction:
    steps = 10000 if quick else 100000
    marks = [t for t in OV_FIG1_MARKS if t <= steps]

    def judged(run, marks):
        counts, cond, text, arr = _growth_series(run, marks)
        loss = f"{run.loss_at(0, marks[-1]):.3g}"
        entries = [run_entry("", s, growth_reason(c, d, marks)) for s, (c, d) in enumerate(zip(counts, cond))]
        return counts, cond, f"{text} (seed 0's loss at step {marks[-1]}: {loss})", arr, entries

    run = _ov_fig1_run(seeds, steps)
    counts, cond, text, arr, entries = judged(run, marks)
    entries = [dataclasses.replace(e, setting="overview Sec. 3 setting") for e in entries]
    spec = Plot("ov-fig1", PlotKind.TRAINING_SERIES, {
        "steps": arr["series_step"], "directions": arr["series_directions"][0], "lines": arr["series_lines"][0],
        "rd": arr["series_rd"][0], "layers": [1], "bounds": [None], "step": int(arr["series_step"][-1]),
        "condensed": arr["series_condensed"][0]})
    variants = [  # settings the overview leaves open, each measured, none tuned
        ("20 points instead of 40", "the overview does not state n", dict(n=20)),
        ("std 1/m⁴ = 1e-8 (N(0, 1/m⁴) read as the standard deviation)",
         "the authors' notebooks set the std to m^−γ (xuzhiqin1990/understanding_dl)", dict(gamma=None, init_std=100.0 ** -4)),
        ("Adam at the stated lr 0.1", "the overview names no optimizer", dict(optimizer="adam")),
        ("Adam, lr 0.01", "the overview names no optimizer", dict(optimizer="adam", lr=0.01)),
    ]
    ablations = []
    for setting, source, over in variants:
        c2, d2, t2, _, e2 = judged(_ov_fig1_run(seeds, steps, **over), marks)
        ablations.append(Ablation(setting=setting + "; directions at steps " + ", ".join(map(str, marks)),
                                  source=source, measured=t2, agree=sum(e.agree for e in e2), total=seeds))
    # the authors' notebook: the two-kink target on 4 points, m = 1000, std 1/m, gradient descent lr 0.05
    marks_a = [1000, 3000, 5000, 10000]
    authors = _ov_fig1_run(seeds, 10000, data="relu-kinks", width=1000, gamma=None, init_std=1e-3, lr=0.05, snapshots=40)
    _, _, text_a, _, e_a = judged(authors, marks_a)
    ablations.append(Ablation(setting="the authors' notebook: 4 points of 0.2·ReLU(x − 1/3) + 0.2·ReLU(−x − 1/3) "
                                      "(two kinks), m = 1000, std 1/m, gradient descent lr 0.05; directions at steps "
                                      + ", ".join(map(str, marks_a)),
                              source="the authors' notebooks (xuzhiqin1990/understanding_dl)", measured=text_a,
                              agree=sum(e.agree for e in e_a), total=seeds))
    measured = "directions at steps " + ", ".join(map(str, marks)) + ": " + text
    return Reproduction("ov-fig1", "", "", measured,
                        sum(e.agree for e in entries), seeds,
                        {"steps": marks, "directions": counts, "condensed": cond}, [spec],
                        measured_fixed="(the series is read with the persistent count only)", agree_fixed=None,
                        ablations=ablations, runs=entries)


register(Figure("ov-fig1", "ReLU features gain orientations over training", "overview Fig. 1",
         "the number of condensed orientations increases as training goes on",
         "per seed: condensed at every mark from step 1000 on, the persistent direction count never falls "
         "between marks and ends higher than at step 1000",
         "1-100-1 ReLU on −σ(x) + σ(2(x + 0.3)) − σ(1.5(x − 0.4)) + σ(0.5(x − 0.8)), 40 points evenly on [−1, 1] "
         "(n not stated), every weight from N(0, 1/m⁴) (variance), lr 0.1 with no optimizer named (gradient "
         "descent), 100,000 epochs: overview Sec. 3", _ov_fig1,
         quick="10,000 steps instead of 100,000"))


def _ov_fig2(quick: bool, seeds: int) -> Reproduction:
    steps = 1000 if quick else 3000
    rows, agree, specs = [], {w: 0 for w in READINGS}, []
    for gamma in (4, 6):  # the overview gives lr 0.03 and no optimizer: plain gradient descent
        run = train(TrainConfig(act="tanh", data="tanh1d", width=1000, gamma=gamma, optimizer="gd", lr=0.03,
                                steps=steps, seeds=seeds, x64=gamma >= 6))
        layers = [e["layers"][0] for e in _per_seed(run, "end")]
        row = {"gamma": gamma, "loss_ratio": [round(float(run.loss[s, -1] / run.loss[s, 0]), 4) for s in range(seeds)],
               "runs": [run_entry(f"γ = {gamma}", s, count_reason(l, 2, 1)) for s, l in enumerate(layers)]}
        for w in READINGS:
            ok = sum(judge_count(l, 2, 1, w) for l in layers)
            agree[w] += ok
            row[w] = {"measured": _fmt_reading(layers, w), "agree": ok}
        rows.append(row)
        theta, A = features_1d(run.hidden[0][0, -1])
        d, l = reading(layers[0])
        specs.append(Plot(f"ov-fig2-gamma{gamma}", PlotKind.FEATURE_MAP, {
            "theta": theta, "A": A, "A_weighted": A * np.abs(run.out[0, -1, 0, :-1]),
            "title": f"tanh, γ = {gamma}, step {steps}: {count_of(d, 'direction')}, {count_of(l, 'line')}"}))

    def text(w):
        return "; ".join(f"γ = {r['gamma']}: {r[w]['measured']} (loss ratio {_fmt_counts(r['loss_ratio'])})"
                         for r in rows)

    measured = text("persistent")
    return Reproduction("ov-fig2", "", "", measured + f" (directions/lines at step {steps})",
                        agree["persistent"], 2 * seeds, {"rows": rows}, specs,
                        measured_fixed=text("fixed"), agree_fixed=agree["fixed"],
                        runs=[e for r in rows for e in r["runs"]])


register(Figure("ov-fig2", "tanh at γ = 4 and 6", "overview Fig. 2",
         "at the terminal stage tanh neurons condense to a pair of opposite directions (one line)",
         "per seed and γ: condensed at the last step, 2 directions and 1 line",
         "1-1000-1 tanh on tanh1d, N(0, m^−γ), lr 0.03 with no optimizer named (gradient descent): overview Fig. 2",
         _ov_fig2, quick="1,000 steps instead of 3,000"))


def _ov_fig6(quick: bool, seeds: int) -> Reproduction:
    rows, agree, panels = [], {w: 0 for w in READINGS}, []
    for act, p in (("tanh", 1), ("xtanh", 2)):
        run = train(TrainConfig(act=act, data="sin1", width=100, gamma=4, lr=5e-4, steps=200, record_every=10,
                                seeds=seeds))
        for step in (100, 200):
            layers = [e["layers"][0] for e in _per_seed(run, str(step))]
            row = {"activation": act, "step": step, "paper": f"{2 * p} directions, {p} line(s)",
                   "runs": [run_entry(f"{act}, epoch {step}", s, count_reason(l, 2 * p, p)) for s, l in enumerate(layers)]}
            for w in READINGS:
                ok = sum(judge_count(l, 2 * p, p, w) for l in layers)
                agree[w] += ok
                row[w] = {"measured": _fmt_reading(layers, w), "agree": ok}
            rows.append(row)
            k = int(np.flatnonzero(run.step == step)[0])
            d, l = reading(layers[0])
            panels.append(_heatmap_panel(run.hidden[0][0, k], f"{act}, step {step}: {d} dir., {l} lines "
                                                                f"(paper {2 * p}, {p})"))

    def text(w):
        return "; ".join(f"{r['activation']} step {r['step']}: {r[w]['measured']}" for r in rows)

    measured = text("persistent")
    return Reproduction("ov-fig6", "", "", measured + " (directions/lines per seed)",
                        agree["persistent"], 4 * seeds, {"rows": rows}, [Plot("ov-fig6", PlotKind.HEATMAP_GRID, {"panels": panels})],
                        measured_fixed=text("fixed"), agree_fixed=agree["fixed"],
                        runs=[e for r in rows for e in r["runs"]])


register(Figure("ov-fig6", "tanh against x·tanh", "overview Fig. 6",
         "at epochs 100 and 200: tanh a pair of opposite directions (2 directions, 1 line), x·tanh two pairs "
         "(4 directions, 2 lines)",
         "per seed and epoch: condensed, with the paper's directions and lines",
         "1-100-1 on sin x, N(0, 1/m^4), Adam lr 5e-4: overview Fig. 6 caption", _ov_fig6))


def _ov_fig89(quick: bool, seeds: int) -> Reproduction:
    steps = 5000 if quick else 20000
    m = 1000
    base = dict(act="tanh", data="sin1d", width=m, lr=1e-3, steps=steps, seeds=seeds, record_every=max(steps // 100, 1))
    normal_std = (1.0, m ** -0.5)  # normal scale: N(0, 1) input weights, N(0, 1/m) output weights
    normal = train(TrainConfig(**base, init_std=normal_std))
    dropout = train(TrainConfig(**base, init_std=normal_std, dropout=0.5))
    small = train(TrainConfig(**base, gamma=4.0))
    layers = {name: [e["layers"][0] for e in _per_seed(run, "end")] for name, run in
              (("normal init", normal), ("normal init + dropout 0.5", dropout), ("small init", small))}

    def reach(run, level):  # the first step whose loss is at most `level` × initial, per seed
        return [first_below(run.loss[s], level, run.loss_step) for s in range(seeds)]

    fast_drop, fast_small = reach(dropout, LOSS_LEVEL), reach(small, LOSS_LEVEL)
    fig8_reason, fig9_reason = dropout_condensed_reason, dropout_sooner_reason

    pairs = list(zip(layers["normal init + dropout 0.5"], layers["normal init"]))

    def fig8_ok(w):
        return sum(fig8_reason(ld, ln, w) is None for ld, ln in pairs)

    ok9 = sum(fig9_reason(a, b) is None for a, b in zip(fast_drop, fast_small))
    entries = [e for s, (ld, ln) in enumerate(pairs) for e in (
        run_entry("Fig. 8: dropout against normal init", s, fig8_reason(ld, ln)),
        run_entry("Fig. 9: dropout against small init", s, fig9_reason(fast_drop[s], fast_small[s])))]

    def text(w):
        return ("directions/lines at the end: " + "; ".join(f"{k} {_fmt_reading(v, w)}" for k, v in layers.items())
                + f". Steps to {LOSS_LEVEL * 100:g} % of the initial loss: dropout {_fmt_counts(fast_drop)}, small init "
                  f"{_fmt_counts(fast_small)}. Final clean loss (seed 0): dropout {dropout.loss[0, -1]:.2g}, "
                  f"small init {small.loss[0, -1]:.2g}, normal init {normal.loss[0, -1]:.2g}")

    panels = [_heatmap_panel(run.hidden[0][0, -1], name) for name, run in
              (("normal init", normal), ("normal init + dropout 0.5", dropout), ("small init", small))]
    loss_spec = Plot("ov-fig9-loss", PlotKind.LOSS_COMPARISON, {
        "curves": {"dropout 0.5, normal init": dropout.loss[0], "small init (γ = 4)": small.loss[0],
                   "normal init": normal.loss[0]}, "title": "training loss (seed 0)"})
    measured = text("persistent")
    return Reproduction("ov-fig8-9", "", "", measured,
                        fig8_ok("persistent") + ok9,
                        2 * seeds, {"condensed": {k: [l["condensed"] for l in v] for k, v in layers.items()},
                                    "steps_to_5pct": {"dropout": fast_drop, "small_init": fast_small}},
                        [Plot("ov-fig8", PlotKind.HEATMAP_GRID, {"panels": panels}), loss_spec],
                        measured_fixed=text("fixed"), agree_fixed=fig8_ok("fixed") + ok9, runs=entries)


register(Figure("ov-fig8-9", "Dropout against small initialization", "overview Figs. 8-9",
         "dropout with a normal-scale initialization condenses (fewer lines than without dropout) and "
         "reaches a low loss sooner than a small initialization",
         "per seed: (Fig. 8) the dropout network is condensed and the normal-init one is not or has more lines; "
         "(Fig. 9) dropout reaches 5 % of its initial loss before the small initialization does",
         "1-1000-1 tanh, lr 1e-3, dropout 0.5 after the hidden layer: overview Fig. 8 caption", _ov_fig89,
         quick="5,000 steps instead of 20,000"))


OV_FIG7_WIDTHS = (10, 100, 1000)  # the overview does not state its widths


def _ov_fig7(quick: bool, seeds: int) -> Reproduction:
    """Overview Fig. 7: the distribution of the loss over training, across trials, for two-layer
    ReLU networks of several widths; its plateaus, and the condensed count at each."""
    from .criteria import plateau_levels, plateaus_reason

    trials = 10 if quick else max(seeds, 50)
    steps = 20_000 if quick else 100_000
    widths = OV_FIG7_WIDTHS[:2] if quick else OV_FIG7_WIDTHS
    runs = {m: train(TrainConfig(act="relu", data="relu-combo", width=m, gamma=4, optimizer="gd", lr=0.1, steps=steps,
                                 seeds=trials, record_every=max(1, steps // 100)))
            for m in widths}
    logs = {m: np.log10(np.maximum(np.asarray(r.loss, np.float64), 1e-300)) for m, r in runs.items()}
    lo = min(float(np.nanmin(v)) for v in logs.values())
    hi = max(float(np.nanmax(v)) for v in logs.values())
    edges = np.linspace(lo, hi + 1e-9, 61)
    centres = (edges[:-1] + edges[1:]) / 2
    freq = {m: np.histogram(v[np.isfinite(v)], edges)[0] / np.isfinite(v).sum() for m, v in logs.items()}
    levels = {m: plateau_levels(freq[m], centres) for m in widths}
    median = {m: float(np.nanmedian(logs[m])) for m in widths}
    reason = plateaus_reason(levels, median)
    entries = [run_entry(f"widths {', '.join(map(str, widths))}", f"{trials} trials", reason)]
    # at each plateau, the condensed count of the networks resting there (up to 8 recorded snapshots)
    options = AnalysisOptions()
    counts = {}
    for m, r in runs.items():
        rec = np.asarray(r.step)
        at_rec = logs[m][:, rec]  # (S, K) log10 loss at the recorded steps
        counts[m] = {}
        for level in levels[m]:
            near = np.argwhere(np.abs(at_rec - level) <= PLATEAU_TOL / 2)[:8]
            dirs = [options.measure(np.asarray(r.hidden[0][s, k], np.float64), series=True) for s, k in near]
            counts[m][f"{level:.2f}"] = {"directions": [d.directions for d in dirs],
                                         "condensed": [bool(d.condensed) for d in dirs]}
    text = "; ".join(
        f"width {m}: plateaus at loss " + (", ".join(
            f"{10 ** v:.2g} (directions {', '.join(map(str, counts[m][f'{v:.2f}']['directions'])) or 'none recorded'})"
            for v in levels[m]) or "none") + f", median loss {10 ** median[m]:.2g}"
        for m in widths)
    plot = Plot("ov-fig7", PlotKind.LOSS_DISTRIBUTION, {"edges": edges, "freq": np.array([freq[m] for m in widths]),
                                                         "widths": list(widths), "levels": levels,
                                                         "title": f"loss over training, {trials} trials per width"})
    # the other side: the same histogram at step 0 only (no training) has no falling median
    untrained = plateaus_reason({m: plateau_levels(np.histogram(logs[m][:, :1], edges)[0] / trials, centres)
                                 for m in widths}, {m: float(np.median(logs[m][:, 0])) for m in widths})
    ablations = [Ablation(setting="the networks at step 0 (untrained)", source="ours: the criterion's other side",
                          measured=untrained or "passes", agree=int(untrained is None), total=1)]
    return Reproduction("ov-fig7", "", "", text, sum(e.agree for e in entries), 1,
                        {"levels": {str(m): levels[m] for m in widths}, "median_log10_loss": median,
                         "counts": {str(m): counts[m] for m in widths}, "trials": trials, "steps": steps},
                        [plot], measured_fixed="(no cluster count in the criterion)", agree_fixed=None,
                        runs=entries, ablations=ablations)


register(Figure("ov-fig7", "Loss plateaus across widths", "overview Fig. 7",
         "the loss of two-layer ReLU networks of several widths lingers at the same plateau losses (critical points "
         "of narrow networks, embedded in wide ones); wider networks spend more of their time at lower losses",
         f"every plateau (a histogram peak holding ≥ 2 % of the (trial, step) pairs) of the widest network lies within "
         f"{PLATEAU_TOL:g} decades of a plateau of a narrower one, and the median loss over training falls by more "
         f"than {PLATEAU_TOL:g} decades from each width to the next. The networks at step 0 must fail",
         "ReLU 1-m-1, the overview's Fig. 1 data (40 points evenly on [−1, 1], its 4-ReLU target), init N(0, 1/m⁴), GD "
         "lr 0.1, 100,000 steps, 50 trials per width; widths 10, 100, 1000 (not stated in the overview)", _ov_fig7,
         quick="10 trials, 20,000 steps, widths 10 and 100"))
