"""Phase diagram: theory functions, regimes on tiny grids, split invariance, rollback-and-halve,
sharded equals unsharded, resume, and bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from condense_cli import phase
from condense_cli.cli import app
from condense_cli.data import Dataset, make
from condense_cli.errors import BadInput
from condense_cli.phase import PhaseConfig

runner = CliRunner()
DATA = make("phase4")


def test_theory_regimes_and_boundary():
    assert phase.theory_regime(0.5, 0.0) == "linear"
    assert phase.theory_regime(2.0, 0.0) == "condensed"
    assert phase.theory_regime(1.0, -0.5) == "critical"
    assert phase.theory_regime(2.0, 1.0) == "critical"  # on γ′ = γ − 1
    assert phase.theory_regime(2.0, 1.5) == "linear"
    assert phase.boundary_distance(1.0, -1.0) == pytest.approx(0.0)
    assert phase.boundary_distance(2.0, 0.0) == pytest.approx(np.sqrt(0.5))  # to the diagonal ray
    assert phase.boundary_distance(0.5, -0.5) == pytest.approx(0.5)
    np.testing.assert_allclose(phase.theory_boundary([-1, 0, 0.5]), [1, 1, 1.5])


def test_slopes_classify_boundary_on_synthetic_rd():
    widths = [100, 1000, 10000]
    m = np.asarray(widths, float)
    rd = np.stack([m ** -0.5, m ** 0.02, m ** 0.4])[:, None, :, None]  # (Γ=3, Γ′=1, W, S=1)
    s = phase.slopes(rd, widths)
    np.testing.assert_allclose(s[:, 0], [-0.5, 0.02, 0.4], atol=1e-9)
    assert phase.classify(s, 0.1)[:, 0].tolist() == ["linear", "critical", "condensed"]
    b = phase.measured_boundary([0.5, 1.0, 1.5], s)
    assert 0.5 < b[0] < 1.0


def test_parse_values():
    assert phase.parse_values("0.5:2:0.5", "g") == (0.5, 1.0, 1.5, 2.0)
    assert phase.parse_values("1, 2.5", "g") == (1.0, 2.5)
    for bad, match in [("2:1:0.5", "reversed"), ("1:2:0", "positive"), ("", "empty"), ("1,nan", "finite"),
                       ("1:2", "start:stop:step")]:
        with pytest.raises(BadInput, match=match):
            phase.parse_values(bad, "g")


def _tiny(**kw):
    base = dict(gammas=(0.5, 2.0), gamma_primes=(0.0,), widths=(200, 2000), max_steps=3000, seeds=1)
    base.update(kw)
    return PhaseConfig(**base)


def test_deep_linear_point_negative_slope_condensed_point_positive():
    res = phase.sweep(_tiny(), DATA)
    assert res.slope[0, 0] < -0.2  # γ = 0.5: linear (published: −0.506)
    assert res.slope[1, 0] > 0.2  # γ = 2: condensed
    # γ = 2 stops at max-steps (3000) before the loss tolerance: its slope is shown, its regime
    # not claimed, and the agreement is taken over the finished point alone
    assert res.finished[:, 0].tolist() == [True, False]
    assert res.regime[:, 0].tolist() == ["linear", ""]
    assert res.agreement == 1.0 and res.agreement_points == 1


def test_result_does_not_depend_on_the_split():
    """(α, β1, β2) enter only through κ and κ′ for ReLU (positively homogeneous): every split
    gives the same RD, slopes and regimes."""
    cfg = _tiny(gammas=(0.75, 1.5), gamma_primes=(-0.25, 0.25), widths=(300, 600), max_steps=1500)
    out = {split: phase.sweep(PhaseConfig(**{**cfg.__dict__, "split": split}), DATA)
           for split in ("unit-beta2", "unit-alpha", "balanced")}
    ref = out["unit-beta2"]
    for split, r in out.items():
        np.testing.assert_allclose(r.rd, ref.rd, rtol=1e-6, err_msg=split)
        np.testing.assert_allclose(r.slope, ref.slope, atol=1e-6, err_msg=split)
        np.testing.assert_array_equal(r.regime, ref.regime)
        np.testing.assert_array_equal(r.converged, ref.converged)


def test_only_homogeneous_activations_are_split_free():
    from condense_cli.nn.activations import positively_homogeneous

    assert positively_homogeneous("relu") and positively_homogeneous("leaky_relu")
    assert not positively_homogeneous("tanh") and not positively_homogeneous("xtanh")


def test_rollback_and_halve_rescues_a_too_large_step_and_flags_divergence():
    # a start step 10^6 times too large: the point rolls back and halves until it trains
    big = phase.run_width(_tiny(gammas=(0.5,), lr=5e5), DATA, 200)
    ok = phase.run_width(_tiny(gammas=(0.5,)), DATA, 200)
    assert big.converged.all() and big.final_loss.max() <= 1e-4
    assert big.steps[0, 0, 0] > 0
    np.testing.assert_allclose(big.rd, ok.rd, rtol=0.05)
    # a point whose loss is never finite halves to nothing: flagged as diverged, not fatal
    huge = Dataset(DATA.x, np.full_like(DATA.y, 1e30), {"name": "huge"})
    bad = phase.run_width(_tiny(gammas=(0.5, 2.0)), huge, 200)
    assert bad.diverged.all() and not bad.converged.any()
    assert (bad.steps < 100).all()


def test_sharded_equals_unsharded(tmp_path):
    cfg = _tiny(gammas=(0.5, 1.0, 2.0), gamma_primes=(0.0, 0.5), max_steps=800)
    one = phase.run_width(cfg, DATA, 200)
    code = (
        "import json, jax; from condense_cli import phase; from condense_cli.data import make;"
        f"cfg = phase.PhaseConfig(**{cfg.__dict__!r});"
        "r = phase.run_width(cfg, make('phase4'), 200);"
        "print(json.dumps({'devices': len(jax.devices()), 'rd': r.rd.tolist(), 'steps': r.steps.tolist()}))"
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "CONDENSE_CACHE_DIR": "off"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2
    np.testing.assert_allclose(np.array(got["rd"]), one.rd, rtol=1e-5)
    np.testing.assert_array_equal(np.array(got["steps"]), one.steps)


ARGS = ["--widths", "200,400", "--gammas", "0.5,2", "--gamma-primes", "0", "--max-steps", "1500", "-q"]


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k != "meta"}


def test_cli_json_resume_and_corrupt_parts(tmp_path, monkeypatch):
    out = tmp_path / "ph"
    res = runner.invoke(app, ["phase-diagram", *ARGS, "--out-dir", str(out), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for key in ("widths", "gammas", "gamma_primes", "slope", "regime", "agreement", "seconds"):
        assert key in obj
    assert obj["widths"] == [200, 400] and obj["slope"][0][0] < 0 < obj["slope"][1][0]
    for (regime,), (fin,), (slope,) in zip(obj["regime"], obj["finished"], obj["slope"]):  # unfinished: no regime
        assert regime == ("" if not fin else "linear" if slope < -0.1 else "condensed" if slope > 0.1 else "critical")
    assert obj["agreement_points"] == sum(f for (f,) in obj["finished"])
    first = _arrays(out / "phase.npz")
    assert first["rd"].shape == (2, 1, 2, 1) and first["slope"].shape == (2, 1)
    assert (out / "phase.png").exists() and (out / "rd_vs_width.png").exists()

    # interrupted during the second width: the first is kept; the same command resumes
    fresh = tmp_path / "ph2"
    real = phase.engine.run_width
    calls = []

    def flaky(config, data, m, **kw):
        calls.append(m)
        if m == 400:
            raise KeyboardInterrupt
        return real(config, data, m, **kw)

    monkeypatch.setattr(phase.engine, "run_width", flaky)
    res = runner.invoke(app, ["phase-diagram", *ARGS, "--out-dir", str(fresh)])
    assert res.exit_code == 1 and "interrupted" in res.stderr and "200" in res.stderr
    assert (fresh / "widths" / "m200.npz").exists() and not (fresh / "phase.npz").exists()
    calls.clear()

    def counted(config, data, m, **kw):
        calls.append(m)
        return real(config, data, m, **kw)

    monkeypatch.setattr(phase.engine, "run_width", counted)
    res = runner.invoke(app, ["phase-diagram", *ARGS, "--out-dir", str(fresh), "--json"])
    assert res.exit_code == 0, res.output
    assert calls == [400]  # the finished width is skipped
    resumed = _arrays(fresh / "phase.npz")
    for k, v in first.items():
        np.testing.assert_array_equal(resumed[k], v, err_msg=k)

    # a corrupt part is detected and redone, never trusted
    (fresh / "widths" / "m400.npz").write_bytes(b"garbage")
    res = runner.invoke(app, ["phase-diagram", *ARGS[:-1], "--out-dir", str(fresh)])
    assert res.exit_code == 0 and "redid widths [400]" in res.stderr
    np.testing.assert_array_equal(_arrays(fresh / "phase.npz")["rd"], first["rd"])


@pytest.mark.parametrize("args,match", [
    (["--widths", "0,100"], "0 is not a positive integer"),
    (["--widths", "1e3,2.5e3,1.5"], "1.5 is not a positive integer"),
    (["--widths", "1000"], "at least two widths"),
    (["--widths", "100,abc"], "not a number"),
    (["--gammas", "2:1:0.5"], "reversed"),
    (["--gammas", "nan"], "finite"),
    (["--gamma-primes", ""], "empty"),
    (["--act", "nope"], "unknown activation"),
])
def test_cli_bad_input(tmp_path, args, match):
    res = runner.invoke(app, ["phase-diagram", "--out-dir", str(tmp_path / "x"), "-q", *args])
    assert res.exit_code == 2, res.output
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and match in lines[0]


def test_agreement_counts_only_points_that_finished():
    """Slopes +1 (condensed) at γ = 2 and −1 (linear) at γ = 0.5, γ′ = 0: both agree with the
    theory. When the γ = 2 point stops early at one width, or diverges, it leaves the agreement
    (and the measured boundary) and its regime is blank, whatever its slope."""
    cfg = phase.PhaseConfig(gammas=(0.5, 2.0), gamma_primes=(0.0,), widths=(100, 1000), seeds=1)

    def part(m, conv=True, div=False):
        rd = np.array([[[1.0 / m]], [[float(m)]]])  # (Γ, Γ′, S): slopes −1 and +1
        conv_a = np.ones((2, 1, 1), bool)
        conv_a[1] = conv
        div_a = np.zeros((2, 1, 1), bool)
        div_a[1] = div
        return phase.WidthResult(width=m, rd=rd, converged=conv_a, diverged=div_a, steps=np.ones((2, 1, 1), int),
                                 final_loss=np.zeros((2, 1, 1)), seconds=0.0)

    full = phase.combine(cfg, [part(100), part(1000)])
    assert full.agreement == 1.0 and full.agreement_points == 2 and full.regime[:, 0].tolist() == ["linear", "condensed"]
    for broken in (part(1000, conv=False), part(1000, div=True)):
        res = phase.combine(cfg, [part(100), broken])
        assert res.agreement == 1.0 and res.agreement_points == 1
        assert res.regime[1, 0] == "" and res.slope[1, 0] == pytest.approx(1.0)  # slope kept, regime not claimed
        assert not res.finished[1, 0] and res.finished[0, 0]


def test_resume_key_includes_the_engine_version(monkeypatch):
    cfg = _tiny()
    before = cfg.key({"name": "phase4"})
    monkeypatch.setattr(phase.config, "ENGINE_VERSION", phase.config.ENGINE_VERSION + 1)
    assert cfg.key({"name": "phase4"}) != before


def _plain_gd(cfg, data, m, eta=0.05, max_steps=400_000):
    """Plain gradient descent on the normalized flow at a fixed small step (no rollback, no
    growth, no groups), written here independently of the engine: RD per (γ, γ′) point (seed 0)."""
    import jax
    import jax.numpy as jnp

    kappa, kprime, b1a, b2, step = phase.engine._point_scales(cfg, m)
    a0, w0 = phase.initial_weights(cfg.seed, m, data.x.shape[1], False)
    xt = jnp.asarray(np.concatenate([data.x, np.ones((len(data.x), 1))], 1), jnp.float32)
    y = jnp.asarray(data.y[:, 0], jnp.float32)

    def loss(a, w, c, bb):
        return 0.5 * jnp.mean((c * (jax.nn.relu(bb * (xt @ w.T)) @ a) - y) ** 2)

    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    out = []
    for i in range(len(kappa)):
        c, bb, kp, h = (jnp.float32(v[i]) for v in (b1a, b2, kprime, step))

        @jax.jit
        def run(a, w):
            def cond(s):
                return (s[2] > cfg.tol) & (s[3] < max_steps)

            def body(s):
                a, w, _, t = s
                l, (ga, gw) = grad(a, w, c, bb)
                return a - eta * h / kp * ga, w - eta * h * kp * gw, l, t + 1

            return jax.lax.while_loop(cond, body, (a, w, jnp.float32(np.inf), 0))

        a, w, l, t = run(jnp.asarray(a0), jnp.asarray(w0))
        assert float(l) <= cfg.tol * 1.01 and int(t) < max_steps  # plain GD finished too
        out.append(np.linalg.norm(np.asarray(w, np.float64) - w0) / np.linalg.norm(w0.astype(np.float64)))
    return np.array(out).reshape(len(cfg.gammas), len(cfg.gamma_primes))


@pytest.mark.slow
def test_fast_path_gives_the_slopes_of_plain_gradient_descent():
    """Adaptive steps with rollback, compaction and displacements against plain small-step GD:
    on points where both finish, the slopes of log RD against log m agree within 0.02."""
    cfg = phase.PhaseConfig(gammas=(0.5, 1.0, 1.5), gamma_primes=(0.0, 0.5), widths=(100, 400), tol=1e-3)
    fast = phase.sweep(cfg, DATA)
    assert fast.finished.all()
    plain = np.stack([_plain_gd(cfg, DATA, m) for m in cfg.widths], axis=2)[..., None]  # (Γ, Γ′, W, S)
    np.testing.assert_allclose(fast.slope, phase.slopes(plain, cfg.widths), atol=0.02)


def test_deep_linear_point_has_a_finite_rd_that_float64_confirms():
    """γ = 0.5, γ′ = 1.5 at m = 10,000: the input weights move by less than float32 resolves next
    to w(0) (RD rounded to exactly 0 before displacements were trained); now RD is positive and
    within 2 % of the same point trained in float64."""
    cfg = phase.PhaseConfig(gammas=(0.5,), gamma_primes=(1.5,), widths=(1000, 10000))
    r32 = phase.run_width(cfg, DATA, 10000)
    r64 = phase.run_width(phase.PhaseConfig(**{**cfg.__dict__, "x64": True}), DATA, 10000)
    assert r32.converged.all() and r64.converged.all()
    rd32, rd64 = float(r32.rd.ravel()[0]), float(r64.rd.ravel()[0])
    assert 0 < rd32 < 1e-6 and np.isfinite(rd32)  # far below float32's relative resolution (6e-8 × |w| per entry)
    assert rd32 == pytest.approx(rd64, rel=0.02)


def test_group_sizes_and_results_independent_of_grouping():
    assert phase.group_sizes(81, 2) == [2, 4, 10, 20, 40, 81]
    assert phase.group_sizes(1, 1) == [1] and phase.group_sizes(8, 8) == [8]
    cfg = phase.PhaseConfig(gammas=(0.5, 1.0, 1.5, 2.0), gamma_primes=(0.0, 0.5), widths=(100, 200), tol=1e-3)
    big = phase.run_width(cfg, DATA, 200)
    small = phase.run_width(phase.PhaseConfig(**{**cfg.__dict__, "memory_mb": 0}), DATA, 200)  # groups of 1 device
    assert max(big.groups) > max(small.groups)
    np.testing.assert_array_equal(big.steps, small.steps)
    np.testing.assert_allclose(big.rd, small.rd, rtol=1e-5)
    # compaction: the work is far below running every point as long as the slowest one
    assert big.point_steps < 0.5 * big.steps.size * big.steps.max()


def test_cli_defaults_equal_the_config_defaults():
    import inspect

    from condense_cli.cli.phase import DEFAULT_GAMMA_PRIMES, DEFAULT_GAMMAS, phase_cmd

    params = inspect.signature(phase_cmd).parameters
    for name in ("seeds", "seed", "act", "split", "max_steps", "margin", "boundary_margin", "memory_mb", "x64"):
        assert params[name].default == getattr(phase.PhaseConfig, name), name
    assert params["loss_tol"].default == phase.PhaseConfig.tol
    assert phase.parse_values(DEFAULT_GAMMAS, "g") == tuple(np.arange(0.25, 2.26, 0.25))
    assert phase.parse_values(DEFAULT_GAMMA_PRIMES, "g") == tuple(np.arange(-0.5, 1.51, 0.25))


def test_loss_tol_and_the_former_tol(tmp_path):
    base = ["phase-diagram", "--widths", "100,200", "--gammas", "0.5", "--gamma-primes", "0", "--no-figures", "-q", "--json"]
    new = runner.invoke(app, [*base, "--loss-tol", "1e-3", "--out-dir", str(tmp_path / "a")])
    old = runner.invoke(app, [*base, "--tol", "1e-3", "--out-dir", str(tmp_path / "b")])
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert "--tol is now --loss-tol" in old.stderr and "--tol" not in new.stderr
    assert json.loads(new.stdout)["slope"] == json.loads(old.stdout)["slope"]
    res = runner.invoke(app, [*base, "--split", "sideways", "--out-dir", str(tmp_path / "c")])
    assert res.exit_code == 2 and "unit-beta2" in res.output  # choices are listed


def test_every_loss_and_data_choice_has_an_implementation():
    """`choices` names the losses and data sets the CLI offers; each one must exist where it is
    made (`nn.models`, `data.synthetic`, `data.images`, `data.anchors`)."""
    from condense_cli import choices
    from condense_cli.data import resolve
    from condense_cli.data.images import REAL
    from condense_cli.data.synthetic import NAMED
    from condense_cli.nn.models import LOSSES, OUTPUT_LOSSES

    assert tuple(LOSSES) == choices.LOSSES and tuple(OUTPUT_LOSSES) == choices.LOSSES
    assert tuple(NAMED) == choices.SYNTHETIC_DATA and REAL == choices.REAL_DATA
    for name in choices.SYNTHETIC_DATA:
        assert len(resolve(name, n=5).x) == 5


@pytest.mark.slow
def test_two_processes_equal_one_process_and_only_process_0_writes(tmp_path):
    """The multi-host path, really run: two processes on this machine (a localhost coordinator,
    Gloo collectives on CPU, one device each) sweep the grid together; process 0's phase.npz is
    that of one process with two devices, and process 1 writes nothing (not even its folder)."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    args = ["phase-diagram", "--widths", "200,400", "--gammas", "0.5,2", "--gamma-primes", "0", "--max-steps", "1500",
            "-q", "--no-figures"]
    entry = [sys.executable, "-c", "from condense_cli.cli import main; main()"]
    env = {**os.environ, "CONDENSE_CACHE_DIR": "off"}
    procs = []
    for i in range(2):
        penv = {**env, "CONDENSE_DISTRIBUTED": "1", "JAX_COORDINATOR_ADDRESS": f"localhost:{port}",
                "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i),
                "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
        procs.append(subprocess.Popen([*entry, *args, "--out-dir", str(tmp_path / f"p{i}")], env=penv,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, errs = p.communicate(timeout=300)
        assert p.returncode == 0, errs[-2000:]
    subprocess.run([*entry, *args, "--out-dir", str(tmp_path / "one")], check=True, capture_output=True,
                   env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert not (tmp_path / "p1").exists()  # process 1 computed its share and wrote nothing
    two, one = _arrays(tmp_path / "p0" / "phase.npz"), _arrays(tmp_path / "one" / "phase.npz")
    assert sorted(two) == sorted(one)
    for k in one:
        np.testing.assert_array_equal(two[k], one[k], err_msg=k)
    assert sorted(p.name for p in (tmp_path / "p0" / "widths").iterdir()) == ["m200.npz", "m400.npz"]


def test_the_phase_table_fits_80_columns_without_cutting_a_number(monkeypatch):
    """The default grid has 9 γ′ columns: at 80 columns every slope is printed whole, on one line
    (more columns than fit go to a second table), with the regime colours and the * of a point not
    converged at some width."""
    import io as stdio
    import types

    from rich.console import Console

    from condense_cli.cli import phase as phase_cli

    gammas, primes = [0.5, 1.0, 1.5, 2.0], [-0.5 + 0.25 * k for k in range(14)]
    rng = np.random.default_rng(0)
    result = types.SimpleNamespace(slope=rng.normal(0, 3, (4, 14)), converged=rng.random((4, 14, 2)) > 0.2,
                                   regime=np.array([["linear", "critical", "condensed"][k % 3] for k in range(56)]).reshape(4, 14))
    result.slope[0, 0] = np.nan
    buffer = stdio.StringIO()
    monkeypatch.setattr(phase_cli, "err", Console(file=buffer, width=80, color_system=None))
    summary = {"gammas": gammas, "gamma_primes": primes, "agreement": 0.5, "agreement_points": 10, "diverged": 0,
               "unconverged": 3, "seconds": 1.0, "outputs": ["phase.npz"]}
    phase_cli._print_phase(summary, result, [])
    lines = buffer.getvalue().splitlines()
    table = [l for l in lines if l.strip() and not l.startswith(("agreement", "written"))]
    assert all(len(l) <= 80 for l in table)
    printed = " ".join(table).split()
    for i in range(4):
        for j in range(14):
            s = result.slope[i, j]
            if s == s:
                assert f"{s:+.2f}{'' if result.converged[i, j].all() else '*'}" in printed
    assert "n/a" in printed and "columns 1-9 of 14" in buffer.getvalue().replace("\n", " ")
