"""Activations by formula: the same numbers and multiplicities as the named ones, every command
accepts them, and anything outside the whitelist is refused without being evaluated."""
import json

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli.nn import activations
from condense_cli.cli import app
from condense_cli.errors import BadInput

runner = CliRunner()


@pytest.mark.parametrize("formula,named,p", [
    ("x**2*tanh(x)", "x2tanh", 3), ("x*tanh(x)", "xtanh", 2), ("tanh(x)", "tanh", 1),
    ("1/(1+exp(-x))", "sigmoid", 1), ("log1p(exp(x))", "softplus", 1), ("x*sigmoid(x)", "silu", 1),
])
def test_formulas_match_named_activations(formula, named, p):
    z = jnp.linspace(-4, 4, 41)
    np.testing.assert_allclose(activations.get(formula).fn(z), activations.get(named).fn(z), rtol=1e-5, atol=1e-6)
    assert activations.multiplicity(formula) == p == activations.multiplicity(named)


def test_more_multiplicities_and_constants():
    assert activations.multiplicity("x**3 + x**4") == 3
    assert activations.multiplicity("sin(pi*x)") == 1
    assert activations.multiplicity("exp(x) - 1 - x") == 2
    assert activations.multiplicity("relu(x)") is None
    assert activations.multiplicity("abs(x)") is None


@pytest.mark.parametrize("text,match", [
    ("x.__class__", "attribute access"),
    ("__import__('os').system('touch /tmp/condense_pwned')", "not allowed"),
    ("open(x)", "the function 'open'"),
    ("x if x > 0 else 0", "IfExp"),
    ("x[0]", "Subscript"),
    ("lambda x: x", "Lambda"),
    ("tanh(x, 2)", "one plain argument"),
    ("exp(x=1)", "one plain argument"),
    ("y * 2", "the name 'y'"),
    ("2 ** 3", "does not use x"),
    ("x; import os", "not an arithmetic expression"),
    ("x @ x", "MatMult"),
    ("'x'", "the constant 'x'"),
    ("x" + "+x" * 200, "longer than"),
])
def test_refused_without_evaluation(tmp_path, text, match):
    with pytest.raises(BadInput, match=match):
        activations.get(text)
    assert not (tmp_path / "condense_pwned").exists()
    import os
    assert not os.path.exists("/tmp/condense_pwned")


def test_every_command_accepts_a_formula(tmp_path):
    run = tmp_path / "f.npz"
    res = runner.invoke(app, ["train", "--act", "x**2*tanh(x)", "--data", "sin1d", "--n", "10", "--width", "8",
                              "--steps", "40", "-q", "--json", "--out", str(run)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["multiplicity"] == 3
    res = runner.invoke(app, ["analyze", str(run), "--json", "-q", "--no-figures", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["activation"] == "x**2*tanh(x)" and obj["bound"] == 6
    res = runner.invoke(app, ["phase-diagram", "--act", "x*sigmoid(x)", "--widths", "50,100", "--gammas", "0.5",
                              "--gamma-primes", "0", "--max-steps", "200", "-q", "--json", "--no-figures",
                              "--out-dir", str(tmp_path / "ph")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--act", "x.__class__", "-q", "--out", str(tmp_path / "no.npz")])
    assert res.exit_code == 2 and "attribute access" in res.stderr and not (tmp_path / "no.npz").exists()
