"""Analysis: analytic cases, planted clusters, the theory on cases solved by hand and on a
trained network, the choice of step, and degenerate runs."""
import numpy as np
import pytest

from condense_cli.measure import analyze as analysis
from condense_cli.measure import theory
from condense_cli.measure.analyze import AnalysisOptions, choose_step
from condense_cli.measure.condensation import cosine_matrix, layer_condensation
from condense_cli.errors import BadInput

RNG = np.random.default_rng(0)


def planted(directions, counts, noise=0.02, scale=(0.5, 2.0), rng=RNG):
    """Neurons around given directions, each with a random positive norm."""
    rows = []
    for d, c in zip(directions, counts):
        d = np.asarray(d, float) / np.linalg.norm(d)
        v = d + noise * rng.standard_normal((c, len(d)))
        rows.append(v * rng.uniform(*scale, size=(c, 1)))
    return np.concatenate(rows)


def test_cosine_analytic_cases():
    W = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [-1.0, -2.0, -3.0], [3.0, 0.0, -1.0]])
    D = cosine_matrix(W)
    assert D[0, 1] == pytest.approx(1.0) and D[0, 2] == pytest.approx(-1.0)
    assert D[0, 3] == pytest.approx(0.0) and np.allclose(np.diag(D), 1.0)


def cloud(centre, n, min_cos, rng=RNG, scale=(0.5, 2.0)):
    """n neurons whose cosine to `centre` is uniform in [min_cos, 1], in random directions around
    it, each with a random positive norm."""
    c = np.asarray(centre, float) / np.linalg.norm(centre)
    cos = rng.uniform(min_cos, 1.0, n)
    perp = rng.standard_normal((n, len(c)))
    perp -= (perp @ c)[:, None] * c
    perp /= np.linalg.norm(perp, axis=1, keepdims=True)
    return (cos[:, None] * c + np.sqrt(1 - cos ** 2)[:, None] * perp) * rng.uniform(*scale, (n, 1))


@pytest.mark.parametrize("k", [3, 6, 20])
def test_spread_clouds_are_counted_exactly_whatever_tol_they_would_need(k):
    """Clouds spread to cosine 0.8 around orthogonal centres (one with its opposite): the
    persistent count is exact, condensed, while fixed cuts give other counts."""
    e = np.eye(k)
    rng = np.random.default_rng(k)
    W = np.concatenate([cloud(e[0], 20, 0.8, rng), cloud(-e[0], 10, 0.8, rng), cloud(e[1], 15, 0.8, rng),
                        cloud(e[2], 5, 0.8, rng)])
    lc = layer_condensation(W, min_norm=0.0)
    assert (lc.directions, lc.lines) == (4, 3) and lc.condensed
    assert lc.measure["persistent"]["directions"] == 4 and lc.measure["persistence"] > lc.measure["isotropic_persistence"]
    truth = np.repeat([0, 1, 2, 3], [20, 10, 15, 5])
    majority = []
    for g in range(4):  # each planted cloud is (all but a boundary neuron or so of) its own cluster
        labels, counts = np.unique(lc.labels[truth == g], return_counts=True)
        assert counts.max() >= 0.9 * (truth == g).sum()
        majority.append(labels[counts.argmax()])
    assert len(set(majority)) == 4
    # a single fixed tolerance does not recover them all: tight cuts split the clouds
    fixed = [layer_condensation(W, tol=t, min_norm=0.0, curve=False) for t in (0.9, 0.95, 0.98)]
    assert all(f.measure["method"] == "fixed" for f in fixed)
    assert any((f.directions, f.lines) != (4, 3) for f in fixed)


def test_opposite_clouds_are_two_directions_on_one_line():
    rng = np.random.default_rng(5)
    u = rng.standard_normal(6)
    W = np.concatenate([cloud(u, 30, 0.8, rng), cloud(-u, 20, 0.8, rng)])
    lc = layer_condensation(W, min_norm=0.0)
    assert (lc.directions, lc.lines) == (2, 1) and lc.condensed and lc.coverage == 1.0
    assert lc.line_clusters[0]["share"] == 1.0 and abs(np.dot(lc.line_clusters[0]["direction"], u / np.linalg.norm(u))) > 0.95
    assert lc.within_bound(1) is True and lc.within_bound(None) is None


