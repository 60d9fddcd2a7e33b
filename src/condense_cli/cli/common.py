"""What every command shares: the Typer `app`, the stderr console, turning library errors into one
line and an exit code (`reported`), `--json` output, and the parsing of common options."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup
from rich.text import Text

from .. import choices
from ..errors import BadInput, CondenseError


def _choice(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A string Enum of a choice option, so `--help` lists its values and Typer refuses others."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


# the library's own lists (`choices` imports nothing, so `condense --help` loads no JAX)
Arch = _choice("Arch", (*choices.ARCHS, choices.TRANSFORMER))
Optimizer = _choice("Optimizer", choices.OPTIMIZERS)
Loss = _choice("Loss", choices.LOSSES)
Split = _choice("Split", choices.SPLITS)
Format = _choice("Format", choices.FORMATS)
TestSet = _choice("TestSet", choices.TEST_SETS)
LayoutChoice = _choice("LayoutChoice", choices.LAYOUTS)
KindChoice = _choice("KindChoice", choices.KINDS)
CHOICES = {"arch": Arch, "optimizer": Optimizer, "loss": Loss, "split": Split, "format": Format, "test_set": TestSet}

class _HelpAsFlag:
    """`-h/--help` listed as the flag it is, like every other flag (no '<bool>' type column)."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Command(_HelpAsFlag, TyperCommand):
    pass


class _Group(_HelpAsFlag, TyperGroup):
    pass


class _App(typer.Typer):
    """The Typer app whose commands list `--help` as a flag."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _App(
    cls=_Group,
    name="condense",
    help="Train networks with small initialization and measure their condensation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"condense {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="Print the version and exit.", metavar="")] = False) -> None:
    """Train networks with small initialization and measure their condensation."""


def given_on_command_line(ctx: typer.Context, names) -> list[str]:
    """The parameters among `names` whose value the user gave (not their defaults), in that order."""
    given = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            given.append(name)
    return given


def moment(step: int, why: str) -> str:
    """'step 60 (why it was chosen)' for a summary line; 'step 60 (--at)' when it was simply asked for."""
    return f"step {step} (--at)" if why == f"step {step} (--at)" else f"step {step} ({why})"


def flag_of(ctx: typer.Context, name: str) -> str:
    """How the user spelled parameter `name` ('rank_tol' -> '--rank-tol'; a --x/--no-x flag given
    as false -> '--no-x')."""
    return ("--no-" if ctx.params.get(name) is False else "--") + name.replace("_", "-")


err = Console(stderr=True, highlight=False, markup=False)  # user text (paths, names, values) prints literally


def styled(*parts) -> Text:
    """A line of plain strings and (string, style) pairs; no markup is ever interpreted."""
    return Text.assemble(*parts)


def error_line(message: str, hint: str = "") -> None:
    """One line on stderr: 'error: MESSAGE', the message printed literally."""
    err.print(styled(("error:", "bold red"), " " + message + hint), soft_wrap=True)


def fail(message: str, code: int) -> None:
    error_line(message)
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
            fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except OSError as e:  # a fault of the machine while running: named, one line
            fail(describe_os_error(e), 1)
        except Exception as e:  # an unexpected fault: still one line
            if os.environ.get("CONDENSE_DEBUG"):
                raise
            fail(f"internal error: {e.__class__.__name__}: {e} (set CONDENSE_DEBUG=1 for a traceback)", 1)

    return wrapper


def describe_os_error(e: OSError) -> str:
    """One line for a fault of the file system: what happened and to which file."""
    import errno

    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    what = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.ENAMETOOLONG: "file name too long", errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted", errno.EROFS: "read-only file system",
            errno.EIO: "input/output error"}.get(e.errno, e.strerror or e.__class__.__name__)
    return f"{what}{where}; no file was left half-written"


def emit_json(obj: dict) -> None:
    from ..io import json_default

    sys.stdout.write(json.dumps(obj, default=json_default) + "\n")
    sys.stdout.flush()


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """'50,30' or '1e3,1e4' -> (50, 30) / (1000, 10000); BadInput for anything else."""
    from ..phase import parse_values

    values = parse_values(text, what)
    for v in values:
        if v != int(v) or v < 1:
            raise BadInput(f"{what}: {v:g} is not a positive integer")
    return tuple(int(v) for v in values)


def output_folder(folder: Path, must_be_empty: bool = False) -> Path:
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


@contextlib.contextmanager
def all_or_nothing(written: list[str]):
    """The files a command writes into `written`: removed again if it fails before the end, so a
    fault (a full disk, say) leaves no partial set of outputs behind."""
    try:
        yield written
    except BaseException:
        for f in written:
            try:
                os.unlink(f)
            except OSError:
                pass
        raise


def save_figure(fig, path: Path, fmt: str, written: list[str]) -> None:
    """Save a matplotlib figure atomically and note its path."""
    from ..io import atomic_write

    atomic_write(path, "wb", lambda f: fig.savefig(f, dpi=130, format=fmt))
    written.append(str(path))


def report_ending(meta: dict, target: Path, out: Path) -> None:
    """After a run file was written to `target`: a warning per failed seed, and for a run that
    stopped (interrupted, every seed failed) one line and exit code 1 (`out` was left untouched)."""
    for f in meta.get("failed_seeds", []):
        err.print(styled(("warning:", "yellow"), f" seed {f['seed']} failed at step {f['step']} ({f['reason']}); "
                         "the other seeds went on"), soft_wrap=True)
    if meta["status"] != "finished":
        fail(f"{meta['reason']}; kept steps 0..{meta['steps_done']} in {target} ({out} untouched)", 1)


def fmt_num(v) -> str:
    return "nan" if v is None else f"{v:.4g}"


