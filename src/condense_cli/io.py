"""Generic file handling: atomic writing and safe reading (the run file itself is `run`).

- `save_npz(path, arrays, meta)`: any result NPZ, written atomically (temp file in the same
  folder, fsync, rename), so a crash never leaves half a file at `path`; `write_text` likewise.
- `read_npz(path, required)`: loads with `allow_pickle=False`; every problem (missing, not an
  NPZ, truncated, pickled objects, missing keys) is a one-line `BadInput`.
- `check_writable(path)`: fail before any work when the output cannot be written.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import BadInput

def check_writable(path: str | Path) -> Path:
    """The output path, after checking that its folder exists and can be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BadInput(f"output {path} is a directory; give a file name")
    if not folder.is_dir():
        raise BadInput(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"cannot write {path}: folder {folder} is not writable")
    return path


def atomic_write(path: str | Path, mode: str, write: Callable) -> Path:
    """The one atomic writer: `write(f)` fills a temp file in the same folder (opened with `mode`,
    'w' or 'wb'), which is flushed, fsynced and renamed to `path`; a failure leaves `path` as it was."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write `arrays` plus `meta` (as a 0-d JSON string array) to `path` atomically."""
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise ValueError(f"array {k} has dtype object; run files hold numeric arrays only")
    payload["meta"] = np.array(json.dumps(meta, default=json_default))
    return atomic_write(path, "wb", lambda f: np.savez(f, **payload))


def json_default(o):
    """The one JSON encoder of the package: NumPy scalars and arrays, and paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, "w", lambda f: f.write(text))


def load_arrays(path: str | Path, required: tuple[str, ...] = (), only: tuple[str, ...] | None = None
                ) -> dict[str, np.ndarray]:
    """All arrays of an NPZ (or `only` those named), loaded with `allow_pickle=False`; BadInput
    naming any fault (missing, not an NPZ, truncated or corrupt, pickled objects, missing keys)."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path} does not exist")
    if path.is_dir():
        raise BadInput(f"{path} is a directory, not an NPZ file")
    if not zipfile.is_zipfile(path):
        raise BadInput(f"{path} is not an NPZ file (or it is truncated)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in required if k not in f.files]
            if missing:
                raise BadInput(f"{path} lacks key(s) {', '.join(missing)}")
            for k in f.files if only is None else [k for k in f.files if k in only]:
                arrays[k] = f[k]
    except BadInput:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise BadInput(f"{path} carries pickled objects; refused without loading them") from None
        raise BadInput(f"{path} is corrupt ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise BadInput(f"{path} is truncated or corrupt ({e.__class__.__name__})") from None
    return arrays


def read_npz(path: str | Path, required: tuple[str, ...] = (), meta_only: bool = False
             ) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) from an NPZ written by `save_npz` (see `load_arrays` for the checks); with
    `meta_only`, no array but the meta is read (arrays then comes back empty)."""
    arrays = load_arrays(path, ("meta", *required), only=("meta",) if meta_only else None)
    try:
        meta = json.loads(str(arrays.pop("meta")[()]))
        if not isinstance(meta, dict):
            raise ValueError
    except (ValueError, IndexError, TypeError):
        raise BadInput(f"{path} has an unreadable meta entry (not a JSON object)") from None
    return arrays, meta


def check_schema(path, meta: dict, name: str, newest: int) -> int:
    """The version of `meta['schema']` (e.g. 'condense.run/1'); BadInput if it is another
    schema or newer than this program reads."""
    schema = str(meta.get("schema", ""))
    base, _, ver = schema.partition("/")
    if base != name or not ver.isdigit():
        raise BadInput(f"{path} has schema {schema or 'none'!r}, expected {name}/{newest}")
    if int(ver) > newest:
        raise BadInput(f"{path} has schema {schema}, newer than this condense reads "
                       f"({name}/{newest}); upgrade condense")
    return int(ver)
