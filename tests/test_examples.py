"""Every example runs to the end and prints its table (end-to-end: marked slow, about a minute)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CASES = {  # script (and arguments): a line its output must hold
    "one_d_multiplicity.py": "x2tanh      3",
    "residual_six_layer.py": "softplus",
    "digits_condensation.py": "accuracy at the end",
    "digits_cnn.py": "channel outputs",
    "phase_slopes.py --quick": "γ = 1.75: slope",
}


def test_every_example_is_covered():
    assert {c.split()[0] for c in CASES} == {p.name for p in EXAMPLES.glob("*.py")}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_example_runs(case, tmp_path):
    script, *args = case.split()
    env = {**os.environ, "CONDENSE_CACHE_DIR": "off"}
    res = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert CASES[case] in res.stdout, res.stdout
    assert "Traceback" not in res.stderr
