"""Files: the run file (`condense.run/2`, reading /1 too), atomic NPZ writing, and safe reading.

- `save_run(path, result)` / `load_run(path) -> TrainResult`: the run-file contract of DESIGN.md.
- `save_npz(path, arrays, meta)`: any result NPZ, written atomically (temp file in the same
  folder, fsync, rename), so a crash never leaves half a file at `path`.
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

import numpy as np

from .errors import BadInput

RUN_SCHEMA = "condense.run"
RUN_VERSION = 2  # /1 files (no conv layers, no 'layers' in meta) are read too


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


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write `arrays` plus `meta` (as a 0-d JSON string array) to `path` atomically."""
    path = check_writable(path)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise ValueError(f"array {k} has dtype object; run files hold numeric arrays only")
    payload["meta"] = np.array(json.dumps(meta, default=_json_default))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
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


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def load_arrays(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """All arrays of an NPZ, loaded with `allow_pickle=False`; BadInput naming any fault
    (missing, not an NPZ, truncated or corrupt, pickled objects, missing keys)."""
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
            for k in f.files:
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


def read_npz(path: str | Path, required: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) from an NPZ written by `save_npz` (see `load_arrays` for the checks)."""
    arrays = load_arrays(path, ("meta", *required))
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


def save_run(path: str | Path, result) -> Path:
    """Write a `TrainResult` as a run file."""
    return save_npz(path, result.arrays(), result.meta)


def load_run(path: str | Path):
    """Read and check a run file; returns a `TrainResult`. The file is never modified."""
    from .training import TrainResult

    arrays, meta = read_npz(path, ("x", "y", "loss", "step", "w1", "a"))
    check_schema(path, meta, RUN_SCHEMA, RUN_VERSION)
    layers = sorted((int(k[1:]) for k in arrays if k[:1] == "w" and k[1:].isdigit()))
    if layers != list(range(1, len(layers) + 1)):
        raise BadInput(f"{path}: hidden layers must be w1..wL, found {['w%d' % l for l in layers]}")
    for k, v in arrays.items():
        if not np.issubdtype(v.dtype, np.number):
            raise BadInput(f"{path}: array {k} is not numeric ({v.dtype})")
    hidden = [arrays[f"w{l}"] for l in layers]
    loss, step, out = arrays["loss"], arrays["step"], arrays["a"]
    x, y = arrays["x"], arrays["y"]
    if loss.ndim != 2 or step.ndim != 1 or out.ndim != 4 or x.ndim != 2 or y.ndim != 2:
        raise BadInput(f"{path}: arrays have the wrong number of dimensions for {RUN_SCHEMA}/1")
    S, K = out.shape[:2]
    if loss.shape[0] != S or len(step) != K or len(step) == 0:
        raise BadInput(f"{path}: loss, step and a disagree on seeds or snapshots")
    kinds = meta.get("layers") or []
    conv = kinds[0] if kinds and isinstance(kinds[0], dict) and kinds[0].get("kind") == "conv" else None
    trunk = meta.get("trunk") if isinstance(meta.get("trunk"), dict) else None
    try:
        fan = int(trunk["features"]) if trunk else x.shape[1]
    except (KeyError, TypeError, ValueError):
        raise BadInput(f"{path}: meta describes a trunk without its number of features") from None
    for l, w in enumerate(hidden, 1):
        if l == 1 and conv is not None:
            try:
                fan = int(conv["in_channels"]) * int(conv["kernel"]) ** 2
            except (KeyError, TypeError, ValueError):
                raise BadInput(f"{path}: meta describes a convolution layer without in_channels/kernel") from None
        if w.ndim != 4 or w.shape[:2] != (S, K) or w.shape[3] != fan + 1:
            raise BadInput(f"{path}: w{l} has shape {w.shape}, expected ({S}, {K}, m, {fan + 1})")
        fan = w.shape[2] * (int(np.prod(conv["out"])) if (l == 1 and conv is not None) else 1)
    if out.shape[3] != fan + 1 or out.shape[2] != y.shape[1]:
        raise BadInput(f"{path}: a has shape {out.shape}, expected ({S}, {K}, {y.shape[1]}, {fan + 1})")
    if np.any(step < 0) or np.any(np.diff(step) <= 0) or step[-1] >= loss.shape[1]:
        raise BadInput(f"{path}: step must be increasing and within the loss record")
    extra = {k: v for k, v in arrays.items()
             if k in ("x_test", "y_test", "train_acc", "test_acc") or (k.startswith("trunk_") and k[6:].isdigit())}
    for k in ("train_acc", "test_acc"):
        if k in extra and extra[k].shape != (S, K):
            raise BadInput(f"{path}: {k} has shape {extra[k].shape}, expected ({S}, {K})")
    return TrainResult(x=x, y=y, loss=loss, step=step, hidden=hidden, out=out, meta=meta, extra=extra)
