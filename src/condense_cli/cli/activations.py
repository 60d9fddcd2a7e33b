"""`condense activations`: the activations with their multiplicity p and bound 2p."""
from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .common import app, emit_json, reported


@app.command("activations")
@reported
def activations_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", metavar="")] = False,
):
    """List the activations with their multiplicity p at 0 (computed by autodiff) and bound 2p.

    Any command also takes a formula of x, e.g. --act "x**2*tanh(x)"."""
    from ..nn import activations

    rows = []
    for name, a in activations.ACTIVATIONS.items():
        p = activations.multiplicity(name)
        rows.append({"name": name, "formula": a.formula, "multiplicity": p,
                     "bound": None if p is None else 2 * p})
    if as_json:
        emit_json({"activations": rows})
        return
    table = Table(title="activations (p: multiplicity at 0, by autodiff; 2p: bound on condensed orientations)")
    for col in ("name", "formula", "p", "2p"):
        table.add_column(col, overflow="fold")
    for r in rows:
        p = r["multiplicity"]
        table.add_row(r["name"], r["formula"], "undefined" if p is None else str(p),
                      "-" if p is None else str(2 * p))
    Console(markup=False).print(table)


