"""A Rich progress bar on stderr for long work (CLI layer only; the core never imports this).

`progress_bar(label)` is a context manager yielding `advance(done, total)`, the callback the
library's long functions accept.
"""
from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_bar(label: str, disable: bool = False, console: Console | None = None):
    if disable:
        yield lambda done, total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            yield advance
        except BaseException:  # the error's one line stands alone: the bar is taken down
            bar.live.transient = True
            raise
