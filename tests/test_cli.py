"""The CLI end to end on tiny configs: JSON contract, exit codes, one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli.cli import app

runner = CliRunner()
TINY = ["--data", "sin1d", "--n", "10", "--width", "6", "--steps", "40", "-q"]


def invoke(args):
    return runner.invoke(app, args)


def test_train_json_contract_and_file(tmp_path):
    out = tmp_path / "r.npz"
    res = invoke(["train", "--act", "xtanh", "--gamma", "2", *TINY, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for key in ("out", "steps", "loss_initial", "loss_final", "loss_ratio", "rd", "multiplicity", "seconds"):
        assert key in obj
    assert obj["out"] == str(out) and obj["steps"] == 40 and obj["multiplicity"] == 2
    assert len(obj["rd"]) == 1 and obj["loss_ratio"] == pytest.approx(obj["loss_final"] / obj["loss_initial"], rel=1e-5)
    with np.load(out, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        assert meta["init_std"] == pytest.approx([6 ** -1.0] * 2)  # N(0, m^-γ): std m^(-γ/2)
        assert f["loss"].shape == (1, 41)


def test_activations_json():
    res = invoke(["activations", "--json"])
    assert res.exit_code == 0
    acts = {a["name"]: a for a in json.loads(res.stdout)["activations"]}
    assert acts["x2tanh"]["multiplicity"] == 3 and acts["x2tanh"]["bound"] == 6
    assert acts["relu"]["multiplicity"] is None


@pytest.mark.parametrize("args,match", [
    (["--act", "nope"], "unknown activation 'nope'"),
    (["--data", "moons"], "unknown data set 'moons'"),
    (["--optimizer", "rms"], "unknown optimizer 'rms'"),
    (["--width", "0"], "width must be at least 1"),
    (["--steps", "0"], "steps must be at least 1"),
    (["--gamma", "nan"], "gamma must be"),
    (["--lr", "-0.1"], "lr must be a positive"),
    (["--init-std", "-1"], "init-std must be"),
    (["--data", "missing.csv"], "does not exist"),
    (["--widths", "5,x"], "not a number"),
    (["--out", "/nonexistent/dir/r.npz"], "folder /nonexistent/dir does not exist"),
])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, args, match):
    out = tmp_path / "r.npz"
    full = ["train", *TINY, "--out", str(out), *args]
    res = invoke(full)
    assert res.exit_code == 2, res.output
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output
    import re
    assert re.search(match, lines[0]), lines[0]
    assert not out.exists() and res.stdout == ""


def test_non_finite_loss_exit_1_keeps_finite_steps(tmp_path):
    out = tmp_path / "nan.npz"
    res = invoke(["train", "--act", "identity", "--data", "sin5d", "--width", "10", "--steps", "400",
                  "--optimizer", "gd", "--lr", "50", "--init-std", "0.5", "-q", "--out", str(out)])
    assert res.exit_code == 1
    assert "non-finite at step" in res.stderr and "kept steps 0.." in res.stderr
    with np.load(out, allow_pickle=False) as f:
        assert np.isfinite(f["loss"]).all()
        assert json.loads(str(f["meta"]))["status"] == "stopped"


def test_python_m_and_help_are_fast_and_core_imports_no_ui():
    res = subprocess.run([sys.executable, "-m", "condense_cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "train" in res.stdout
    code = ("import sys, condense_cli.training, condense_cli.io, condense_cli.analysis, condense_cli.data;"
            "bad = [m for m in ('typer', 'rich', 'matplotlib', 'click') if m in sys.modules]; print(bad)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr
    code = "import sys, condense_cli.cli; print('jax' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "False"


def test_usage_errors_are_one_line_through_the_entry_point():
    for args, match in [(["train", "--width", "abc"], "Invalid value for '--width'"),
                        (["train", "--bogus"], "No such option: --bogus"),
                        (["nosuchcommand"], "No such command")]:
        res = subprocess.run([sys.executable, "-m", "condense_cli", *args], capture_output=True, text=True)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and match in lines[0], res.stderr
