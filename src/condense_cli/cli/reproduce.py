"""`condense reproduce`: published figures end to end, their report written by `reproduce.write_report`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..command_defaults import REPRODUCE
from ..errors import BadInput
from .common import app, emit_json, err, output_folder, reported, save_figure


@app.command("reproduce")
@reported
def reproduce_cmd(
    figure: Annotated[Optional[str], typer.Argument(help="A figure id (see --list), or 'all'.")] = None,
    list_figures: Annotated[bool, typer.Option("--list", help="List the reproducible figures.", metavar="")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="A cheaper version of each for a first look (--list says what it changes; some have none).", metavar="")] = REPRODUCE.quick,
    seeds: Annotated[int, typer.Option(help="Networks per setting (the papers show one).")] = REPRODUCE.seeds,
    data_dir: Annotated[Optional[str], typer.Option(help="ic-table1: CIFAR-10 binary files here (the ResNet18 trunk, for a GPU machine) instead of the digits.")] = None,
    out_dir: Annotated[Path, typer.Option(help="Folder for the figures and the report.")] = Path("reproduce"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite a folder that already holds results.", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.", metavar="")] = False,
):
    """Reproduce a published figure end to end, with the paper's result beside the measured one."""
    import time

    from ..reproductions import FIGURES, reproduce, write_report

    if list_figures or figure is None:
        if as_json:
            emit_json({"figures": [{"id": f.id, "title": f.title, "source": f.source, "paper": f.paper,
                                     "criterion": f.criterion, "settings": f.settings, "quick": f.quick}
                                    for f in FIGURES.values()]})
        else:
            # one block per figure (a table of five long columns breaks words at 80 columns)
            console = Console(markup=False, highlight=False)
            console.print(Text("condense reproduce FIGURE (or all)", style="bold"))
            for f in FIGURES.values():
                console.print()
                console.print(Text.assemble((f.id, "bold cyan"), f"  {f.source}: {f.title}"))
                t = Table.grid(padding=(0, 1))
                t.add_column(style="bold", no_wrap=True)
                t.add_column(overflow="fold")
                t.add_row("  paper", f.paper)
                t.add_row("  criterion", f.criterion)
                t.add_row("  --quick", f.quick or "no cheaper version")
                console.print(t)
        return
    wanted = list(FIGURES) if figure == "all" else [figure]
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        raise BadInput(f"unknown figure {unknown[0]!r}; choose one of: {', '.join(FIGURES)}, or all")
    if seeds < 1:
        raise BadInput(f"--seeds must be at least 1, got {seeds}")
    output_folder(out_dir, must_be_empty=not force)
    from ..runtime import enable_compilation_cache

    enable_compilation_cache()  # every reproduction trains: reuse earlier compilations
    import matplotlib

    matplotlib.use("Agg")
    from .. import plots

    results, started = [], time.perf_counter()
    for i, fid in enumerate(wanted, 1):
        if not quiet:
            err.print(f"[{i}/{len(wanted)}] {fid}: {FIGURES[fid].title} …", soft_wrap=True)
        t0 = time.perf_counter()
        rep = reproduce(fid, quick=quick, seeds=seeds, data_dir=data_dir)
        files = []
        for plot in rep.figures:
            save_figure(plots.draw(plot), out_dir / f"{plot.file}.png", "png", files)
        entry = rep.to_json()
        details = entry.pop("details")
        results.append({**entry, "seconds": round(time.perf_counter() - t0, 2), "figures": files, "details": details})
    report = {"quick": quick, "seeds": seeds, "results": results, "seconds": round(time.perf_counter() - started, 2)}
    md, html = write_report(report, out_dir)
    outputs = [str(md), str(html)] + [f for r in results for f in r["figures"]]
    if not quiet:
        t = Table(title=f"reproductions ({'quick' if quick else 'full'}, {seeds} seeds)")
        for col in ("figure", "paper", "measured (persistent count)", "agree", "at cos 0.95"):
            t.add_column(col, overflow="fold")
        for r in results:
            fixed = "-" if r["agree_fixed"] is None else f"{r['agree_fixed']}/{r['total']}"
            t.add_row(r["figure"], r["paper"], r["measured"], f"{r['agree']}/{r['total']}", fixed)
        err.print(t)
        err.print(f"report: {md} and {html}", soft_wrap=True)
    if as_json:
        emit_json({**report, "outputs": outputs, "results": [{k: v for k, v in r.items() if k != "details"}
                                                              for r in results]})


