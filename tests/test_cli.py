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
    (["--width", "0"], "width must be at least 1"),
    (["--steps", "0"], "steps must be at least 1"),
    (["--gamma", "nan"], "gamma must be"),
    (["--lr", "-0.1"], "lr must be a positive"),
    (["--init-std", "-1"], "init-std must be"),
    (["--data", "missing.csv"], "does not exist"),
    (["--widths", "5,x"], "not a number"),
    (["--out", "/nonexistent/dir/r.npz"], "folder /nonexistent/dir does not exist"),
    (["--n", "0"], "--n must be at least 1"),
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
    partial = tmp_path / "nan.partial.npz"  # beside the target, never over it
    assert str(partial) in res.stderr and not out.exists()
    with np.load(partial, allow_pickle=False) as f:
        assert np.isfinite(f["loss"]).all()
        assert json.loads(str(f["meta"]))["status"] == "stopped"


def test_usage_errors_are_one_line_through_the_entry_point():
    for args, match in [(["train", "--width", "abc"], "Invalid value for '--width'"),
                        (["train", "--bogus"], "No such option: --bogus"),
                        (["train", "--steps"], "'--steps' requires an argument. (see condense train --help)"),
                        (["analyze", "x.npz", "--at"], "'--at' requires an argument. (see condense analyze --help)"),
                        (["nosuchcommand"], "No such command"),
                        (["train", "--optimizer", "rms"], "'rms' is not one of 'adam', 'gd', 'sgd'"),
                        (["train", "--arch", "vit"], "'vit' is not one of 'mlp', 'cnn', 'resnet18'"),
                        (["analyze", "x.npz", "--format", "svg"], "'svg' is not one of 'png', 'pdf'"),
                        (["phase-diagram", "--split", "weird"], "'weird' is not one of 'unit-beta2', 'unit-alpha'")]:
        res = subprocess.run([sys.executable, "-m", "condense_cli", *args], capture_output=True, text=True)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and match in lines[0], res.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("an")
    out = folder / "run.npz"
    res = invoke(["train", "--act", "xtanh", "--data", "sin1d", "--n", "12", "--width", "10", "--steps", "60",
                  "--seeds", "2", "--lr", "5e-3", "--record-every", "10", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_analyze_end_to_end(tiny_run, tmp_path):
    import hashlib

    before = hashlib.sha256(tiny_run.read_bytes()).hexdigest()
    res = invoke(["analyze", str(tiny_run), "--json", "--out-dir", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for key in ("file", "activation", "multiplicity", "bound", "step", "loss_ratio", "stage", "layers"):
        assert key in obj
    assert obj["activation"] == "xtanh" and obj["multiplicity"] == 2 and obj["bound"] == 4
    layer = obj["layers"][0]
    for key in ("layer", "neurons", "kept", "directions", "lines", "clusters", "rd", "within_bound", "theory",
                "condensed", "coverage", "measure", "held"):
        assert key in layer
    assert all({"share", "direction"} <= set(c) for c in layer["clusters"])
    assert {"persistent", "fixed", "persistence", "isotropic_persistence", "verdict"} <= set(layer["measure"])
    assert layer["lines"] <= layer["directions"]
    # 1-d input and p = 2: the theory is evaluated, its stable and unstable lines reported apart
    assert {"predicted_lines", "unstable_lines", "alignment", "matched_lines"} <= set(layer["theory"])
    assert len(layer["theory"]["predicted_lines"]) + len(layer["theory"]["unstable_lines"]) <= 2
    assert len(obj["seeds"]) == 2 and obj["summary"]["seeds"] == 2
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    for n in ("cosine_l1", "tolerance_l1", "loss", "series", "features", "field", "output"):
        assert f"run_{n}.png" in names
    assert "run_analysis.npz" in names
    with np.load(tmp_path / "figs" / "run_analysis.npz", allow_pickle=False) as f:
        assert f["series_directions"].shape == (2, 1, 7)
    assert hashlib.sha256(tiny_run.read_bytes()).hexdigest() == before  # the run file is never modified
    # the summary's theory line counts its lines in words: '1 stable line', '1 stable and 1 unstable lines'
    th = layer["theory"]
    stable, unstable = len(th["predicted_lines"]), len(th["unstable_lines"])
    said = (f"{stable} stable{f' and {unstable} unstable' if unstable else ''} "
            f"{'line' if stable + unstable == 1 else 'lines'} from the errors at this step")
    assert said in " ".join(res.stderr.split()) and "line(s)" not in res.stderr


def test_analyze_options_and_pdf(tiny_run, tmp_path):
    res = invoke(["analyze", str(tiny_run), "--at", "end", "--format", "pdf", "--out-dir", str(tmp_path), "--json", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["step"] == 60
    assert (tmp_path / "run_cosine_l1.pdf").read_bytes()[:4] == b"%PDF"
    res = invoke(["analyze", str(tiny_run), "--at", "15", "--no-figures", "-q", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2 and "step 15 was not recorded" in res.stderr
    res = invoke(["analyze", str(tiny_run), "--layer", "3", "-q", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--layer 3 does not exist" in res.stderr


def test_analyze_bad_files_exit_2(tmp_path, tiny_run):
    bad = {
        "missing.npz": None,
        "text.npz": b"plain text",
        "trunc.npz": tiny_run.read_bytes()[:300],
    }
    pick = tmp_path / "pickle.npz"
    np.savez(pick, meta=np.array([{"schema": "condense.run/1"}], dtype=object))
    for name, content in bad.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    for path in [*(tmp_path / n for n in bad), pick]:
        res = invoke(["analyze", str(path), "-q"])
        assert res.exit_code == 2, (path, res.output)
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and "Traceback" not in res.output


def test_analyze_degenerate_runs(tmp_path, tiny_run):
    from condense_cli import io
    from condense_cli import run as runfile

    run = runfile.load_run(tiny_run)
    for name, fill in (("zero", 0.0), ("nan", np.nan)):
        w = run.hidden[0].copy()
        w[:, -1] = fill
        path = tmp_path / f"{name}.npz"
        io.save_npz(path, {**run.arrays(), "w1": w}, run.meta)
        res = invoke(["analyze", str(path), "--at", "end", "--json", "-q", "--out-dir", str(tmp_path)])
        assert res.exit_code == 0, res.output
        layer = json.loads(res.stdout)["layers"][0]
        assert layer["kept"] == 0 and layer["directions"] == 0 and layer["note"]


def test_init_std_per_layer(tmp_path):
    out = tmp_path / "s.npz"
    res = invoke(["train", *TINY, "--init-std", "1,0.03", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with np.load(out, allow_pickle=False) as f:
        assert json.loads(str(f["meta"]))["init_std"] == [1.0, 0.03]
        assert 0.5 < float(np.std(f["w1"][0, 0])) < 1.5
    res = invoke(["train", *TINY, "--init-std", "1,2,3", "--out", str(out)])
    assert res.exit_code == 2 and "one value or 2" in res.stderr


def test_analyze_out_dir_that_cannot_be_created(tiny_run):
    res = invoke(["analyze", str(tiny_run), "-q", "--out-dir", "/proc/condense-cannot-create"])
    assert res.exit_code == 2 and "cannot create --out-dir" in res.stderr


def test_analyze_act_for_runs_made_elsewhere(tmp_path, tiny_run):
    """A run file whose meta lacks the activation needs --act (never tanh silently); p is computed
    where the meta lacks it; --act that contradicts the file, or an unsafe formula, is refused."""
    from condense_cli import io
    from condense_cli import run as runfile

    run = runfile.load_run(tiny_run)
    meta = {k: v for k, v in run.meta.items() if k not in ("activation", "multiplicity")}
    bare = tmp_path / "bare.npz"
    io.save_npz(bare, run.arrays(), meta)
    res = invoke(["analyze", str(bare), "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2 and "does not name its activation; pass --act" in res.stderr
    res = invoke(["analyze", str(bare), "--act", "x*tanh(x)", "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["activation"] == "x*tanh(x)" and obj["multiplicity"] == 2 and obj["bound"] == 4
    res = invoke(["analyze", str(tiny_run), "--act", "tanh", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2 and "contradicts the run's own activation xtanh" in res.stderr
    res = invoke(["analyze", str(tiny_run), "--act", "xtanh", "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0  # agreeing with the file is fine
    for bad, match in (("__import__('os').system('true')", "not allowed|unknown|formula"), ("nosuch", "unknown activation")):
        res = invoke(["analyze", str(bare), "--act", bad, "-q", "--no-figures", "--out-dir", str(tmp_path)])
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    res = invoke(["analyze", str(bare), "--act", "tanh,tanh", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 2 and "names 2 activations; the run has 1 hidden layers" in res.stderr
    nomult = tmp_path / "nomult.npz"
    io.save_npz(nomult, run.arrays(), {k: v for k, v in run.meta.items() if k != "multiplicity"})
    res = invoke(["analyze", str(nomult), "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0 and json.loads(res.stdout)["multiplicity"] == 2


def test_analyze_fixed_tol_and_most_condensed(tiny_run, tmp_path):
    res = invoke(["analyze", str(tiny_run), "--tol", "0.9", "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    layer = obj["layers"][0]
    assert obj["options"]["count"] == "fixed" and layer["measure"]["method"] == "fixed"
    assert (layer["directions"], layer["lines"]) == (layer["measure"]["fixed"]["directions"], layer["measure"]["fixed"]["lines"])
    res = invoke(["analyze", str(tiny_run), "--at", "most-condensed", "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    held = obj["layers"][0]["held"]
    assert obj["step"] == held["most_condensed_step"] or "no recorded step" in obj["why"]
    for bad in (["--tol", "1.5"], ["--min-coverage", "2"], ["--max-neurons", "1"]):
        res = invoke(["analyze", str(tiny_run), *bad, "-q", "--no-figures", "--out-dir", str(tmp_path)])
        assert res.exit_code == 2, bad


def test_a_reduced_run_is_analyzed_like_any_other(tmp_path):
    """Reduce a condensed network, then analyze the one-snapshot run it writes (this crashed)."""
    out = tmp_path / "r.npz"
    res = invoke(["train", "--act", "tanh", "--data", "sin1", "--width", "40", "--gamma", "4", "--lr", "5e-4",
                  "--steps", "100", "--record-every", "50", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    small = tmp_path / "small.npz"
    res = invoke(["reduce", str(out), "--out", str(small), "--json", "-q"])
    assert res.exit_code == 0, res.output
    red = json.loads(res.stdout)
    assert red["width_after"] < red["width_before"] and red["layers"][0]["condensed"]
    res = invoke(["analyze", str(small), "--json", "-q", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    layer = json.loads(res.stdout)["layers"][0]
    assert layer["neurons"] == red["width_after"] and not layer["condensed"]  # nothing left to merge
    assert (tmp_path / "small_series.png").exists() and (tmp_path / "small_cosine_l1.png").exists()


def test_a_single_neuron_run_gets_a_clear_report(tmp_path):
    out = tmp_path / "one.npz"
    res = invoke(["train", *TINY, "--width", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = invoke(["analyze", str(out), "--json", "-q", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    layer = json.loads(res.stdout)["layers"][0]
    assert layer["kept"] == 1 and not layer["condensed"] and layer["within_bound"] is None
    assert "too few" in layer["note"] and "too few" in layer["measure"]["verdict"]


def test_analyze_and_reduce_cli_defaults_equal_the_library_defaults():
    import dataclasses
    import inspect

    from condense_cli.cli.analyze import analyze_cmd
    from condense_cli.cli.reduce import reduce_cmd
    from condense_cli.measure.analyze import AnalysisOptions
    from condense_cli.reduction import reduce_run

    params = inspect.signature(analyze_cmd).parameters
    fields = {f.name: f.default for f in dataclasses.fields(AnalysisOptions)}
    shared = [n for n in params if n in fields]
    assert {"at", "at_loss_ratio", "min_norm", "tol", "fixed_tol", "min_share", "min_coverage", "max_neurons",
            "fit_tol"} <= set(shared)
    for name in shared:
        assert params[name].default == fields[name], name
    lib = inspect.signature(reduce_run).parameters
    cli = inspect.signature(reduce_cmd).parameters
    for name in ("at", "seed_index", "tol", "min_norm", "finetune_steps", "lr", "loss_tol"):
        assert cli[name].default == lib[name].default, name
    assert (not cli["no_refit"].default) == lib["refit"].default
    import condense_cli
    from condense_cli.cli.reproduce import reproduce_cmd
    from condense_cli.reproductions import reproduce

    cli, lib = inspect.signature(reproduce_cmd).parameters, inspect.signature(reproduce).parameters
    api = inspect.signature(condense_cli.reproduce).parameters
    for name in ("quick", "seeds"):
        assert cli[name].default == lib[name].default == api[name].default, name


def test_version_help_panels_and_the_table_at_80_columns(tmp_path):
    res = invoke(["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("condense ")
    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "100"})
    for panel in ("Data", "Network", "Initialization", "Optimizer", "Recording", "Output"):
        assert f"─ {panel} " in res.stdout
    for command in ([], ["train"], ["analyze"], ["embed"], ["phase-diagram"], ["reduce"], ["reproduce"],
                    ["activations"]):  # flags shown as flags, --help and the --x/--no-x pairs included
        res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
        assert res.exit_code == 0 and "Show this message" in res.stdout, command
        assert "<bool>" not in res.stdout, command
        res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})  # no default or word cut short
        assert res.exit_code == 0 and "…" not in res.stdout, command
    run = tmp_path / "three.npz"
    assert invoke(["train", "--widths", "8,8,8", "--steps", "30", "-q", "--act", "x**2*tanh(x)+0.5*sigmoid(x)-0.25",
                   "--out", str(run)]).exit_code == 0
    res = runner.invoke(app, ["analyze", str(run), "--no-figures"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    table = [l for l in res.stderr.splitlines() if l[:1] in "┏┃┡│└"]
    assert len(table) >= 6 and all(len(l) <= 80 for l in table) and not any("…" in l for l in table)
    assert "".join(l.replace("│", "").strip() for l in table).count("x**2*tanh") == 3  # wrapped, never cut


def test_a_step_asked_for_is_named_once_in_the_summary_line():
    """`--at 60` reads 'step 60 (--at)', not 'step 60 (step 60 (--at))'; a chosen step keeps why."""
    from condense_cli.cli.common import moment

    assert moment(60, "step 60 (--at)") == "step 60 (--at)"
    assert moment(60, "last recorded step (--at end)") == "step 60 (last recorded step (--at end))"
