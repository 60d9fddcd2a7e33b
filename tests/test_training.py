"""Training core: shapes of the run arrays, loss decrease, determinism, seeds, stops and faults."""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from condense_cli import TrainConfig, train
from condense_cli.errors import BadInput
from condense_cli.nn.init import gamma_stds, init_params, phase_scales
from condense_cli.nn.models import NetSpec, forward
from condense_cli.training import record_steps


def test_run_arrays_follow_the_contract(tiny):
    cfg = dataclasses.replace(tiny, widths=(8, 5), seeds=2, record_every=20)
    r = train(cfg)
    S, T = 2, cfg.steps
    assert r.loss.shape == (S, T + 1)
    assert r.step.tolist() == [0, 20, 40, 60]
    assert r.hidden[0].shape == (S, 4, 8, 2)  # 1-d input + bias
    assert r.hidden[1].shape == (S, 4, 5, 9)  # fan-in 8 + bias
    assert r.out.shape == (S, 4, 1, 6)
    assert r.meta["status"] == "finished" and r.meta["steps_done"] == T
    assert r.meta["dtype"] == "float32" and r.hidden[0].dtype == np.float32


def test_loss_decreases_and_first_snapshot_is_the_initialization(tiny):
    r = train(dataclasses.replace(tiny, steps=200))
    assert r.loss[0, -1] < 0.5 * r.loss[0, 0]
    # the loss recorded at step 0 is the loss of the recorded step-0 weights
    spec = NetSpec(d=1, widths=(8,), d_out=1, acts=("tanh",))
    p0 = {"hidden": [jnp.asarray(r.hidden[0][0, 0])], "out": jnp.asarray(r.out[0, 0])}
    e = np.asarray(forward(p0, jnp.asarray(r.x, jnp.float32), spec)) - r.y
    assert r.loss[0, 0] == pytest.approx(0.5 * np.mean(e[:, 0] ** 2), rel=1e-5)


def test_gradient_descent_step_matches_hand_computation():
    # one GD step on f = a·tanh(w x + b) (m = 1, no output bias), checked against calculus
    cfg = TrainConfig(act="tanh", data="sin1d", n=5, width=1, steps=1, optimizer="gd", lr=0.1,
                      init_std=0.5, output_bias=False, record_every=1)
    r = train(cfg)
    w, b = r.hidden[0][0, 0, 0]
    a = r.out[0, 0, 0, 0]
    x, y = r.x[:, 0], r.y[:, 0]
    h = np.tanh(w * x + b)
    e = a * h - y
    ga = np.mean(e * h)
    gw = np.mean(e * a * (1 - h ** 2) * x)
    gb = np.mean(e * a * (1 - h ** 2))
    np.testing.assert_allclose(r.out[0, 1, 0, 0], a - 0.1 * ga, rtol=1e-5)
    np.testing.assert_allclose(r.hidden[0][0, 1, 0], [w - 0.1 * gw, b - 0.1 * gb], rtol=1e-5)
    assert r.out[0, 1, 0, 1] == 0.0  # no output bias: stays exactly 0


