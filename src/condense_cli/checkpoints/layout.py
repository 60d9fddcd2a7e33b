"""Which tensors of a checkpoint are layers of neurons, and how their rows are laid out.

`plan(tensors, layout, select, kinds) -> Plan`: for every tensor either a `Layer` (what to read,
how to orient it so that rows are neurons, which bias joins it, which part of a fused Q/K/V it is)
or a skip with its reason. Conventions, never guessed silently:

- `torch`: Linear weight (out, in); Conv (out, in, *kernel), one neuron per output channel;
  ConvTranspose (in, out, *kernel) (names with `conv_transpose`/`convtranspose`/`deconv`).
- `flax`: Dense kernel (in, out); Conv kernel (*kernel, in, out).
- `gpt2`: as torch, except the Conv1D weights `c_attn`, `c_proj`, `c_fc`, stored (in, out).
- `auto`: gpt2 where a `c_attn`/`c_fc` weight is present, else flax where names end in `kernel`,
  else torch where they end in `weight`; `Plan.layout_reason` says which rule chose it.

A fused `c_attn`, `qkv` or `in_proj` weight is split into Q, K and V (equal row blocks, in that
order). A bias (`….bias`, `…_bias`) joins its weight as the last column. Embeddings (also an output
head tied to them) and normalization scales are skipped unless a `--layer` pattern names them.
Roles: `attention` (names of attention projections), `conv` (kernels of 3 or more dimensions),
`mlp` (every other linear layer).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

import numpy as np

from ..choices import KINDS, LAYOUTS
from ..errors import BadInput
from .formats import TensorInfo
GPT2_CONV1D = re.compile(r"(^|[./])(c_attn|c_proj|c_fc)[./]weight$")
FUSED = re.compile(r"(^|[./_])(c_attn|qkv|in_proj)([./_]|$)", re.I)
EMBED = re.compile(r"(^|[./_])(wte|wpe|embed\w*|embedding\w*|\w*_embeddings?|pos_embed\w*|lm_head|cls_token|"
                   r"mask_token|shared)([./]|$)", re.I)
NORM = re.compile(r"(^|[./_])(ln\w*|\w*norm\w*|bn\d*|batch_?norm\w*)([./]|$)", re.I)
ATTENTION = re.compile(r"attn|attention|(^|[./_])(q|k|v|o|query|key|value|qkv|in|out)_?proj|(^|[./_])(query|key|"
                       r"value|wq|wk|wv|wo)([./_]|$)", re.I)
TRANSPOSED_CONV = re.compile(r"conv_?transpose|deconv", re.I)


@dataclass(frozen=True)
class Layer:
    """A tensor read as a layer of neurons. `orient`: how rows become neurons ('rows', 'columns',
    'in-out-first', 'kernel-last'); `part`: (index, of) for one block of a fused Q/K/V."""

    name: str  # as reported, e.g. 'h.0.attn.c_attn[q]'
    tensor: str
    bias: str | None
    kind: str
    orient: str
    convention: str  # in words, e.g. 'gpt2 Conv1D (in, out)'
    part: tuple[int, int] | None = None

    def matrix(self, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """(neurons, fan_in [+ 1]) float32: the oriented weight, the bias as the last column."""
        W = np.asarray(weight, np.float32)
        if self.orient == "columns":
            W = W.T
        elif self.orient == "in-out-first":  # ConvTranspose (in, out, *k): one neuron per output channel
            W = np.swapaxes(W, 0, 1)
        elif self.orient == "kernel-last":  # flax (*k, in, out)
            W = np.moveaxis(W, -1, 0)
        elif self.orient == "heads-out":  # flax DenseGeneral (in, heads, head_dim): one neuron per (head, dim)
            W = W.reshape(W.shape[0], -1).T
        elif self.orient == "heads-in":  # flax DenseGeneral (heads, head_dim, out): one neuron per output
            W = W.reshape(-1, W.shape[-1]).T
        W = W.reshape(W.shape[0], -1)
        b = None if bias is None else np.asarray(bias, np.float32).reshape(-1)
        if self.part is not None:
            i, n = self.part
            rows = W.shape[0] // n
            W = W[i * rows:(i + 1) * rows]
            b = None if b is None else b[i * rows:(i + 1) * rows]
        return W if b is None else np.concatenate([W, b[:, None]], axis=1)


@dataclass(frozen=True)
class Plan:
    """The layers to measure in model order, the tensors skipped with their reasons, the layout."""

    layers: tuple[Layer, ...]
    skipped: tuple[tuple[str, str], ...]
    layout: str
    layout_reason: str


def choose_layout(names, layout: str) -> tuple[str, str]:
    """(layout, why) for `--layout`; auto reads the names (see the module docstring)."""
    if layout not in LAYOUTS:
        raise BadInput(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout != "auto":
        return layout, f"--layout {layout}"
    shapes = dict(names) if isinstance(names, dict) else {n: None for n in names}
    names = list(shapes)
    conv1d = [n for n in names if GPT2_CONV1D.search(n) and re.search(r"c_(attn|fc)", n)
              and (shapes[n] is None or (len(shapes[n].shape) == 2 and shapes[n].shape[1] > shapes[n].shape[0]))]
    if conv1d:  # GPT-2's Conv1D stores (in, out) with out = 3d or 4d > in; GPTBigCode's Linear (out, in) is not
        return "gpt2", "auto: c_attn/c_fc weights stored (in, out) with more outputs than inputs: GPT-2 Conv1D"
    if any(re.search(r"(^|[./])kernel$", n) for n in names):
        return "flax", "auto: names end in 'kernel', flax convention (in, out)"
    if any(re.search(r"(^|[./_])weight$", n) for n in names):
        return "torch", "auto: names end in 'weight', PyTorch convention (out, in)"
    return "unknown", "auto: neither 'weight' nor 'kernel' names; pass --layout torch|flax|gpt2"


def _bias_of(name: str, names: set[str]) -> str | None:
    for pat, rep in ((r"weight$", "bias"), (r"kernel$", "bias")):
        if re.search(pat, name):
            b = re.sub(pat, rep, name)
            if b in names:
                return b
    return None


def _kind(name: str, ndim: int, orient: str = "rows") -> str:
    if orient in ("heads-in", "heads-out"):
        return "attention"
    if ndim >= 3:
        return "conv"
    return "attention" if ATTENTION.search(name) else "mlp"


def _orientation(info: TensorInfo, layout: str, explicit: bool) -> tuple[str, str] | str:
    """(orient, convention) for a weight tensor, or the reason it cannot be oriented."""
    n, nd = info.name, len(info.shape)
    is_weight = re.search(r"(^|[./_])weight$", n) is not None
    is_kernel = re.search(r"(^|[./])kernel$", n) is not None
    if layout == "unknown":
        return "orientation unknown: names neither 'weight' nor 'kernel'; pass --layout torch|flax|gpt2"
    if layout == "flax":
        if not (is_kernel or explicit):
            return "not a flax kernel (its name does not end in 'kernel')"
        if nd == 2:
            return "columns", "flax Dense (in, out)"
        if nd == 3 and ATTENTION.search(n):  # DenseGeneral of attention: (in, heads, head_dim) or (heads, head_dim, out)
            if re.search(r"(^|[./_])(out|o|wo|out_proj|o_proj)([./_]|$)", n):
                return "heads-in", "flax DenseGeneral (heads, head_dim, out): neurons = outputs"
            return "heads-out", "flax DenseGeneral (in, heads, head_dim): neurons = heads × head_dim"
        return "kernel-last", "flax Conv (*kernel, in, out)"
    if not (is_weight or explicit):
        return f"not a {layout} weight (its name does not end in 'weight')"
    if layout == "gpt2" and nd == 2 and GPT2_CONV1D.search(n):
        return "columns", "gpt2 Conv1D (in, out)"
    if nd == 2:
        return "rows", "torch Linear (out, in)"
    if TRANSPOSED_CONV.search(n):
        return "in-out-first", "torch ConvTranspose (in, out, *kernel)"
    return "rows", "torch Conv (out, in, *kernel)"


def plan(tensors: dict[str, TensorInfo], layout: str = "auto", select: tuple[str, ...] = (),
         kinds: tuple[str, ...] = ()) -> Plan:
    """The layers of a checkpoint to measure (see the module docstring). `select`: name patterns
    (fnmatch globs, or exact names); `kinds`: roles to keep. BadInput for a pattern that matches
    no tensor, an unknown kind or layout."""
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise BadInput(f"--kind must be one of {', '.join(KINDS)}, got {bad[0]!r}")
    used, why = choose_layout(tensors, layout)  # (names with their shapes: GPT-2's Conv1D is told by its shape)
    explicit = layout != "auto"
    names = set(tensors)
    for pat in select:
        if not any(fnmatch.fnmatchcase(n, pat) or n == pat for n in tensors):
            raise BadInput(f"--layer {pat} matches no tensor of this checkpoint (it has {len(tensors)}, e.g. "
                           f"{', '.join(list(tensors)[:3])})")
    biases = {b for n in tensors if (b := _bias_of(n, names)) is not None and len(tensors[n].shape) >= 2}
    layers, skipped = [], []
    for name, info in tensors.items():
        named = any(fnmatch.fnmatchcase(name, pat) or name == pat for pat in select)
        if select and not named:
            continue
        nd = len(info.shape)
        if name in biases:
            continue  # joins its weight
        if nd < 2:
            skipped.append((name, "one-dimensional (a bias or a normalization scale), not a layer of neurons"))
            continue
        if re.search(r"bias$", name):
            skipped.append((name, "named as a bias but not one-dimensional (a buffer such as an attention mask)"))
            continue
        if not named and EMBED.search(name):
            skipped.append((name, "an embedding (or an output head tied to one); name it with --layer to measure it"))
            continue
        if not named and NORM.search(name):
            skipped.append((name, "a normalization layer; name it with --layer to measure it"))
            continue
        how = _orientation(info, used, explicit)
        if isinstance(how, str):
            skipped.append((name, how))
            continue
        orient, convention = how
        kind = _kind(name, nd, orient)
        if kinds and kind not in kinds:
            continue
        if not info.measurable:
            skipped.append((name, f"stored as {info.dtype} (quantized or integer); only float weights are measured"))
            continue
        if 0 in info.shape:
            skipped.append((name, f"empty tensor {info.shape}"))
            continue
        bias = _bias_of(name, names)
        if bias is not None and not tensors[bias].measurable:
            bias = None
        base = re.sub(r"[./_](weight|kernel)$", "", name) or name
        rows = {"columns": info.shape[-1], "in-out-first": info.shape[1] if nd > 1 else 0,
                "kernel-last": info.shape[-1], "heads-in": info.shape[-1],
                "heads-out": int(np.prod(info.shape[1:]))}.get(orient, info.shape[0])
        inputs = int(np.prod(info.shape)) // max(rows, 1)
        if bias is not None and int(np.prod(tensors[bias].shape)) != rows:
            skipped.append((bias, f"length {int(np.prod(tensors[bias].shape))} does not match the {rows} neurons of "
                                  f"{name} read as {convention}; not joined (is --layout right?)"))
            bias = None
        if FUSED.search(name) and nd == 2 and rows == 3 * inputs:  # Q, K and V each as wide as the input
            for i, part in enumerate("qkv"):
                layers.append(Layer(f"{base}[{part}]", name, bias, "attention", orient, convention + ", fused Q/K/V split",
                                    (i, 3)))
            continue
        if FUSED.search(name) and nd == 2:
            layers.append(Layer(base, name, bias, "attention", orient,
                                convention + f", fused projection not split ({rows} rows are not 3 × {inputs} inputs)"))
            continue
        layers.append(Layer(base, name, bias, kind, orient, convention))
    return Plan(tuple(layers), tuple(skipped), used, why)
