"""The layout is the architecture: the core never imports the user interface, every module imports
alone, and no import cycle hides behind a function-level import."""
import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import condense_cli

PACKAGE = Path(condense_cli.__file__).parent
UI = ("condense_cli.cli", "condense_cli.plots", "condense_cli.__main__")


def modules() -> list[str]:
    names = ["condense_cli"] + [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "condense_cli.")]
    return sorted(names)


def _path(name: str) -> Path:
    rel = Path(*name.split(".")[1:])
    return PACKAGE / rel / "__init__.py" if (PACKAGE / rel).is_dir() else PACKAGE / rel.with_suffix(".py")


def imports_of(name: str, known: set[str]) -> set[str]:
    """Every condense_cli module `name` imports, at the top or inside a function."""
    path = _path(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("condense_cli"):
                continue
            for alias in node.names:  # `from . import x` may name a module
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("condense_cli"))
    out.discard(name)
    return {m for m in out if m in known}


def test_import_graph_is_acyclic():
    known = set(modules())
    graph = {m: imports_of(m, known) for m in known}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(known):
        if m not in state:
            visit(m)


def test_every_module_imports_alone_and_the_core_imports_no_ui():
    core = [m for m in modules() if not m.startswith(UI)]
    code = (
        "import importlib, sys\n"
        f"for name in {modules()!r}:\n"
        "    if name.endswith('__main__'):\n"
        "        continue\n"
        "    for k in [k for k in sys.modules if k.startswith('condense_cli')]:\n"
        "        del sys.modules[k]\n"
        "    importlib.import_module(name)\n"
        "for k in [k for k in sys.modules if k.startswith(('condense_cli', 'typer', 'rich', 'matplotlib', 'click'))]:\n"
        "    del sys.modules[k]\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "print([m for m in ('typer', 'rich', 'matplotlib', 'click') if m in sys.modules])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", res.stdout


def test_help_is_fast_and_loads_no_jax():
    res = subprocess.run([sys.executable, "-m", "condense_cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "train" in res.stdout
    res = subprocess.run([sys.executable, "-c", "import sys, condense_cli.cli; print('jax' in sys.modules)"],
                         capture_output=True, text=True)
    assert res.stdout.strip() == "False"
    # the commands' defaults (TrainConfig, PhaseConfig, the embedding tolerances, reduce's and reproduce's) and
    # telling a transformer run file from a dense one load neither JAX nor flax
    code = ("import sys\nfrom condense_cli.training.config import TrainConfig\nfrom condense_cli.phase.config import "
            "PhaseConfig\nfrom condense_cli.mechanisms import ZERO_TOL\nfrom condense_cli.command_defaults import REDUCE\n"
            "import condense_cli.reduction\n"
            "from condense_cli.transformer.runfile import is_transformer_run\n"
            "print([m for m in ('jax', 'flax') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stdout + res.stderr[-2000:]


def test_every_reproduction_figure_spec_names_a_plot():
    """Reproductions describe their figures by `Plot` specs (the core never imports matplotlib);
    every `PlotKind` must be a drawing primitive of `plots`, and `plots.draw` draws a spec."""
    import numpy as np

    import condense_cli.plots as plots
    from condense_cli.reproductions.base import Plot, PlotKind

    from condense_cli.plots import figures

    assert {k.value for k in PlotKind} <= set(plots.PRIMITIVES)
    assert all(plots.PRIMITIVES[n] is getattr(figures, n) for n in plots.FIGURES)  # each name is that function
    fig = plots.draw(Plot("x", PlotKind.LOSS_COMPARISON, {"curves": {"a": np.ones(3)}, "title": "t"}))
    assert fig.axes
    import pytest

    with pytest.raises(TypeError):
        Plot("x", "heatmap_grid", {})  # a string is not a kind