def test_same_seed_same_bits_and_seeds_are_independent_networks(tiny):
    a = train(dataclasses.replace(tiny, seeds=3))
    b = train(dataclasses.replace(tiny, seeds=3))
    for k, v in a.arrays().items():
        assert np.array_equal(v, b.arrays()[k]), k
    # network s of a multi-seed run is the single run with seed + s: the same initial bits, and
    # the same training up to float rounding (one network is run without the vmapped seed axis)
    single = train(dataclasses.replace(tiny, seed=2))
    np.testing.assert_array_equal(single.hidden[0][0, 0], a.hidden[0][2, 0])
    np.testing.assert_allclose(single.hidden[0][0], a.hidden[0][2], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(single.loss[0], a.loss[2], rtol=1e-4)
    assert not np.array_equal(a.hidden[0][0], a.hidden[0][1])


def test_gamma_sets_the_variance_reading():
    spec = NetSpec(d=5, widths=(50,), d_out=1, acts=("tanh",))
    stds = gamma_stds(spec, 4.0)
    assert stds == pytest.approx([50 ** -2, 50 ** -2])
    p = init_params(0, NetSpec(d=5, widths=(4000,), d_out=1, acts=("tanh",)), [0.01, 0.02])
    assert float(np.std(p["hidden"][0])) == pytest.approx(0.01, rel=0.03)
    assert float(np.std(p["out"])) == pytest.approx(0.02, rel=0.05)


def test_phase_scales_satisfy_kappa_and_kappa_prime():
    m, g, gp = 1000, 1.5, 0.25
    for split in ("unit-beta2", "unit-alpha", "balanced"):
        alpha, b1, b2 = phase_scales(g, gp, m, split)
        assert b1 * b2 / alpha == pytest.approx(m ** -g)
        assert b1 / b2 == pytest.approx(m ** -gp)


def test_record_schedules():
    T = 1000
    assert record_steps(TrainConfig(steps=T, record_every=300)).tolist() == [0, 300, 600, 900, 1000]
    assert record_steps(TrainConfig(steps=T)).tolist() == list(range(0, 1001, 10))
    log = record_steps(TrainConfig(steps=T, snapshots=5, log_spaced=True))
    assert log[0] == 0 and log[-1] == T and np.all(np.diff(log) > 0) and len(log) <= 5
    assert record_steps(TrainConfig(steps=10, snapshots=3)).tolist() == [0, 5, 10]


def test_snapshots_across_chunks_match_a_sparser_record(tiny, monkeypatch):
    """5,000 steps run as 3 chunks whose snapshot buffers are reused in turn (and copied while
    the next chunk computes): every step recorded must agree bit for bit with a run recording
    every 250 steps, and no snapshot repeats its predecessor across the chunk boundaries."""
    import condense_cli.training.schedule as training

    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.006)  # ~2,000 steps of this tiny net
    seen = []
    dense = train(dataclasses.replace(tiny, steps=5000, record_every=1), progress=lambda d, t: seen.append(d))
    sparse = train(dataclasses.replace(tiny, steps=5000, record_every=250))
    assert len(seen) == 3 and dense.step.tolist() == list(range(5001))
    np.testing.assert_array_equal(dense.loss, sparse.loss)
    for a, b in zip([*dense.hidden, dense.out], [*sparse.hidden, sparse.out]):
        np.testing.assert_array_equal(a[:, ::250], b)
    for end in seen[:-1]:  # the last step of a chunk and the first of the next: the weights move every step
        for t in (end, end + 1, end + 2):
            assert not np.array_equal(dense.hidden[0][:, t], dense.hidden[0][:, t - 1])


