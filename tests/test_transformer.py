"""The anchor-function task and its transformer (issue 11, first part): the data generator against
the task's rules, the causal mask, the initialization's standard deviations, a tiny model that
learns a single-anchor task, and bad configurations."""
import numpy as np
import pytest

from condense_cli.data.anchors import SEQ, SHIFT, TRAINED, AnchorData, make_anchors
from condense_cli.errors import BadInput
from condense_cli.transformer.training import TransformerConfig, train_transformer


def _key_and_pos(x, pairs):
    """The key and its position in each sequence: the token right before the two anchors."""
    keys, positions = [], []
    for row, (a, b) in zip(x, pairs):
        hits = [p for p in range(SEQ - 2) if row[p + 1] == a and row[p + 2] == b and 20 <= row[p] < 100]
        # noise can mimic the pattern only with tokens 20..99, never 1..4: the anchors sit at exactly one place
        assert len(hits) == 1
        keys.append(row[hits[0]])
        positions.append(hits[0])
    return np.array(keys), np.array(positions)


def test_the_data_follow_the_task_rules():
    d = make_anchors(3000, seed=1)
    assert d.x_train.shape == (3000, SEQ) and d.x_train.dtype == np.int32
    pairs = {tuple(p) for p in d.pair_train}
    assert pairs == set(TRAINED) and (4, 3) not in pairs  # every trained pair, never (4, 3)
    key, pos = _key_and_pos(d.x_train, d.pair_train)
    assert np.all(key % SEQ != pos)  # training keys: key mod 9 ≠ position
    for (a, b), k, y in zip(d.pair_train, key, d.y_train):
        assert y == (k - 6 if (a, b) == (3, 4) else k + SHIFT[a] + SHIFT[b])
    key_id, pos_id = _key_and_pos(d.x_id, d.pair_id)
    assert np.all(key_id % SEQ == pos_id) and {tuple(p) for p in d.pair_id} == set(TRAINED)
    key_ood, _ = _key_and_pos(d.x_ood, np.tile([4, 3], (len(d.x_ood), 1)))
    assert np.array_equal(key_ood, d.key_ood)
    for x in (d.x_train, d.x_id, d.x_ood):  # tokens: noise and keys 20..99, anchors 1..4
        assert x.min() >= 1 and x.max() < 100 and not np.isin(x, np.arange(5, 20)).any()
    assert d.y_train.min() >= 4 and d.y_train.max() <= 109 < d.vocab
    again = make_anchors(3000, seed=1)
    assert np.array_equal(again.x_train, d.x_train) and not np.array_equal(make_anchors(3000, 2).x_train, d.x_train)


def test_bad_task_sizes_are_one_line():
    with pytest.raises(BadInput, match="cannot hold every trained anchor pair"):
        make_anchors(14)
    with pytest.raises(BadInput, match="cannot hold every target"):
        make_anchors(100, vocab=100)


@pytest.mark.slow
def test_attention_is_causal():
    import jax.numpy as jnp
    from flax import nnx

    from condense_cli.transformer import AnchorTransformer, TransformerSpec

    model = AnchorTransformer(TransformerSpec(d_model=16, depth=2, heads=2, gamma=0.3), nnx.Rngs(0))
    x = jnp.asarray(make_anchors(20, 0).x_train[:4])
    changed = x.at[:, 6].set(99 - x[:, 6] + 20)  # a later token changes ...
    a, b = np.asarray(model.states(x)), np.asarray(model.states(changed))
    np.testing.assert_allclose(a[:, :6], b[:, :6], rtol=1e-6, atol=1e-6)  # ... earlier positions do not
    assert not np.allclose(a[:, 6:], b[:, 6:])


def test_networks_drawn_in_one_program_have_the_numbers_of_networks_drawn_op_by_op():
    """`draw_parameters` (one jitted, vmapped draw) gives every seed's parameters bit for bit as
    `AnchorTransformer(spec, nnx.Rngs(seed))` drawn eagerly, also where the scale d_in^−γ is not a
    power of two (without the barrier in `_normal`, XLA folds it into the normal's constants)."""
    import jax
    from flax import nnx

    from condense_cli.transformer.model import AnchorTransformer, TransformerSpec, draw_parameters

    spec = TransformerSpec(d_model=24, depth=2, heads=3, d_ff=40, gamma=0.7)
    drawn = draw_parameters(spec, [4, 9])
    for i, seed in enumerate([4, 9]):
        eager = nnx.state(AnchorTransformer(spec, nnx.Rngs(seed)), nnx.Param)
        for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(eager), jax.tree.leaves(drawn)):
            assert np.array_equal(np.asarray(a), np.asarray(b)[i]), (seed, jax.tree_util.keystr(path))


