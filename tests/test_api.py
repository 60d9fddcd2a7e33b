"""The Python API: every exported name, typed results of one shape whatever the seed count,
`to_json()` equal to the CLI's `--json`, the CLI's defaults, folders created by writers, errors
naming the Python parameter."""
import inspect
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import condense_cli
from condense_cli import (Analysis, AnalysisOptions, BadInput, LayerAnalysis, PhaseConfig, SeedAnalysis, TrainConfig,
                          analyze, train)


@pytest.fixture(scope="module")
def runs():
    """A one-seed and a three-seed run of the same tiny two-layer network (1-d data)."""
    cfg = TrainConfig(act=("tanh", "xtanh"), depth=2, data="sin1d", n=16, width=10, steps=80, init_std=0.01,
                      lr=1e-2, record_every=20)
    return train(cfg), train(cfg, seeds=3)


def test_every_exported_name_imports_and_says_what_it_is():
    for name in condense_cli.__all__:
        obj = getattr(condense_cli, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(obj), f"{name} has no docstring"
    tr = condense_cli.transformer
    for name in tr.__all__:
        assert inspect.getdoc(getattr(tr, name)), f"transformer.{name} has no docstring"
    assert condense_cli.transformer.Config().steps == 3000 and callable(condense_cli.transformer.train)
    with pytest.raises(AttributeError):
        condense_cli.not_a_name


def test_one_seed_and_three_seeds_have_the_same_shape(runs):
    one, three = analyze(runs[0]), analyze(runs[1])
    for result, S in ((one, 1), (three, 3)):
        assert isinstance(result, Analysis) and isinstance(result.seeds, tuple) and len(result.seeds) == S
        for s in result.seeds:
            assert isinstance(s, SeedAnalysis) and [l.layer for l in s.layers] == [1, 2]
            assert all(isinstance(l, LayerAnalysis) for l in s.layers)
            assert s.series.directions.shape == (2, len(runs[0].step))
        assert result.layers == result.seeds[0].layers
    assert one.seeds[0].to_json().keys() == three.seeds[0].to_json().keys()  # one_d: the first seed only
    assert one.seeds[0].layers[1].to_json().keys() == three.seeds[1].layers[1].to_json().keys()
    # the JSON keeps its contract: per-seed entries and the summary only with several seeds
    assert "seeds" not in one.to_json() and len(three.to_json()["seeds"]) == 3
    assert three.summary()["layers"][0]["directions"] == [s.layers[0].directions for s in three.seeds]
    with pytest.raises(Exception):
        one.seeds[0].step = 3  # frozen


def test_to_json_equals_the_cli_json(runs, tmp_path):
    from condense_cli import save_run
    from condense_cli.cli import app

    path = save_run(tmp_path / "r.npz", runs[1])
    res = CliRunner().invoke(app, ["analyze", str(path), "--json", "-q", "--no-figures", "--at", "end"])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert cli.pop("outputs") == [str(tmp_path / "r_analysis.npz")]
    api = analyze(path, at="end").to_json()
    assert json.loads(json.dumps(api)) == cli and api["file"] == str(path)


def test_the_python_defaults_are_the_clis():
    from typer.main import get_command

    from condense_cli.cli import app
    from condense_cli.phase import parse_values
    from condense_cli.phase.config import DEFAULT_GAMMA_PRIMES, DEFAULT_GAMMAS, DEFAULT_WIDTHS

    params = {p.name: p.default for p in get_command(app).commands["analyze"].params}
    defaults = AnalysisOptions()
    for name in ("at", "min_norm", "fixed_tol", "min_share", "min_coverage", "max_neurons", "fit_tol", "tol"):
        assert params[name] == getattr(defaults, name), name
    phase = {p.name: p.default for p in get_command(app).commands["phase-diagram"].params}
    cfg = PhaseConfig()
    assert cfg.widths == tuple(int(float(w)) for w in phase["widths"].split(",")) == (1000, 5000, 10000, 20000, 40000)
    assert cfg.gammas == parse_values(DEFAULT_GAMMAS, "g") and cfg.gamma_primes == parse_values(DEFAULT_GAMMA_PRIMES, "g")
    assert phase["widths"] == DEFAULT_WIDTHS and cfg.seeds == phase["seeds"] and cfg.act == phase["act"]


def test_errors_name_the_python_parameter(runs):
    with pytest.raises(BadInput, match=r"^min_norm must be in \[0, 1\)"):
        analyze(runs[0], min_norm=2.0)
    with pytest.raises(BadInput, match="unknown setting 'min_nrom'"):
        analyze(runs[0], min_nrom=0.2)
    with pytest.raises(BadInput, match=r"^layer 5 does not exist"):
        analyze(runs[0], layers=(5,))
    with pytest.raises(BadInput, match="widths must be at most"):
        condense_cli.phase_diagram(widths=(10, 10 ** 9), gammas=(1.0,), gamma_primes=(0.0,))


def test_writers_create_their_folders(runs, tmp_path):
    from condense_cli import load_run, reduce, save_run

    condensed = train(TrainConfig(act="tanh", data="sin5d", width=30, init_std=1e-4, optimizer="gd", lr=0.05,
                                  steps=400, record_every=50, stop_at_loss_ratio=0.99))
    path = save_run(tmp_path / "a" / "b" / "run.npz", condensed)
    assert path.exists() and load_run(path).hidden[0].shape == condensed.hidden[0].shape
    red = reduce(path, out=tmp_path / "c" / "reduced.npz")
    assert red.out == str(tmp_path / "c" / "reduced.npz") and (tmp_path / "c" / "reduced.npz").exists()
    assert red.to_json()["width_after"] == red.run.hidden[0].shape[2] < red.to_json()["width_before"]
    with pytest.raises(BadInput, match="is the input run file"):
        reduce(path, out=path)
    res = condense_cli.phase_diagram(widths=(20, 40), gammas=(0.5, 1.5), gamma_primes=(0.0,),
                                     out_dir=tmp_path / "d" / "phase")
    assert (tmp_path / "d" / "phase" / "phase.npz").exists()
    assert res.to_json()["regime"] == [["linear"], ["condensed"]]


def test_activations_and_multiplicity():
    names = condense_cli.activations()
    assert {"tanh", "xtanh", "x2tanh", "relu"} <= set(names)
    assert [condense_cli.multiplicity(a) for a in ("tanh", "xtanh", "x2tanh", "relu")] == [1, 2, 3, None]
    assert condense_cli.multiplicity("x**3*tanh(x)") == 4
    ds = condense_cli.load_dataset("sin1d", n=10)
    assert ds.x.shape == (10, 1) and np.isfinite(ds.y).all()


def test_the_training_summary_is_typed_and_equals_train_json(tmp_path):
    import json

    from typer.testing import CliRunner

    from condense_cli.cli import app

    out = tmp_path / "r.npz"
    res = CliRunner().invoke(app, ["train", "--steps", "30", "--seeds", "2", "--out", str(out), "--json", "-q"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.stdout)
    s = condense_cli.summarize(condense_cli.load_run(out), out)
    assert isinstance(s, condense_cli.TrainSummary) and len(s.seeds) == 2 and s.seeds[1].seed == 1
    assert {**s.to_json(), "seconds": None} == {**shown, "seconds": None}  # the run's seconds are re-read from the file