def test_chunks_last_about_a_quarter_second_and_buffers_stay_bounded():
    """The chunk plan: equal chunks of about CHUNK_SECONDS by the step estimate, at most a few
    steps computed past T, and fewer steps per chunk when every step's snapshot is large."""
    from condense_cli.training.schedule import CHUNK_SECONDS, SNAPSHOT_BUFFER_BYTES, chunk_plan

    rec = np.arange(0, 100001, 100)
    L, Kc = chunk_plan(100000, rec, 1e-4, 1000)  # ~2,500 steps of 0.1 ms in a quarter second
    chunks = -(-100001 // L)
    assert abs(L - 2500) < 0.05 * 2500 and Kc == -(-L // 100)
    assert 0 <= chunks * L - 100001 < chunks  # equal chunks: only a few steps past T
    L, _ = chunk_plan(100000, rec, 1e-3, 1000)
    assert abs(L * 1e-3 - CHUNK_SECONDS) < 0.01
    L, _ = chunk_plan(10, np.arange(11), 1e-6, 1000)  # a short run is one chunk
    assert L == 11
    every = np.arange(0, 100001)
    L, Kc = chunk_plan(100000, every, 1e-6, 10 * 2 ** 20)  # 10 MiB a snapshot, every step
    assert 2 * (Kc + 1) * 10 * 2 ** 20 <= SNAPSHOT_BUFFER_BYTES and L == Kc


def test_chunk_events_list_each_recorded_step_and_pass_once_in_its_chunk():
    """`chunk_inputs`: a chunk's events are its recorded steps and its full-batch passes, in
    order, each recorded step with its slot among the chunk's snapshots; rows are padded with
    step L, the scratch slot and no pass."""
    from condense_cli.training.schedule import chunk_inputs

    rec, passes, L, Kc = np.array([0, 5, 6, 11]), np.array([0, 3, 5, 6, 9, 11]), 4, 2
    steps, slots, takes = chunk_inputs(rec, passes, L, Kc, 3)
    assert steps.tolist() == [[0, 3], [1, 2], [1, 3]]  # steps 0 3 | 5 6 | 9 11
    assert slots.tolist() == [[0, 2], [0, 1], [2, 0]]
    assert takes.all()
    steps, slots, takes = chunk_inputs(rec, np.zeros(0, int), L, Kc, 3)  # full batch: recorded steps only
    assert steps.tolist() == [[0, 4], [1, 2], [3, 4]] and slots.tolist() == [[0, 2], [0, 1], [0, 2]]
    assert not takes.any()
    steps, slots, _ = chunk_inputs(np.array([0, 9]), np.zeros(0, int), L, Kc, 3)  # a chunk without events
    assert steps.tolist() == [[0], [4], [1]] and slots.tolist() == [[0], [2], [0]]
    # a chunk that is all events (every step recorded): every row lists all L steps, the others doing nothing
    steps, slots, takes = chunk_inputs(np.array([0, 1, 2, 3, 6]), np.array([0, 5]), L, 4, 2)
    assert steps.tolist() == [[0, 1, 2, 3]] * 2
    assert slots.tolist() == [[0, 1, 2, 3], [4, 4, 0, 4]] and takes.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]


def test_stop_at_loss_ratio_stops_at_the_first_step_below(tiny):
    r = train(dataclasses.replace(tiny, steps=2000, stop_at_loss_ratio=0.7, seeds=2))
    assert r.meta["status"] == "finished" and "stopped early as asked" in r.meta["reason"]
    stops = r.meta["stop_step"]
    for s in range(2):
        t = stops[s]
        ratio = r.loss[s, : t + 1] / r.loss[s, 0]
        assert ratio[-1] <= 0.7 and np.all(ratio[:-1] > 0.7)
    assert r.loss.shape[1] == max(stops) + 1
    assert r.step[-1] == max(stops)  # the final weights are recorded


def test_non_finite_loss_stops_and_keeps_the_finite_steps():
    cfg = TrainConfig(act="identity", data="sin5d", width=10, steps=400, optimizer="gd", lr=50.0,
                      init_std=0.5, record_every=1)
    r = train(cfg)
    assert r.meta["status"] == "stopped" and "non-finite" in r.meta["reason"]
    assert np.isfinite(r.loss).all()
    bad = r.meta["steps_done"] + 1
    assert bad < 400 and r.step[-1] == r.meta["steps_done"]
    assert all(np.isfinite(w).all() for w in r.hidden)


def test_interrupt_keeps_completed_chunks(tiny, monkeypatch):
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    import condense_cli.training.schedule as training

    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.006)  # chunks of ~2,000 steps
    r = train(dataclasses.replace(tiny, steps=6000, record_every=500), progress=progress)
    assert r.meta["status"] == "stopped" and r.meta["reason"] == "interrupted"
    assert r.loss.shape[1] == calls[-1] + 1 < 6001
    assert r.step[-1] <= calls[-1]


def test_sgd_minibatches_and_residual_network():
    r = train(TrainConfig(data="sin3d", n=20, widths=(6, 6, 6), residual=True, optimizer="sgd",
                          batch_size=5, lr=0.05, steps=100, init_std=0.1, act=("xtanh", "tanh", "sigmoid")))
    assert np.isfinite(r.loss).all() and r.loss[0, -1] < r.loss[0, 0]
    assert r.meta["activation"] == ["xtanh", "tanh", "sigmoid"] and r.meta["multiplicity"] == [2, 1, 1]
    # the residual forward adds the layer's input
    spec = NetSpec(d=1, widths=(3, 3), d_out=1, acts=("identity", "identity"), residual=True, output_bias=False)
    p = {"hidden": [jnp.zeros((3, 2)).at[:, 1].set(1.0), jnp.zeros((3, 4))],
         "out": jnp.array([[1.0, 1.0, 1.0, 0.0]])}
    assert float(forward(p, jnp.ones((1, 1)), spec)[0, 0]) == pytest.approx(3.0)


