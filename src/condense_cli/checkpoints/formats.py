"""Reading checkpoints made elsewhere, safely: `open_checkpoint(path) -> Checkpoint`.

Formats: a safetensors file (its header checked here before the `safetensors` package maps the
file), a sharded model through its `*.safetensors.index.json`, and an NPZ of named arrays
(`allow_pickle=False`). Pickle-based formats (`.pt`, `.pth`, `.bin`, `.ckpt`, `.pkl`, a torch zip
holding `data.pkl`, any file opening with a pickle opcode) are refused without being read past
their first bytes. `Checkpoint.tensors` lists `TensorInfo(name, shape, dtype, file)` in the model's
layer order (names compared with their numbers as numbers: `h.2` before `h.10`);
`Checkpoint.read(name)` returns one tensor as float32 (bf16 and fp16 widened), never the whole file.
"""
from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..io import require_file

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib")
CONVERT = ('convert it once with PyTorch: safetensors.torch.save_file(model.state_dict(), "model.safetensors") '
           "(or numpy.savez for named arrays)")
MAX_HEADER = 100 * 2 ** 20  # the safetensors package's own limit on the header's length
# safetensors dtype codes -> (numpy dtype name, bytes per element); "measured" ones are real floats
DTYPES = {"F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
          "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
          "U64": ("uint64", 8), "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1),
          "BOOL": ("bool", 1), "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1)}
MEASURED = ("F64", "F32", "F16", "BF16")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the file declares it: name, shape, dtype code (safetensors' or NumPy's), file."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: Path

    @property
    def measurable(self) -> bool:
        return self.dtype in MEASURED or self.dtype in ("float64", "float32", "float16")


@dataclass
class Checkpoint:
    """An opened checkpoint: `tensors` {name: TensorInfo} in layer order, `metadata` (strings),
    `format` ('safetensors', 'sharded safetensors' or 'npz'). `read(name)` -> float32 array."""

    path: Path
    format: str
    tensors: dict[str, TensorInfo]
    metadata: dict = field(default_factory=dict)
    _handles: dict = field(default_factory=dict, repr=False)

    def read(self, name: str) -> np.ndarray:
        info = self.tensors[name]
        if not info.measurable:
            raise BadInput(f"{info.file}: tensor {name} is stored as {info.dtype}, a quantized or integer type; "
                           "only float64/32/16 and bfloat16 weights are measured (dequantize it first)")
        if self.format == "npz":
            return _read_npz_member(info)
        handle = self._handles.get(info.file)
        if handle is None:
            import ml_dtypes  # noqa: F401  (NumPy learns bfloat16 and float8 from it; safetensors needs them)
            from safetensors import safe_open

            try:
                handle = self._handles[info.file] = safe_open(str(info.file), framework="numpy")
            except Exception as e:  # the package's own checks, after ours
                raise BadInput(f"{info.file} is not a readable safetensors file ({_first_line(e)})") from None
        try:
            return np.asarray(handle.get_tensor(name), dtype=np.float32)
        except Exception as e:
            raise BadInput(f"{info.file}: tensor {name} could not be read ({_first_line(e)})") from None

    def close(self) -> None:
        self._handles.clear()


def natural_key(name: str):
    """Sort key that compares the numbers in a name as numbers ('h.2.attn' < 'h.10.attn')."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else e.__class__.__name__


def refuse_pickle(path: Path) -> None:
    """BadInput, with how to convert, for a pickle-based checkpoint (by suffix or by its first bytes)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise BadInput(f"{path} is a pickle-based checkpoint ({path.suffix}), which can run code when loaded; "
                       f"it is refused unread: {CONVERT}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:  # PROTO opcode: a pickle stream
        raise BadInput(f"{path} is a pickle stream, which can run code when loaded; it is refused unread: {CONVERT}")
    if head == b"PK\x03\x04" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(n.endswith(".pkl") for n in z.namelist()):
                raise BadInput(f"{path} is a PyTorch zip checkpoint (it holds a pickle), which can run code when "
                               f"loaded; it is refused unread: {CONVERT}")


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open one checkpoint (see the module docstring); BadInput in one line for anything else."""
    path = Path(path)
    if path.name.endswith(".index.json"):
        return _open_sharded(path)
    require_file(path, "checkpoint")
    refuse_pickle(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        return _open_npz(path)
    if path.suffix.lower() not in (".safetensors", ""):
        raise BadInput(f"{path}: not a checkpoint this tool reads (safetensors, its .index.json, or an NPZ of "
                       "named arrays)")
    tensors, metadata = safetensors_header(path)
    return Checkpoint(path, "safetensors", tensors, metadata)


def safetensors_header(path: Path) -> tuple[dict[str, TensorInfo], dict]:
    """The tensors and metadata of a safetensors file, from its header alone, checked: the
    header's length within the file, valid JSON, known dtypes, shapes and byte ranges that agree,
    every range inside the data and no two overlapping."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise BadInput(f"{path} is not a safetensors file: shorter than its 8-byte header length")
        n = struct.unpack("<Q", raw)[0]
        if n > size - 8 or n > MAX_HEADER:
            raise BadInput(f"{path}: its header declares {n} bytes, past the end of the {size}-byte file "
                           "(truncated, or not a safetensors file)")
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput(f"{path}: its header is not a JSON object (not a safetensors file, or corrupt)") from None
    data = size - 8 - n
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise BadInput(f"{path}: its __metadata__ is not an object of strings")
    tensors, ranges = {}, []
    for name, e in header.items():
        if not (isinstance(e, dict) and isinstance(e.get("shape"), list) and isinstance(e.get("data_offsets"), list)
                and len(e["data_offsets"]) == 2):
            raise BadInput(f"{path}: tensor {name} has no dtype, shape and data_offsets")
        dtype, shape, (b, end) = e.get("dtype"), e["shape"], e["data_offsets"]
        if dtype not in DTYPES:
            raise BadInput(f"{path}: tensor {name} has an unknown dtype {dtype!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (*shape, b, end)) or end < b:
            raise BadInput(f"{path}: tensor {name} has a malformed shape or data_offsets")
        need = int(np.prod(shape, dtype=object)) * DTYPES[dtype][1]
        if end - b != need:
            raise BadInput(f"{path}: tensor {name} spans {end - b} bytes; its shape {tuple(shape)} and dtype {dtype} "
                           f"need {need}")
        if end > data:
            raise BadInput(f"{path}: tensor {name} runs past the end of the file (bytes {b}-{end} of {data})")
        tensors[name] = TensorInfo(name, tuple(shape), dtype, path)
        ranges.append((b, end, name))
    ranges.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise BadInput(f"{path}: tensors {n0} and {n1} overlap (bytes {b0}-{e0} and {b1}-{e1})")
    return {k: tensors[k] for k in sorted(tensors, key=natural_key)}, {str(k): str(v) for k, v in metadata.items()}


def _open_sharded(index: Path) -> Checkpoint:
    """A sharded model: the index's weight_map names each tensor's shard (all in its folder)."""
    require_file(index, "index")
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
        weight_map = doc["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise BadInput(f"{index}: not a sharded-checkpoint index (a JSON object with a weight_map of tensor → "
                       "shard file)") from None
    tensors, metadata = {}, {}
    for shard in dict.fromkeys(weight_map.values()):
        if Path(shard).name != shard:
            raise BadInput(f"{index} names shard {shard!r} outside its folder; refused")
        file = index.parent / shard
        if not file.exists():
            raise BadInput(f"{index} names shard {shard}, which does not exist")
        require_file(file, "shard")
        refuse_pickle(file)
        found, meta = safetensors_header(file)
        metadata.update(meta)
        wanted = [n for n, s in weight_map.items() if s == shard]
        missing = [n for n in wanted if n not in found]
        if missing:
            raise BadInput(f"{index} places {missing[0]} in {shard}, which does not hold it")
        tensors.update({n: found[n] for n in wanted})
    metadata.update({str(k): str(v) for k, v in (doc.get("metadata") or {}).items()})
    return Checkpoint(index, "sharded safetensors", {k: tensors[k] for k in sorted(tensors, key=natural_key)},
                      metadata)


def _open_npz(path: Path) -> Checkpoint:
    """An NPZ of named arrays: every member's .npy header read and checked, nothing unpickled."""
    from ..io import _check_members, _npy_header

    _check_members(path, None)
    tensors = {}
    with zipfile.ZipFile(path) as z:
        for member in z.infolist():
            name = member.filename.removesuffix(".npy")
            with z.open(member) as f:
                dtype, shape = _npy_header(f, path, member.filename)
            tensors[name] = TensorInfo(name, tuple(int(v) for v in shape), dtype.name, path)
    if "meta" in tensors:
        raise BadInput(f"{path} is a condense file (it has a meta entry), not a checkpoint of named arrays")
    return Checkpoint(path, "npz", tensors)  # the file's own order: np.savez keeps the order it was given


def _read_npz_member(info: TensorInfo) -> np.ndarray:
    from ..io import load_arrays

    return np.asarray(load_arrays(info.file, only=(info.name,))[info.name], dtype=np.float32)
