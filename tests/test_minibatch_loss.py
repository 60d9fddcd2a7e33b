"""Minibatch runs (run file /3): the full-batch loss only at the loss steps (snapshots, every
--loss-every k steps, T), the minibatch loss of every step, and every consumer still working."""
import json

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli import TrainConfig, io, train
from condense_cli import run as runfile
from condense_cli.cli import app
from condense_cli.nn.models import LOSSES
from condense_cli.run import network

runner = CliRunner()
MINI = TrainConfig(act="tanh", data="sin1d", n=40, width=6, optimizer="sgd", batch_size=8, lr=0.05, steps=30,
                   record_every=10, init_std=0.5, seeds=2)


@pytest.mark.slow
def test_full_batch_loss_at_the_loss_steps_equals_a_recomputation_from_the_recorded_weights():
    r = train(MINI)
    assert r.meta["schema"] == "condense.run/3"
    assert r.loss_step.tolist() == [0, 10, 20, 30] and r.step.tolist() == [0, 10, 20, 30]
    assert r.loss.shape == (2, 4) and r.batch_loss.shape == (2, 31) and np.isfinite(r.batch_loss).all()
    for s in range(2):
        for k, t in enumerate(r.step):
            params, spec = network(r, s, k)
            full = float(LOSSES["mse"](params, jnp.asarray(r.x, jnp.float32), jnp.asarray(r.y, jnp.float32), spec))
            assert r.loss[s, list(r.loss_step).index(t)] == pytest.approx(full, rel=1e-5)
    # a batch of 8 of 40 points is not the full batch: the two records differ
    assert not np.allclose(r.batch_loss[:, r.loss_step], r.loss)
    # --loss-every adds steps between snapshots; the training itself is the same
    more = train(TrainConfig(**{**MINI.__dict__, "loss_every": 4}))
    assert more.loss_step.tolist() == [0, 4, 8, 10, 12, 16, 20, 24, 28, 30]
    np.testing.assert_array_equal(more.hidden[0], r.hidden[0])
    np.testing.assert_array_equal(more.loss[:, np.isin(more.loss_step, r.loss_step)], r.loss)


def test_full_batch_training_keeps_every_step():
    r = train(TrainConfig(data="sin1d", n=10, width=4, steps=12, record_every=6))
    assert r.loss_step.tolist() == list(range(13)) and r.batch_loss is None


@pytest.mark.slow
def test_minibatch_run_file_is_read_back_analyzed_and_reduced(tmp_path):
    out = tmp_path / "mb.npz"
    # the setting of the reduce tests (relu-combo, γ = 4), trained by SGD on minibatches of 10 of 40
    res = runner.invoke(app, ["train", "--act", "relu", "--data", "relu-combo", "--width", "40", "--gamma", "4",
                              "--optimizer", "sgd", "--batch-size", "10", "--lr", "0.1", "--steps", "1500", "--x64",
                              "--loss-every", "5", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    back = runfile.load_run(out)
    assert back.batch_loss.shape == (1, 1501) and back.loss_step[1] == 5 and 15 in back.loss_step
    res = runner.invoke(app, ["analyze", str(out), "-q", "--json", "--out-dir", str(tmp_path / "an")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "an" / "loss.png").exists() or any((tmp_path / "an").glob("*loss*"))
    # the loss ratio reported for the analyzed step is that of the recorded full-batch losses
    rep = json.loads(res.stdout)
    j = list(back.loss_step).index(rep["step"])
    assert rep["loss_ratio"] == pytest.approx(float(back.loss[0, j] / back.loss[0, 0]), rel=1e-6)
    res = runner.invoke(app, ["reduce", str(out), "--at", "end", "--finetune-steps", "20", "-q", "--json",
                              "--out", str(tmp_path / "red.npz")])
    assert res.exit_code == 0, res.output
    red = json.loads(res.stdout)
    assert red["width_after"] < 40 and red["step"] == 1500
    assert red["loss_before"] == pytest.approx(float(back.loss[0, -1]), rel=1e-4)  # float32 against the float64 record


def test_early_stop_in_minibatch_training_reads_the_full_batch_loss():
    cfg = TrainConfig(act="tanh", data="sin1d", n=40, width=10, optimizer="sgd", batch_size=8, lr=0.1, steps=2000,
                      record_every=50, init_std=0.5, stop_at_loss_ratio=0.5)
    r = train(cfg)
    last = int(r.meta["stop_step"][0])
    assert last < 2000 and last in r.loss_step and r.step[-1] == last
    assert r.loss[0, -1] <= 0.5 * r.loss[0, 0] and np.all(r.loss[0, :-1] > 0.5 * r.loss[0, 0])


def test_old_schema_run_files_are_still_analyzed(tmp_path):
    r = train(TrainConfig(data="sin1d", n=10, act="xtanh", width=8, steps=20, init_std=0.01))
    meta = {**r.meta, "schema": "condense.run/2"}
    io.save_npz(tmp_path / "v2.npz", {k: v for k, v in r.arrays().items() if k != "loss_step"}, meta)
    res = runner.invoke(app, ["analyze", str(tmp_path / "v2.npz"), "-q", "--json", "--no-figures",
                              "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("extra,message", [
    (["--loss-every", "0"], "--loss-every must be a positive integer"),
    (["--loss-every", "31"], "at most --steps"),
    (["--loss-every", "-3"], "--loss-every must be a positive integer"),
])
def test_bad_loss_every(tmp_path, extra, message):
    out = tmp_path / "r.npz"
    res = runner.invoke(app, ["train", "--data", "sin1d", "--optimizer", "sgd", "--batch-size", "4", "--steps", "30",
                              "-q", "--out", str(out), *extra])
    assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output
    assert not out.exists()


def test_loss_every_needs_minibatch_training(tmp_path):
    res = runner.invoke(app, ["train", "--data", "sin1d", "--steps", "30", "--loss-every", "5", "-q",
                              "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 2 and "applies to minibatch training" in res.stderr


def test_a_mismatched_loss_step_is_one_line(tmp_path):
    r = train(TrainConfig(data="sin1d", n=10, width=4, steps=6))
    arrays = {**r.arrays(), "loss_step": np.array([0, 2, 1, 3, 4, 5, 6])}
    io.save_npz(tmp_path / "bad.npz", arrays, r.meta)
    res = runner.invoke(app, ["analyze", str(tmp_path / "bad.npz"), "-q"])
    assert res.exit_code == 2 and "loss_step must be increasing" in res.stderr