@pytest.mark.parametrize("change,match", [
    ({"width": 0}, "width must be at least 1"),
    ({"steps": 0}, "steps must be at least 1"),
    ({"lr": float("nan")}, "lr must be a positive"),
    ({"lr": -1.0}, "lr must be a positive"),
    ({"gamma": -2.0}, "gamma must be"),
    ({"init_std": float("nan")}, "^init_std must be"),  # from Python the message names the parameter
    ({"init_std": (1.0, 2.0, 3.0)}, "^init_std takes one value or 2"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'; choose one of: adam, gd, sgd"),
    ({"act": "swishy"}, "unknown activation"),
    ({"data": "moons"}, "unknown data set"),
    ({"act": ("tanh", "tanh")}, "2 activations given for 1 hidden layers"),
    ({"stop_at_loss_ratio": 1.5}, "^stop_at_loss_ratio must be in"),
    ({"batch_size": 4, "optimizer": "gd"}, "gd is full-batch gradient descent"),
    ({"dropout": 1.0}, "dropout must be in"),
])
def test_bad_configs_are_refused_before_any_work(tiny, change, match):
    with pytest.raises(BadInput, match=match):
        train(dataclasses.replace(tiny, **change))


def test_dropout_trains_stochastically_and_records_the_clean_loss(tiny):
    plain = train(tiny)
    drop = train(dataclasses.replace(tiny, dropout=0.5))
    again = train(dataclasses.replace(tiny, dropout=0.5))
    np.testing.assert_array_equal(drop.hidden[0], again.hidden[0])  # same seed, same masks
    assert drop.loss[0, 0] == plain.loss[0, 0]  # the recorded loss is evaluated without dropout
    assert not np.allclose(drop.hidden[0][0, -1], plain.hidden[0][0, -1])
    assert drop.meta["dropout"] == 0.5 and np.isfinite(drop.loss).all()
    # a rate of 0 is exactly the plain run
    np.testing.assert_array_equal(train(dataclasses.replace(tiny, dropout=0.0)).hidden[0], plain.hidden[0])


def test_dropout_mask_is_inverted_and_per_layer():
    spec = NetSpec(d=1, widths=(4000,), d_out=1, acts=("identity",), output_bias=False)
    p = {"hidden": [jnp.ones((4000, 2))], "out": jnp.ones((1, 4001)).at[0, -1].set(0.0)}
    x = jnp.ones((1, 1))
    clean = float(forward(p, x, spec)[0, 0])
    noisy = float(forward(p, x, spec, dropout=0.25, key=jax.random.PRNGKey(0))[0, 0])
    assert clean == pytest.approx(8000.0)
    assert noisy == pytest.approx(clean, rel=0.05)  # the mean is kept by the 1/(1 − r) scale
    assert noisy != clean


def test_sgd_epochs_reshuffle_inside_the_compiled_step():
    """Minibatches come from a permutation of the data carried in the state and redrawn at each
    epoch's first step (n = 12, batch 4: epochs of 3 steps)."""
    from condense_cli.training import prepare
    from condense_cli.training.programs import programs

    cfg = TrainConfig(act="tanh", data="sin1d", n=12, width=3, optimizer="sgd", batch_size=4, lr=0.01, steps=6)
    ds, spec, stds = prepare(cfg)
    init, buffer, run_chunk = programs(spec, "sgd", 4, 1, 3, 3, "float32", 0.0, "mse", 12)
    x, y = jnp.asarray(ds.x, jnp.float32), jnp.asarray(ds.y, jnp.float32)
    hyper = {"T": jnp.int32(6), "lr": jnp.float32(0.01), "ratio": jnp.float32(-np.inf)}
    st = init([0], stds)
    perms = []
    for t0 in (0, 3):  # one chunk of 3 steps per epoch
        events = np.arange(3, dtype=np.int32)  # every step an event, writing slot i; a pass only at the first
        st, (loss, step_loss, _, _), _ = run_chunk(st, buffer(), x, y, hyper, jnp.int32(t0), events, events,
                                                   np.array([True, False, False]))
        perms.append(np.asarray(st["perm"][0]))
        assert np.isfinite(np.asarray(step_loss)).all()
        # the full-batch loss is taken only where asked (a pass over all data), NaN elsewhere
        assert np.isfinite(np.asarray(loss)[0]).all() and np.isnan(np.asarray(loss)[1:]).all()
    assert all(sorted(p.tolist()) == list(range(12)) for p in perms)
    assert not np.array_equal(perms[0], perms[1])
    r = train(cfg)
    assert r.loss[0, -1] < r.loss[0, 0]


def test_x64_stays_inside_the_run_and_leaves_jax_as_it_was(tiny):
    before = jax.config.jax_enable_x64
    r = train(dataclasses.replace(tiny, x64=True, steps=5))
    assert r.hidden[0].dtype == np.float64 and r.meta["dtype"] == "float64"
    assert jax.config.jax_enable_x64 == before and jnp.zeros(1).dtype == jnp.float32
    assert train(dataclasses.replace(tiny, steps=5)).hidden[0].dtype == np.float32


def test_optimizer_state_comes_from_the_optimizers_own_init(tiny):
    import optax

    from condense_cli.training import prepare
    from condense_cli.training.programs import programs

    ds, spec, stds = prepare(tiny)
    init, _, _ = programs(spec, "adam", None, 2, 10, 2, "float32", 0.0, "mse", 0, False)
    state = init([0, 1], stds)
    one = jax.tree.map(lambda a: a[0], state["params"])
    expected = optax.adam(1.0).init(one)
    got = jax.tree.map(lambda a: a[0], state["opt"])
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_config_read_back_from_meta():
    from condense_cli.training import TrainConfig

    for cfg in (TrainConfig(), TrainConfig(act=("x2tanh", "tanh"), widths=(8, 6), init_std=(1.0, 0.1, 0.01), seeds=2),
                TrainConfig(optimizer="sgd", batch_size=4, gamma=2.0, dropout=0.2)):
        back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert back.to_dict() == cfg.to_dict()


def test_train_cli_defaults_equal_the_config_defaults():
    import inspect

    from condense_cli.cli.train import train_cmd
    from condense_cli.training import TrainConfig

    params = inspect.signature(train_cmd).parameters
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    shared = [name for name in params if name in fields]
    assert len(shared) >= 25
    for name in shared:
        if name in ("lr", "depth", "steps"):  # None on the command line: each engine's config default applies
            assert params[name].default is None and fields[name] is not None, name
            continue
        assert params[name].default == fields[name], name


def test_condense_train_without_options_trains_the_default_config(monkeypatch):
    """What `condense train` trains when given nothing is `TrainConfig()` (depth, steps and lr
    included, which the command leaves to the config), and an option given replaces its field."""
    from typer.testing import CliRunner

    import condense_cli.training as training
    from condense_cli.cli import app
    from condense_cli.training import TrainConfig

    seen = []

    def capture(config, *args, **kwargs):
        seen.append(config)
        raise KeyboardInterrupt  # nothing to train: the config is what is checked

    monkeypatch.setattr(training, "train", capture)
    for extra, want in (([], TrainConfig()), (["--depth", "2", "--steps", "7", "--lr", "0.01"],
                                              TrainConfig(depth=2, steps=7, lr=0.01))):
        res = CliRunner().invoke(app, ["train", *extra, "-q", "--out", "unused.npz"])
        assert res.exit_code == 130, res.output
        got = seen[-1]  # the command gives the activations as a tuple, one name per layer
        assert got.activation_names() == want.activation_names()
        assert dataclasses.replace(got, act=want.act) == want


def test_one_failing_seed_is_frozen_and_the_others_finish(tiny, monkeypatch):
    """Four seeds, a NaN forced into seed 2's output weights: its loss is NaN from step 0. It is
    frozen (its weights never change again) and reported; the other three train exactly as they
    do without it."""
    import condense_cli.training.loop as loop

    real = loop._start_state

    def poisoned(state, *args):
        state = real(state, *args)
        state["params"]["out"][2, 0, 0] = np.nan
        return state

    cfg = dataclasses.replace(tiny, seeds=4, steps=50, record_every=10)
    clean = train(cfg)
    monkeypatch.setattr(loop, "_start_state", poisoned)
    r = train(cfg)
    assert r.meta["status"] == "finished" and r.step[-1] == 50
    assert [f["seed"] for f in r.meta["failed_seeds"]] == [cfg.seed + 2] and r.meta["failed_seeds"][0]["step"] == 0
    for s in (0, 1, 3):  # the others: bit for bit the run without the poisoned seed
        np.testing.assert_array_equal(r.loss[s], clean.loss[s])
        np.testing.assert_array_equal(r.hidden[0][s], clean.hidden[0][s])
    frozen = r.hidden[0][2]
    assert np.isfinite(frozen).all() and (frozen == frozen[0]).all()  # never moved
    assert np.isnan(r.out[2, :, 0, 0]).all() and np.isnan(r.loss[2]).all()  # reported as it is, not hidden
    assert np.isfinite(r.loss[[0, 1, 3]]).all()
    assert clean.meta["failed_seeds"] == []


def test_every_seed_failing_stops_the_run(tiny):
    r = train(dataclasses.replace(tiny, seeds=2, lr=1e30, optimizer="gd", steps=50))
    assert r.meta["status"] == "stopped" and "non-finite" in r.meta["reason"]
    assert len(r.meta["failed_seeds"]) == 2 and np.isfinite(r.loss).all()


@pytest.mark.slow
def test_seeds_sharded_over_two_devices_equal_one_device(tmp_path):
    """`train --seeds 4` splits the CPU into one device per core and shards the seeds over them;
    the networks are those of an unsharded run up to float32 rounding (the two programs fuse
    differently; gradient descent, since Adam's normalized steps blow a rounding of 1e-7 up to
    1e-4 on weights near 0 within 200 steps)."""
    import json
    import os
    import subprocess
    import sys

    args = ["train", "--data", "sin1d", "--n", "12", "--width", "16", "--steps", "200", "--seeds", "4",
            "--init-std", "0.1", "--optimizer", "gd", "--lr", "0.2", "-q"]
    env = {**os.environ, "CONDENSE_CACHE_DIR": "off"}
    runs = {}
    for name, flags in (("one", "--xla_force_host_platform_device_count=1"),
                        ("two", "--xla_force_host_platform_device_count=2")):
        out = tmp_path / f"{name}.npz"
        subprocess.run([sys.executable, "-c", "from condense_cli.cli import main; main()", *args, "--out", str(out)],
                       check=True, env={**env, "XLA_FLAGS": flags}, capture_output=True)
        with np.load(out, allow_pickle=False) as f:
            runs[name] = ({k: f[k] for k in f.files if k != "meta"}, json.loads(str(f["meta"])))
    assert runs["one"][1]["seed_devices"] == 1 and runs["two"][1]["seed_devices"] == 2
    for k, v in runs["one"][0].items():
        np.testing.assert_allclose(runs["two"][0][k], v, rtol=1e-4, atol=1e-6, err_msg=k)
    assert not np.allclose(runs["two"][0]["w1"][0], runs["two"][0]["w1"][1])  # still four different networks


def test_adam_on_minibatches_learns():
    r = train(TrainConfig(act="tanh", data="sin1d", n=40, width=10, optimizer="adam", batch_size=8, lr=1e-2,
                          steps=300, record_every=50, init_std=0.3))
    assert r.batch_loss is not None and r.batch_loss.shape == (1, 301)
    assert r.loss[0, -1] < 0.5 * r.loss[0, 0]


def test_the_shared_chunk_loop_pipelines_stops_and_keeps_finished_chunks_on_ctrl_c():
    """`host.drive`, the chunk loop of both engines: a pipelined engine launches chunk c+1 before it
    absorbs chunk c; a stop ends the loop after the chunk that asked; Ctrl-C keeps what was absorbed
    and fails only when nothing was."""
    from condense_cli.errors import RunFailure
    from condense_cli.training.host import Ending, drive

    def engine(stop_at=None, interrupt_at=None):
        log, seen = [], []

        def launch(c, state):
            log.append(("launch", c, state))
            return c, state + 1

        def absorb(c, pending):
            if c == interrupt_at:
                raise KeyboardInterrupt
            log.append(("absorb", c))
            return pending[1], 10 * (c + 1), c == stop_at

        return log, seen, launch, absorb

    log, seen, launch, absorb = engine()
    ending = Ending()
    assert drive(3, 0, launch, absorb, ending, lambda p, t: seen.append((p, t)), 30, state_of=lambda p: p[1]) == 3
    assert log == [("launch", 0, 0), ("launch", 1, 1), ("absorb", 0), ("launch", 2, 2), ("absorb", 1), ("absorb", 2)]
    assert seen == [(10, 30), (20, 30), (30, 30)] and ending.status == "finished"
    log, seen, launch, absorb = engine(stop_at=1)
    assert drive(4, 0, launch, absorb, Ending(), None, 40, state_of=lambda p: p[1]) == 2
    assert log == [("launch", 0, 0), ("launch", 1, 1), ("absorb", 0), ("launch", 2, 2), ("absorb", 1)]  # 2 dropped
    log, seen, launch, absorb = engine(stop_at=1)
    assert drive(4, 0, launch, absorb, Ending(), None, 40) == 2  # not pipelined: launch after absorb
    assert log == [("launch", 0, 0), ("absorb", 0), ("launch", 1, 1), ("absorb", 1)]
    log, seen, launch, absorb = engine(interrupt_at=2)
    ending = Ending()
    assert drive(4, 0, launch, absorb, ending, None, 40) == 2 and (ending.status, ending.reason) == ("stopped", "interrupted")
    log, seen, launch, absorb = engine(interrupt_at=0)
    with pytest.raises(RunFailure, match="interrupted before the first chunk"):
        drive(4, 0, launch, absorb, Ending(), None, 40)
