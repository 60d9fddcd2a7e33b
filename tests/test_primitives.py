"""Direct tests of the small pieces the measure is built from (clustering primitives, the stable
rank), and of the plots: one figure of every kind drawn from a small result."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from condense_cli.measure import clustering as cl


def _unit(deg):
    a = np.radians(np.asarray(deg, float))
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def test_need_counts_neurons_for_a_share():
    assert cl._need(1, 0.05) == 1  # a single neuron is its own cluster
    assert cl._need(10, 0.05) == 2  # never fewer than two
    assert cl._need(100, 0.05) == 5 and cl._need(101, 0.05) == 6


def test_relabel_by_size_orders_by_decreasing_size_then_first_appearance():
    assert cl._relabel_by_size(np.array([5, 5, 2, 2, 2, 9])).tolist() == [1, 1, 0, 0, 0, 2]
    assert cl._relabel_by_size(np.array([7, 3, 3, 7])).tolist() == [0, 1, 1, 0]  # a tie: first seen first


def test_labels_cut_the_tree_as_fcluster_does():
    """`_labels` (pointer jumping over the merges at or below the cut) gives SciPy's `fcluster`
    partition at every height that matters: each merge height, the floats just beside it, the
    midpoints the candidates cut at, outside the range; on clouds with ties (duplicated neurons)
    and on an unsorted linkage (which goes to `fcluster` itself)."""
    from scipy.cluster.hierarchy import fcluster

    rng = np.random.default_rng(0)
    for trial in range(60):
        X = rng.standard_normal((int(rng.integers(2, 60)), int(rng.integers(2, 5))))
        if trial % 3 == 0:  # four copies of each neuron, exact or nearly: zero and equal heights
            X = np.repeat(X[: max(1, len(X) // 4)], 4, axis=0)
            X = X + (trial % 2) * 1e-9 * rng.standard_normal(X.shape)
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        Z = cl.tree(U @ U.T)
        h = Z[:, 2]
        cuts = np.concatenate([h, np.nextafter(h, 3), np.nextafter(h, -1), 0.5 * (h[1:] + h[:-1]), [-1.0, 0.0, 3.0]])
        for t in cuts:
            want = cl._relabel_by_size(fcluster(Z, t, criterion="distance"))
            assert np.array_equal(cl._labels(Z, len(U), t), want), (trial, t)
    Z = np.array([[0, 1, 0.5, 2], [2, 3, 0.3, 3]])  # an inversion (a valid linkage, heights not sorted)
    for t in (0.2, 0.4, 0.6):
        assert np.array_equal(cl._labels(Z, 3, t), cl._relabel_by_size(fcluster(Z, t, criterion="distance")))
    assert np.array_equal(cl._labels(np.zeros((0, 4)), 1, 0.5), [0])


def test_count_curve_of_two_tight_pairs():
    """Pairs at 0°/2° and 90°/92°: each pair merges at 1 − cos 2°, the two pairs at 1 − (mean cos ≈ 0)."""
    U = _unit([0, 2, 90, 92])
    Z = cl.tree(cl.cosine_of_rows(U))
    segs = cl.count_curve(Z, 4, min_share=0.05)  # need = 2
    c2 = np.cos(np.radians(2))
    assert [s.count for s in segs] == [0, 2, 1]
    assert segs[0].lo == pytest.approx(c2) and segs[0].hi == 1.0
    assert segs[1].hi == pytest.approx(c2)
    assert segs[1].lo == pytest.approx(np.mean(np.cos(np.radians([90, 92, 88, 90]))), abs=1e-9)
    best = cl.persistent(segs)
    assert best.count == 2  # the widest range with at least one cluster


def test_persistent_prefers_the_tighter_of_two_equal_ranges():
    segs = [cl.Segment(0.6, 1.0, 3), cl.Segment(0.2, 0.6, 1), cl.Segment(0.0, 0.2, 0)]
    assert cl.persistent(segs).count == 3
    assert cl.persistent([cl.Segment(0.0, 1.0, 0)]) is None


def test_read_joins_antipodal_clusters_into_one_line():
    U = _unit([0, 3, 6, 180, 183, 186, 90, 93])
    C = cl.cosine_of_rows(U)
    r = cl.read(cl.tree(C), C, 0.95, min_share=0.05)
    assert r.directions == 3 and r.lines == 2  # 0° and 180° one line, 90° another
    assert r.coverage == 1.0


def test_lines_unites_the_joined_pairs_and_counts_lines_with_a_counted_direction():
    sizes = np.array([5, 4, 3, 1])
    counted = np.array([True, True, True, False])
    line_of, line_counted = cl._lines(sizes, counted, [(0, 2), (1, 3)])
    assert line_of[0] == line_of[2] != line_of[1] == line_of[3]
    assert line_counted.tolist() == [True, True]


def test_spreads_and_separation_by_hand():
    """Two clusters on a circle: {0°, 10°} and {90°, 100°}: W = 10° each; B = mean of 90, 100, 80, 90 = 90°."""
    U = _unit([0, 10, 90, 100])
    A = cl.angles(cl.cosine_of_rows(U))
    W, B, assign = cl.spreads(A, np.array([0, 0, 1, 1]), [0, 1])
    assert W == pytest.approx([10, 10]) and B[0, 1] == pytest.approx(90)
    assert cl.separation_of(W, B) == pytest.approx((9.0, 90.0))
    # a neuron of an uncounted cluster joins the nearest counted one
    U = _unit([0, 10, 90, 100, 5])
    W, B, assign = cl.spreads(cl.angles(cl.cosine_of_rows(U)), np.array([0, 0, 1, 1, 2]), [0, 1])
    assert assign.tolist() == [0, 0, 1, 1, 0]


def test_stable_rank():
    from condense_cli.transformer.analysis import stable_rank

    u, v = np.arange(1.0, 6.0), np.arange(1.0, 4.0)
    assert stable_rank(np.outer(u, v)) == pytest.approx(1.0)
    assert stable_rank(np.eye(7)) == pytest.approx(7.0)
    assert stable_rank(np.diag([2.0, 1.0])) == pytest.approx(1.25)
    assert stable_rank(np.zeros((3, 4))) == 0.0


@pytest.mark.slow
def test_every_plot_kind_draws_from_a_small_result(tiny):
    """The analysis figures of a tiny 1-d run (heat map, tolerance, loss, series, features, field,
    output), the phase figures of a two-width sweep, and the reproductions' own kinds."""
    from condense_cli import analyze, phase_diagram, train
    from condense_cli import plots

    run = train(tiny, steps=40)
    names = [name for name, fig in plots.analysis_figures(analyze(run, at="end"), run) if isinstance(fig, Figure)]
    assert {"cosine_l1", "loss", "series", "features", "field", "output"} <= set(names)
    sweep = phase_diagram(widths=(10, 20), gammas=(0.5, 1.5), gamma_primes=(0.0, 1.0), tol=1e-3)
    assert [name for name, _ in plots.phase_figures(sweep)] == ["phase", "rd_vs_width"]
    D = np.eye(3)
    panel = {"title": "t", "D": D, "blocks": np.arange(3)}
    drawn = [plots.heatmap_grid([panel, panel]), plots.loss_comparison({"a": np.ones(5)}, "t"),
             plots.accuracy_curves(np.arange(3), {"train_acc": np.array([0.1, 0.5, 0.9])}, "t"),
             plots.rd_vs_width([10, 20], [np.array([1.0, 0.5])], [1.0], [-1.0], 0.0)]
    assert all(isinstance(f, Figure) and f.axes for f in drawn)
