"""Training the anchor-task transformer: `TransformerConfig` says what, `train_transformer(config,
data=None, progress=None) -> TransformerResult` does it.

AdamW (weight decay `weight_decay`, applied to every parameter as torch's AdamW does), gradient
clipping at global norm 1, a learning rate warmed up linearly from 4 % of `lr` over a `warmup`
share of the steps, then cosine-decayed back to 4 % (the PyTorch reference loop's schedule);
cross-entropy on the last token; minibatches from a permutation redrawn each epoch. The S seeds'
networks are drawn by one compiled program (`model.draw_parameters`), their parameters stacked,
and the pure step (the network `nnx.merge`d from its graph and the parameters) is `vmap`ped over
them; `lax.scan` runs the steps between two recorded steps inside one `jit`. The host side is the
dense engine's (`training.host`, its chunk loop `drive`): Ctrl-C keeps every recorded snapshot, and
a seed whose minibatch loss turns non-finite is put back to its last snapshot and frozen there
while the others go on (the run stops when all have failed). At every recorded step: the recorded
matrices (`model.recorded_matrices`), training and ID accuracy, and on (4, 3) the shares of inferential
(key − 10) and symmetric (key − 6) answers.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from ..data.anchors import AnchorData, make_anchors
from ..errors import BadInput
from ..training.host import Ending, drive
from .model import TransformerSpec

EVAL_BLOCK = 2048  # sequences per block of an accuracy pass


@dataclass(frozen=True)
class TransformerConfig:
    """Defaults: a CPU-sized version of the paper's setting (d_model 64, depth 2, 30,000 sequences)."""

    d_model: int = 64
    depth: int = 2
    heads: int = 1
    d_k: int | None = None
    d_ff: int | None = None
    gamma: float = 0.5
    vocab: int = 201
    n: int = 30000
    data_seed: int = 0
    seed: int = 0
    seeds: int = 1
    steps: int = 3000
    batch_size: int = 256
    lr: float = 2.5e-4
    warmup: float = 0.05  # share of the steps
    weight_decay: float = 0.01
    clip: float = 1.0
    record_every: int | None = None  # default: about 20 snapshots

    @classmethod
    def paper(cls, **changes) -> "TransformerConfig":
        """The NeurIPS runs' full size (the authors' code, sjtuzzw/complexity_control):
        d_model 400, d_ff 1200, d_k 200, 810,000 training sequences (900,000 split 9:1 with the ID
        test keys), batch 2048, 210 epochs (82,950 steps), warm-up over 10 epochs to 2.5e-4; a GPU's work."""
        n, batch = 810000, 2048
        base = dict(d_model=400, d_ff=1200, d_k=200, n=n, batch_size=batch, steps=210 * (n // batch), lr=2.5e-4,
                    warmup=10 / 210, record_every=10 * (n // batch))
        return cls(**{**base, **changes})

    def spec(self) -> TransformerSpec:
        return TransformerSpec(vocab=self.vocab, d_model=self.d_model, depth=self.depth, heads=self.heads,
                               d_k=self.d_k, d_ff=self.d_ff, gamma=self.gamma)

    def validate(self) -> None:
        """BadInput (one line) for anything impossible, before any work."""
        for name in ("d_model", "depth", "heads", "steps", "batch_size", "seeds"):
            if getattr(self, name) < 1:
                raise BadInput(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.d_k is None and self.d_model % self.heads:
            raise BadInput(f"--d-model {self.d_model} is not divisible by --heads {self.heads}")
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise BadInput(f"--gamma must be a non-negative finite number, got {self.gamma}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInput(f"--lr must be a positive finite number, got {self.lr}")
        if not 0 <= self.seed < 2 ** 31:
            raise BadInput(f"--seed must be a non-negative integer below 2^31, got {self.seed}")
        if not 0 <= self.warmup < 1:
            raise BadInput(f"--warmup must be a share of the steps in [0, 1), got {self.warmup}")
        if self.record_every is not None and self.record_every < 1:
            raise BadInput(f"--record-every must be at least 1, got {self.record_every}")

    def record_steps(self) -> np.ndarray:
        from ..training.host import evenly_recorded

        return evenly_recorded(self.steps, self.record_every or max(1, self.steps // 20))


@dataclass
class TransformerResult:
    """step (K,); matrices {name: (S, K, rows, d_in)}; train_acc, id_acc, ood_inferential,
    ood_symmetric (S, K); batch_loss (S, T') the loss of every step's minibatch (T' = T, or the
    last recorded step of an interrupted or failed run; NaN for a failed seed from the snapshot it
    was put back to);
    data; meta (status, reason, failed_seeds as a dense run's)."""

    step: np.ndarray
    matrices: dict
    train_acc: np.ndarray
    id_acc: np.ndarray
    ood_inferential: np.ndarray
    ood_symmetric: np.ndarray
    batch_loss: np.ndarray
    data: AnchorData
    meta: dict = field(default_factory=dict)


def learning_rate(config: TransformerConfig):
    """The schedule t -> lr(t) (optax's warm-up cosine decay): linear from 0.04·lr to lr over the
    warm-up steps, then cosine decay back to 0.04·lr at the last step (the reference loop's)."""
    import optax

    w = max(1, int(config.warmup * config.steps))
    return optax.warmup_cosine_decay_schedule(init_value=0.04 * config.lr, peak_value=config.lr, warmup_steps=w,
                                              decay_steps=max(config.steps, w + 1), end_value=0.04 * config.lr)


def train_transformer(config: TransformerConfig, data: AnchorData | None = None,
                      progress: Callable[[int, int], None] | None = None) -> TransformerResult:
    """Train `config.seeds` transformers at once on the anchor task (see the module docstring)."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from .model import AnchorTransformer, draw_parameters, recorded_matrices

    config.validate()
    if config.batch_size > config.n:
        raise BadInput(f"--batch-size {config.batch_size} exceeds the {config.n} training sequences")
    clock = time.perf_counter()
    timings = {}  # seconds: data, setup (models, optimizer), compile (the training program's first call), steps, snapshots

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    data = data if data is not None else make_anchors(config.n, config.data_seed, config.vocab)
    lap("data")
    spec = config.spec()
    S = config.seeds
    shape = nnx.eval_shape(lambda: AnchorTransformer(spec, nnx.Rngs(config.seed)))  # the network, no numbers
    graph = nnx.graphdef(shape)
    params = draw_parameters(spec, [config.seed + s for s in range(S)])
    rest = nnx.state(shape, nnx.Not(nnx.Param))  # nothing but parameters in this network
    opt = optax.chain(optax.clip_by_global_norm(config.clip),
                      optax.adamw(learning_rate(config), weight_decay=config.weight_decay))
    opt_state = jax.jit(jax.vmap(opt.init))(params)  # zeros and a step count: one program, not op by op
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    n, B = len(data.x_train), config.batch_size
    per_epoch = n // B

    def net(p):
        return nnx.merge(graph, p, rest)

    def loss_fn(p, xb, yb):
        logits = net(p)(xb)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, yb))

    def seed_step(p, o, order, key, t):
        epoch, pos = t // per_epoch, t % per_epoch
        order = jax.lax.cond(pos == 0, lambda: jax.random.permutation(jax.random.fold_in(key, epoch), n),
                             lambda: order)  # the epoch's order, redrawn at its first step only
        idx = jax.lax.dynamic_slice_in_dim(order, pos * B, B)
        loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
        updates, o = opt.update(g, o, p)
        return optax.apply_updates(p, updates), o, order, loss

    # each seed's PRNGKey(seed), by one program rather than op by op
    keys = jax.jit(jax.vmap(jax.random.PRNGKey))(np.asarray([config.seed + s for s in range(S)], np.uint32))
    orders = np.zeros((S, n), np.int32)

    @partial(jax.jit, static_argnums=4)
    def run(p, o, order, t0, L):
        def body(carry, i):
            p, o, order = carry
            p, o, order, loss = jax.vmap(seed_step, in_axes=(0, 0, 0, 0, None))(p, o, order, keys, t0 + i)
            return (p, o, order), loss

        (p, o, order), loss = jax.lax.scan(body, (p, o, order), jnp.arange(L))
        # (S,) whether each seed's parameters are all finite after the chunk's last update
        finite = jnp.isfinite(jnp.concatenate([v.reshape(S, -1) for v in jax.tree.leaves(p)], axis=1)).all(axis=1)
        return p, o, order, loss, finite

    @jax.jit
    def restore(failed, new, old):  # the failed seeds' parameters (or optimizer state) put back
        return jax.tree.map(lambda a, b: jnp.where(failed.reshape((-1,) + (1,) * (a.ndim - 1)), b, a), new, old)

    matrices = jax.jit(jax.vmap(lambda q: recorded_matrices(net(q))))  # (S, rows, d_in) each

    @jax.jit
    def answers(p, xs):  # (S, len(xs)) argmax answers, in blocks
        return jax.vmap(lambda q: jnp.argmax(net(q)(xs), -1))(p)

    def predict(p, xs):
        return np.concatenate([np.asarray(answers(p, jnp.asarray(xs[i:i + EVAL_BLOCK])))
                               for i in range(0, len(xs), EVAL_BLOCK)], axis=1)

    rec = config.record_steps()
    K = len(rec)
    mats = {k: np.empty((S, K) + v.shape[1:], np.float32) for k, v in jax.eval_shape(matrices, params).items()}
    acc = {k: np.empty((S, K)) for k in ("train_acc", "id_acc", "ood_inferential", "ood_symmetric")}
    batch_loss = np.empty((S, config.steps), np.float32)
    check = data.x_train[: min(n, 10 * EVAL_BLOCK)]  # training accuracy on (at most) 20,480 sequences
    check_y = data.y_train[: len(check)]
    fail = np.full(S, -1, np.int64)  # the step at which each seed's loss became non-finite (−1: never)
    lap("setup")
    ending = Ending(failure="minibatch loss not finite; weights kept at the last snapshot before it, frozen from then on")
    started = time.perf_counter()

    def launch(k, state):  # train up to the k-th recorded step (asynchronously; nothing to train for step 0)
        params, opt_state, orders, t = state
        target = int(rec[k])
        if target <= t:
            return state, None, state
        first = "compile" not in timings
        trained = run(params, opt_state, orders, np.int32(t), target - t)
        if first:
            lap("compile")  # (or loaded from the cache; the chunk itself then runs asynchronously)
        return (*trained[:3], target), trained[3:], state

    def absorb(k, pending):  # the chunk's losses checked, failed seeds put back; the snapshot at its end
        (params, opt_state, orders, target), trained, (before_p, before_o, _, t) = pending
        if trained is not None:
            loss, finite = trained
            loss = np.array(loss).T  # (S, steps of the chunk), a copy to mark failed seeds in
            bad = ~np.isfinite(loss)
            broken = ~np.asarray(finite)  # weights made non-finite by the chunk's last update
            newly = (fail < 0) & (bad.any(axis=1) | broken)
            fail[newly] = np.where(bad[newly].any(axis=1), t + np.argmax(bad[newly], axis=1), target - 1)
            if (fail >= 0).any():  # a failed seed is put back to its last snapshot (this chunk's start) and
                failed = fail >= 0  # frozen there; the others go on. Its losses from that snapshot are NaN
                params = restore(jnp.asarray(failed), params, before_p)
                opt_state = restore(jnp.asarray(failed), opt_state, before_o)
                loss[failed] = np.nan
            batch_loss[:, t:target] = loss
            lap("steps")
        for name, m in matrices(params).items():
            mats[name][:, k] = np.asarray(m)
        acc["train_acc"][:, k] = (predict(params, check) == check_y).mean(1)
        acc["id_acc"][:, k] = (predict(params, data.x_id) == data.y_id).mean(1)
        ood = predict(params, data.x_ood)
        acc["ood_inferential"][:, k] = (ood == data.key_ood - 10).mean(1)
        acc["ood_symmetric"][:, k] = (ood == data.key_ood - 6).mean(1)
        lap("snapshots")
        # every seed failed: nothing left to train
        return (params, opt_state, orders, target), target, ending.seeds_failed(fail)

    done = drive(len(rec), (params, opt_state, orders, 0), launch, absorb, ending, progress, config.steps)
    last = int(rec[done - 1])
    seeds = [config.seed + s for s in range(S)]
    meta = {"config": dataclasses.asdict(config), "arch": "transformer", "data": data.spec,
            "init": f"every weight matrix from N(0, (d_in^-gamma)^2): std d_in^-{config.gamma}, d_in = d_model "
                    "for the embeddings; output bias 0; LayerNorm scale 1, bias 0",
            "seeds": seeds, "steps_done": last, **ending.meta(seeds, time.perf_counter() - started),
            "timings": {k: round(v, 4) for k, v in timings.items()}}
    return TransformerResult(step=rec[:done], matrices={k: v[:, :done] for k, v in mats.items()},
                             batch_loss=batch_loss[:, :last], data=data, meta=meta,
                             **{k: v[:, :done] for k, v in acc.items()})
