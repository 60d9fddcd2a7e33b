"""The `condense` command line: one module per command, each parsing options into a config,
calling one library function, writing through `io`/`run` and printing.

Each command is thin: it builds a frozen config, calls one library function, writes files
through `io`, prints a short Rich summary on stderr and, with `--json`, one JSON object on
stdout. JAX is imported inside commands so `condense --help` answers fast. Errors the library
raises on purpose (`CondenseError`) become one line on stderr and exit code 2 (bad input) or
1 (failure while running); nothing is printed as a traceback unless CONDENSE_DEBUG=1.
"""
from __future__ import annotations

import sys

import typer

from . import activations, analyze, embed, phase, reduce, reproduce, train  # noqa: F401  (each registers its command)
from .common import app, error_line

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: usage errors become one line and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="condense", standalone_mode=False)
    except typer.TyperException as e:  # bad usage: unknown option, unparsable value, ...
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None and ctx.command_path else _command_named(command, argv)
        if message.strip():  # empty when the help was shown for a bare `condense`
            error_line(message, f" (see {where} --help)")
        sys.exit(getattr(e, "exit_code", 2) or 2)
    except typer.Abort:
        error_line("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _command_named(group, argv: list[str] | None) -> str:
    """'condense COMMAND' for the first word of the command line that names a command (an error
    the parser raises before a command's context exists, e.g. an option missing its value), else
    'condense'."""
    words = sys.argv[1:] if argv is None else argv
    name = next((w for w in words if not w.startswith("-")), None)
    return f"condense {name}" if name in getattr(group, "commands", {}) else "condense"


if __name__ == "__main__":
    main()
