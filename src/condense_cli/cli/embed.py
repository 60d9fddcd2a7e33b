"""`condense embed`: the embedding principle on a trained network: polish, split or null-embed,
and the loss, output change, gradient norm and Hessian inertia before and after."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..mechanisms import POLISH_BAR, ZERO_TOL  # the library's defaults, defined once (no JAX)
from .common import Format, all_or_nothing, app, emit_json, err, fail, moment, reported, save_figure, styled


@app.command("embed")
@reported
def embed_cmd(
    run_file: Annotated[Path, typer.Argument(help="A run file written by `condense train` (a fully connected network).")],
    split: Annotated[Optional[list[str]], typer.Option(help="Split neuron N of hidden layer L: the copy takes α of its outgoing weights, the original 1 − α (LAYER:NEURON[:ALPHA], α any real, default 0.5; neurons 0-based; repeatable, applied in order).", show_default=False)] = None,
    null: Annotated[Optional[list[str]], typer.Option(help="Add to hidden layer L a neuron with zero input and output weights (LAYER[:BIAS]; repeatable, applied after the splits).", show_default=False)] = None,
    at: Annotated[str, typer.Option(help="Which recorded step: 'end', 'initial' or a step number.")] = "end",
    seed_index: Annotated[int, typer.Option(help="Which of the run's networks (0-based).")] = 0,
    polish: Annotated[bool, typer.Option("--polish/--no-polish", metavar="", help="First drive the network to the nearby critical point (float64 Newton / Levenberg–Marquardt on the full-batch gradient).")] = False,
    bar: Annotated[float, typer.Option(help="The criticality bar of --polish: the gradient's L1 norm must fall to this.")] = POLISH_BAR,
    zero_tol: Annotated[float, typer.Option(help="Hessian eigenvalues with |λ| at most this count as zero (the paper's 1e-11).")] = ZERO_TOL,
    out: Annotated[Optional[Path], typer.Option(help="The embedded network's run file (default: <run>_embedded.npz beside the run).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Figure format.")] = Format.png,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the spectra figure.", metavar="")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists; write even when --polish missed its bar.", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table.", metavar="")] = False,
):
    """The embedding principle: split or null-embed neurons; loss, output and Hessian inertia before and after."""
    from .. import io
    from .. import run as run_files
    from ..mechanisms.embed import embed_run
    from ..mechanisms.embedding import parse_null, parse_split
    from ..reduction import check_output

    embeddings = [parse_split(s) for s in split or ()] + [parse_null(s) for s in null or ()]
    target = out if out is not None else run_file.with_name(run_file.name.removesuffix(".npz") + "_embedded.npz")
    check_output(target, run_file, force)
    io.check_writable(target)
    run = run_files.load_run(run_file)
    from ..runtime import enable_compilation_cache

    enable_compilation_cache()
    result = embed_run(run, embeddings, at=at, seed_index=seed_index, polish=polish, bar=bar, zero_tol=zero_tol)
    missed = result.polish is not None and not result.polish.reached
    written = []
    if not missed or force:
        with all_or_nothing(written) as outputs:
            run_files.save_run(target, result.run)
            outputs.append(str(target))
            if not no_figures:
                import matplotlib

                matplotlib.use("Agg")
                from ..plots.figures import hessian_spectra

                states = [result.before, *result.after]
                fig = hessian_spectra([s.label for s in states], [s.eigenvalues for s in states], zero_tol,
                                      f"Hessian spectra at step {result.step}" + (" (polished)" if polish else ""))
                stem = target.name.removesuffix(".npz")
                save_figure(fig, target.with_name(f"{stem}_spectra.{fmt.value}"), fmt.value, outputs)
        result = dataclasses.replace(result, out=str(target))
    report = result.to_json()
    report["outputs"] = written
    if not quiet:
        _print(result, run_file, written)
    if as_json:
        emit_json(report)
    if missed:
        p = result.polish
        fail(f"--polish reached a gradient L1 norm of {p.grad_l1:.3g} after {p.iterations} iterations, above the bar "
             f"{p.bar:g}: not a critical point" + ("; written anyway (--force)" if force else "; nothing written (--force writes it)"), 1)


def _print(result, run_file: Path, written: list[str]) -> None:
    err.print(styled(("condense embed", "bold"), f" {run_file} at {moment(result.step, result.why)}"), soft_wrap=True)
    p = result.polish
    if p is not None:
        err.print(f"  polish: gradient L1 {p.grad_l1_before:.3g} → {p.grad_l1:.3g} in {p.iterations} iterations "
                  f"({'reached' if p.reached else 'missed'} the bar {p.bar:g}); loss {p.loss_before:.6g} → {p.loss:.6g}",
                  soft_wrap=True)
    t = Table()
    for col in ("network", "widths", "loss", "|grad|", "max |Δf|", "+, 0, −", "gap"):
        t.add_column(col, overflow="fold")
    for s in (result.before, *result.after):
        i = s.inertia
        gap = f"{i.largest_zero:.1e} | {i.smallest_kept:.1e}" if i.largest_zero is not None and i.smallest_kept is not None \
            else ("- | " + f"{i.smallest_kept:.1e}" if i.smallest_kept is not None else "-")
        t.add_row(s.label, ",".join(map(str, s.widths)), f"{s.loss:.6g}", f"{s.grad_norm:.2e}", f"{s.max_output_change:.1e}",
                  f"{i.positive}, {i.zero}, {i.negative}", gap)
    err.print(t)
    err.print(f"  +, 0, −: Hessian eigenvalues above, within and below ±{result.before.inertia.tol:g}; gap: the largest "
              "|λ| counted zero | the smallest counted non-zero; max |Δf|: the output's largest change on the "
              "training inputs against the network before", soft_wrap=True)
    if written:
        err.print("  written: " + ", ".join(written), soft_wrap=True)
