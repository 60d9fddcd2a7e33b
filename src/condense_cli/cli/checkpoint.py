"""`condense analyze` on checkpoints made elsewhere: options in, the table, figures (cosine heat
maps in pages, the series over training) and the analysis NPZ out."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from rich.table import Table

from .common import all_or_nothing, emit_json, err, output_folder, save_figure, styled

PANELS = 12  # heat maps per figure page


def analyze_checkpoint_cmd(paths: list[Path], options, layout: str, select: tuple[str, ...], kinds: tuple[str, ...],
                           out_dir: Path | None, fmt: str, no_figures: bool, as_json: bool, quiet: bool) -> None:
    from .. import io
    from ..checkpoints.analysis import analyze_checkpoint, stem_of
    from .progress import progress_bar

    options.validate(0)
    first = paths[0]
    if out_dir is not None:
        folder = output_folder(out_dir)
    else:
        folder = first.parent if str(first.parent) else Path(".")
    stem = (stem_of(first.name) or "checkpoint") + ("" if len(paths) == 1 else "_series")
    npz_path = io.check_writable(folder / f"{stem}_analysis.npz")
    source = paths[0] if len(paths) == 1 else paths
    with progress_bar("measuring tensors", disable=quiet, console=err) as advance:
        result = analyze_checkpoint(source, layout, select, kinds, options, progress=advance, heatmaps=not no_figures)
    with all_or_nothing([]) as outputs:
        if not no_figures:
            import matplotlib

            matplotlib.use("Agg")
            from ..plots.figures import checkpoint_series, heatmap_grid

            panels = [{"title": f"{t.name}: {t.directions} dir., {'condensed' if t.condensed else 'not condensed'}",
                       **result.heatmaps[t.name]} for t in result.tensors if t.name in result.heatmaps]
            pages = [panels[i:i + PANELS] for i in range(0, len(panels), PANELS)]
            for i, page in enumerate(pages):
                name = f"{stem}_cosine.{fmt}" if len(pages) == 1 else f"{stem}_cosine_{i + 1}.{fmt}"
                save_figure(heatmap_grid(page), folder / name, fmt, outputs)
            if result.series is not None:
                s = result.series
                save_figure(checkpoint_series(s.step, s.names, s.directions, s.condensed), folder / f"{stem}_series.{fmt}",
                            fmt, outputs)
        arrays = {}
        if result.series is not None:
            s = result.series
            arrays = {"series_step": s.step, "series_directions": s.directions, "series_lines": s.lines,
                      "series_condensed": s.condensed, "series_stable_rank": s.stable_rank}
        outputs.append(str(npz_path))
        result = dataclasses.replace(result, outputs=tuple(outputs))
        report = result.to_json()
        io.save_npz(npz_path, arrays, {"schema": "condense.checkpoint-analysis/1", **report})
    if not quiet:
        _print(result)
    if as_json:
        emit_json(report)


def _print(result) -> None:
    n = len(result.tensors)
    err.print(styled(("condense analyze", "bold"), f" {result.file} ({result.format}): {n} layer"
                     f"{'' if n == 1 else 's'} of neurons; layout {result.layout} ({result.layout_reason})"),
              soft_wrap=True)
    t = Table()
    for col in ("tensor", "kind", "rows × in", "kept", "dirs, lines", "cond.", "s. rank"):
        t.add_column(col, overflow="fold")
    for e in result.tensors:
        t.add_row(e.name, e.kind, f"{e.neurons} × {e.fan_in}{' +b' if e.bias else ''}", f"{e.kept}",
                  f"{e.directions}, {e.lines}",
                  f"yes {e.coverage:.0%}" if e.condensed else styled(("no", "red"), f" {e.coverage:.0%}"),
                  f"{e.stable_rank:.1f}")
    err.print(t)
    err.print("  rows × in: neurons × input weights (+b: the bias joined as the last one); dirs, lines: the "
              "persistent count; cond.: condensed, with the share of kept neurons in counted clusters; s. rank: "
              "stable rank Σ(σ_i/σ_1)² of the weight", soft_wrap=True)
    if result.skipped:
        by_reason = defaultdict(list)
        for name, reason in result.skipped:
            by_reason[reason].append(name)
        for reason, names in by_reason.items():
            shown = ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")
            err.print(f"  skipped {shown}: {reason}", soft_wrap=True)
    s = result.series
    if s is not None:
        share = s.condensed.mean(axis=1)
        err.print(f"  series of {len(s.step)} checkpoints (steps {s.step[0]}..{s.step[-1]}): condensed layers "
                  + ", ".join(f"{int(st)}: {v:.0%}" for st, v in zip(s.step, share)), soft_wrap=True)
    if result.outputs:
        err.print("  written: " + ", ".join(result.outputs), soft_wrap=True)