@pytest.mark.parametrize("k,n", [(2, 100), (3, 50), (6, 50), (6, 400), (50, 200), (785, 300)])
def test_isotropic_weights_are_not_condensed(k, n):
    rng = np.random.default_rng(k * 1000 + n)
    for _ in range(3):
        lc = layer_condensation(rng.standard_normal((n, k)), min_norm=0.0, curve=False)
        assert not lc.condensed and lc.within_bound(1) is None and lc.within_bound(3) is None
        assert lc.measure["verdict"].startswith("not condensed")


def test_counts_do_not_depend_on_row_order_or_neuron_scale():
    rng = np.random.default_rng(2)
    e = np.eye(5)
    W = np.concatenate([cloud(e[0], 12, 0.85, rng), cloud(e[1], 9, 0.85, rng), cloud(-e[1], 7, 0.85, rng)])
    base = layer_condensation(W, min_norm=0.0)
    scaled = layer_condensation(W * rng.uniform(0.1, 10, size=(len(W), 1)), min_norm=0.0)
    assert (scaled.directions, scaled.lines) == (base.directions, base.lines) == (3, 2)
    assert np.array_equal(scaled.labels, base.labels) and scaled.measure == base.measure
    for _ in range(5):
        perm = rng.permutation(len(W))
        lp = layer_condensation(W[perm], min_norm=0.0)
        assert (lp.directions, lp.lines, lp.condensed) == (base.directions, base.lines, base.condensed)
        assert np.array_equal(lp.labels, base.labels[perm])  # the same partition
        assert lp.measure["persistent"] == base.measure["persistent"]


def test_tight_clusters_persistent_and_fixed_counts_agree():
    W = planted([np.eye(4)[0], -np.eye(4)[0], np.eye(4)[2]], [20, 15, 10], noise=0.01)
    lc = layer_condensation(W, min_norm=0.0)
    m = lc.measure
    assert (m["persistent"]["directions"], m["persistent"]["lines"]) == (m["fixed"]["directions"], m["fixed"]["lines"]) == (3, 2)
    assert m["persistent"]["range"][1] > 0.99 and lc.condensed


def test_lines_never_outnumber_directions():
    """Two small opposite clusters (each under 5 %) would make a counted line of 6 % on their
    own; a line counts only when it holds a counted direction."""
    rng = np.random.default_rng(3)
    e = np.eye(6)
    W = np.concatenate([cloud(e[0], 47, 0.95, rng), cloud(e[1], 2, 0.99, rng), cloud(-e[1], 2, 0.99, rng)])
    for tol in (None, 0.9, 0.95, 0.99):
        lc = layer_condensation(W, tol=tol, min_norm=0.0)
        assert lc.lines <= lc.directions
    for seed in range(20):  # and on arbitrary layers, at every tolerance of the curve
        r = np.random.default_rng(seed)
        lc = layer_condensation(r.standard_normal((30, 3)) * r.uniform(0, 1, (30, 1)), min_norm=0.0)
        assert lc.lines <= lc.directions and np.all(lc.curve["lines"] <= lc.curve["directions"])


def test_sampled_clustering_agrees_with_the_full_one_and_ignores_row_order():
    rng = np.random.default_rng(4)
    dirs = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    W = np.concatenate([cloud(dirs[0], 1500, 0.9, rng), cloud(dirs[1], 800, 0.9, rng), cloud(-dirs[1], 500, 0.9, rng),
                        cloud(dirs[2], 200, 0.9, rng)])
    full = layer_condensation(W, min_norm=0.0, max_neurons=4000, curve=False)
    part = layer_condensation(W, min_norm=0.0, max_neurons=600, curve=False)
    assert (part.directions, part.lines) == (full.directions, full.lines) == (4, 3)
    assert part.clustered == 600 and "sample of 600 of the 3000" in part.measure["sample"]
    assert np.mean(part.labels == full.labels) > 0.99  # every neuron labelled, the others by nearest cluster
    perm = rng.permutation(len(W))
    again = layer_condensation(W[perm], min_norm=0.0, max_neurons=600, curve=False)
    assert np.array_equal(again.labels, part.labels[perm])


