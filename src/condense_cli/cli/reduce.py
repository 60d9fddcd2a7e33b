"""`condense reduce`: merge each condensed cluster into one neuron, optionally fine-tune."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..command_defaults import REDUCE
from .common import app, emit_json, err, moment, reported, styled


@app.command("reduce")
@reported
def reduce_cmd(
    run_file: Annotated[Path, typer.Argument(help="A run file written by `condense train`.")],
    at: Annotated[str, typer.Option(help="Which recorded step to reduce: 'end', 'initial' or a step number.")] = REDUCE.at,
    seed_index: Annotated[int, typer.Option(help="Which of the run's networks (0-based) when it holds several seeds.")] = REDUCE.seed_index,
    tol: Annotated[Optional[float], typer.Option(help="Merge the clusters at this fixed cosine tolerance (by default: the persistent reading, or a finer one if it raises the loss by more than --loss-tol).")] = REDUCE.tol,
    loss_tol: Annotated[float, typer.Option(help="Largest relative rise of the full-batch loss allowed: if the persistent reading's merge raises it more, finer fixed readings (cosine 0.9 up to 0.9999, then with no neuron left out) are tried until one is within; none is an error. 'inf': the persistent reading whatever the loss. With --tol only reported.")] = REDUCE.loss_tol,
    min_norm: Annotated[float, typer.Option(help="Drop neurons whose input weight is below this fraction of the largest.")] = REDUCE.min_norm,
    finetune_steps: Annotated[int, typer.Option(help="Then train the reduced network this many steps (its run's optimizer and lr).")] = REDUCE.finetune_steps,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate for fine-tuning (default: the run's).")] = REDUCE.lr,
    no_refit: Annotated[bool, typer.Option("--no-refit", help="Keep the merged outgoing weights Σ (|w_j|/r) a_j as they are (by default they are refit by least squares to the original network's next-layer input on the training inputs).", metavar="")] = not REDUCE.refit,
    out: Annotated[Optional[Path], typer.Option(help="Reduced run file (default: <run>_reduced.npz beside the run).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists (never the input run file).", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.", metavar="")] = False,
):
    """Merge each condensed cluster into one neuron; report width and loss before and after."""
    from .. import io
    from .. import run as run_files
    from ..reduction import check_output, check_reduce_options, reduce_run

    check_reduce_options(tol, min_norm, finetune_steps, loss_tol)  # before the run file is read
    target = out if out is not None else run_file.with_name(run_file.name.removesuffix(".npz") + "_reduced.npz")
    check_output(target, run_file, force)
    run = run_files.load_run(run_file)
    from ..runtime import enable_compilation_cache

    enable_compilation_cache()  # the losses (and fine-tuning) compile: reuse earlier compilations
    io.check_writable(target)
    from .progress import progress_bar

    with progress_bar("fine-tuning the reduced network", disable=quiet or finetune_steps == 0, console=err) as advance:
        reduction = reduce_run(run, at=at, seed_index=seed_index, tol=tol, min_norm=min_norm,
                               finetune_steps=finetune_steps, lr=lr, progress=advance, source=str(run_file),
                               refit=not no_refit, loss_tol=loss_tol)
    run_files.save_run(target, reduction.run)
    reduction = dataclasses.replace(reduction, out=str(target))
    layers, why, step = reduction.layers, reduction.why, reduction.step
    loss_before, loss_after, loss_finetuned = reduction.loss_before, reduction.loss_after, reduction.loss_finetuned
    if not quiet:
        err.print(styled(("condense reduce", "bold"), f" {run_file} at {moment(step, why)}:"), soft_wrap=True)
        for t in reduction.tried[:-1]:
            err.print(f"  the {t['reading']} reading ({sum(t['width_after'])} neurons) raises the loss by "
                      f"{t['loss_change']:+.2%}, above --loss-tol {loss_tol:.2%}: read finer")
        err.print(f"  clusters of the {reduction.reading} reading merged")
        for l in layers:
            err.print(f"  layer {l['layer']}: {l['width_before']} → {l['width_after']} neurons "
                      f"({l['dropped_negligible']} negligible left out, largest cluster {l['largest_cluster']})")
        err.print(f"  loss {loss_before:.6g} → {loss_after:.6g} ({reduction.loss_change:+.2%}; output changed by at most "
                  f"{reduction.max_output_change:.3g} on the training inputs)"
                  + (f" → {loss_finetuned:.6g} after {finetune_steps} fine-tuning steps" if loss_finetuned is not None else ""))
        if not reduction.within_loss_tol:
            err.print(styled(("  warning:", "yellow"), f" the loss rose by more than --loss-tol {loss_tol:.2%} "
                             "(the reading was fixed by --tol)"))
        err.print(f"  written: {target}")
    if as_json:
        emit_json(reduction.to_json())