@pytest.mark.parametrize("gamma", [0.3, 0.8])
def test_initialization_standard_deviations(gamma):
    from flax import nnx

    from condense_cli.transformer import AnchorTransformer, TransformerSpec

    spec = TransformerSpec(d_model=64, depth=1, heads=2, d_ff=256, gamma=gamma)
    m = AnchorTransformer(spec, nnx.Rngs(3))
    block = m.blocks[0]
    expected = {"tok": (m.tok.embedding, 64), "pos": (m.pos.embedding, 64), "q": (block.q.kernel, 64),
                "o": (block.o.kernel, 2 * spec.dk), "f1": (block.f1.kernel, 64), "f2": (block.f2.kernel, 256),
                "out": (m.out.kernel, 64)}
    for name, (w, d_in) in expected.items():
        values = np.asarray(w[...]).ravel()
        # the sample std of N values is within 5 standard errors (std / sqrt(2N)) of the true one
        assert np.std(values) == pytest.approx(d_in ** -gamma, rel=5 / np.sqrt(2 * values.size)), name
    assert np.all(np.asarray(m.out.bias[...]) == 0)


@pytest.mark.slow
def test_a_tiny_transformer_learns_a_single_anchor_task():
    from condense_cli.transformer.training import TransformerConfig, train_transformer

    def single_anchor(n, seed):  # the key, then anchor 1 at the last position: the answer is key + 5
        rng = np.random.default_rng(seed)
        x = rng.integers(20, 100, size=(n, SEQ)).astype(np.int32)
        key = rng.integers(20, 100, size=n)
        x[:, 7], x[:, 8] = key, 1
        return x, (key + 5).astype(np.int32), key.astype(np.int32)

    x, y, _ = single_anchor(2000, 0)
    xt, yt, kt = single_anchor(300, 1)
    ones = lambda k: np.ones((k, 2), np.int32)  # noqa: E731
    data = AnchorData(x, y, ones(len(x)), xt, yt, ones(len(xt)), xt, kt, 201, {"name": "single anchor"})
    r = train_transformer(TransformerConfig(d_model=32, depth=1, n=2000, steps=400, batch_size=64, lr=3e-3,
                                            record_every=100), data)
    assert r.step.tolist() == [0, 100, 200, 300, 400]
    assert r.train_acc[0, 0] < 0.05 and r.train_acc[0, -1] > 0.95  # from chance to the rule
    assert r.id_acc[0, -1] > 0.95  # on sequences it never saw
    assert r.batch_loss.shape == (1, 400) and r.batch_loss[0, -50:].mean() < 0.1 * r.batch_loss[0, :10].mean()
    assert r.matrices["wq1"].shape == (1, 5, 16, 32) and r.matrices["embedding"].shape == (1, 5, 201, 32)


def test_bad_transformer_configs():
    from condense_cli.transformer.training import TransformerConfig, train_transformer

    with pytest.raises(BadInput, match="not divisible by --heads"):
        TransformerConfig(d_model=10, heads=3).validate()
    with pytest.raises(BadInput, match="--gamma"):
        TransformerConfig(gamma=-1).validate()
    with pytest.raises(BadInput, match="exceeds the 100 training sequences"):
        train_transformer(TransformerConfig(n=100, batch_size=256))


