"""`condense phase-diagram`: options into a `PhaseConfig`, `phase.run_sweep` (resumable), figures, a table."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from .common import (Format, Split, all_or_nothing, app, emit_json, err, fail, output_folder,
                     parse_int_list, reported, save_figure, styled)


from ..phase.config import DEFAULT_GAMMA_PRIMES, DEFAULT_GAMMAS, DEFAULT_WIDTHS
from ..phase.config import PhaseConfig as DEFAULTS  # the Python API's defaults, defined once (no JAX)


@app.command("phase-diagram")
@reported
def phase_cmd(
    widths: Annotated[str, typer.Option(help=f"Widths m, e.g. '1e3,1e4' (at least two; default {DEFAULT_WIDTHS.replace(',', ', ')}).", show_default=False)] = DEFAULT_WIDTHS,
    gammas: Annotated[str, typer.Option(help="γ, the exponent of κ = β1β2/α = m^−γ (Luo et al.): a list '0.5,1,1.5' or a range 'start:stop:step'.")] = DEFAULT_GAMMAS,
    gamma_primes: Annotated[str, typer.Option(help="γ′, the exponent of κ′ = β1/β2 = m^−γ′: a list or a range.")] = DEFAULT_GAMMA_PRIMES,
    seeds: Annotated[int, typer.Option(help="Networks per grid point (RD is averaged in log).")] = DEFAULTS.seeds,
    seed: Annotated[int, typer.Option(help="First seed.")] = DEFAULTS.seed,
    act: Annotated[str, typer.Option(help="Activation (split invariance holds for positively homogeneous ones: relu).")] = DEFAULTS.act,
    data: Annotated[str, typer.Option(help="Data: default phase4 = 4 points x = -1, -1/3, 1/3, 1 with y = sin 3x; any named data set or .npz/.csv file.")] = "phase4",
    n: Annotated[Optional[int], typer.Option(help="Number of data points (default: the data set's own).")] = None,
    data_seed: Annotated[int, typer.Option(help="Seed for sampling random data sets.")] = 0,
    split: Annotated[Split, typer.Option(help="How (γ, γ′) is split into (α, β1, β2).")] = Split(DEFAULTS.split),
    zero_output: Annotated[bool, typer.Option("--zero-output", help="Mirrored neuron pairs (a, w), (−a, w): zero initial output.", metavar="")] = DEFAULTS.zero_output,
    loss_tol: Annotated[float, typer.Option(help="Stop a point when its loss is at most this.")] = DEFAULTS.tol,
    tol: Annotated[Optional[float], typer.Option("--tol", hidden=True, help="Renamed --loss-tol (kept for one version).")] = None,
    max_steps: Annotated[int, typer.Option(help="Safety limit: stop a point after this many steps (flagged as not converged; the default grid's slowest point needs about 300,000).")] = DEFAULTS.max_steps,
    margin: Annotated[float, typer.Option(help="Slopes within ±margin of 0 are 'critical'.")] = DEFAULTS.margin,
    boundary_margin: Annotated[float, typer.Option(help="Agreement counts points farther than this from the theoretical boundary.")] = DEFAULTS.boundary_margin,
    memory_mb: Annotated[int, typer.Option(help="Memory budget for one compiled group of points.")] = DEFAULTS.memory_mb,
    x64: Annotated[bool, typer.Option("--x64", help="Train in float64 (RD is measurable in float32 too: the engine trains the displacements).", metavar="")] = DEFAULTS.x64,
    out_dir: Annotated[Path, typer.Option(help="Folder for phase.npz, the figures and finished widths.")] = Path("phase"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Redo every width (ignore finished ones).", metavar="")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Figure format.")] = Format.png,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the figures (phase.npz only).", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.", metavar="")] = False,
):
    """Sweep (γ, γ′) over widths, fit the slope of log RD against log m, map the regimes."""
    import time

    started = time.perf_counter()
    if tol is not None:  # the former name of --loss-tol, kept for one version
        err.print(styled(("warning:", "yellow"), " --tol is now --loss-tol for the phase diagram (a loss, not a "
                         "cosine); --tol will be removed in the next version"), soft_wrap=True)
        loss_tol = tol
    from ..runtime import split_cpu_into_devices

    split_cpu_into_devices()  # before JAX starts: the point axis is sharded over every core
    from ..data import resolve
    from ..phase import PhaseConfig, parse_values, run_sweep
    from ..phase.resume import finished_widths

    fmt = fmt.value
    config = PhaseConfig(
        gammas=parse_values(gammas, "--gammas"), gamma_primes=parse_values(gamma_primes, "--gamma-primes"),
        widths=parse_int_list(widths, "--widths"), seeds=seeds, seed=seed, act=act, split=split.value,
        zero_output=zero_output, tol=loss_tol, max_steps=max_steps, margin=margin,
        boundary_margin=boundary_margin, memory_mb=memory_mb, x64=x64)
    config.validate()
    dataset = resolve(data, n, data_seed)

    from ..runtime import enable_compilation_cache, is_writer, start_distributed
    from .progress import progress_bar

    enable_compilation_cache()
    start_distributed()  # CONDENSE_DISTRIBUTED=1: one process per host; process 0 writes every file
    writer = is_writer()
    quiet = quiet or not writer
    if writer:
        output_folder(out_dir)
    points = len(config.gammas) * len(config.gamma_primes) * config.seeds
    label = f"phase diagram: {len(config.widths)} widths × {points} points"
    try:
        with progress_bar(label, disable=quiet, console=err) as advance:
            result, info = run_sweep(config, dataset, out_dir, fresh=fresh, progress=advance)
    except KeyboardInterrupt:
        done = finished_widths(out_dir / "widths")
        fail(f"interrupted; finished widths kept in {out_dir / 'widths'} ({', '.join(map(str, done)) or 'none'}); "
             "run the same command again to resume", 1)

    if not writer:  # the other processes computed their share; process 0 writes and reports
        return
    figures = []
    if not no_figures:
        import matplotlib

        matplotlib.use("Agg")
        from ..plots import phase_figures

        with all_or_nothing(figures):  # phase.npz and the finished widths stay; half a set of figures does not
            for name, fig in phase_figures(result):
                save_figure(fig, out_dir / f"{name}.{fmt}", fmt, figures)
    outputs = [str(info["npz"]), *figures]
    summary = {**result.to_json(), "seconds": round(time.perf_counter() - started, 3), "outputs": outputs}
    if not quiet:
        _print_phase(summary, result, info["redone"])
    if as_json:
        emit_json(summary)


def _print_phase(summary: dict, result, redone) -> None:
    colour = {"linear": "blue", "critical": "yellow", "condensed": "red", "": "white"}
    gammas, primes = summary["gammas"], summary["gamma_primes"]
    cells = [[Text(f"{s:+.2f}{'' if result.converged[i, j].all() else '*'}", style=colour[result.regime[i, j]])
              if s == s else Text("n/a") for j, s in enumerate(result.slope[i])] for i in range(len(gammas))]
    label = max(len("γ \\ γ′"), *(len(f"{g:g}") for g in gammas))
    cell = max([len(f"{gp:g}") for gp in primes] + [len(c) for row in cells for c in row])
    per_table = max(1, (err.width - label - 2) // (cell + 2))  # as many γ′ columns as fit, whole numbers only
    for start in range(0, len(primes), per_table):
        part = range(start, min(start + per_table, len(primes)))
        title = "slope of log RD vs log m (regime)" + (f", γ′ columns {start + 1}-{part[-1] + 1} of {len(primes)}"
                                                       if len(part) < len(primes) else "")
        t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
        t.add_column("γ \\ γ′", style="bold", no_wrap=True)
        for j in part:
            t.add_column(f"{primes[j]:g}", justify="right", no_wrap=True)
        for i, g in enumerate(gammas):
            t.add_row(f"{g:g}", *(cells[i][j] for j in part))
        err.print(t)
    agree = ("n/a" if summary["agreement"] is None
             else f"{summary['agreement']:.0%} of {summary['agreement_points']} converged points")
    err.print(f"agreement with the theory away from the boundary: {agree}; "
              f"{summary['diverged']} diverged points, left out; "
              f"* = not converged at some width ({summary['unconverged']} points); {summary['seconds']:.1f} s", soft_wrap=True)
    if redone:
        err.print(f"redid widths {redone}: their saved results were corrupt or from another configuration")
    err.print("written: " + ", ".join(summary["outputs"]), soft_wrap=True)


