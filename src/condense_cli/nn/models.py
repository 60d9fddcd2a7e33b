"""Fully connected networks as pure functions over a parameter pytree, in the run file's layout.

Parameters (`Params`, a dict; with a ResNet18 trunk also `trunk`, its list of kernels):
- `hidden`: list of L arrays, layer l shaped (m_l, fan_in_l + 1), the input weight of each
  neuron in a row with its bias as the last column (fan_in_1 = d, fan_in_l = m_{l-1});
- `out`: (d_out, m_L + 1), output weights with the output bias as the last column.

`forward(params, x, spec)` maps x (n, d) to f(x) (n, d_out):
x^[0] = x, x^[l] = σ_l(W^[l] x^[l-1] + b^[l]) (+ x^[l-1] when residual and shapes agree),
f = (A x^[L] + c) / α.
Inside, the dense layers run feature-major when d > 1 and there is no convolution: each reads
its input as (fan_in + 1, n) with a last row of ones, so a layer is one product W h̃ with its bias
column; 1-d inputs and CNNs stay batch-major (`_feature_major`; why, measured, in the README's
speed section).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import activations
from ..errors import BadInput

Params = dict


def resnet18_blocks(b: int) -> list[tuple[int, int, int, bool, int]]:
    """The ResNet18 trunk after its 3x3 stem, defined once: (in channels, out channels, stride,
    has a 1x1 shortcut, stage) for each basic block; 4 stages of 2 blocks with b, 2b, 4b, 8b
    channels, stride 2 at the first block of stages 2-4."""
    blocks, c_in = [], b
    for stage in range(4):
        c = b * 2 ** stage
        for block in range(2):
            stride = 2 if (stage > 0 and block == 0) else 1
            blocks.append((c_in, c, stride, stride != 1 or c_in != c, stage))
            c_in = c
    return blocks


@dataclass(frozen=True)
class NetSpec:
    """The architecture: input dimension d, hidden widths (m_1..m_L), output dimension,
    one activation name per hidden layer, output scale α, residual and output-bias flags."""

    d: int
    widths: tuple[int, ...]
    d_out: int
    acts: tuple[str, ...]
    alpha: float = 1.0
    residual: bool = False
    output_bias: bool = True
    conv: tuple | None = None  # (kernel k, image (H, W, C_in)): layer 1 is a convolution with widths[0] channels
    trunk: tuple | None = None  # ("resnet18", base width b, image (H, W, C_in)): a ResNet18 trunk before layer 1

    def __post_init__(self):
        if self.trunk is not None:
            name, base, (H, W, C) = self.trunk
            if name != "resnet18" or base < 1:
                raise BadInput(f"unknown trunk {name!r} or width {base}")
            if H * W * C != self.d:
                raise BadInput(f"image {H}x{W}x{C} does not match the input dimension {self.d}")
            if self.conv is not None or self.residual:
                raise BadInput("a ResNet18 trunk is followed by dense layers only")
        if self.conv is not None:
            k, (H, W, C) = self.conv
            if k < 1 or k > min(H, W):
                raise BadInput(f"kernel {k}x{k} does not fit the {H}x{W} image")
            if H * W * C != self.d:
                raise BadInput(f"image {H}x{W}x{C} does not match the input dimension {self.d}")
            if self.residual:
                raise BadInput("--residual applies to fully connected networks only")
        if not self.widths:
            raise BadInput("the network needs at least one hidden layer")
        if any(int(m) < 1 for m in self.widths):
            raise BadInput(f"every width must be at least 1, got {list(self.widths)}")
        if len(self.acts) != len(self.widths):
            raise BadInput(f"{len(self.acts)} activations given for {len(self.widths)} hidden layers")
        for a in self.acts:
            activations.get(a)
        if not (self.alpha > 0 and math.isfinite(self.alpha)):
            raise BadInput(f"alpha must be a positive finite number, got {self.alpha}")
        if self.residual and len(set(self.widths)) > 1:
            raise BadInput(f"--residual needs equal hidden widths, got {list(self.widths)}")

    @property
    def conv_out(self) -> tuple[int, int] | None:
        """(H', W') of the convolution's output (stride 1, no padding), or None."""
        if self.conv is None:
            return None
        k, (H, W, _) = self.conv
        return H - k + 1, W - k + 1

    @property
    def fans(self) -> list[int]:
        """Inputs of each hidden layer then of the output layer (bias not counted). A convolution
        layer's input weight is its kernel, C_in·k·k weights (ordered C_in, row, column)."""
        fan = [self.d, *self.widths]
        if self.trunk is not None:
            fan[0] = 8 * self.trunk[1]  # the trunk's pooled features
        if self.conv is not None:
            k, (_, _, C) = self.conv
            Ho, Wo = self.conv_out
            fan[0], fan[1] = C * k * k, self.widths[0] * Ho * Wo
        return fan

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of every hidden layer then of the output layer, bias column included."""
        return [(m, f + 1) for m, f in zip([*self.widths, self.d_out], self.fans)]

    def trunk_shapes(self) -> list[tuple[int, int, int, int]]:
        """Kernel shapes (out, in, k, k) of the ResNet18 trunk: a 3x3 stem, then 4 stages of 2 basic
        blocks (two 3x3 convolutions, a 1x1 shortcut where the shape changes) with b, 2b, 4b, 8b
        channels, stride 2 at the first block of stages 2-4. No batch normalization, no biases."""
        return [shape for shape, _ in self._trunk_kernels()]

    def _trunk_kernels(self) -> list[tuple[tuple[int, int, int, int], int]]:
        """(kernel shape, downsampling of its output: 1, 2, 4 or 8) for every trunk kernel."""
        if self.trunk is None:
            return []
        _, b, (_, _, C) = self.trunk
        kernels = [((b, C, 3, 3), 1)]
        for c_in, c, stride, shortcut, stage in resnet18_blocks(b):
            kernels += [((c, c_in, 3, 3), 2 ** stage), ((c, c, 3, 3), 2 ** stage)]
            if shortcut:
                kernels.append(((c, c_in, 1, 1), 2 ** stage))
        return kernels

    def macs_per_example(self) -> int:
        """Multiply-adds of one forward pass for one example (biases counted as weights): what
        a training step's cost grows with."""
        positions = [1] * (len(self.widths) + 1)
        if self.conv is not None:
            positions[0] = self.conv_out[0] * self.conv_out[1]
        macs = sum(r * c * p for (r, c), p in zip(self.shapes, positions))
        if self.trunk is not None:
            H, W, _ = self.trunk[2]
            macs += sum(o * i * k * kk * (H // down) * (W // down) for (o, i, k, kk), down in self._trunk_kernels())
        return int(macs)

    def layer_kinds(self) -> list[dict]:
        """Each hidden layer's kind and shape, for run-file metadata."""
        out = []
        for l, m in enumerate(self.widths):
            if l == 0 and self.conv is not None:
                k, (H, W, C) = self.conv
                out.append({"kind": "conv", "channels": m, "kernel": k, "in_channels": C, "image": [H, W, C],
                            "out": list(self.conv_out), "weights": "c_in*k*k + bias, ordered (c_in, row, col)"})
            else:
                out.append({"kind": "dense", "width": m, "fan_in": self.fans[l]})
        return out


FEATURE_MAJOR_MAX_D = 64  # the widest input read feature-major (measured, see `_feature_major`)


def _feature_major(spec: NetSpec) -> bool:
    """The layout of the dense layers' activations: feature-major (width, n), each layer reading
    its input with a row of ones, for the papers' few-dimensional inputs; batch-major (n, width)
    when the input is one-dimensional, wider than FEATURE_MAJOR_MAX_D, or the first layer is a
    convolution. With d = 1 the first layer's product has a single term, which XLA:CPU turns into
    a broadcast multiply (and its gradients into column sums) only batch-major; a convolution's
    output, by far the largest activation, is best not transposed. The papers' few-dimensional
    nets run faster feature-major, MNIST-size inputs batch-major (benchmarks/README.md, "Design
    choices")."""
    return 1 < spec.d <= FEATURE_MAJOR_MAX_D and spec.conv is None


def _with_ones(h: jax.Array) -> jax.Array:
    """(k, n) -> (k + 1, n): a last row of ones, so that a layer's bias column multiplies it."""
    return jnp.concatenate([h, jnp.ones((1, h.shape[1]), h.dtype)], axis=0)


def _affine(w: jax.Array, h: jax.Array, spec: NetSpec) -> jax.Array:
    """A layer's pre-activation from w (rows, fan_in + 1), in the network's layout: feature-major
    W h̃ (rows, n), one product with the bias column, from h̃ (fan_in + 1, n) whose last row is
    ones; batch-major h Wᵀ + b (n, rows) from h (n, fan_in)."""
    return w @ h if _feature_major(spec) else h @ w[:, :-1].T + w[:, -1]


def _hidden_layer(h: jax.Array, layer: int, w: jax.Array, act: str, spec: NetSpec) -> jax.Array:
    """Hidden layer `layer` (0-based) on its input as `_first_input`/`_next_input` give it ->
    σ(W h + b) in the network's layout, plus h for residual layers after the first. A CNN's
    convolution layer reads the images (n, d) and gives (n, H'·W'·c)."""
    fn = activations.get(act).fn
    if spec.conv is not None and layer == 0:
        return fn(convolve(h, w, spec))
    z = fn(_affine(w, h, spec))
    if spec.residual and layer > 0:
        z = z + (h[:-1] if _feature_major(spec) else h)
    return z


@lru_cache(maxsize=None)
def _activate_with_ones(act: str) -> Callable[[jax.Array], jax.Array]:
    """z (m, n) -> σ(z) with a row of ones (m + 1, n). For an activation whose derivative is a
    function of its output (tanh: 1 − y²), the derivative is taken from this very array, so
    XLA computes σ in the same kernel as the row of ones and keeps one copy of the activations
    (faster on XLA:CPU: see the README's speed section)."""
    a = activations.get(act)
    if a.derivative_from_output is None:
        return lambda z: _with_ones(a.fn(z))

    @jax.custom_jvp
    def with_ones(z):
        return _with_ones(a.fn(z))

    @with_ones.defjvp
    def with_ones_jvp(primals, tangents):
        (z,), (dz,) = primals, tangents
        out = with_ones(z)
        # the barrier keeps XLA from rewriting out[:-1] back into σ(z), a second consumer of σ
        dout = a.derivative_from_output(jax.lax.optimization_barrier(out)[:-1]) * dz
        return out, jnp.concatenate([dout, jnp.zeros((1, dz.shape[1]), dz.dtype)], axis=0)

    return with_ones


def _next_input(z: jax.Array, spec: NetSpec) -> jax.Array:
    """What the next layer reads, given a hidden layer's output z."""
    return _with_ones(z) if _feature_major(spec) else z


def _first_input(params: Params, x: jax.Array, spec: NetSpec) -> jax.Array:
    """What hidden layer 1 reads: x (n, d), the trunk's features (n, 8b) or the images, as they
    are (batch-major) or transposed with a row of ones (feature-major)."""
    feats = _resnet18(params["trunk"], x, spec) if spec.trunk is not None else x
    return _with_ones(feats.T) if _feature_major(spec) else feats


def forward(params: Params, x: jax.Array, spec: NetSpec, dropout: float = 0.0,
            key: jax.Array | None = None) -> jax.Array:
    """f(x) for a batch x (n, d) -> (n, d_out). With `dropout` r > 0 and a `key`, each hidden
    layer's output is multiplied by a Bernoulli(1 − r) mask / (1 − r) (inverted dropout: after
    the hidden layer, and so between hidden layers of deeper nets); without a key it is off."""
    h = _first_input(params, x, spec)
    for layer, (w, act) in enumerate(zip(params["hidden"], spec.acts)):
        plain = not (spec.residual and layer > 0) and not (dropout > 0 and key is not None)
        if plain and _feature_major(spec):
            h = _activate_with_ones(act)(_affine(w, h, spec))  # σ(W h̃) with its row of ones
            continue
        z = _hidden_layer(h, layer, w, act, spec)
        if dropout > 0 and key is not None:
            key, sub = jax.random.split(key)
            z = z * jax.random.bernoulli(sub, 1.0 - dropout, z.shape) / (1.0 - dropout)
        h = _next_input(z, spec)
    f = _affine(params["out"], h, spec) / spec.alpha
    return f.T if _feature_major(spec) else f


def conv_columns(c: int) -> int:
    """Output columns b per patch product of `convolve` for a layer of c channels: the banded
    product at least 32 wide (b·c ≥ 32), at most 4 columns. Measured on 2 cores, a CNN step at
    batch 64 (28x28 images, k = 3 unless said): 4 channels b = 4 (0.89 ms; b = 1 1.33 ms),
    8 channels b = 2-4 (1.2-1.3 ms; b = 1 1.7 ms), 8 channels with k = 5 b = 4 (1.05 ms; b = 1
    2.3 ms), 16 channels b = 2 (2.0 ms; b = 1 2.4 ms; 32x32x3 CIFAR-size images 4.1-4.3 ms
    against 5.1-5.3 ms), 32 channels b = 1 or 2 (4.0-4.5 ms)."""
    return int(min(4, max(1, 32 // c)))


def convolve(x: jax.Array, w: jax.Array, spec: NetSpec, columns: int | None = None) -> jax.Array:
    """x (n, H·W·C_in) flattened images, w (c, C_in·k·k + 1) -> (n, H'·W'·c): stride 1, no padding.

    One matrix product of patches with a banded kernel: each patch is the k × (b + k − 1) × C_in
    window under b neighbouring output columns of one output row (b = `columns`, by default
    `conv_columns(c)`; the image is padded on the right when b does not divide W'), and the
    banded kernel (k·(b + k − 1)·C_in, b·c) gives those b columns' c channels at once. With few
    input channels and small kernels this product is far better shaped for XLA:CPU than the
    plain im2col product (k·k·C_in, c), and im2col for XLA:CPU than `lax.conv_general_dilated`
    (the MNIST-size CNN of benchmarks/bench_images.py, despite a third more multiply-adds:
    benchmarks/README.md, "Design choices")."""
    k, (H, W, C) = spec.conv
    c, n = w.shape[0], x.shape[0]
    Ho, Wo = H - k + 1, W - k + 1
    b = min(columns or conv_columns(c), Wo)
    nb = -(-Wo // b)  # column blocks
    span = b + k - 1  # input columns under one block
    images = x.reshape(n, H, W, C)
    if (nb - 1) * b + span > W:
        images = jnp.pad(images, ((0, 0), (0, 0), (0, (nb - 1) * b + span - W), (0, 0)))
    rows = [images[:, i:i + Ho] for i in range(k)]  # k of (n, H', W_padded, C)
    patches = jnp.stack([jnp.stack([r[:, :, t * b:t * b + span] for r in rows], axis=2) for t in range(nb)],
                        axis=2)  # (n, H', blocks, k, span, C)
    kernel = w[:, :-1].reshape(c, C, k, k)
    shift = np.zeros((k, span, b), np.float32)  # shift[j, u, s] = 1 where input column u = s + j
    for s in range(b):
        shift[np.arange(k), s + np.arange(k), s] = 1.0
    band = jnp.einsum("oiyj,jus->yuiso", kernel, jnp.asarray(shift, w.dtype))  # (k, span, C, b, c)
    out = patches.reshape(n * Ho * nb, k * span * C) @ band.reshape(k * span * C, b * c) + jnp.tile(w[:, -1], b)
    return out.reshape(n, Ho, nb * b, c)[:, :, :Wo].reshape(n, -1)


def _resnet18(kernels: list, x: jax.Array, spec: NetSpec) -> jax.Array:
    """The ResNet18 trunk (ReLU, 'SAME' padding) on flattened images x (n, H·W·C) -> pooled
    features (n, 8b). `kernels` follow `NetSpec.trunk_shapes`."""
    _, b, (H, W, C) = spec.trunk
    h = x.reshape(x.shape[0], H, W, C)
    conv = lambda z, k, stride: jax.lax.conv_general_dilated(
        z, k, (stride, stride), "SAME", dimension_numbers=("NHWC", "OIHW", "NHWC"))
    it = iter(kernels)
    h = jax.nn.relu(conv(h, next(it), 1))
    for _, _, stride, shortcut, _ in resnet18_blocks(b):
        out = conv(jax.nn.relu(conv(h, next(it), stride)), next(it), 1)
        h = jax.nn.relu(out + (conv(h, next(it), stride) if shortcut else h))
    return jnp.mean(h, axis=(1, 2))


def hidden_features(params: Params, x: jax.Array, spec: NetSpec) -> list[jax.Array]:
    """The inputs x^[l-1] (n, fan_in_l) that each hidden layer l sees, for l = 1..L."""
    h, seen = _first_input(params, x, spec), []
    for layer, (w, act) in enumerate(zip(params["hidden"], spec.acts)):
        seen.append(h[:-1].T if _feature_major(spec) else h)
        h = _next_input(_hidden_layer(h, layer, w, act, spec), spec)
    return seen


def mse_of(f: jax.Array, y: jax.Array) -> jax.Array:
    """(1/2n) Σ_i |f_i − y_i|² (summed over output components) of outputs f (n, d_out)."""
    e = f - y
    return 0.5 * jnp.mean(jnp.sum(e * e, axis=-1))


def cross_entropy_of(logits: jax.Array, y: jax.Array) -> jax.Array:
    """−(1/n) Σ_i Σ_c y_ic log softmax(logits_i)_c, y one-hot (n, classes)."""
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits, axis=-1), axis=-1))


def mse(params: Params, x: jax.Array, y: jax.Array, spec: NetSpec, dropout: float = 0.0,
        key: jax.Array | None = None) -> jax.Array:
    """R_S = (1/2n) Σ_i |f(x_i) − y_i|² (summed over output components); dropout as in `forward`."""
    return mse_of(forward(params, x, spec, dropout, key), y)


def cross_entropy(params: Params, x: jax.Array, y: jax.Array, spec: NetSpec, dropout: float = 0.0,
                  key: jax.Array | None = None) -> jax.Array:
    """Softmax cross-entropy −(1/n) Σ_i Σ_c y_ic log softmax(f(x_i))_c, y one-hot (n, classes)."""
    return cross_entropy_of(forward(params, x, spec, dropout, key), y)


LOSSES = {"mse": mse, "ce": cross_entropy}  # keys: `choices.LOSSES`
OUTPUT_LOSSES = {"mse": mse_of, "ce": cross_entropy_of}  # the same losses of given outputs f (n, d_out)