def test_heatmap_order_makes_contiguous_blocks_with_opposites_adjacent():
    W = planted([np.eye(4)[0], np.eye(4)[1], -np.eye(4)[0], np.eye(4)[3]], [10, 8, 7, 5], noise=0.02)
    lc = layer_condensation(W, min_norm=0.0)
    blocks = lc.labels[lc.order]
    assert len(lc.order) == 30 and sorted(lc.order) == list(range(30))
    assert np.count_nonzero(np.diff(blocks)) == 3  # each cluster one contiguous block
    lines = lc.line_labels[lc.order]
    assert np.count_nonzero(np.diff(lines)) == 2  # e_0 and −e_0 sit next to each other


def test_negligible_neurons_and_small_clusters():
    W = np.concatenate([planted([np.eye(4)[0]], [30]), 1e-4 * RNG.standard_normal((5, 4)),
                        planted([np.eye(4)[1]], [1])])
    lc = layer_condensation(W, min_norm=0.1, min_share=0.05)
    assert lc.kept == 31 and lc.left_out == 5
    assert lc.directions == 1  # the single neuron along e_1 holds 1/31 < 5 %
    assert [c["counted"] for c in lc.clusters] == [True, False]


def test_degenerate_layers_report_instead_of_crashing():
    zero = layer_condensation(np.zeros((7, 3)))
    assert zero.kept == 0 and zero.directions == 0 and zero.clusters == [] and not zero.condensed
    one = layer_condensation(np.array([[1.0, -2.0]]))
    assert one.kept == 1 and one.directions == 1 and one.clusters[0]["share"] == 1.0 and not one.condensed
    assert "too few" in one.measure["verdict"]
    W = planted([np.eye(3)[0]], [6])
    W[2] = np.nan
    nan = layer_condensation(W, min_norm=0.0)
    assert nan.nonfinite == 1 and nan.kept == 5 and nan.directions == 1
    allnan = layer_condensation(np.full((4, 3), np.nan))
    assert allnan.kept == 0 and allnan.nonfinite == 4


def test_held_within_bound_and_most_condensed_step():
    steps = np.array([0, 10, 20, 30, 40, 50, 60])
    dirs = np.array([9, 2, 2, 5, 2, 2, 2])
    cond = np.array([False, True, True, True, True, True, True])
    pers = np.array([5.0, 30, 50, 40, 20, 25, 90])
    h = analysis.held_within_bound(steps, dirs, cond, pers, 1, stage_k=6)  # step 60 is past the stage
    assert h["runs"] == [[10, 20], [40, 50]] and (h["from"], h["to"]) == (10, 20)
    assert h["most_condensed_step"] == 20 and h["stage_steps"] == [0, 50]
    none = analysis.held_within_bound(steps, dirs, np.zeros(7, bool), pers, 1, stage_k=7)
    assert none["runs"] == [] and none["from"] is None and none["most_condensed_step"] is None


