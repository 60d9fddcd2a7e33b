"""Generic file handling: atomic writing and safe reading (the run file itself is `run`).

- `save_npz(path, arrays, meta)`: any result NPZ, written atomically (temp file in the same
  folder, fsync, rename), so a crash never leaves half a file at `path`; `write_text` likewise.
- `StagedNpz(path)`: the same file, its largest members (a run's data) written in a background
  thread while the run trains, the rest added at the end.
- `read_npz(path, required)`: loads with `allow_pickle=False`; every problem (missing, not a
  regular file, not an NPZ, truncated, encrypted or unknown compression, pickled objects, a dtype
  that is not a real number, declared shapes past `memory_budget()`, missing keys, unreadable
  meta) is a one-line `BadInput`, found from the members' headers before anything is decompressed.
- `check_writable(path)`: fail before any work when the output cannot be written.
- `memory_budget()`: the bytes one command may allocate for arrays (half the machine's memory).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import BadInput

def check_writable(path: str | Path) -> Path:
    """The output path, after checking that its folder exists and can be written."""
    path = _named(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BadInput(f"output {path} is a directory; give a file name")
    if not folder.is_dir():
        raise BadInput(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"cannot write {path}: folder {folder} is not writable")
    return path


BOMB_BYTES = 256 << 20  # a member that decompresses past this ...
BOMB_RATIO = 200  # ... at more than this ratio is refused (run files are written uncompressed)
NAME_MAX = 255  # bytes in one file name on common filesystems


def _named(path: str | Path) -> Path:
    """`path`, after checking that its file name fits the file system (with room for a temp name)."""
    path = Path(path)
    if len(path.name.encode()) > NAME_MAX - 40:
        raise BadInput(f"file name too long ({len(path.name.encode())} bytes; at most {NAME_MAX - 40}): "
                       f"{path.name[:40]}…")
    return path


def check_new(path: str | Path, force: bool, flag: str = "--out") -> Path:
    """`path` when nothing is there or `force`; BadInput otherwise (a file is never replaced unasked)."""
    path = _named(path)
    if path.exists() and not force:
        raise BadInput(f"{path} exists; pass --force to replace it or choose another {flag}")
    return path


def partial_path(path: str | Path) -> Path:
    """Where a run that did not finish is written: beside its target, never over it."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".npz") + ".partial.npz")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (links and relative paths resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def memory_budget() -> int:
    """Bytes one command may allocate for arrays: half the machine's physical memory."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def gib(nbytes: float) -> str:
    return f"{nbytes / 2 ** 30:.3g} GiB"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clear_stale_temps(path: Path) -> None:
    """Remove the temp files of earlier writes to `path` whose writing process is gone (a killed
    write leaves `.NAME.PID.*.tmp` behind)."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent or ".")
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            try:
                os.unlink((path.parent or Path(".")) / name)
            except OSError:
                pass


def atomic_write(path: str | Path, mode: str, write: Callable) -> Path:
    """The one atomic writer: `write(f)` fills a temp file in the same folder (opened with `mode`,
    'w' or 'wb'), which is flushed, fsynced and renamed to `path`; a failure leaves `path` as it
    was and no temp file. Files get the user's umask-derived mode, as an ordinary write would."""
    path = check_writable(path)
    _clear_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _payload(arrays: dict[str, np.ndarray], meta: dict | None = None) -> dict[str, np.ndarray]:
    """The NPZ's members: `arrays` as they are (the same objects where they are arrays), checked
    to be numeric, plus `meta` as a 0-d JSON string array when given."""
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise ValueError(f"array {k} has dtype object; run files hold numeric arrays only")
    if meta is not None:
        payload["meta"] = np.array(json.dumps(meta, default=json_default))
    return payload


class _Cancelled(Exception):
    """A staged write stopped by `StagedNpz.abandon`."""


