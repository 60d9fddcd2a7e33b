"""The `condense` command line: parses options into configs, calls the library, reports.

Each command is thin: it builds a frozen config, calls one library function, writes files
through `io`, prints a short Rich summary on stderr and, with `--json`, one JSON object on
stdout. JAX is imported inside commands so `condense --help` answers fast. Errors the library
raises on purpose (`CondenseError`) become one line on stderr and exit code 2 (bad input) or
1 (failure while running); nothing is printed as a traceback unless CONDENSE_DEBUG=1.
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import BadInput, CondenseError

app = typer.Typer(
    name="condense",
    help="Train networks with small initialization and measure their condensation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False)


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def reported(fn):
    """Turn library errors into one line and an exit code; never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CondenseError as e:
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as e:  # an unexpected fault: still one line
            if os.environ.get("CONDENSE_DEBUG"):
                raise
            _fail(f"internal error: {e.__class__.__name__}: {e} (set CONDENSE_DEBUG=1 for a traceback)", 1)

    return wrapper


def _emit_json(obj: dict) -> None:
    from .io import json_default

    sys.stdout.write(json.dumps(obj, default=json_default) + "\n")
    sys.stdout.flush()


def _finite_or_none(v: float):
    return float(v) if math.isfinite(v) else None


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """'50,30' or '1e3,1e4' -> (50, 30) / (1000, 10000); BadInput for anything else."""
    from .phase import parse_values

    values = parse_values(text, what)
    for v in values:
        if v != int(v) or v < 1:
            raise BadInput(f"{what}: {v:g} is not a positive integer")
    return tuple(int(v) for v in values)


def _output_folder(folder: Path, must_be_empty: bool = False) -> Path:
    """Create --out-dir (its parent must exist); BadInput when it is a file, or when it already
    holds something and `must_be_empty`."""
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--out-dir {folder} exists and is not a folder")
    if must_be_empty and folder.is_dir() and any(folder.iterdir()):
        raise BadInput(f"{folder} already holds results; pass --force to overwrite them or choose another --out-dir")
    if not folder.exists():
        parent = folder.parent if str(folder.parent) else Path(".")
        if not parent.is_dir():
            raise BadInput(f"cannot create --out-dir {folder}: {parent} does not exist")
        try:
            folder.mkdir()
        except OSError as e:
            raise BadInput(f"cannot create --out-dir {folder}: {e.strerror or e}") from None
    return folder


def _save_figure(fig, path: Path, fmt: str, written: list[str]) -> None:
    """Save a matplotlib figure atomically and note its path."""
    from .io import atomic_write

    atomic_write(path, "wb", lambda f: fig.savefig(f, dpi=130, format=fmt))
    written.append(str(path))


@app.command("activations")
@reported
def activations_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
):
    """List the activations with their multiplicity p at 0 (computed by autodiff) and bound 2p.

    Any command also takes a formula of x, e.g. --act "x**2*tanh(x)"."""
    from .nn import activations

    rows = []
    for name, a in activations.ACTIVATIONS.items():
        p = activations.multiplicity(name)
        rows.append({"name": name, "formula": a.formula, "multiplicity": p,
                     "bound": None if p is None else 2 * p})
    if as_json:
        _emit_json({"activations": rows})
        return
    table = Table(title="activations (p: multiplicity at 0, by autodiff; 2p: bound on condensed orientations)")
    for col in ("name", "formula", "p", "2p"):
        table.add_column(col)
    for r in rows:
        p = r["multiplicity"]
        table.add_row(r["name"], r["formula"], "undefined" if p is None else str(p),
                      "-" if p is None else str(2 * p))
    Console().print(table)


