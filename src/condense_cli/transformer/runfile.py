"""The transformer's run file (`condense.transformer/1`), one NPZ of plain numeric arrays:
step (K,); m_<name> (S, K, rows, d_in) for each recorded matrix (`model.recorded_matrices`);
train_acc, id_acc, ood_inferential, ood_symmetric (S, K); batch_loss (S, T); the task's sets:
x_train (n, 9), y_train (n,), x_id, y_id, x_ood, key_ood; meta (JSON: config, data, init)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.anchors import AnchorData
from ..errors import BadInput
from ..io import check_schema, read_npz, save_npz

if TYPE_CHECKING:  # the result type only: importing `training` loads JAX and flax, which reading a header does not need
    from .training import TransformerResult

SCHEMA_NAME = "condense.transformer"
VERSION = 1
ACCURACIES = ("train_acc", "id_acc", "ood_inferential", "ood_symmetric")
SETS = ("x_train", "y_train", "x_id", "y_id", "x_ood", "key_ood")


def is_transformer_run(path: str | Path) -> bool:
    """Whether the NPZ at `path` says it is a transformer run (False for anything else, unreadable
    included). Only its meta is read."""
    try:
        _, meta = read_npz(path, meta_only=True)
    except BadInput:
        return False
    return str(meta.get("schema", "")).startswith(SCHEMA_NAME + "/")


def save_transformer_run(path: str | Path, r: TransformerResult) -> Path:
    """Write a `TransformerResult` as a transformer run file (atomically)."""
    d = r.data
    arrays = {"step": r.step, "batch_loss": r.batch_loss, **{k: getattr(r, k) for k in ACCURACIES},
              **{f"m_{k}": v for k, v in r.matrices.items()},
              "x_train": d.x_train, "y_train": d.y_train, "x_id": d.x_id, "y_id": d.y_id, "x_ood": d.x_ood,
              "key_ood": d.key_ood, "pair_train": d.pair_train, "pair_id": d.pair_id}
    return save_npz(path, arrays, {**r.meta, "schema": f"{SCHEMA_NAME}/{VERSION}"})


def load_transformer_run(path: str | Path) -> TransformerResult:
    """Read and check a transformer run file; every fault is one `BadInput` line."""
    arrays, meta = read_npz(path, ("step", "batch_loss", *ACCURACIES, *SETS))
    check_schema(path, meta, SCHEMA_NAME, VERSION)
    step = arrays["step"]
    mats = {k[2:]: v for k, v in arrays.items() if k.startswith("m_")}
    if not mats or step.ndim != 1:
        raise BadInput(f"{path}: no recorded matrices (m_*) or a malformed step array")
    S, K = next(iter(mats.values())).shape[:2]
    for k, v in mats.items():
        if v.ndim != 4 or v.shape[:2] != (S, K):
            raise BadInput(f"{path}: m_{k} has shape {v.shape}, expected ({S}, {K}, rows, d_in)")
    for k in ACCURACIES:
        if arrays[k].shape != (S, K):
            raise BadInput(f"{path}: {k} has shape {arrays[k].shape}, expected ({S}, {K})")
    if len(step) != K:
        raise BadInput(f"{path}: {len(step)} steps but {K} snapshots")
    from .training import TransformerResult

    data = AnchorData(arrays["x_train"], arrays["y_train"], arrays.get("pair_train", np.zeros((0, 2), np.int32)),
                      arrays["x_id"], arrays["y_id"], arrays.get("pair_id", np.zeros((0, 2), np.int32)),
                      arrays["x_ood"], arrays["key_ood"], int((meta.get("data") or {}).get("vocab", 201)),
                      meta.get("data") or {})
    return TransformerResult(step=step, matrices=mats, batch_loss=arrays["batch_loss"], data=data, meta=meta,
                             **{k: arrays[k] for k in ACCURACIES})