@pytest.mark.slow
def test_cli_trains_writes_and_analyzes_a_transformer_run(tmp_path):
    import json

    from typer.testing import CliRunner

    from condense_cli.cli import app
    from condense_cli.transformer.runfile import load_transformer_run

    runner = CliRunner()
    out = tmp_path / "tr.npz"
    res = runner.invoke(app, ["train", "--arch", "transformer", "--data", "anchors", "--n", "600", "--d-model", "16",
                              "--depth", "2", "--heads", "2", "--steps", "40", "--record-every", "20", "--seeds", "2",
                              "--batch-size", "32", "--gamma", "0.8", "-q", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for key in ("train_acc", "id_acc", "ood_inferential", "ood_symmetric"):
        assert len(obj[key]) == 2 and all(0 <= v <= 1 for v in obj[key])
    with np.load(out, allow_pickle=False) as f:  # plain arrays: the three sets' tokens and targets
        meta = json.loads(str(f["meta"]))
        assert meta["schema"] == "condense.transformer/1" and meta["config"]["gamma"] == 0.8
        assert f["x_train"].shape == (600, 9) and f["y_train"].shape == (600,) and f["x_ood"].shape[1] == 9
        # W^Q: d_model / 2 rows in all (the authors' d_k = d_model / 2), split over the 2 heads
        assert f["m_wq1"].shape == (2, 3, 8, 16) and f["m_wq2"].shape == (2, 3, 8, 16)
    run = load_transformer_run(out)
    assert run.train_acc.shape == (2, 3) and "d_in^-gamma" in run.meta["init"]
    import condense_cli as cc
    from condense_cli import transformer
    from condense_cli.errors import BadInput

    with pytest.raises(BadInput, match="is a transformer run: analyze it with condense_cli.transformer.analyze"):
        cc.analyze(out)
    assert transformer.analyze(run, at=20, names=["wq1"])["step"] == 20  # the CLI's options, as keywords
    for bad, message in ((dict(at_loss_ratio=0.5), "^at_loss_ratio does not apply"),
                         (dict(fit_tol=0.1), "^fit_tol does not apply"), (dict(layers=(1,)), "names=\\[...\\]"),
                         (dict(names=["wq9"]), "^names wq9 is not a recorded matrix"),
                         (dict(options=3), "must be an AnalysisOptions")):
        with pytest.raises(BadInput, match=message):
            transformer.analyze(run, **bad)
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--out-dir", str(tmp_path / "an")])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["step"] == 40 and len(rep["seeds"]) == 2
    wq = rep["seeds"][0]["matrices"]["wq1"]
    assert wq["rows"] == 8 and isinstance(wq["condensed"], bool) and 1 <= wq["stable_rank"] <= 8
    assert (tmp_path / "an" / "tr_cosine_wq1.png").exists() and (tmp_path / "an" / "tr_accuracy.png").exists()
    # --at, --layer and --tol are honoured; what applies only to dense runs is refused in one line
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--no-figures", "--out-dir", str(tmp_path / "b"),
                              "--at", "20", "--layer", "wq1", "--tol", "0.9"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["step"] == 20 and list(rep["seeds"][0]["matrices"]) == ["wq1"]
    assert rep["seeds"][1]["id_acc"] == pytest.approx(float(run.id_acc[1, 1]))
    # the clustering options are honoured too: no cluster holds 90 % of W^Q's 8 rows unless they all condensed
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--no-figures", "--out-dir", str(tmp_path / "b"),
                              "--layer", "wq1", "--min-share", "0.9"])
    assert res.exit_code == 0, res.output
    assert all(e["matrices"]["wq1"]["directions"] <= 1 for e in json.loads(res.stdout)["seeds"])
    for args, message in ((["--at", "30"], "step 30 was not recorded"), (["--layer", "wq9"], "not a recorded matrix"),
                          (["--at", "most-condensed"], "reads the initial stage"),
                          (["--at", "initial"], "reads the initial stage"), (["--act", "tanh"], "does not apply"),
                          (["--fit-tol", "0.1"], "--fit-tol does not apply"),
                          (["--no-model-rank"], "--no-model-rank does not apply"),
                          (["--rank-points", "10"], "--rank-points does not apply"),
                          (["--tol", "2"], "must be a cosine")):
        res = runner.invoke(app, ["analyze", str(out), "-q", "--no-figures", "--out-dir", str(tmp_path / "c"), *args])
        assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output


