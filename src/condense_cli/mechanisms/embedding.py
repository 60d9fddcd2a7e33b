"""The embedding principle's one-step embeddings of a fully connected network (NumPy, the run
file's layout: hidden[l] (m_l, fan_in_l + 1), out (d_out, m_L + 1)).

- split (Zhang et al., NeurIPS 2021, Def. 5): neuron s of hidden layer l (input weights and bias)
  is copied into a new last neuron; its outgoing weights v become (1 − α)·v on the original and
  α·v on the copy, α any real. The output function and the loss are unchanged and a critical point
  stays critical.
- null (JML 2022, Def. 4.3): a new last neuron with zero input weights, bias `bias` and zero
  outgoing weights; the output is unchanged.

`parse_split('L:N[:ALPHA]')`, `parse_null('L[:BIAS]')` read the CLI's forms (BadInput in one line);
`apply(params, spec, embedding) -> (params, spec)` embeds.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput


@dataclass(frozen=True)
class Embedding:
    """One embedding: kind 'split' (layer, neuron, alpha) or 'null' (layer, bias in `alpha`)."""

    kind: str
    layer: int  # 1-based hidden layer
    neuron: int | None
    alpha: float

    @property
    def label(self) -> str:
        if self.kind == "split":
            return f"split {self.layer}:{self.neuron}:{self.alpha:g}"
        return f"null {self.layer}" + (f":{self.alpha:g}" if self.alpha else "")

    def to_json(self) -> dict:
        return {"kind": self.kind, "layer": self.layer, "neuron": self.neuron,
                ("alpha" if self.kind == "split" else "bias"): self.alpha}


def _number(text: str, what: str, form: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise BadInput(f"{what} {form}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise BadInput(f"{what} {form}: {text} is not finite")
    return v


def _index(text: str, what: str, form: str) -> int:
    if not text.strip().lstrip("-").isdigit():
        raise BadInput(f"{what} {form}: {text!r} is not a whole number")
    return int(text)


def parse_split(text: str) -> Embedding:
    """'L:N' or 'L:N:ALPHA' (layer 1-based, neuron 0-based, α default 0.5)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise BadInput(f"--split {text}: expected LAYER:NEURON[:ALPHA], e.g. 1:0:0.5")
    alpha = _number(parts[2], "--split", text) if len(parts) == 3 else 0.5
    return Embedding("split", _index(parts[0], "--split", text), _index(parts[1], "--split", text), alpha)


def parse_null(text: str) -> Embedding:
    """'L' or 'L:BIAS' (layer 1-based, the new neuron's bias, default 0)."""
    parts = text.split(":")
    if len(parts) not in (1, 2):
        raise BadInput(f"--null {text}: expected LAYER[:BIAS], e.g. 1")
    bias = _number(parts[1], "--null", text) if len(parts) == 2 else 0.0
    return Embedding("null", _index(parts[0], "--null", text), None, bias)


def outgoing(params: dict, l: int) -> np.ndarray:
    """The matrix whose columns (bias column last) read hidden layer l (0-based): the next hidden
    layer's, or the output's."""
    return params["hidden"][l + 1] if l + 1 < len(params["hidden"]) else params["out"]


def set_outgoing(params: dict, l: int, value: np.ndarray) -> None:
    if l + 1 < len(params["hidden"]):
        params["hidden"][l + 1] = value
    else:
        params["out"] = value


def apply(params: dict, spec, e: Embedding):
    """(embedded params (float64 NumPy), spec with the new width)."""
    if spec.residual:
        raise BadInput("embeddings change a layer's width, which a residual network's sums cannot take")
    if spec.conv is not None or spec.trunk is not None:
        raise BadInput("embeddings are applied to fully connected networks only")
    new = embed_params(params, e)
    return new, dataclasses.replace(spec, widths=tuple(w.shape[0] for w in new["hidden"]))


def embed_params(params: dict, e: Embedding, dtype=np.float64) -> dict:
    """The embedded copy of `params` (any fully connected layout; BadInput for a layer or neuron
    that does not exist or a non-finite α)."""
    L = len(params["hidden"])
    if not 1 <= e.layer <= L:
        raise BadInput(f"--{e.kind} {e.label.split()[1]}: layer {e.layer} does not exist; the network has hidden "
                       f"layers 1..{L} (the output layer cannot be embedded into)")
    if not math.isfinite(e.alpha):
        raise BadInput(f"--{e.kind}: {e.alpha} is not finite")
    l = e.layer - 1
    new = {"hidden": [np.array(w, dtype) for w in params["hidden"]], "out": np.array(params["out"], dtype)}
    W = new["hidden"][l]
    nxt = outgoing(new, l)
    body, bias = nxt[:, :-1].copy(), nxt[:, -1:]
    if e.kind == "split":
        m = W.shape[0]
        if not 0 <= e.neuron < m:
            raise BadInput(f"--split {e.layer}:{e.neuron}: neuron {e.neuron} does not exist; layer {e.layer} has "
                           f"neurons 0..{m - 1}")
        v = body[:, e.neuron].copy()
        row, col = W[e.neuron:e.neuron + 1], e.alpha * v
        body[:, e.neuron] = (1 - e.alpha) * v
    elif e.kind == "null":
        row = np.zeros((1, W.shape[1]), dtype)
        row[0, -1] = e.alpha
        col = np.zeros(body.shape[0], dtype)
    else:
        raise BadInput(f"unknown embedding {e.kind!r}")
    new["hidden"][l] = np.concatenate([W, row], axis=0)
    set_outgoing(new, l, np.concatenate([body, col[:, None].astype(dtype), bias], axis=1))
    return new