def test_p1_line_and_one_d_roots_solved_by_hand():
    # p = 1: the line is Σ e_i x̃_i
    feats = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    e = np.array([1.0, -1.0, 2.0])
    v = np.array([1 + 2, -2 + 2, 1 - 1 + 2])  # Σ e_i (x_i, 1)
    np.testing.assert_allclose(theory.p1_line(e, feats), v / np.linalg.norm(v))
    # 1-d, p = 1: one line with slope û = Σ e x / Σ e
    x = np.array([0.5, -1.0, 2.0])
    (line,) = theory.one_d_lines(e, x, 1)
    u_hat = (e @ x) / e.sum()
    np.testing.assert_allclose(abs(line @ (np.array([u_hat, 1.0]) / np.hypot(u_hat, 1))), 1.0)
    # 1-d, p = 2, x = (1, −1), e = (1, 2): Σ e_i (x_i − û)(û x_i + 1) = −(1 − û²): û = ±1
    lines = theory.one_d_lines(np.array([1.0, 2.0]), np.array([1.0, -1.0]), 2)
    got = sorted(round(float(l[0] / l[1]), 9) for l in lines)
    assert got == [-1.0, 1.0]
    # p = 2 with a dropped degree: e = (1, 1), x = (1, 1): (1 − û)(û + 1)·2 → û = ±1 as well;
    # e = (1, −1), x = (2, 0): (2 − û)(2û + 1) − (−û)(1) = −2û² + 4û + 2: two real roots
    lines = theory.one_d_lines(np.array([1.0, -1.0]), np.array([2.0, 0.0]), 2)
    roots = sorted(float(l[0] / l[1]) for l in lines)
    np.testing.assert_allclose(roots, sorted(np.roots([-2, 4, 2]).real), rtol=1e-9)
    # a vanishing leading coefficient gives the vertical line b = 0: p = 1 with Σ e = 0
    lines = theory.one_d_lines(np.array([1.0, -1.0]), np.array([1.0, 3.0]), 1)
    assert len(lines) == 1 and abs(lines[0][1]) < 1e-12


def test_poly_fits_find_the_degree():
    xs = np.linspace(-1, 1, 100)
    fits = theory.poly_fits(xs, 1 + 2 * xs - 3 * xs ** 2, fit_tol=1e-6)
    assert fits["degree"] == 2 and fits["residuals"][1] > 0.1
    assert theory.poly_fits(xs, xs ** 3 - 0.5 * xs, fit_tol=0.01)["degree"] == 3


def test_line_stability_against_a_simulation_of_the_flow():
    """1-d input, leading order σ′(z) ∝ z^(p−1), frozen errors. A neuron with output weight a turns
    as φ̇ = sign(a)·g(φ) (orientation moves much faster than amplitude) and grows when a·ρ(φ) > 0.
    Letting 360 starting directions of each sign flow until they stop, the lines on which the
    neurons land *and grow* are exactly the lines `line_is_stable` calls stable. g and ρ are
    computed here from the field itself, not from the module's analytic derivative."""
    x = np.array([1.0, -1.0, 0.5, 2.0])
    e = np.array([1.0, 2.0, -1.5, 0.7])
    xt = np.stack([x, np.ones_like(x)], axis=1)

    def field(phi):  # F(u) = −Σ e_i x̃_i (u·x̃_i)^(p−1) at u = (cos φ, sin φ)
        u = np.stack([np.cos(phi), np.sin(phi)], axis=-1)
        return u, -((e * (u @ xt.T) ** (p - 1)) @ xt)

    for p in (1, 2, 3):
        lines = theory.one_d_lines(e, x, p)
        stable = [v for v in lines if theory.line_is_stable(e, x, p, v)]
        reached = []
        for sign in (1.0, -1.0):
            phi = np.linspace(0, 2 * np.pi, 360, endpoint=False) + 1e-3
            for _ in range(4000):
                u, F = field(phi)
                g = F[:, 1] * u[:, 0] - F[:, 0] * u[:, 1]  # u⊥·F with u⊥ = (−sin φ, cos φ)
                phi = phi + 0.02 * sign * g / max(np.abs(g).max(), 1e-12) * min(1.0, np.abs(g).max())
            u, F = field(phi)
            rho = np.einsum("ij,ij->i", u, F)
            grows = sign * rho > 0
            reached.extend(u[grows])
        reached = np.array(reached)
        # every growing neuron sits on a stable line, and every stable line holds some of them
        on_line = np.abs(reached @ np.array(stable).T)
        assert on_line.max(axis=1).min() > 0.999
        assert (on_line > 0.999).any(axis=0).all()
        for v in lines:
            if not any(abs(v @ s_) > 0.999 for s_ in stable):  # unstable: no growing neuron there
                assert np.abs(reached @ v).max() < 0.999
    # p = 1: the one stationary line is always stable
    (line,) = theory.one_d_lines(e, x, 1)
    assert theory.line_is_stable(e, x, 1, line) and theory.line_is_stable(e, x, 1, -line)