@pytest.mark.parametrize("args,message", [
    (["--data", "anchors"], "--data anchors needs --arch transformer"),
    (["--arch", "transformer", "--data", "sin5d"], "trains on --data anchors only"),
    (["--arch", "transformer", "--data", "anchors", "--d-model", "10", "--heads", "3"], "not divisible by --heads"),
    (["--arch", "transformer", "--data", "anchors", "--n", "10"], "cannot hold every trained anchor pair"),
    (["--arch", "transformer", "--data", "anchors", "--vocab", "100"], "cannot hold every target"),
    (["--arch", "transformer", "--data", "anchors", "--full-size"], "--steps does not apply with --full-size"),
    (["--d-model", "16"], "--d-model applies to --arch transformer"),
    (["--arch", "cnn", "--data", "digits", "--warmup", "0.1"], "--warmup applies to --arch transformer"),
    (["--arch", "transformer", "--data", "anchors", "--width", "10"], "--width does not apply to --arch transformer"),
    (["--arch", "transformer", "--data", "anchors", "--no-output-bias"], "--no-output-bias does not apply"),
    (["--arch", "transformer", "--data", "sin5d", "--width", "5"], "trains on --data anchors only"),  # checked first
])
def test_cli_bad_transformer_input_is_one_line(tmp_path, args, message):
    from typer.testing import CliRunner

    from condense_cli.cli import app

    out = tmp_path / "r.npz"
    res = CliRunner().invoke(app, ["train", *args, "--steps", "5", "--batch-size", "4", "-q", "--out", str(out)])
    assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output
    assert not out.exists()


def test_the_cli_trains_the_transformer_the_python_api_would(tmp_path, monkeypatch):
    """`condense train --arch transformer` without options trains `transformer.Config()` (its
    defaults, defined once: depth 2, 3,000 steps, not the dense runs' --depth 1 and --steps 1000);
    the options given replace just those fields."""
    from typer.testing import CliRunner

    from condense_cli import transformer
    from condense_cli.cli import app
    from condense_cli.transformer import training

    seen = []

    def capture(config, *args, **kwargs):
        seen.append(config)
        raise KeyboardInterrupt  # nothing to train: the config is what is checked

    monkeypatch.setattr(training, "train_transformer", capture)
    for extra, want in (([], transformer.Config()),
                        (["--depth", "1", "--steps", "40", "--d-model", "16"], transformer.Config(depth=1, steps=40, d_model=16))):
        res = CliRunner().invoke(app, ["train", "--arch", "transformer", "--data", "anchors", *extra, "-q",
                                       "--out", str(tmp_path / "r.npz")])
        assert res.exit_code == 130, res.output
        assert seen[-1] == want


def test_python_errors_name_the_parameter():
    """From Python, the transformer, the phase diagram and the reproductions name their own
    parameters (not the CLI's flags), and an unknown figure is one BadInput."""
    import condense_cli as cc
    from condense_cli import transformer
    from condense_cli.errors import BadInput

    with pytest.raises(BadInput, match=r"^warmup must be a share"):
        transformer.train(transformer.Config(warmup=2.0))
    with pytest.raises(BadInput, match=r"^tol must be a non-negative"):
        cc.phase_diagram(tol=-1)
    with pytest.raises(BadInput, match=r"unknown figure 'nosuch'; choose one of: ic-fig2"):
        cc.reproduce("nosuch")


@pytest.mark.slow
def test_a_broken_transformer_run_file_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from condense_cli import io
    from condense_cli.cli import app
    from condense_cli.transformer.runfile import save_transformer_run
    from condense_cli.transformer.training import TransformerConfig, train_transformer

    r = train_transformer(TransformerConfig(n=300, d_model=8, depth=1, steps=4, batch_size=16, record_every=2))
    good = tmp_path / "good.npz"
    save_transformer_run(good, r)
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != "meta"}
        import json
        meta = json.loads(str(f["meta"]))
    arrays["id_acc"] = arrays["id_acc"][:, :1]
    io.save_npz(tmp_path / "bad.npz", arrays, meta)
    res = CliRunner().invoke(app, ["analyze", str(tmp_path / "bad.npz"), "-q", "--no-figures"])
    assert res.exit_code == 2 and "id_acc has shape" in res.stderr and "Traceback" not in res.output