class _Stoppable:
    """A member's file object whose every write (NumPy writes an array in 16 MiB pieces) first
    checks whether the writing was called off."""

    def __init__(self, f, stop):
        self._f, self._stop = f, stop

    def write(self, data):
        if self._stop.is_set():
            raise _Cancelled
        return self._f.write(data)


def _add_members(archive: zipfile.ZipFile, payload: dict[str, np.ndarray], stop=None) -> None:
    """Append `payload` to an open archive as `np.savez` does: uncompressed `.npy` members. With
    `stop` (a `threading.Event`), `_Cancelled` is raised at the first write after it is set."""
    for k, v in payload.items():
        with archive.open(f"{k}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member if stop is None else _Stoppable(member, stop), v, allow_pickle=False)


def _npz_archive(f) -> zipfile.ZipFile:
    return zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write `arrays` plus `meta` (as a 0-d JSON string array) to `path` atomically."""
    payload = _payload(arrays, meta)

    def write(f):
        with _npz_archive(f) as archive:
            _add_members(archive, payload)

    return atomic_write(path, "wb", write)


class StagedNpz:
    """An NPZ whose largest members are known long before the rest (a run's training data),
    written in two stages so that the first costs no time on the way out.

    `begin(arrays)` starts writing those members (and flushing them to disk) into a temp file
    beside `path`, in a background thread, while the work goes on; `finish(target, arrays, meta)`
    waits for it, adds the other members and the meta, and renames the file to `target` (in
    `path`'s folder) atomically, with the user's umask, as `save_npz` would. The early members
    must be the very arrays `finish` is given (the same objects): when they are not, when the
    background write failed, or when nothing was begun, `finish` is `save_npz`; they must not
    change until `finish`. As a context manager, a file not finished is removed on the way out
    (an error, Ctrl-C), its background write called off at its next 16 MiB."""

    def __init__(self, path: str | Path):
        import threading

        self.path = check_writable(path)
        self._early: dict[str, np.ndarray] = {}
        self._tmp: str | None = None
        self._file = self._archive = self._thread = None
        self._error: BaseException | None = None
        self._stop = threading.Event()

    def begin(self, arrays: dict[str, np.ndarray]) -> None:
        if self._tmp is not None:
            raise RuntimeError("StagedNpz.begin called twice")
        import threading

        self._early = _payload(arrays)
        _clear_stale_temps(self.path)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.{os.getpid()}.", suffix=".tmp",
                                         dir=self.path.parent or ".")

        def write():
            try:
                _add_members(self._archive, self._early, self._stop)
                self._file.flush()
                os.fsync(self._file.fileno())
            except BaseException as e:  # reported by `finish`, which then writes the file whole
                self._error = e

        try:
            self._file = os.fdopen(fd, "wb")
            self._archive = _npz_archive(self._file)
            self._thread = threading.Thread(target=write, name="condense-staged-npz", daemon=True)
            self._thread.start()
        except BaseException:
            if self._file is None:
                os.close(fd)
            self.abandon()
            raise

    def finish(self, target: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
        if self._tmp is None:
            return save_npz(target, arrays, meta)
        self._thread.join()
        payload = _payload(arrays, meta)
        target = check_writable(target)
        same_folder = os.path.samefile(target.parent or ".", self.path.parent or ".")
        if self._error is not None or not same_folder or any(payload.get(k) is not v for k, v in self._early.items()):
            self.abandon()
            return save_npz(target, arrays, meta)
        try:
            _add_members(self._archive, {k: v for k, v in payload.items() if k not in self._early})
            self._archive.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._tmp, 0o666 & ~_umask())
            os.replace(self._tmp, target)
        except BaseException:
            self.abandon()
            raise
        self._tmp = None
        return target

    def abandon(self) -> None:
        """Call off the background write, wait for it, and remove the temp file (also when a
        second Ctrl-C cuts the wait short); `path` is untouched."""
        if self._tmp is None:
            return
        tmp, self._tmp = self._tmp, None
        self._stop.set()
        try:
            if self._thread is not None and self._thread.ident is not None:
                self._thread.join()
        finally:
            for handle in (self._archive, self._file):
                try:
                    if handle is not None:
                        handle.close()
                except (OSError, ValueError):  # (an archive whose member the thread still writes)
                    pass
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def __enter__(self) -> "StagedNpz":
        return self

    def __exit__(self, *exc) -> None:
        self.abandon()


def finite_or_none(v) -> float | None:
    """A number for JSON: a finite value as a float, NaN, ±inf or None as None (JSON has no NaN)."""
    return float(v) if v is not None and math.isfinite(v) else None


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
    path = require_file(path)
    if not zipfile.is_zipfile(path):
        raise BadInput(f"{path} is not an NPZ file (or it is truncated)")
    _check_members(path, only)
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
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError,
            MemoryError, OverflowError) as e:
        raise BadInput(f"{path} is truncated or corrupt ({e.__class__.__name__})") from None
    return arrays


def require_file(path: str | Path, what: str = "") -> Path:
    """`path` when it is a regular file (links followed); BadInput for a missing path, a
    directory, a device, a FIFO or a socket, which are never read."""
    path = Path(path)
    name = f"{what} {path}".strip()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInput(f"{name} does not exist") from None
    except OSError as e:
        raise BadInput(f"cannot read {name}: {e.strerror or e}") from None
    import stat

    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{name} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{name} is not a regular file (a device, FIFO or socket); refused")
    return path


def _check_members(path: Path, only: tuple[str, ...] | None) -> None:
    """Read every member's .npy header (nothing is decompressed past it): refuse encryption,
    unknown compression, object (pickled) or non-real dtypes, and declared sizes past the budget."""
    total, budget = 0, memory_budget()
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                key = info.filename.removesuffix(".npy")
                if only is not None and key not in only:
                    continue
                if info.flag_bits & 0x1:
                    raise BadInput(f"{path}: member {info.filename} is encrypted; refused")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise BadInput(f"{path}: member {info.filename} uses an unknown compression ({info.compress_type})")
                if info.file_size > BOMB_BYTES and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
                    raise BadInput(f"{path}: member {info.filename} would decompress from {gib(info.compress_size)} "
                                   f"to {gib(info.file_size)}; refused as a decompression bomb")
                with z.open(info) as f:
                    dtype, shape = _npy_header(f, path, info.filename)
                if dtype.hasobject:
                    raise BadInput(f"{path} carries pickled objects ({info.filename}); refused without loading them")
                if dtype.kind not in "biufU" or (dtype.kind == "U" and key != "meta"):
                    raise BadInput(f"{path}: array {key} has dtype {dtype}; only arrays of real numbers (or booleans) are read")
                count = 1
                for d in shape:
                    count *= int(d)
                total += count * dtype.itemsize
                if total > budget:
                    raise BadInput(f"{path}: its arrays declare {gib(total)} or more, past the {gib(budget)} "
                                   "this machine allows; refused before reading them")
    except BadInput:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError, ValueError) as e:
        raise BadInput(f"{path} is truncated or corrupt ({e.__class__.__name__})") from None


def _npy_header(f, path, member):
    """(dtype, shape) of an .npy stream, read from its header only."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy version {version}")
    except (ValueError, SyntaxError, TypeError, EOFError, RecursionError, MemoryError):
        raise BadInput(f"{path}: member {member} has an unreadable .npy header") from None
    return np.dtype(dtype), tuple(shape)


def read_npz(path: str | Path, required: tuple[str, ...] = (), meta_only: bool = False
             ) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) from an NPZ written by `save_npz` (see `load_arrays` for the checks); with
    `meta_only`, no array but the meta is read (arrays then comes back empty)."""
    arrays = load_arrays(path, ("meta", *required), only=("meta",) if meta_only else None)
    try:
        meta = json.loads(str(arrays.pop("meta")[()]))
        if not isinstance(meta, dict):
            raise ValueError
    except (ValueError, IndexError, TypeError, RecursionError):
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
