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
    sys.stdout.write(json.dumps(obj, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _finite_or_none(v: float):
    return float(v) if math.isfinite(v) else None


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """'50,30' or '1e3,1e4' -> (50, 30) / (1000, 10000); BadInput for anything else."""
    out = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        try:
            v = float(part)
        except ValueError:
            raise BadInput(f"{what}: {part!r} is not a number") from None
        if not math.isfinite(v) or v != int(v) or v < 1:
            raise BadInput(f"{what}: {part!r} is not a positive integer")
        out.append(int(v))
    if not out:
        raise BadInput(f"{what}: give at least one value")
    return tuple(out)


@app.command("activations")
@reported
def activations_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
):
    """List the activations with their multiplicity p at 0 (computed by autodiff) and bound 2p."""
    from . import activations

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
    data: Annotated[str, typer.Option(help="Named data set (sin5d, sin5d-low, sin3d, sin1d, relu-combo, tanh1d, sin1, phase4) or a .npz (x, y) / .csv file.")] = "sin5d",
    n: Annotated[Optional[int], typer.Option(help="Number of training points (default: the data set's own).")] = None,
    data_seed: Annotated[int, typer.Option(help="Seed for sampling the data.")] = 0,
    depth: Annotated[int, typer.Option(help="Number of hidden layers.")] = 1,
    width: Annotated[int, typer.Option(help="Hidden width m.")] = 50,
    widths: Annotated[Optional[str], typer.Option(help="Widths per hidden layer, e.g. '50,30' (overrides --depth/--width).")] = None,
    residual: Annotated[bool, typer.Option(help="Residual hidden layers: h_{l+1} = σ(W h_l + b) + h_l.")] = False,
    output_bias: Annotated[bool, typer.Option("--output-bias/--no-output-bias", help="Bias on the output layer (--no-output-bias: f = Σ a_k σ(w_k·x̃) exactly).")] = True,
    alpha: Annotated[float, typer.Option(help="Output scale: f = (1/α)·(...).")] = 1.0,
    gamma: Annotated[Optional[float], typer.Option(help="Init every weight and bias from N(0, m^-γ) (variance; m the hidden width).")] = None,
    init_std: Annotated[Optional[float], typer.Option(help="Init std directly (default 0.005, the paper's Fig. 2).")] = None,
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
    x64: Annotated[bool, typer.Option("--x64", help="Train in float64 (for tiny initializations).")] = False,
    out: Annotated[Path, typer.Option(help="Run file to write (NPZ, schema condense.run/1).")] = Path("run.npz"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
):
    """Train a network (default: initial-condensation Fig. 2, 5-50-1 tanh, Adam) and write a run file."""
    from . import io
    from .training import TrainConfig, train

    config = TrainConfig(
        act=tuple(a.strip() for a in act.split(",")), data=data, n=n, data_seed=data_seed,
        depth=depth, width=width, widths=parse_int_list(widths, "--widths") if widths else None,
        residual=residual, output_bias=output_bias, alpha=alpha, gamma=gamma, init_std=init_std,
        optimizer=optimizer, lr=lr, steps=steps, batch_size=batch_size, seed=seed, seeds=seeds,
        record_every=record_every, snapshots=snapshots, log_spaced=log_spaced,
        stop_at_loss_ratio=stop_at_loss_ratio, x64=x64,
    )
    config.validate()
    io.check_writable(out)
    from .progress import progress_bar
    from .runtime import enable_compilation_cache

    enable_compilation_cache()

    with progress_bar(f"training {'×'.join(map(str, config.hidden_widths()))} {act}",
                      disable=quiet, console=err) as advance:
        result = train(config, progress=advance)
    io.save_run(out, result)
    summary = _train_summary(result, out)
    if not quiet:
        _print_train_summary(summary, result)
    if as_json:
        _emit_json(summary)
    meta = result.meta
    if meta["status"] != "finished":
        done = meta["steps_done"]
        _fail(f"{meta['reason']}; kept steps 0..{done} in {out}", 1)


def _train_summary(result, out: Path) -> dict:
    import numpy as np

    from .analysis import relative_distance

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
    for l, r in enumerate(s["rd"], 1):
        t.add_row(f"RD layer {l}", _fmt(r))
    ps = meta["multiplicity"]
    t.add_row("p / 2p", ", ".join("undefined" if p is None else f"{p} / {2 * p}" for p in ps))
    t.add_row("seconds", f"{s['seconds']:.2f}")
    err.print(t)


def _fmt(v) -> str:
    return "nan" if v is None else f"{v:.4g}"


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
