"""Errors the core raises on purpose; the CLI turns each into one line and an exit code.

`BadInput` (exit 2): the user asked for something impossible or gave a bad file.
`RunFailure` (exit 1): something went wrong while running (e.g. the loss became NaN).
"""


class CondenseError(Exception):
    """Base of the errors that are reported as one line, never as a traceback."""

    exit_code = 1


class BadInput(CondenseError, ValueError):
    """Bad usage or bad input: exit code 2."""

    exit_code = 2


class RunFailure(CondenseError, RuntimeError):
    """A failure while running: exit code 1."""

    exit_code = 1
