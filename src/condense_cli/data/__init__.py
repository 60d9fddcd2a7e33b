"""What a network learns: `Dataset`; the papers' synthetic targets (`synthetic`), a user's own
files (`files`) and image classification sets (`images`: digits, MNIST, Fashion-MNIST, CIFAR).
`resolve(data, ...)` turns a `--data` value into a `Dataset`; `resolve_in_background(...)` starts
reading it in a thread and returns a function that waits for it."""
from __future__ import annotations

import threading
from typing import Callable

from ..errors import BadInput
from .dataset import Dataset
from .files import load_file
from .images import REAL, load
from .synthetic import NAMED, make

__all__ = ["Dataset", "NAMED", "REAL", "load_file", "make", "resolve", "resolve_in_background"]


def resolve(data: str, n: int | None = None, seed: int = 0, data_dir: str | None = None,
            test_fraction: float = 0.2, test_set: str = "auto") -> Dataset:
    """A named data set, a real classification set (`images.REAL`, read from `data_dir`, with
    its official test files or `test_fraction` held out, by `test_set`), or a file when `data` ends in .npz/.csv (`n` subsets the first n)."""
    if data in REAL:
        return load(data, data_dir, n, test_fraction, seed, test_set)
    if data.lower().endswith((".npz", ".csv")):
        ds = load_file(data)
        if n is not None:
            if n < 1:
                raise BadInput(f"--n must be at least 1, got {n}")
            ds = Dataset(ds.x[:n], ds.y[:n], {**ds.spec, "n": min(n, len(ds.x))})
        return ds
    return make(data, n, seed)


def resolve_in_background(*args, **kwargs) -> Callable[[], Dataset]:
    """`resolve(*args, **kwargs)` started in a daemon thread; the returned function waits for it and
    returns the `Dataset`, or raises what `resolve` raised (BadInput for bad input), in the caller's
    thread. Reading and scaling the arrays release the GIL, so a command can import and compile
    meanwhile; a process that exits first does not wait for the thread."""
    box: dict = {}

    def work():
        try:
            box["dataset"] = resolve(*args, **kwargs)
        except BaseException as e:  # handed to the caller, raised there
            box["error"] = e

    thread = threading.Thread(target=work, name="condense-data", daemon=True)
    thread.start()

    def wait() -> Dataset:
        thread.join()
        if "error" in box:
            raise box.pop("error")
        return box["dataset"]

    return wait
