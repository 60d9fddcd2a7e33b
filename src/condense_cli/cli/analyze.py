"""`condense analyze`: a run file's condensation against 2p, the theory, figures and the analysis NPZ."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..measure.options import AnalysisOptions as DEFAULTS  # the Python API's defaults, defined once
from ..wording import count_of, noun_for
from .common import (Format, KindChoice, LayoutChoice, all_or_nothing, app, emit_json, err, flag_of, fmt_num,
                     given_on_command_line, moment, output_folder, parse_int_list, reported,
                     save_figure, styled)


@app.command("analyze")
@reported
def analyze_cmd(
    ctx: typer.Context,
    run_file: Annotated[list[Path], typer.Argument(help="A run file written by `condense train`; or a checkpoint made elsewhere (model.safetensors, its .index.json, an NPZ of named arrays), a folder of them or several files (a series over training).", show_default=False, metavar="FILE")],
    at: Annotated[str, typer.Option(help="Which moment: 'initial' (last recorded step before the loss fell to 70% of its initial value), 'end', 'most-condensed' (the step of the initial stage where the first analyzed layer was most condensed), or a recorded step number. A transformer run: 'end' (its default) or a recorded step.")] = DEFAULTS.at,
    at_loss_ratio: Annotated[Optional[float], typer.Option(help="Instead: the last recorded step before the loss fell to r × its initial value.")] = None,
    layer: Annotated[Optional[list[str]], typer.Option(help="Hidden layer(s) to analyze, e.g. '1' or '1,3' (default: all); of a checkpoint, tensor names or globs such as *.c_fc.weight (repeatable).", show_default=False)] = None,
    layout: Annotated[LayoutChoice, typer.Option(help="Checkpoints: how weights are stored: torch (out, in), flax (in, out), gpt2 (Conv1D c_attn/c_proj/c_fc as (in, out)), or auto (from the names; the report says what it chose).")] = LayoutChoice("auto"),
    kind: Annotated[Optional[list[KindChoice]], typer.Option(help="Checkpoints: measure only tensors of this role (repeatable).", show_default=False)] = None,
    min_norm: Annotated[float, typer.Option(help="Leave out neurons whose input-weight norm is below this fraction of the largest.")] = DEFAULTS.min_norm,
    tol: Annotated[Optional[float], typer.Option(help="Report the count at this one fixed cosine tolerance instead of the persistent count (the one that holds over the widest range of tolerances).")] = None,
    fixed_tol: Annotated[float, typer.Option(help="The fixed cosine tolerance of the second, stated reading beside the persistent count.")] = DEFAULTS.fixed_tol,
    min_share: Annotated[float, typer.Option(help="Clusters with less than this share of the kept neurons are reported but not counted.")] = DEFAULTS.min_share,
    min_coverage: Annotated[float, typer.Option(help="A layer is condensed only if its counted clusters hold at least this share of the kept neurons.")] = DEFAULTS.min_coverage,
    max_neurons: Annotated[int, typer.Option(help="Cluster at most this many kept neurons (a fixed random sample when there are more; the others join the nearest cluster).")] = DEFAULTS.max_neurons,
    fit_tol: Annotated[float, typer.Option(help="1-d input: a polynomial fits the output when its relative RMS residual is at most this.")] = DEFAULTS.fit_tol,
    model_rank: Annotated[bool, typer.Option("--model-rank/--no-model-rank", metavar="", help="The model rank: the rank of the Jacobian ∇θ f over the inputs, at the step and over training, and of the narrow network of one neuron per cluster.")] = DEFAULTS.model_rank,
    rank_points: Annotated[Optional[int], typer.Option(help="The model rank at this many inputs drawn uniformly from the data's range (default: the training inputs).")] = None,
    rank_tol: Annotated[float, typer.Option(help="Singular values of the Jacobian at most this times the largest count as zero.")] = DEFAULTS.rank_tol,
    act: Annotated[Optional[str], typer.Option(help="Activation (name or formula of x, or one per layer) for a run file whose meta does not name it; must agree with the file's own where it does.")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Output scale 1/α for a run file whose meta lacks it.")] = None,
    residual: Annotated[Optional[bool], typer.Option("--residual/--no-residual", help="Residual hidden layers, for a run file whose meta lacks it.", show_default=False, metavar="")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(help="Folder for figures and the analysis NPZ (default: next to the run file).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Figure format.")] = Format.png,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip the figures (numbers only).", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or report.", metavar="")] = False,
):
    """Measure condensation in a run: orientations against the bound 2p, the theory, figures."""
    from .. import io
    from .. import run as run_files
    from ..measure.analyze import analyze, resolve_run
    from ..measure.options import AnalysisOptions

    fmt = fmt.value
    from ..checkpoints.analysis import is_checkpoint
    from ..errors import BadInput
    from ..transformer.runfile import is_transformer_run

    if len(run_file) > 1 and not all(is_checkpoint(p) for p in run_file):
        raise BadInput("analyze reads one condense run file at a time (several files are read as a series of "
                       "checkpoints, and these are not all checkpoints)")
    at_given = bool(given_on_command_line(ctx, ("at",)))
    # options of a run's loss, inputs and outputs: a checkpoint or a transformer run has none of these
    run_only = given_on_command_line(ctx, ("at_loss_ratio", "act", "alpha", "residual", "fit_tol", "model_rank",
                                           "rank_points", "rank_tol"))
    if len(run_file) > 1 or is_checkpoint(run_file[0]):
        given = (["at"] if at_given else []) + run_only
        if given:
            raise BadInput(f"{flag_of(ctx, given[0])} does not apply to a checkpoint (a checkpoint is one trained network; "
                           "it takes --layer GLOB, --layout, --kind, --tol, --min-norm and the clustering options)")
        from .checkpoint import analyze_checkpoint_cmd

        options = AnalysisOptions(min_norm=min_norm, tol=tol, fixed_tol=fixed_tol, min_share=min_share,
                                  min_coverage=min_coverage, max_neurons=max_neurons)
        return analyze_checkpoint_cmd(run_file, options, layout.value, tuple(layer or ()),
                                      tuple(k.value for k in kind or ()), out_dir, fmt, no_figures, as_json, quiet)
    if layout.value != "auto" or kind:
        raise BadInput(f"{'--layout' if layout.value != 'auto' else '--kind'} applies to checkpoints made elsewhere, "
                       "not to a condense run file")
    run_file = run_file[0]
    layer = ",".join(layer) if layer else None
    folder = out_dir if out_dir is not None else (run_file.parent if str(run_file.parent) else Path("."))
    stem = run_file.name[:-4] if run_file.name.endswith(".npz") else run_file.name
    if is_transformer_run(run_file):  # the anchor-task transformer: its own recorded matrices
        if run_only:
            raise BadInput(f"{flag_of(ctx, run_only[0])} does not apply to a transformer run (it takes --at end or a "
                           "step, --layer MATRIX[,MATRIX], --tol, --min-norm and the clustering options)")
        if out_dir is not None:
            output_folder(out_dir)
        from .transformer import analyze_transformer_cmd

        options = AnalysisOptions(at=at if at_given else "end", min_norm=min_norm, tol=tol,
                                  fixed_tol=fixed_tol, min_share=min_share, min_coverage=min_coverage,
                                  max_neurons=max_neurons)
        return analyze_transformer_cmd(run_file, folder, stem, options, fmt, no_figures, as_json, quiet, layer=layer)
    options = AnalysisOptions(at=at, at_loss_ratio=at_loss_ratio,
                              layers=parse_int_list(layer, "--layer") if layer else None,
                              min_norm=min_norm, tol=tol, fixed_tol=fixed_tol, min_share=min_share,
                              min_coverage=min_coverage, max_neurons=max_neurons, fit_tol=fit_tol,
                              model_rank=model_rank, rank_points=rank_points, rank_tol=rank_tol)
    run = resolve_run(run_files.load_run(run_file), act=act, alpha=alpha, residual=residual)
    options.validate(len(run.hidden))
    if out_dir is not None:
        output_folder(out_dir)
    npz_path = io.check_writable(folder / f"{stem}_analysis.npz")
    from .progress import progress_bar

    with progress_bar("analyzing snapshots", disable=quiet, console=err) as advance:
        result = dataclasses.replace(analyze(run, options, progress=advance), file=str(run_file))
    report = result.to_json()
    with all_or_nothing([]) as outputs:
        if not no_figures:
            import matplotlib

            matplotlib.use("Agg")
            from ..plots import analysis_figures

            for name, fig in analysis_figures(result, run):
                save_figure(fig, folder / f"{stem}_{name}.{fmt}", fmt, outputs)
        io.save_npz(npz_path, result.arrays, {"schema": "condense.analysis/1", "run": str(run_file), **report})
        outputs.append(str(npz_path))
    report["outputs"] = outputs  # as `Analysis.to_json()` places them, last
    if not quiet:
        _print_analysis(report)
    if as_json:
        emit_json(report)


def _angles(cos_range) -> str:
    """A range of cosine tolerances [lo, hi] as the angles arccos hi - arccos lo, in degrees."""
    import math

    lo, hi = (math.degrees(math.acos(max(-1.0, min(1.0, c)))) for c in cos_range)
    return f"{hi:.1f}-{lo:.0f}°"


def _print_analysis(report: dict) -> None:
    opt = report["options"]
    count = ("persistent count (the best-separated partition, or the count over the widest range of tolerances)"
             if opt["count"] == "persistent" else f"count at the fixed tolerance cos {opt['tol']}")
    err.print(styled(("condense analyze", "bold"), f" {report['file']}: {moment(report['step'], report['why'])}; "
              f"loss ratio {fmt_num(report['loss_ratio'])}, stage {report['stage']}; optimizer "
              f"{report.get('optimizer') or 'not recorded'}; {count}"), soft_wrap=True)
    t = Table()
    for col in ("layer", "σ (p)", "kept", "dirs, lines", "range", f"at {opt['fixed_tol']:g}",
                "cond.", "≤ 2p"):
        t.add_column(col, overflow="fold")  # a long value wraps at 80 columns, never cut
    for e in report["layers"]:
        p, wb, m = e["multiplicity"], e["within_bound"], e["measure"]
        pr = m.get("persistent")
        rng = _angles(pr["range"]) if pr and pr.get("range") else "-"
        fixed = f"{m['fixed']['directions']}, {m['fixed']['lines']}" if m.get("fixed") else "-"
        t.add_row(str(e["layer"]), f"{e['activation']} ({'undef.' if p is None else p})",
                  f"{e['kept']}/{e['neurons']}", f"{e['directions']}, {e['lines']}", rng, fixed,
                  f"yes {e['coverage']:.0%}" if e["condensed"] else styled(("no", "red"), f" {e['coverage']:.0%}"),
                  "n/a" if wb is None else ("yes" if wb else Text("no", style="red")))
    err.print(t)
    err.print("  dirs, lines: the persistent count; range: the angles over which it holds; cond.: condensed, "
              "with the share of kept neurons in counted clusters; ≤ 2p: directions within the bound", soft_wrap=True)
    for e in report["layers"]:
        l = e["layer"]
        m = e["measure"]
        err.print(f"  layer {l}: {m.get('verdict')}" + ("" if e["condensed"] else "; no count against 2p is claimed")
                  + f"; RD {fmt_num(e['rd'])}", soft_wrap=True)
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
            unstable = f" and {len(th['unstable_lines'])} unstable" if th.get("unstable_lines") else ""
            def degs(xs):
                return ", ".join("none measured" if a is None else f"{a:.1f}°" for a in xs) or "none"

            now, then = th["angle_deg"], th["at_step0"]["angle_deg"]
            stable = len(th["predicted_lines"])
            err.print(f"  layer {l}: theory ({th['method']}): {stable} stable{unstable} "
                      f"{noun_for(stable + len(th.get('unstable_lines') or ()), 'line')} "
                      f"from the errors at this step, {degs(now)} from the nearest measured line "
                      f"({sum(m is not None for m in th['matched_lines'])} of {len(now)} within {th['match_deg']:g}°); "
                      f"from the errors at step 0: {count_of(len(then), 'line')}, {degs(then)}", soft_wrap=True)
        elif e.get("theory_note"):
            err.print(f"  layer {l}: theory: {e['theory_note']}", soft_wrap=True)
        if e.get("outputs"):
            o = e["outputs"]
            err.print(f"  layer {l}: convolution channels by their outputs over the data: {o['clusters']} "
                      f"counted clusters (shares {', '.join(f'{v:.0%}' for v in o['shares'][:6])})", soft_wrap=True)
        if e.get("bound_note"):
            err.print(Text(f"  layer {l}: {e['bound_note']}", style="red"), soft_wrap=True)
        if e["note"] and e["note"] != "not condensed: no count against 2p is claimed":
            err.print(f"  layer {l}: {e['note']}")
    r = report.get("model_rank")
    if r is not None:
        if r.get("rank") is None:
            err.print(f"  model rank: not computed ({r.get('note') or 'the weights are not finite'})", soft_wrap=True)
        else:
            gap = (f"σ kept ≥ {r['sigma_kept']:.2g}" + (f", next {r['sigma_dropped']:.2g}" if r["sigma_dropped"] is not None
                                                          else ", none dropped"))
            narrow = ("" if r["narrow_rank"] is None else
                      f"; the narrow network of one neuron per cluster (widths {','.join(map(str, r['narrow_widths']))}) "
                      f"has rank {r['narrow_rank']}")
            err.print(f"  model rank {r['rank']} of {r['parameters']} parameters at {r['points']} inputs (relative "
                      f"tolerance {r['tol']:g}; {gap}){narrow}" + (f"; {r['note']}" if r.get("note") else ""),
                      soft_wrap=True)
    if "one_d" in report:
        o = report["one_d"]
        err.print(f"  1-d output: lowest polynomial degree fitting within {o['fit_tol']}: {o['poly_degree']} "
                  f"(theory: {o['expected_degree']})")
    if "summary" in report:
        for l in report["summary"]["layers"]:
            err.print(f"  seeds: layer {l['layer']} directions {l['directions']}, lines {l['lines']}, "
                      f"condensed {l['condensed_seeds']} of {len(l['condensed'])}")
    err.print("  written: " + ", ".join(report["outputs"]), soft_wrap=True)


