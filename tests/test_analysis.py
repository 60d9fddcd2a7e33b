"""Analysis: analytic cases, planted clusters, the theory on cases solved by hand and on a
trained network, the choice of step, and degenerate runs."""
import numpy as np
import pytest

from condense_cli import analysis, theory
from condense_cli.analysis import AnalysisOptions, choose_step, cosine_matrix, layer_condensation
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


def test_planted_clusters_recovered_exactly_with_shares():
    dirs = RNG.standard_normal((3, 6))
    dirs = np.linalg.qr(dirs.T)[0].T  # orthonormal: well separated
    W = planted([dirs[0], -dirs[0], dirs[1], dirs[2]], [20, 10, 15, 5])
    lc = layer_condensation(W, tol=0.95, min_norm=0.0, min_share=0.05)
    assert lc.directions == 4 and lc.lines == 3
    assert [c["share"] for c in lc.clusters] == pytest.approx([20 / 50, 15 / 50, 10 / 50, 5 / 50])
    assert [c["share"] for c in lc.line_clusters] == pytest.approx([30 / 50, 15 / 50, 5 / 50])
    assert abs(np.dot(lc.clusters[0]["direction"], dirs[0])) > 0.999
    truth = np.repeat([0, 1, 2, 3], [20, 10, 15, 5])
    # each planted group is exactly one cluster
    for g in range(4):
        assert len(set(lc.labels[truth == g])) == 1
    assert len(set(lc.labels)) == 4


def test_rescaling_and_permuting_change_no_orientation_or_count():
    dirs = np.eye(5)[:3]
    W = planted(dirs, [10, 8, 6], noise=0.05)
    base = layer_condensation(W, min_norm=0.0)
    scaled = W * RNG.uniform(0.1, 10, size=(len(W), 1))
    lc = layer_condensation(scaled, min_norm=0.0)
    assert lc.directions == base.directions and np.array_equal(lc.labels, base.labels)
    for _ in range(5):
        perm = RNG.permutation(len(W))
        lp = layer_condensation(W[perm], min_norm=0.0)
        assert (lp.directions, lp.lines) == (base.directions, base.lines)
        assert [c["share"] for c in lp.clusters] == [c["share"] for c in base.clusters]
        # the partition is the same, relabelled
        assert np.array_equal(lp.labels, base.labels[perm])


def test_negligible_neurons_and_small_clusters():
    W = np.concatenate([planted([np.eye(4)[0]], [30]), 1e-4 * RNG.standard_normal((5, 4)),
                        planted([np.eye(4)[1]], [1])])
    lc = layer_condensation(W, tol=0.95, min_norm=0.1, min_share=0.05)
    assert lc.kept == 31 and lc.left_out == 5
    assert lc.directions == 1  # the single neuron along e_1 holds 1/31 < 5 %
    assert [c["counted"] for c in lc.clusters] == [True, False]


def test_degenerate_layers_report_instead_of_crashing():
    zero = layer_condensation(np.zeros((7, 3)))
    assert zero.kept == 0 and zero.directions == 0 and zero.clusters == []
    one = layer_condensation(np.array([[1.0, -2.0]]))
    assert one.kept == 1 and one.directions == 1 and one.clusters[0]["share"] == 1.0
    W = planted([np.eye(3)[0]], [6])
    W[2] = np.nan
    nan = layer_condensation(W, min_norm=0.0)
    assert nan.nonfinite == 1 and nan.kept == 5 and nan.directions == 1
    allnan = layer_condensation(np.full((4, 3), np.nan))
    assert allnan.kept == 0 and allnan.nonfinite == 4


def test_count_orientations_subsample_agrees_with_full():
    dirs = np.linalg.qr(RNG.standard_normal((4, 4)))[0]
    W = planted([dirs[0], dirs[1], -dirs[1], dirs[2]], [3000, 1500, 1000, 500], noise=0.01)
    full = layer_condensation(W, min_norm=0.0)
    assert analysis.count_orientations(W, 0.95, 0.0, 0.05, max_neurons=1000) == (full.directions, full.lines) == (4, 3)


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


def test_p1_theory_predicts_a_trained_tanh_network():
    """Gradient descent from a tiny initialization: at the start of training every tanh neuron
    lies on the predicted line ±Σ e_i x̃_i (alignment above 0.98), one line, within 2p = 2."""
    from condense_cli import TrainConfig, train

    run = train(TrainConfig(act="tanh", data="sin5d", width=30, init_std=1e-4, optimizer="gd", lr=0.05,
                            steps=400, record_every=5, stop_at_loss_ratio=0.99))
    res = analysis.analyze(run, AnalysisOptions(at="end"))
    layer = res["report"]["layers"][0]
    assert layer["lines"] == 1 and layer["directions"] == 2 and layer["within_bound"] is True
    assert layer["theory"]["alignment"] > 0.98
    assert layer["theory"]["matched_lines"] == [0]


def test_one_d_theory_on_a_trained_x2tanh_network():
    """1-d input, x²tanh (p = 3), Adam, small init (initial-condensation Figs. 5-6 setting,
    fewer neurons): at the initial stage at most 3 lines, matching the polynomial's roots,
    and the output is fitted by a polynomial of degree at most 3."""
    from condense_cli import TrainConfig, train

    run = train(TrainConfig(act="x2tanh", data="sin1d", width=40, init_std=0.005, lr=5e-4, steps=600,
                            record_every=20))
    rep = analysis.analyze(run, AnalysisOptions(fit_tol=0.05))["report"]
    layer = rep["layers"][0]
    assert rep["stage"] == "initial" and layer["bound"] == 6
    assert layer["lines"] <= 3 and layer["within_bound"]
    assert len(layer["theory"]["predicted_lines"]) <= 3 and layer["theory"]["alignment"] > 0.9
    assert rep["one_d"]["poly_degree"] is not None and rep["one_d"]["poly_degree"] <= 3
