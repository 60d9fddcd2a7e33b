"""Reducing condensed networks and splitting neurons: exactness where the theory says so."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli.cli import app
from condense_cli.errors import BadInput
from condense_cli.nn.models import NetSpec, forward, mse
from condense_cli.reduction import reduce_network, split_neuron

runner = CliRunner()
RNG = np.random.default_rng(1)


def _jax(p):
    return {"hidden": [jnp.asarray(w, jnp.float64) for w in p["hidden"]], "out": jnp.asarray(p["out"], jnp.float64)}


@pytest.fixture(autouse=True)
def _x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def test_relu_clusters_differing_by_positive_scale_merge_exactly():
    dirs = RNG.standard_normal((3, 3))
    sizes = [5, 3, 4]
    W = np.concatenate([np.outer(RNG.uniform(0.5, 2, n), d) for d, n in zip(dirs, sizes)])  # (12, 3)
    A = np.concatenate([RNG.standard_normal((1, 12)), [[0.3]]], axis=1)
    spec = NetSpec(d=2, widths=(12,), d_out=1, acts=("relu",))
    params = {"hidden": [W], "out": A}
    small, small_spec, report = reduce_network(params, spec, tol=0.999, min_norm=0.0)
    assert small_spec.widths == (3,) and report[0]["width_after"] == 3 and report[0]["largest_cluster"] == 5
    x = jnp.asarray(RNG.uniform(-2, 2, (50, 2)))
    np.testing.assert_allclose(forward(_jax(small), x, small_spec), forward(_jax(params), x, spec), rtol=1e-10, atol=1e-12)


def test_deeper_networks_merge_layer_by_layer():
    d1 = RNG.standard_normal(3)
    W1 = np.concatenate([np.outer([1.0, 2.0], d1), np.outer([0.5, 1.5, 1.0], -d1)])  # 2 clusters in 5 neurons
    d2 = RNG.standard_normal(6)
    W2 = np.outer([1.0, 3.0, 0.5, 2.0], d2)  # one cluster
    A = RNG.standard_normal((1, 5))
    spec = NetSpec(d=2, widths=(5, 4), d_out=1, acts=("relu", "relu"))
    params = {"hidden": [W1, W2], "out": A}
    small, small_spec, _ = reduce_network(params, spec, tol=0.999, min_norm=0.0)
    assert small_spec.widths == (2, 1)
    x = jnp.asarray(RNG.uniform(-2, 2, (40, 2)))
    np.testing.assert_allclose(forward(_jax(small), x, small_spec), forward(_jax(params), x, spec), rtol=1e-9, atol=1e-12)
    with pytest.raises(BadInput, match="residual"):
        reduce_network(params, NetSpec(d=2, widths=(5, 5), d_out=1, acts=("relu", "relu"), residual=True), 0.9)


def test_split_preserves_output_and_maps_gradients():
    spec = NetSpec(d=2, widths=(4,), d_out=1, acts=("tanh",))
    params = {"hidden": [RNG.standard_normal((4, 3))], "out": RNG.standard_normal((1, 5))}
    wide = split_neuron(params, 1, 2, ratio=0.3)
    wide_spec = NetSpec(d=2, widths=(5,), d_out=1, acts=("tanh",))
    x, y = jnp.asarray(RNG.standard_normal((30, 2))), jnp.asarray(RNG.standard_normal((30, 1)))
    np.testing.assert_allclose(forward(_jax(wide), x, wide_spec), forward(_jax(params), x, spec), rtol=1e-12)
    g = jax.grad(mse)(_jax(params), x, y, spec)
    gw = jax.grad(mse)(_jax(wide), x, y, wide_spec)
    np.testing.assert_allclose(gw["hidden"][0][2], 0.3 * g["hidden"][0][2], rtol=1e-10)
    np.testing.assert_allclose(gw["hidden"][0][4], 0.7 * g["hidden"][0][2], rtol=1e-10)
    gw, g = jax.tree.map(np.asarray, gw), jax.tree.map(np.asarray, g)
    np.testing.assert_allclose(gw["out"][0, [2, 4]], [g["out"][0, 2]] * 2, rtol=1e-10)
    np.testing.assert_allclose(gw["hidden"][0][[0, 1, 3]], g["hidden"][0][[0, 1, 3]], rtol=1e-10)


@pytest.mark.slow
def test_split_keeps_a_critical_point_critical():
    """A 2-neuron tanh network trained from near a teacher on noisy data reaches a critical point
    with loss > 0 (gradient < 1e-3, from ~1 at a random start); after splitting a neuron the wider network's gradient is as
    small, and its loss the same."""
    spec = NetSpec(d=1, widths=(2,), d_out=1, acts=("tanh",))
    x = jnp.linspace(-1, 1, 12)[:, None]
    teacher = {"hidden": [np.array([[1.5, 0.2], [-0.7, 0.5]])], "out": np.array([[1.0, -2.0, 0.1]])}
    y = forward(_jax(teacher), x, spec) + 0.05 * jnp.asarray(np.random.default_rng(7).standard_normal((12, 1)))
    grad = jax.grad(lambda q: mse(q, x, y, spec))
    step = lambda i, q: jax.tree.map(lambda a, b: a - 0.1 * b, q, grad(q))
    p = jax.jit(lambda q: jax.lax.fori_loop(0, 50000, step, q))(_jax(teacher))
    g_norm = float(jnp.sqrt(sum(jnp.sum(v ** 2) for v in jax.tree.leaves(grad(p)))))
    assert g_norm < 1e-3 and float(mse(p, x, y, spec)) > 1e-4
    wide = _jax(split_neuron(jax.tree.map(np.asarray, p), 1, 0, 0.5))
    wide_spec = NetSpec(d=1, widths=(3,), d_out=1, acts=("tanh",))
    gw = jax.grad(lambda q: mse(q, x, y, wide_spec))(wide)
    gw_norm = float(jnp.sqrt(sum(jnp.sum(v ** 2) for v in jax.tree.leaves(gw))))
    assert gw_norm <= 1.5 * g_norm + 1e-12
    assert float(mse(wide, x, y, wide_spec)) == pytest.approx(float(mse(p, x, y, spec)), rel=1e-12)


def test_cli_reduce_writes_a_run_every_command_accepts(tmp_path):
    run = tmp_path / "r.npz"
    res = runner.invoke(app, ["train", "--act", "relu", "--data", "relu-combo", "--width", "40", "--gamma", "4",
                              "--optimizer", "gd", "--lr", "0.1", "--steps", "3000", "--x64", "-q", "--out", str(run)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["reduce", str(run), "--json", "-q", "--finetune-steps", "50"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for key in ("width_before", "width_after", "loss_before", "loss_after", "out"):
        assert key in obj
    assert obj["width_before"] == 40 and obj["width_after"] < 10
    assert obj["loss_after"] == pytest.approx(obj["loss_before"], rel=0.05)
    res = runner.invoke(app, ["analyze", obj["out"], "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["layers"][0]["neurons"] == obj["width_after"]


def test_cli_reduce_refuses_what_it_cannot_justify(tmp_path):
    run = tmp_path / "wide.npz"
    res = runner.invoke(app, ["train", "--act", "relu", "--data", "sin5d", "--width", "30", "--init-std", "1",
                              "--steps", "5", "-q", "--out", str(run)])
    assert res.exit_code == 0
    res = runner.invoke(app, ["reduce", str(run), "--tol", "0.999", "--min-norm", "0", "-q"])
    assert res.exit_code == 1 and "not condensed" in res.stderr
    assert not (tmp_path / "wide_reduced.npz").exists()
    res = runner.invoke(app, ["reduce", str(run), "--seed-index", "3", "-q"])
    assert res.exit_code == 2 and "--seed-index 3 does not exist" in res.stderr


def test_reduce_run_validates_its_own_options():
    """The library refuses bad options itself (not only the command line)."""
    from condense_cli import TrainConfig, train
    from condense_cli.reduction import reduce_run

    run = train(TrainConfig(act="relu", data="sin1d", n=10, width=6, steps=5))
    for kw, match in (({"tol": 1.5}, "--tol must be a cosine"), ({"min_norm": 1.0}, "--min-norm"),
                      ({"finetune_steps": -1}, "--finetune-steps must be at least 0")):
        with pytest.raises(BadInput, match=match):
            reduce_run(run, **kw)


def test_the_readings_reduce_tries_run_from_coarse_to_fine():
    from condense_cli.reduction import COSINES, readings

    rungs = readings(None, 0.1, 0.01)
    assert rungs[0] == (None, 0.1) and rungs[-1] == (COSINES[-1], 0.0)
    cosines = [t for t, _ in rungs[1:-1]]
    assert cosines == sorted(cosines) and cosines[0] == 0.9  # the paper's reduction (NeurIPS 2021 Fig. 5) first
    assert readings(None, 0.0, 0.01)[-1] == (COSINES[-1], 0.0) and len(readings(None, 0.0, 0.01)) == len(rungs) - 1
    assert readings(0.95, 0.1, 0.01) == [(0.95, 0.1)]  # a fixed --tol: no search
    assert readings(None, 0.1, float("inf")) == [(None, 0.1)]  # no bound: the persistent reading


def test_the_relative_loss_change_and_its_json_at_zero_losses():
    from math import inf

    from condense_cli.reduction import Reduction, relative_change

    assert relative_change(2.0, 3.0) == 0.5 and relative_change(0.0, 0.0) == 0.0 and relative_change(0.0, 1e-9) == inf
    r = Reduction(width_before=5, width_after=2, loss_before=0.0, loss_after=1e-9, loss_finetuned=None, step=3, why="",
                  layers=[], run=None, reading="cosine 0.9", loss_tol=0.01,
                  tried=[{"reading": "cosine 0.9", "loss_change": inf}])
    j = r.to_json()
    assert j["loss_change"] is None and j["tried"][0]["loss_change"] is None and not j["within_loss_tol"]
    json.dumps(j, allow_nan=False)  # standard JSON: no NaN or Infinity tokens
    same = Reduction(width_before=5, width_after=2, loss_before=0.0, loss_after=0.0, loss_finetuned=None, step=3,
                     why="", layers=[], run=None)
    assert same.loss_change == 0.0 and same.within_loss_tol