@app.command("train")
@reported
def train_cmd(
    act: Annotated[str, typer.Option(help="Activation, or one per hidden layer: 'x2tanh,xtanh'. See `condense activations`.")] = "tanh",
    data: Annotated[str, typer.Option(help="Named data set (sin5d, sin5d-low, sin3d, sin1d, relu-combo, tanh1d, sin1, phase4), real data (digits, mnist, fashion-mnist, cifar10, cifar100) or a .npz (x, y) / .csv file.")] = "sin5d",
    n: Annotated[Optional[int], typer.Option(help="Number of training points (default: the data set's own).")] = None,
    data_seed: Annotated[int, typer.Option(help="Seed for sampling the data.")] = 0,
    arch: Annotated[str, typer.Option(help="mlp; cnn: one convolution layer (--channels, --kernel) before the dense layers; resnet18: the ResNet18 convolution trunk before the dense layers (image data).")] = "mlp",
    trunk_width: Annotated[int, typer.Option(help="--arch resnet18: channels of the first stage (64 as in ResNet18; e.g. 4 for a CPU smoke run).")] = 64,
    channels: Annotated[int, typer.Option(help="--arch cnn: convolution channels.")] = 8,
    kernel: Annotated[int, typer.Option(help="--arch cnn: kernel size k (k x k, stride 1, no padding).")] = 3,
    depth: Annotated[int, typer.Option(help="Number of hidden layers.")] = 1,
    width: Annotated[int, typer.Option(help="Hidden width m.")] = 50,
    widths: Annotated[Optional[str], typer.Option(help="Widths per hidden layer, e.g. '50,30' (overrides --depth/--width).")] = None,
    residual: Annotated[bool, typer.Option(help="Residual hidden layers: h_{l+1} = σ(W h_l + b) + h_l.")] = False,
    output_bias: Annotated[bool, typer.Option("--output-bias/--no-output-bias", help="Bias on the output layer (--no-output-bias: f = Σ a_k σ(w_k·x̃) exactly).")] = True,
    alpha: Annotated[float, typer.Option(help="Output scale: f = (1/α)·(...).")] = 1.0,
    gamma: Annotated[Optional[float], typer.Option(help="Init every weight and bias from N(0, m^-γ) (variance; m the hidden width).")] = None,
    init_std: Annotated[Optional[str], typer.Option(help="Init std directly: one value, or one per layer '1,0.03' (hidden layers, then output); default 0.005, the paper's Fig. 2.")] = None,
    optimizer: Annotated[str, typer.Option(help="adam, gd (full batch) or sgd (minibatch, --batch-size).")] = "adam",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    steps: Annotated[int, typer.Option(help="Training steps T.")] = 1000,
    batch_size: Annotated[Optional[int], typer.Option(help="Minibatch size for --optimizer sgd.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first network.")] = 0,
    seeds: Annotated[int, typer.Option(help="Train S networks at once (seeds seed..seed+S-1).")] = 1,
    record_every: Annotated[Optional[int], typer.Option(help="Record weights every k steps (default: about 100 snapshots).")] = None,
    snapshots: Annotated[Optional[int], typer.Option(help="Record K snapshots instead (0 and T included).")] = None,
    log_spaced: Annotated[bool, typer.Option(help="Space the --snapshots logarithmically.")] = False,
    stop_at_loss_ratio: Annotated[Optional[float], typer.Option(help="Stop once loss <= r · initial loss (0.7: end of the initial stage).")] = None,
    dropout: Annotated[float, typer.Option(help="Dropout rate after every hidden layer during training (the recorded loss is without dropout).")] = 0.0,
    loss: Annotated[str, typer.Option(help="mse, or ce (softmax cross-entropy, classification data).")] = "mse",
    data_dir: Annotated[Optional[str], typer.Option(help="Folder with the MNIST/Fashion-MNIST IDX or CIFAR binary files (never downloaded).")] = None,
    test_fraction: Annotated[float, typer.Option(help="Classification data: share held out for test accuracy.")] = 0.2,
    x64: Annotated[bool, typer.Option("--x64", help="Train in float64 (for tiny initializations).")] = False,
    out: Annotated[Path, typer.Option(help="Run file to write (NPZ, schema condense.run/2).")] = Path("run.npz"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
):
    """Train a network (default: initial-condensation Fig. 2, 5-50-1 tanh, Adam) and write a run file."""
    from . import io
    from . import run as run_files
    from .training import TrainConfig, train

    config = TrainConfig(
        act=tuple(a.strip() for a in act.split(",")), arch=arch, channels=channels, kernel=kernel,
        trunk_width=trunk_width,
        data=data, n=n, data_seed=data_seed,
        depth=depth, width=width, widths=parse_int_list(widths, "--widths") if widths else None,
        residual=residual, output_bias=output_bias, alpha=alpha, gamma=gamma, init_std=_parse_stds(init_std),
        optimizer=optimizer, lr=lr, steps=steps, batch_size=batch_size, seed=seed, seeds=seeds,
        record_every=record_every, snapshots=snapshots, log_spaced=log_spaced,
        stop_at_loss_ratio=stop_at_loss_ratio, dropout=dropout, loss=loss, data_dir=data_dir,
        test_fraction=test_fraction, x64=x64,
    )
    config.validate()
    io.check_writable(out)
    from .progress import progress_bar
    from .runtime import enable_compilation_cache

    enable_compilation_cache()

    with progress_bar(f"training {'×'.join(map(str, config.hidden_widths()))} {act}",
                      disable=quiet, console=err) as advance:
        result = train(config, progress=advance)
    run_files.save_run(out, result)
    summary = _train_summary(result, out)
    if not quiet:
        _print_train_summary(summary, result)
    if as_json:
        _emit_json(summary)
    meta = result.meta
    if meta["status"] != "finished":
        done = meta["steps_done"]
        _fail(f"{meta['reason']}; kept steps 0..{done} in {out}", 1)


def _parse_stds(text: str | None):
    """--init-std: None, one float, or a tuple of floats (one per layer)."""
    if text is None:
        return None
    from .phase import parse_values

    values = parse_values(text, "--init-std")
    return values[0] if len(values) == 1 else values


def _train_summary(result, out: Path) -> dict:
    import numpy as np

    from .measure.condensation import relative_distance

    loss0, lossT = result.loss[:, 0], result.loss[:, -1]
    ratio = lossT / np.where(loss0 > 0, loss0, np.nan)
    rd = [relative_distance(w[:, 0], w[:, -1]) for w in result.hidden]  # each (S,)
    p = result.meta["multiplicity"]
    summary = {
        "out": str(out),
        "steps": int(result.meta["steps_done"]),
        "loss_initial": _finite_or_none(float(np.mean(loss0))),
        "loss_final": _finite_or_none(float(np.mean(lossT))),
        "loss_ratio": _finite_or_none(float(np.mean(ratio))),
        "rd": [_finite_or_none(float(np.mean(r))) for r in rd],
        "multiplicity": p[0] if len(set(p)) == 1 else p,
        "seconds": round(float(result.meta["seconds"]), 3),
        "status": result.meta["status"],
    }
    if "train_acc" in result.extra:
        summary["train_acc"] = _finite_or_none(float(np.mean(result.extra["train_acc"][:, -1])))
        summary["test_acc"] = _finite_or_none(float(np.mean(result.extra["test_acc"][:, -1])))
    if len(loss0) > 1:
        summary["per_seed"] = {
            "seed": result.meta["seeds"],
            "loss_final": [_finite_or_none(float(v)) for v in lossT],
            "loss_ratio": [_finite_or_none(float(v)) for v in ratio],
            "rd": [[_finite_or_none(float(v)) for v in r] for r in rd],
        }
    return summary


def _print_train_summary(s: dict, result) -> None:
    t = Table(title=f"condense train → {s['out']}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    meta = result.meta
    t.add_row("network", f"{meta['d']}-{'-'.join(map(str, meta['widths']))}-{meta['d_out']}, "
              f"{', '.join(meta['activation'])}, {meta['dtype']}")
    t.add_row("steps", f"{s['steps']} of {meta['steps_requested']} ({meta['status']}"
              + (f": {meta['reason']}" if meta["reason"] else "") + ")")
    seeds = f" (mean of {len(meta['seeds'])} seeds)" if len(meta["seeds"]) > 1 else ""
    t.add_row("loss", f"{_fmt(s['loss_initial'])} → {_fmt(s['loss_final'])}{seeds}")
    t.add_row("loss ratio", _fmt(s["loss_ratio"]))
    if "train_acc" in s:
        t.add_row("accuracy", f"train {_fmt(s['train_acc'])}, test {_fmt(s['test_acc'])}")
    for l, r in enumerate(s["rd"], 1):
        t.add_row(f"RD layer {l}", _fmt(r))
    ps = meta["multiplicity"]
    t.add_row("p / 2p", ", ".join("undefined" if p is None else f"{p} / {2 * p}" for p in ps))
    t.add_row("seconds", f"{s['seconds']:.2f}")
    err.print(t)


def _fmt(v) -> str:
    return "nan" if v is None else f"{v:.4g}"


@app.command("analyze")
@reported
def analyze_cmd(
    run_file: Annotated[Path, typer.Argument(help="A run file written by `condense train`.")],
    at: Annotated[str, typer.Option(help="Which moment: 'initial' (last recorded step before the loss fell to 70% of its initial value), 'end', 'most-condensed' (the step of the initial stage where the first analyzed layer was most condensed), or a recorded step number.")] = "initial",
    at_loss_ratio: Annotated[Optional[float], typer.Option(help="Instead: the last recorded step before the loss fell to r × its initial value.")] = None,
    layer: Annotated[Optional[str], typer.Option(help="Hidden layer(s) to analyze, e.g. '1' or '1,3' (default: all).")] = None,
    min_norm: Annotated[float, typer.Option(help="Leave out neurons whose input-weight norm is below this fraction of the largest.")] = 0.1,
    tol: Annotated[Optional[float], typer.Option(help="Report the count at this one fixed cosine tolerance instead of the persistent count (the one that holds over the widest range of tolerances).")] = None,
    fixed_tol: Annotated[float, typer.Option(help="The fixed cosine tolerance of the second, stated reading beside the persistent count.")] = 0.95,
    min_share: Annotated[float, typer.Option(help="Clusters with less than this share of the kept neurons are reported but not counted.")] = 0.05,
    min_coverage: Annotated[float, typer.Option(help="A layer is condensed only if its counted clusters hold at least this share of the kept neurons.")] = 0.5,
    max_neurons: Annotated[int, typer.Option(help="Cluster at most this many kept neurons (a fixed random sample when there are more; the others join the nearest cluster).")] = 2000,
    fit_tol: Annotated[float, typer.Option(help="1-d input: a polynomial fits the output when its relative RMS residual is at most this.")] = 0.05,
    act: Annotated[Optional[str], typer.Option(help="Activation (name or formula of x, or one per layer) for a run file whose meta does not name it; must agree with the file's own where it does.")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Output scale 1/α for a run file whose meta lacks it.")] = None,
    residual: Annotated[Optional[bool], typer.Option("--residual/--no-residual", help="Residual hidden layers, for a run file whose meta lacks it.", show_default=False)] = None,
    out_dir: Annotated[Optional[Path], typer.Option(help="Folder for figures and the analysis NPZ (default: next to the run file).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Figure format: png or pdf.")] = "png",
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the figures (numbers only).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or report.")] = False,
):
    """Measure condensation in a run: orientations against the bound 2p, the theory, figures."""
    from . import io
    from . import run as run_files
    from .measure.analyze import AnalysisOptions, analyze, resolve_run

    if fmt not in ("png", "pdf"):
        raise BadInput(f"--format must be png or pdf, got {fmt!r}")
    options = AnalysisOptions(at=at, at_loss_ratio=at_loss_ratio,
                              layers=parse_int_list(layer, "--layer") if layer else None,
                              min_norm=min_norm, tol=tol, fixed_tol=fixed_tol, min_share=min_share,
                              min_coverage=min_coverage, max_neurons=max_neurons, fit_tol=fit_tol)
    run = resolve_run(run_files.load_run(run_file), act=act, alpha=alpha, residual=residual)
    options.validate(len(run.hidden))
    folder = out_dir if out_dir is not None else (run_file.parent if str(run_file.parent) else Path("."))
    if out_dir is not None:
        _output_folder(out_dir)
    stem = run_file.name[:-4] if run_file.name.endswith(".npz") else run_file.name
    npz_path = io.check_writable(folder / f"{stem}_analysis.npz")
    from .progress import progress_bar

    with progress_bar("analyzing snapshots", disable=quiet, console=err) as advance:
        result = analyze(run, options, progress=advance)
    report = {**result["report"], "file": str(run_file)}
    outputs = []
    if not no_figures:
        outputs = _analysis_figures(result, run, report, folder, stem, fmt)
    io.save_npz(npz_path, result["arrays"], {"schema": "condense.analysis/1", "run": str(run_file), **report})
    outputs.append(str(npz_path))
    report["outputs"] = outputs
    if not quiet:
        _print_analysis(report)
    if as_json:
        _emit_json(report)


def _analysis_figures(result, run, report, folder: Path, stem: str, fmt: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from . import plots
    from .measure.condensation import cosine_matrix

    written = []

    def save(fig, name):
        _save_figure(fig, folder / f"{stem}_{name}.{fmt}", fmt, written)

    figs = result["figures"]
    step = figs["step"]
    seed0 = report["seeds"][0]["seed"] if "seeds" in report else (run.meta.get("seeds") or [0])[0]
    for fl, entry in zip(figs["layers"], report["layers"]):
        lc, order = fl["lc"], fl["order"]
        D = cosine_matrix(lc.unit[order]) if len(order) else np.zeros((1, 1))
        shown = f"{len(order)} of {lc.kept} kept" if len(order) < lc.kept else f"{lc.kept} kept"
        bound = entry["bound"]
        m = entry["measure"]
        how = (f"persistent over cos {m['persistent']['range'][0]:.2f}-{m['persistent']['range'][1]:.2f}"
               if m.get("method") == "persistent" and m.get("persistent") else
               f"at cos {m['tol_used']:.2f}" if m.get("tol_used") is not None else "")
        title = (f"layer {fl['layer']}, {entry['activation']} (p={entry['multiplicity'] or 'undef.'}), "
                 f"step {step}: {'condensed' if entry['condensed'] else 'NOT condensed'}\n"
                 f"{entry['directions']} directions, {entry['lines']} lines ({how})"
                 + (f", bound 2p = {bound}" if bound is not None else "") + f"\n{shown} of {lc.neurons} neurons")
        save(plots.cosine_heatmap(D, title, lc.labels[order] if len(order) else None), f"cosine_l{fl['layer']}")
        if lc.curve is not None and m.get("persistent"):
            save(plots.count_vs_tolerance(lc.curve["tol"], lc.curve["directions"], lc.curve["lines"],
                                          m["persistent"]["range"], m["fixed"]["tol"],
                                          f"layer {fl['layer']}, step {step}: {m['persistent']['directions']} "
                                          f"directions, {m['persistent']['lines']} lines persist "
                                          f"({'condensed' if entry['condensed'] else 'not condensed'})"),
                 f"tolerance_l{fl['layer']}")
    save(plots.loss_curve(np.asarray(run.loss[0]), step, 0.7, f"seed {seed0}: loss ratio at step {step} "
                          f"= {report['loss_ratio'] if report['loss_ratio'] is None else round(report['loss_ratio'], 3)}"),
         "loss")
    arr = result["arrays"]
    save(plots.training_series(arr["series_step"], arr["series_directions"][0], arr["series_lines"][0],
                               arr["series_rd"][0], arr["layers"].tolist(),
                               [e["bound"] for e in report["layers"]], step,
                               condensed=arr["series_condensed"][0]), "series")
    one = figs["one_d"]
    if one is not None:
        act = report["layers"][0]["activation"] if report["layers"] else ""
        save(plots.feature_map(one["theta"], one["A"], one["A_weighted"], f"layer 1 features at step {step} ({act})"),
             "features")
        save(plots.direction_field(one["grid"], one["field"], one["w"], one["b"], one["lines"],
                                   f"direction field at step {step} ({act})", unstable=one["unstable"]), "field")
        save(plots.output_fit(one["xs"], one["f"], one["fits"], run.x[:, 0], run.y[:, 0],
                              one["report"]["expected_degree"],
                              f"output at step {step}: lowest fitting degree {one['report']['poly_degree']}"),
             "output")
    return written


def _print_analysis(report: dict) -> None:
    opt = report["options"]
    count = ("persistent count (the one that holds over the widest range of cosine tolerances)"
             if opt["count"] == "persistent" else f"count at the fixed tolerance cos {opt['tol']}")
    err.print(f"[bold]condense analyze[/] {report['file']}: step {report['step']} ({report['why']}); "
              f"loss ratio {_fmt(report['loss_ratio'])}, stage {report['stage']}; optimizer "
              f"{report.get('optimizer') or 'not recorded'}; {count}", soft_wrap=True)
    t = Table()
    for col in ("layer", "σ (p)", "kept", "dirs, lines", "persists", f"at {opt['fixed_tol']:g}",
                "condensed", "≤ 2p"):
        t.add_column(col)
    for e in report["layers"]:
        p, wb, m = e["multiplicity"], e["within_bound"], e["measure"]
        pr = m.get("persistent")
        rng = f"{pr['range'][0]:.2f}-{pr['range'][1]:.2f}" if pr else "-"
        fixed = f"{m['fixed']['directions']}, {m['fixed']['lines']}" if m.get("fixed") else "-"
        t.add_row(str(e["layer"]), f"{e['activation']} ({'undef.' if p is None else p})",
                  f"{e['kept']}/{e['neurons']}", f"{e['directions']}, {e['lines']}", rng, fixed,
                  f"yes {e['coverage']:.0%}" if e["condensed"] else f"[red]no[/] {e['coverage']:.0%}",
                  "n/a" if wb is None else ("yes" if wb else "[red]no[/]"))
    err.print(t)
    for e in report["layers"]:
        l = e["layer"]
        m = e["measure"]
        err.print(f"  layer {l}: {escape(str(m.get('verdict')))}" + ("" if e["condensed"] else "; no count against 2p is claimed")
                  + f"; RD {_fmt(e['rd'])}", soft_wrap=True)
        if m.get("sample"):
            err.print(f"  layer {l}: {m['sample']}", soft_wrap=True)
        shares = ", ".join(f"{c['share']:.0%}" + ("" if c["counted"] else " (not counted)") for c in e["clusters"][:6])
        err.print(f"  layer {l}: direction clusters {shares or 'none'}"
                  + (f" (+{len(e['clusters']) - 6} more)" if len(e["clusters"]) > 6 else ""), soft_wrap=True)
        h = e["held"]
        if h["bound"] is not None:
            runs = [f"{a}-{b}" if a != b else f"{a}" for a, b in h["runs"]]
            span = (("at steps " + ", ".join(runs[:5]) + (f" (+{len(runs) - 5} more)" if len(runs) > 5 else "")
                     + f"; longest from step {h['from']} to step {h['to']}") if runs else "at no recorded step")
            err.print(f"  layer {l}: over the initial stage (steps {h['stage_steps'][0]}-{h['stage_steps'][1]}) "
                      f"condensed within 2p = {h['bound']} {span}; most condensed at step "
                      f"{h['most_condensed_step'] if h['most_condensed_step'] is not None else '(none)'}",
                      soft_wrap=True)
        th = e["theory"]
        if th is not None:
            unstable = f", {len(th['unstable_lines'])} unstable" if th.get("unstable_lines") else ""
            err.print(f"  layer {l}: theory ({escape(th['method'])}): {len(th['predicted_lines'])} stable line(s){unstable}, "
                      f"alignment {_fmt(th['alignment'])} with the errors at this step, "
                      f"{_fmt(th['at_step0']['alignment'])} with those at step 0; matched measured lines "
                      f"{th['matched_lines']}", soft_wrap=True)
        elif e.get("theory_note"):
            err.print(f"  layer {l}: theory: {escape(e['theory_note'])}", soft_wrap=True)
        if e.get("outputs"):
            o = e["outputs"]
            err.print(f"  layer {l}: convolution channels by their outputs over the data: {o['clusters']} "
                      f"counted clusters (shares {', '.join(f'{v:.0%}' for v in o['shares'][:6])})", soft_wrap=True)
        if e["note"] and e["note"] != "not condensed: no count against 2p is claimed":
            err.print(f"  layer {l}: {e['note']}")
    if "one_d" in report:
        o = report["one_d"]
        err.print(f"  1-d output: lowest polynomial degree fitting within {o['fit_tol']}: {o['poly_degree']} "
                  f"(theory: {o['expected_degree']})")
    if "summary" in report:
        for l in report["summary"]["layers"]:
            err.print(f"  seeds: layer {l['layer']} directions {l['directions']}, lines {l['lines']}, "
                      f"condensed {l['condensed_seeds']} of {len(l['condensed'])}")
    err.print("  written: " + ", ".join(report["outputs"]), soft_wrap=True)


@app.command("reduce")
@reported
def reduce_cmd(
    run_file: Annotated[Path, typer.Argument(help="A run file written by `condense train`.")],
    at: Annotated[str, typer.Option(help="Which recorded step to reduce: 'end', 'initial' or a step number.")] = "end",
    seed_index: Annotated[int, typer.Option(help="Which of the run's networks (0-based) when it holds several seeds.")] = 0,
    tol: Annotated[Optional[float], typer.Option(help="Merge the clusters at this fixed cosine tolerance instead of those of the persistent count.")] = None,
    min_norm: Annotated[float, typer.Option(help="Drop neurons whose input weight is below this fraction of the largest.")] = 0.1,
    finetune_steps: Annotated[int, typer.Option(help="Then train the reduced network this many steps (its run's optimizer and lr).")] = 0,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate for fine-tuning (default: the run's).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Reduced run file (default: <run>_reduced.npz beside the run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
):
    """Merge each condensed cluster into one neuron; report width and loss before and after."""
    from . import io
    from . import run as run_files
    from .reduce import reduce_run

    if finetune_steps < 0:
        raise BadInput(f"--finetune-steps must be at least 0, got {finetune_steps}")
    if (tol is not None and not (0 <= tol <= 1)) or not (0 <= min_norm < 1):
        raise BadInput("--tol must be a cosine in [0, 1] and --min-norm in [0, 1)")
    run = run_files.load_run(run_file)
    target = out if out is not None else run_file.with_name(run_file.name.removesuffix(".npz") + "_reduced.npz")
    io.check_writable(target)
    from .progress import progress_bar

    with progress_bar("fine-tuning the reduced network", disable=quiet or finetune_steps == 0, console=err) as advance:
        result, summary = reduce_run(run, at=at, seed_index=seed_index, tol=tol, min_norm=min_norm,
                                     finetune_steps=finetune_steps, lr=lr, progress=advance, source=str(run_file))
    run_files.save_run(target, result)
    summary["out"] = str(target)
    layers, why, loss_before, loss_after, loss_finetuned = (summary["layers"], summary["why"], summary["loss_before"],
                                                            summary["loss_after"], summary["loss_finetuned"])
    step = summary["step"]
    if not quiet:
        err.print(f"[bold]condense reduce[/] {run_file} at step {step} ({why}):", soft_wrap=True)
        for l in layers:
            err.print(f"  layer {l['layer']}: {l['width_before']} → {l['width_after']} neurons "
                      f"({l['dropped_negligible']} negligible dropped, largest cluster {l['largest_cluster']})")
        err.print(f"  loss {loss_before:.6g} → {loss_after:.6g}"
                  + (f" → {loss_finetuned:.6g} after {finetune_steps} fine-tuning steps" if loss_finetuned is not None else ""))
        err.print(f"  written: {target}")
    if as_json:
        _emit_json(summary)


@app.command("reproduce")
@reported
def reproduce_cmd(
    figure: Annotated[Optional[str], typer.Argument(help="A figure id (see --list), or 'all'.")] = None,
    list_figures: Annotated[bool, typer.Option("--list", help="List the reproducible figures.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="A cheaper version of each for a first look.")] = False,
    seeds: Annotated[int, typer.Option(help="Networks per setting (the papers show one).")] = 3,
    out_dir: Annotated[Path, typer.Option(help="Folder for the figures and the report.")] = Path("reproduce"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite a folder that already holds results.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.")] = False,
):
    """Reproduce a published figure end to end, with the paper's result beside the measured one."""
    import time

    from .reproduce import FIGURES, reproduce

    if list_figures or figure is None:
        if as_json:
            _emit_json({"figures": [{"id": f.id, "title": f.title, "source": f.source, "paper": f.paper,
                                     "criterion": f.criterion, "settings": f.settings} for f in FIGURES.values()]})
        else:
            t = Table(title="condense reproduce FIGURE (or all)")
            for col in ("id", "source", "paper's result", "criterion"):
                t.add_column(col)
            for f in FIGURES.values():
                t.add_row(f.id, f.source, f.paper, f.criterion)
            Console().print(t)
        return
    wanted = list(FIGURES) if figure == "all" else [figure]
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        raise BadInput(f"unknown figure {unknown[0]!r}; choose one of: {', '.join(FIGURES)}, or all")
    if seeds < 1:
        raise BadInput(f"--seeds must be at least 1, got {seeds}")
    _output_folder(out_dir, must_be_empty=not force)
    import matplotlib

    matplotlib.use("Agg")
    from . import plots

    results, started = [], time.perf_counter()
    for i, fid in enumerate(wanted, 1):
        if not quiet:
            err.print(f"[{i}/{len(wanted)}] {fid}: {FIGURES[fid].title} …", soft_wrap=True)
        t0 = time.perf_counter()
        rep = reproduce(fid, quick=quick, seeds=seeds)
        files = []
        for name, fn, kwargs in rep.figures:
            _save_figure(getattr(plots, fn)(**kwargs), out_dir / f"{name}.png", "png", files)
        results.append({"figure": rep.figure, "title": rep.title, "source": rep.details.get("source"),
                        "paper": rep.paper, "criterion": rep.criterion, "settings": rep.settings,
                        "measured": rep.measured, "agree": rep.agree, "total": rep.total,
                        "measured_fixed": rep.measured_fixed, "agree_fixed": rep.agree_fixed,
                        "ablations": rep.ablations,
                        "seconds": round(time.perf_counter() - t0, 2), "figures": files, "details": rep.details})
    report = {"quick": quick, "seeds": seeds, "results": results, "seconds": round(time.perf_counter() - started, 2)}
    md, html = _reproduce_report(report, out_dir)
    outputs = [str(md), str(html)] + [f for r in results for f in r["figures"]]
    if not quiet:
        t = Table(title=f"reproductions ({'quick' if quick else 'full'}, {seeds} seeds)")
        for col in ("figure", "paper", "measured (persistent count)", "agree", "at cos 0.95"):
            t.add_column(col)
        for r in results:
            fixed = "-" if r["agree_fixed"] is None else f"{r['agree_fixed']}/{r['total']}"
            t.add_row(r["figure"], r["paper"], r["measured"], f"{r['agree']}/{r['total']}", fixed)
        err.print(t)
        err.print(f"report: {md} and {html}", soft_wrap=True)
    if as_json:
        _emit_json({**report, "outputs": outputs, "results": [{k: v for k, v in r.items() if k != "details"}
                                                              for r in results]})


def _reproduce_report(report: dict, out_dir: Path):
    """report.md and a self-contained report.html (figures inlined), both written atomically."""
    import base64
    import html as html_lib

    from . import __version__
    from .io import write_text

    def fixed(r):
        return "-" if r["agree_fixed"] is None else f"{r['agree_fixed']}/{r['total']}"

    mode = "quick" if report["quick"] else "full"
    lines = [f"# condense reproductions ({mode}, {report['seeds']} seeds)", "",
             f"condense {__version__}; {report['seconds']:.0f} s in all. Each figure states its criterion; a seed "
             "(or setting × seed) agrees when its measurement meets it. Counts are read with the persistent count "
             "(the one that holds over the widest range of cosine tolerances) and, second, at the fixed cosine 0.95; "
             "a layer must be judged condensed for a count to agree.", "",
             "| figure | source | paper | criterion | agree (persistent) | agree (cos 0.95) |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['figure']} | {r['source']} | {r['paper']} | {r['criterion']} | "
                     f"{r['agree']}/{r['total']} | {fixed(r)} |")
    lines.append("")
    for r in report["results"]:
        lines += [f"## {r['figure']}: {r['title']}", "", f"- paper ({r['source']}): {r['paper']}",
                  f"- settings: {r['settings']}", f"- criterion: {r['criterion']}",
                  f"- measured (persistent count): {r['measured']}", f"- agree: {r['agree']} of {r['total']}",
                  f"- measured (fixed cosine 0.95): {r['measured_fixed']}",
                  f"- agree (fixed cosine 0.95): {fixed(r)}"]
        for a in r["ablations"]:
            lines.append(f"- ablation, {a['setting']} ({a['source']}): {a['measured']}; agree {a['agree']} of {a['total']}")
        lines.append("")
        lines += [f"![{Path(f).stem}]({Path(f).name})" for f in r["figures"]] + [""]
    md_path = out_dir / "report.md"
    write_text(md_path, "\n".join(lines))

    esc = html_lib.escape
    body = [f"<h1>condense reproductions ({mode}, {report['seeds']} seeds)</h1>",
            "<table><tr><th>figure</th><th>source</th><th>paper</th><th>criterion</th><th>measured</th>"
            "<th>agree</th><th>at cos 0.95</th></tr>"]
    for r in report["results"]:
        body.append(f"<tr><td>{esc(r['figure'])}</td><td>{esc(str(r['source']))}</td><td>{esc(r['paper'])}</td>"
                    f"<td>{esc(r['criterion'])}</td><td>{esc(r['measured'])}</td><td>{r['agree']}/{r['total']}</td>"
                    f"<td>{esc(fixed(r))}</td></tr>")
    body.append("</table>")
    for r in report["results"]:
        abl = "".join(f"<br><b>ablation</b>, {esc(a['setting'])} ({esc(a['source'])}): {esc(a['measured'])}; "
                      f"agree {a['agree']} of {a['total']}" for a in r["ablations"])
        body.append(f"<h2>{esc(r['figure'])}: {esc(r['title'])}</h2><p><b>paper:</b> {esc(r['paper'])}<br>"
                    f"<b>settings:</b> {esc(r['settings'])}<br><b>criterion:</b> {esc(r['criterion'])}<br>"
                    f"<b>measured:</b> {esc(r['measured'])}<br><b>agree:</b> {r['agree']} of {r['total']}<br>"
                    f"<b>at cos 0.95:</b> {esc(r['measured_fixed'])}; agree {esc(fixed(r))}{abl}</p>")
        for f in r["figures"]:
            data = base64.b64encode(Path(f).read_bytes()).decode()
            body.append(f'<img alt="{esc(Path(f).stem)}" style="max-width:100%" src="data:image/png;base64,{data}">')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>condense reproductions</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:4px;vertical-align:top}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    html_path = out_dir / "report.html"
    write_text(html_path, page)
    return md_path, html_path


DEFAULT_WIDTHS = "1000,5000,10000,20000,40000"
DEFAULT_GAMMAS = "0.25:2.25:0.25"
DEFAULT_GAMMA_PRIMES = "-0.5:1.5:0.25"


@app.command("phase-diagram")
@reported
def phase_cmd(
    widths: Annotated[str, typer.Option(help="Widths m, e.g. '1e3,1e4' (at least two).")] = DEFAULT_WIDTHS,
    gammas: Annotated[str, typer.Option(help="γ values: a list '0.5,1,1.5' or a range 'start:stop:step'.")] = DEFAULT_GAMMAS,
    gamma_primes: Annotated[str, typer.Option(help="γ′ values: a list or a range.")] = DEFAULT_GAMMA_PRIMES,
    seeds: Annotated[int, typer.Option(help="Networks per grid point (RD is averaged in log).")] = 1,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    act: Annotated[str, typer.Option(help="Activation (split invariance holds for positively homogeneous ones: relu).")] = "relu",
    data: Annotated[str, typer.Option(help="Data: default phase4 = 4 points x = -1, -1/3, 1/3, 1 with y = sin 3x; any named data set or .npz/.csv file.")] = "phase4",
    n: Annotated[Optional[int], typer.Option(help="Number of data points (default: the data set's own).")] = None,
    data_seed: Annotated[int, typer.Option(help="Seed for sampling random data sets.")] = 0,
    split: Annotated[str, typer.Option(help="How (γ, γ′) is split into (α, β1, β2): unit-beta2, unit-alpha or balanced.")] = "unit-beta2",
    zero_output: Annotated[bool, typer.Option("--zero-output", help="Mirrored neuron pairs (a, w), (−a, w): zero initial output.")] = False,
    tol: Annotated[float, typer.Option(help="Stop a point when its loss is at most this.")] = 1e-4,
    max_steps: Annotated[int, typer.Option(help="Safety limit: stop a point after this many steps (flagged as not converged; the default grid's slowest point needs about 300,000).")] = 2_000_000,
    margin: Annotated[float, typer.Option(help="Slopes within ±margin of 0 are 'critical'.")] = 0.1,
    boundary_margin: Annotated[float, typer.Option(help="Agreement counts points farther than this from the theoretical boundary.")] = 0.25,
    memory_mb: Annotated[int, typer.Option(help="Memory budget for one compiled group of points.")] = 512,
    x64: Annotated[bool, typer.Option("--x64", help="Train in float64 (RD is measurable in float32 too: the engine trains the displacements).")] = False,
    out_dir: Annotated[Path, typer.Option(help="Folder for phase.npz, the figures and finished widths.")] = Path("phase"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Redo every width (ignore finished ones).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="Figure format: png or pdf.")] = "png",
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the figures (phase.npz only).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
):
    """Sweep (γ, γ′) over widths, fit the slope of log RD against log m, map the regimes."""
    import time

    started = time.perf_counter()
    from .runtime import split_cpu_into_devices

    split_cpu_into_devices()  # before JAX starts: the point axis is sharded over every core
    from . import io
    from .data import resolve
    from .phase import REGIMES, PhaseConfig, parse_values, sweep, width_arrays, width_from_arrays

    if fmt not in ("png", "pdf"):
        raise BadInput(f"--format must be png or pdf, got {fmt!r}")
    config = PhaseConfig(
        gammas=parse_values(gammas, "--gammas"), gamma_primes=parse_values(gamma_primes, "--gamma-primes"),
        widths=parse_int_list(widths, "--widths"), seeds=seeds, seed=seed, act=act, split=split,
        zero_output=zero_output, tol=tol, max_steps=max_steps, margin=margin,
        boundary_margin=boundary_margin, memory_mb=memory_mb, x64=x64)
    config.validate()
    dataset = resolve(data, n, data_seed)
    _output_folder(out_dir)
    parts_dir = out_dir / "widths"
    parts_dir.mkdir(exist_ok=True)
    io.check_writable(out_dir / "phase.npz")
    key = config.key(dataset.spec)
    shape = (len(config.gammas), len(config.gamma_primes), config.seeds)

    finished, redone = {}, []
    for m in config.widths:
        path = parts_dir / f"m{m}.npz"
        if fresh or not path.exists():
            continue
        try:
            arrays, meta = io.read_npz(path)
            part = width_from_arrays(m, arrays, shape, float(meta.get("seconds", 0.0)),
                                     int(meta.get("point_steps", 0)), tuple(meta.get("groups", ())))
            ok = part is not None and meta.get("key") == key and meta.get("width") == m
        except BadInput:
            ok = False
        if ok:
            finished[m] = part
        else:
            redone.append(m)  # corrupt, or from another configuration: never trusted

    def save_part(part):
        io.save_npz(parts_dir / f"m{part.width}.npz", width_arrays(part),
                    {"schema": "condense.phase-width/1", "key": key, "width": part.width, "seconds": part.seconds,
                     "point_steps": part.point_steps, "groups": list(part.groups)})

    from .progress import progress_bar
    from .runtime import enable_compilation_cache, start_distributed

    enable_compilation_cache()
    start_distributed()
    label = f"phase diagram: {len(config.widths)} widths × {shape[0] * shape[1] * shape[2]} points"
    try:
        with progress_bar(label, disable=quiet, console=err) as advance:
            result = sweep(config, dataset, finished, on_width=save_part, progress=advance)
    except KeyboardInterrupt:
        done = sorted(int(p.stem[1:]) for p in parts_dir.glob("m*.npz"))
        _fail(f"interrupted; finished widths kept in {parts_dir} ({', '.join(map(str, done)) or 'none'}); "
              "run the same command again to resume", 1)

    import numpy as np

    unconverged = ~result.converged.all(axis=(2, 3))
    meta = {"schema": "condense.phase/1", "config": {**config.__dict__}, "data": dataset.spec,
            "regimes": list(REGIMES), "agreement": result.agreement, "agreement_points": result.agreement_points,
            "unconverged_points": int(unconverged.sum()), "diverged_points": int(result.diverged.any(axis=(2, 3)).sum()),
            "resumed_widths": sorted(finished), "redone_widths": redone, "seconds": time.perf_counter() - started,
            "work": result.work}
    regime_code = np.select([result.regime == r for r in REGIMES], [i - 1 for i in range(len(REGIMES))], default=-2)
    npz = io.save_npz(out_dir / "phase.npz", {
        "gamma": np.asarray(config.gammas), "gamma_prime": np.asarray(config.gamma_primes),
        "widths": np.asarray(config.widths), "rd": result.rd, "slope": result.slope, "regime": regime_code,
        "converged": result.converged, "diverged": result.diverged, "steps": result.steps,
        "final_loss": result.final_loss, "measured_boundary": result.boundary}, meta)
    outputs = [str(npz)] + ([] if no_figures else _phase_figures(result, unconverged, out_dir, fmt))
    summary = {
        "widths": list(config.widths), "gammas": list(config.gammas), "gamma_primes": list(config.gamma_primes),
        "slope": [[_finite_or_none(v) for v in row] for row in result.slope.tolist()],
        "regime": result.regime.tolist(), "agreement": result.agreement,
        "agreement_points": result.agreement_points, "finished": result.finished.tolist(),
        "unconverged": int(unconverged.sum()), "diverged": int(result.diverged.any(axis=(2, 3)).sum()), "seconds": round(time.perf_counter() - started, 3),
        "outputs": outputs,
    }
    if not quiet:
        _print_phase(summary, result, redone)
    if as_json:
        _emit_json(summary)


def _phase_figures(result, unconverged, out_dir: Path, fmt: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from . import plots

    cfg = result.config
    written = []

    def save(fig, name):
        _save_figure(fig, out_dir / f"{name}.{fmt}", fmt, written)

    agree = ("n/a" if result.agreement is None
             else f"{result.agreement:.0%} of {result.agreement_points} converged points")
    save(plots.phase_diagram(cfg.gammas, cfg.gamma_primes, result.slope, result.boundary, unconverged,
                             f"{cfg.act}, widths {', '.join(map(str, cfg.widths))}: agreement with theory {agree}"),
         "phase")
    gp = np.asarray(cfg.gamma_primes)
    rows = sorted({int(np.argmin(np.abs(gp - t))) for t in (0.0, 0.5, 1.0)})  # a few rows: γ′ near 0, 0.5, 1
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rd = np.exp(np.nanmean(np.log(np.where(result.rd > 0, result.rd, np.nan)), axis=-1))  # (Γ, Γ′, W)
    save(plots.rd_vs_width_rows(cfg.widths, [mean_rd[:, j] for j in rows], cfg.gammas,
                                [result.slope[:, j] for j in rows], [cfg.gamma_primes[j] for j in rows]),
         "rd_vs_width")
    return written


def _print_phase(summary: dict, result, redone) -> None:
    t = Table(title="slope of log RD vs log m (regime)")
    t.add_column("γ \\ γ′", style="bold")
    for gp in summary["gamma_primes"]:
        t.add_column(f"{gp:g}")
    colour = {"linear": "blue", "critical": "yellow", "condensed": "red", "": "white"}
    for i, g in enumerate(summary["gammas"]):
        cells = []
        for j in range(len(summary["gamma_primes"])):
            s, r = result.slope[i, j], result.regime[i, j]
            mark = "" if result.converged[i, j].all() else "*"
            cells.append(f"[{colour[r]}]{s:+.2f}{mark}[/]" if s == s else "n/a")
        t.add_row(f"{g:g}", *cells)
    err.print(t)
    agree = ("n/a" if summary["agreement"] is None
             else f"{summary['agreement']:.0%} of {summary['agreement_points']} converged points")
    err.print(f"agreement with the theory away from the boundary: {agree}; "
              f"{summary['diverged']} diverged points, left out; "
              f"* = not converged at some width ({summary['unconverged']} points); {summary['seconds']:.1f} s", soft_wrap=True)
    if redone:
        err.print(f"redid widths {redone}: their saved results were corrupt or from another configuration")
    err.print("written: " + ", ".join(summary["outputs"]), soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: usage errors become one line and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="condense", standalone_mode=False)
    except typer.TyperException as e:  # bad usage: unknown option, unparsable value, ...
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if message.strip():  # empty when the help was shown for a bare `condense`
            err.print(f"[bold red]error:[/] {message} (see condense --help)", soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2) or 2)
    except typer.Abort:
        err.print("[bold red]error:[/] aborted", soft_wrap=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