def test_choose_step():
    loss = np.array([10, 9.5, 9, 8, 7.5, 6.9, 6, 5, 4, 3, 2.0])
    steps = np.array([0, 2, 4, 6, 8, 10])
    o = AnalysisOptions()
    assert steps[choose_step(loss, steps, o)[0]] == 4  # the loss fell to 70 % at step 5
    assert steps[choose_step(loss, steps, AnalysisOptions(at="end"))[0]] == 10
    assert steps[choose_step(loss, steps, AnalysisOptions(at="6"))[0]] == 6
    assert steps[choose_step(loss, steps, AnalysisOptions(at_loss_ratio=0.5))[0]] == 6  # 5.0 at step 7
    assert choose_step(np.full(11, 3.0), steps, o)[0] == 5  # never fell: the last step
    with pytest.raises(BadInput, match="step 5 was not recorded; nearest recorded steps: 4, 6"):
        choose_step(loss, steps, AnalysisOptions(at="5"))
    with pytest.raises(BadInput, match="--at must be"):
        choose_step(loss, steps, AnalysisOptions(at="soon"))
    assert choose_step(loss, steps, AnalysisOptions(at="most-condensed"), most_condensed=3)[0] == 3
    k, why = choose_step(loss, steps, AnalysisOptions(at="most-condensed"), most_condensed=None)
    assert steps[k] == 4 and "no recorded step of the initial stage is condensed" in why


@pytest.mark.slow
def test_p1_theory_predicts_a_trained_tanh_network():
    """Gradient descent from a tiny initialization: at the start of training every tanh neuron
    lies on the predicted line ±Σ e_i x̃_i (alignment above 0.98), one line, within 2p = 2."""
    from condense_cli import TrainConfig, train

    run = train(TrainConfig(act="tanh", data="sin5d", width=30, init_std=1e-4, optimizer="gd", lr=0.05,
                            steps=400, record_every=5, stop_at_loss_ratio=0.99))
    res = analysis.analyze(run, AnalysisOptions(at="end")).to_json()
    layer = res["layers"][0]
    assert layer["lines"] == 1 and layer["directions"] == 2 and layer["condensed"] and layer["within_bound"] is True
    assert layer["theory"]["alignment"] > 0.98
    assert layer["theory"]["matched_lines"] == [0]


@pytest.mark.slow
def test_one_d_theory_on_a_trained_x2tanh_network():
    """1-d input, x²tanh (p = 3), Adam, small init (initial-condensation Figs. 5-6 setting,
    fewer neurons): at the initial stage at most 3 lines, matching the polynomial's roots,
    and the output is fitted by a polynomial of degree at most 3."""
    from condense_cli import TrainConfig, train

    run = train(TrainConfig(act="x2tanh", data="sin1d", width=40, init_std=0.005, lr=5e-4, steps=600,
                            record_every=20))
    rep = analysis.analyze(run, AnalysisOptions(fit_tol=0.05)).to_json()
    layer = rep["layers"][0]
    assert rep["stage"] == "initial" and layer["bound"] == 6 and layer["condensed"]
    assert layer["lines"] == len(layer["theory"]["predicted_lines"]) == 3 and layer["within_bound"] is True
    th = layer["theory"]
    assert th["alignment"] > 0.9 and th["match_deg"] == 10.0
    # Sec. 5's small-weight limit (the errors at step 0): every root within 10° of a measured line
    assert None not in th["at_step0"]["matched_lines"] and max(th["at_step0"]["angle_deg"]) <= 10.0
    # the field of the analyzed step is reported line by line, in degrees, beside it
    assert len(th["angle_deg"]) == 3 and all(0 <= a <= 90 for a in th["angle_deg"])
    assert [m is not None for m in th["matched_lines"]] == [a <= 10.0 for a in th["angle_deg"]]
    assert rep["one_d"]["poly_degree"] == 3
    # the same network untrained: not condensed, no bound claimed
    rep0 = analysis.analyze(run, AnalysisOptions(at="0")).to_json()
    assert not rep0["layers"][0]["condensed"] and rep0["layers"][0]["within_bound"] is None