def test_the_full_size_preset_is_the_papers():
    from condense_cli.transformer.training import TransformerConfig

    c = TransformerConfig.paper(depth=2, gamma=0.8)
    assert (c.d_model, c.d_ff, c.spec().dk, c.n, c.batch_size, c.lr) == (400, 1200, 200, 810000, 2048, 2.5e-4)
    assert c.steps == 210 * (810000 // 2048) and c.warmup * 210 == pytest.approx(10)
    assert (c.depth, c.gamma) == (2, 0.8)


def test_the_learning_rate_schedule_is_the_reference_loops():
    """Linear warm-up from 4 % of the peak over the warm-up share, then cosine back to 4 % (the
    LambdaLR schedule of the PyTorch reference loop, written out below), within float32 rounding."""
    import math

    from condense_cli.transformer.training import TransformerConfig, learning_rate

    c = TransformerConfig(steps=1000, lr=1e-3, warmup=0.05)
    lr, w = learning_rate(c), 50
    for t in (0, 10, 49, 50, 300, 999):
        ref = (0.04 + 0.96 * t / w) if t < w else 0.04 + 0.96 * 0.5 * (1 + math.cos(math.pi * (t - w) / (1000 - w)))
        assert float(lr(t)) == pytest.approx(1e-3 * ref, rel=1e-5), t


# ----------------------------------------------------------------------------- the shared host loop


TINY = dict(n=300, d_model=8, depth=1, steps=12, batch_size=16, record_every=3, seeds=2)


def test_an_interrupted_transformer_run_keeps_its_finished_chunks():
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 3:  # after the snapshots at steps 0, 3 and 6
            raise KeyboardInterrupt

    r = train_transformer(TransformerConfig(**TINY), progress=progress)
    assert r.step.tolist() == [0, 3, 6]
    assert r.meta["status"] == "stopped" and r.meta["reason"] == "interrupted" and r.meta["steps_done"] == 6
    assert r.batch_loss.shape == (2, 6) and np.isfinite(r.batch_loss).all()
    assert all(m.shape[:2] == (2, 3) for m in r.matrices.values()) and r.train_acc.shape == (2, 3)
    full = train_transformer(TransformerConfig(**TINY))  # the kept steps are the uninterrupted run's
    np.testing.assert_array_equal(r.batch_loss, full.batch_loss[:, :6])
    for k in r.matrices:
        np.testing.assert_array_equal(r.matrices[k], full.matrices[k][:, :3])
    assert full.meta["status"] == "finished" and full.meta["failed_seeds"] == [] and full.meta["steps_done"] == 12


def test_the_shared_ending_of_a_run():
    from condense_cli.errors import RunFailure
    from condense_cli.training.host import FAILED_SEED, Ending, evenly_recorded

    with pytest.raises(RunFailure, match="nothing to keep"):
        Ending().interrupted(0)
    e = Ending()
    assert not e.seeds_failed([-1, 4]) and e.status == "finished"
    assert e.failed_seeds([7, 8]) == [{"seed": 8, "step": 4, "reason": FAILED_SEED}]
    assert e.seeds_failed([2, 4]) and e.status == "stopped" and e.reason == "loss became non-finite at step 4"
    assert evenly_recorded(10, 4).tolist() == [0, 4, 8, 10] and evenly_recorded(8, 4).tolist() == [0, 4, 8]


def _poisoned(monkeypatch, which):
    """Make the networks drawn for seeds `which` (0-based) carry a NaN weight from the start."""
    from condense_cli.transformer import model as model_mod

    original = model_mod.draw_parameters

    def poisoned(spec, seeds):
        params = original(spec, seeds)
        kernel = params["out"]["kernel"]
        for s in which:
            kernel[...] = kernel[...].at[s, 0, 0].set(np.nan)
        return params

    monkeypatch.setattr(model_mod, "draw_parameters", poisoned)


def test_a_non_finite_loss_stops_one_seed_and_not_the_others(monkeypatch):
    _poisoned(monkeypatch, {1})
    r = train_transformer(TransformerConfig(**TINY))
    assert r.meta["status"] == "finished" and r.step.tolist() == [0, 3, 6, 9, 12]
    assert [(f["seed"], f["step"]) for f in r.meta["failed_seeds"]] == [(1, 0)]
    assert np.isfinite(r.batch_loss[0]).all() and np.isnan(r.batch_loss[1]).all()


def test_when_every_seed_failed_the_run_stops_and_keeps_what_it_has(monkeypatch):
    _poisoned(monkeypatch, {0, 1})
    r = train_transformer(TransformerConfig(**TINY))
    assert r.meta["status"] == "stopped" and r.meta["reason"] == "loss became non-finite at step 0"
    assert r.step.tolist() == [0, 3]  # the chunk in which both failed is the last
