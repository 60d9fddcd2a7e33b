"""The paper's decoder-only transformer in `flax.nnx`: causal attention with `heads` heads,
post-LayerNorm, ReLU feed-forward, no biases but the output layer's, learned positions.

Initialization as in the paper (and the authors' code): every weight matrix from
N(0, (d_in^−γ)²), the standard deviation d_in^−γ, d_in the matrix's input width, d_model for the
token and position embeddings; the output bias starts at 0; LayerNorm scale 1, bias 0.

`AnchorTransformer(spec, rngs)(x (B, T) int) -> logits (B, vocab)` at the last position;
`draw_parameters(spec, seeds) -> {path: (S, ...)}`: the parameters of one network per seed, drawn
inside one compiled program (the same numbers as `AnchorTransformer(spec, nnx.Rngs(seed))`);
`recorded_matrices(model) -> {name: (rows, d_in)}`: the matrices the papers look at, one row per
neuron (its input weight): W^Q of every layer (layer 1's is the paper's condensation figure), the
token embedding, and the first feed-forward matrix of every layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

MAX_POSITIONS = 20  # learned positions, as the authors' code


@dataclass(frozen=True)
class TransformerSpec:
    """The shape of the network and its initialization rate γ (std d_in^−γ)."""

    vocab: int = 201
    d_model: int = 64
    depth: int = 2
    heads: int = 1
    d_k: int | None = None  # per head; default d_model // (2 · heads), the authors' d_k = d_model / 2 for one head
    d_ff: int | None = None  # default 3 · d_model
    gamma: float = 0.5

    @property
    def dk(self) -> int:
        return self.d_k if self.d_k is not None else max(1, self.d_model // (2 * self.heads))

    @property
    def dff(self) -> int:
        return self.d_ff if self.d_ff is not None else 3 * self.d_model


def _normal(d_in: int, gamma: float):
    """N(0, (d_in^−γ)²) as `nnx.initializers.normal`, with the standard normal kept apart from
    the scaling (`optimization_barrier`) so that a network drawn inside `jit` has the same bits as
    one drawn op by op: XLA would otherwise fold the scale into the normal's own constants."""
    std = float(d_in) ** -gamma

    def init(key, shape, dtype=jnp.float32):
        return jax.lax.optimization_barrier(jax.random.normal(key, shape, dtype)) * jnp.array(std, dtype)

    return init


class Block(nnx.Module):
    """Causal self-attention then the feed-forward layer, each followed by LayerNorm of the sum
    with its input (post-LN)."""

    def __init__(self, spec: TransformerSpec, rngs: nnx.Rngs):
        d, hk, g = spec.d_model, spec.heads * spec.dk, spec.gamma
        self.heads, self.dk = spec.heads, spec.dk
        self.q = nnx.Linear(d, hk, use_bias=False, kernel_init=_normal(d, g), rngs=rngs)
        self.k = nnx.Linear(d, hk, use_bias=False, kernel_init=_normal(d, g), rngs=rngs)
        self.v = nnx.Linear(d, hk, use_bias=False, kernel_init=_normal(d, g), rngs=rngs)
        self.o = nnx.Linear(hk, d, use_bias=False, kernel_init=_normal(hk, g), rngs=rngs)
        self.f1 = nnx.Linear(d, spec.dff, use_bias=False, kernel_init=_normal(d, g), rngs=rngs)
        self.f2 = nnx.Linear(spec.dff, d, use_bias=False, kernel_init=_normal(spec.dff, g), rngs=rngs)
        self.ln1 = nnx.LayerNorm(d, epsilon=1e-5, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d, epsilon=1e-5, rngs=rngs)

    def __call__(self, h: jax.Array) -> jax.Array:
        B, T, _ = h.shape
        split = lambda z: z.reshape(B, T, self.heads, self.dk)  # noqa: E731
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        scores = jnp.einsum("bthd,bshd->bhts", q, k) / jnp.sqrt(jnp.asarray(self.dk, h.dtype))
        causal = jnp.tril(jnp.ones((T, T), bool))  # position t reads positions s ≤ t only
        scores = jnp.where(causal, scores, -jnp.inf)
        att = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(scores, axis=-1), v).reshape(B, T, -1)
        h = self.ln1(h + self.o(att))
        return self.ln2(h + self.f2(jax.nn.relu(self.f1(h))))


class AnchorTransformer(nnx.Module):
    """Token and position embeddings, `depth` blocks, a linear read-out (with bias) of the last
    position's state into the vocabulary."""

    def __init__(self, spec: TransformerSpec, rngs: nnx.Rngs):
        d, g = spec.d_model, spec.gamma
        self.spec = spec
        self.tok = nnx.Embed(spec.vocab, d, embedding_init=_normal(d, g), rngs=rngs)
        self.pos = nnx.Embed(MAX_POSITIONS, d, embedding_init=_normal(d, g), rngs=rngs)
        self.blocks = nnx.List([Block(spec, rngs) for _ in range(spec.depth)])
        self.out = nnx.Linear(d, spec.vocab, kernel_init=_normal(d, g), rngs=rngs)

    def states(self, x: jax.Array) -> jax.Array:
        """The hidden states (B, T, d_model) after the last block."""
        h = self.tok(x) + self.pos(jnp.arange(x.shape[1]))
        for block in self.blocks:
            h = block(h)
        return h

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(self.states(x)[:, -1])


def draw_parameters(spec: TransformerSpec, seeds: list[int]) -> nnx.State:
    """The parameters (an `nnx.State` with a leading seed axis) of `AnchorTransformer(spec,
    nnx.Rngs(seed))` for each seed, drawn by one compiled program (cached across runs by the
    persistent compilation cache), bit for bit those of the networks drawn op by op."""
    draw = jax.jit(jax.vmap(lambda s: nnx.state(AnchorTransformer(spec, nnx.Rngs(jax.random.key(s))), nnx.Param)))
    return draw(np.asarray(seeds, np.uint32))


def recorded_matrices(model: AnchorTransformer) -> dict[str, jax.Array]:
    """{name: (rows, d_in)}: one row per neuron, its input weight (nnx kernels are (d_in, rows))."""
    mats = {"embedding": model.tok.embedding[...]}
    for i, block in enumerate(model.blocks, 1):
        mats[f"wq{i}"] = block.q.kernel[...].T
        mats[f"ff{i}"] = block.f1.kernel[...].T
    return mats
