"""The compiled programs of a run: `programs(spec, optimizer, ...)` returns `Programs(init, buffer,
run_chunk)`, where `run_chunk` is `lax.scan` of the training step over a chunk of steps inside
`jit`, `vmap` over seeds, snapshots written into a donated buffer inside the scan."""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Callable, NamedTuple

import numpy as np

BLOCK_FLOATS = 2 ** 22  # a pass over all data goes in blocks whose widest activation holds about this many numbers


def data_block(spec) -> int:
    """Points per block of a pass over all data (a minibatch run's full-batch loss, accuracies):
    a power of two in [256, 4096] whose widest activation stays near BLOCK_FLOATS (16 MiB in
    float32). Measured on an MNIST-size CNN (10,816 features after the convolution): a pass
    takes 1.1 s in blocks of 512, 2.5 s in blocks of 4,096; a dense 784-1024 net is the same
    within 15 % either way."""
    widest = max([spec.d, *spec.widths, *spec.fans])
    return int(2 ** np.clip(np.floor(np.log2(BLOCK_FLOATS / widest)), 8, 12))


def _recorded(params: dict) -> dict:
    """The parameters a run file records at every snapshot: hidden layers and output (a ResNet18
    trunk is kept only at the end)."""
    return {"hidden": params["hidden"], "out": params["out"]}


@lru_cache(maxsize=32)
def programs(spec, optimizer: str, batch: int | None, S: int, L: int, Kc: int, dtype_name: str,
              dropout: float = 0.0, loss_name: str = "mse", n_data: int = 0, early_stop: bool = False,
              count_correct: bool = False):
    """The pieces of a run, cached by everything that shapes them (not by data, steps,
    learning rate, stop ratio or seeds, which are arguments):

    - `init(seeds (S,), stds (L+1,))` -> the host-built state of S networks (no compilation);
    - `buffer()` -> a snapshot buffer on the device, leaves (S, Kc+1, ...);
    - `run_chunk(state, buf, x (n, d), y (n, d_out), hyper, t0, slots (L,), takes (L,) bool,
      test=None or (x_test, y_test))` -> (state, (loss, step_loss, right, test_right), buf),
      each of the four (L, S): evaluations
      t0..t0+L-1, parameters at step t0+i written to slot `slots[i]` of `buf` (slot Kc is
      scratch); `loss` the full-batch loss (minibatch training: only where `takes[i]`, NaN
      elsewhere), `step_loss` the loss of the batch each step's gradient was taken on (full
      batch: the full-batch loss; with dropout, with it), `right` the training points
      classified right (argmax of f against that of y) in the same pass as `loss` when
      `count_correct` (−1 where not taken, 0 without `count_correct`), `test_right` the test
      points classified right at the recorded steps (`slots[i] < Kc`; −1 elsewhere, or without
      `count_correct` and `test`). `buf` is donated: its memory is reused in
      place (a fresh buffer per chunk costs page faults on every chunk), so it must not be read
      after the call; only the slots written in this call are meaningful in the result.
      `hyper` = {"T": int32, "lr": float, "ratio": float}; the stop ratio is read only by the
      program built with `early_stop` (without it, no per-step stop bookkeeping is compiled).
    """
    import jax
    import jax.numpy as jnp
    import optax

    from ..nn.init import init_params
    from ..nn.models import OUTPUT_LOSSES, forward
    from ..runtime import compiler_options

    loss_of = OUTPUT_LOSSES[loss_name]  # the training loss (MSE or cross-entropy) of outputs
    freeze = early_stop or spec.trunk is not None
    guard = S > 1  # several seeds: one whose step turns non-finite is frozen, the others go on

    dtype = np.dtype(dtype_name)

    def make_opt(lr):
        return optax.adam(lr) if optimizer == "adam" else optax.sgd(lr)

    def loss_and_correct(p, xb, yb, k=None):
        """(loss, points classified right (int32; 0 unless `count_correct`)) from one forward pass."""
        f = forward(p, xb, spec, dropout, k)
        right = (jnp.sum(jnp.argmax(f, -1) == jnp.argmax(yb, -1), dtype=jnp.int32) if count_correct
                 else jnp.zeros((), jnp.int32))
        return loss_of(f, yb), right

    grad_fn = jax.value_and_grad(loss_and_correct, has_aux=True)

    block_n = data_block(spec)

    def full_loss(p, x, y):
        """(loss, points classified right) on all n points, in blocks of `data_block` points so
        memory stays bounded."""
        n = x.shape[0]
        if n <= block_n:
            return loss_and_correct(p, x, y)
        nb, cut = n // block_n, (n // block_n) * block_n

        def block(i, acc):
            xb = jax.lax.dynamic_slice_in_dim(x, i * block_n, block_n)
            yb = jax.lax.dynamic_slice_in_dim(y, i * block_n, block_n)
            loss, right = loss_and_correct(p, xb, yb)
            return acc[0] + loss * block_n, acc[1] + right

        total, right = jax.lax.fori_loop(0, nb, block, (jnp.zeros((), x.dtype), jnp.zeros((), jnp.int32)))
        if cut < n:
            loss, r = loss_and_correct(p, x[cut:], y[cut:])
            total, right = total + loss * (n - cut), right + r
        return total / n, right

    def seed_step(st, t, slot, take, buf, x, y, hyper, test):
        """One seed's step t: (state, (full-batch loss (NaN where `take` is false), loss the
        gradient was taken on, points of all n classified right (−1 where not taken)), buf).
        Full batch: both losses are the full-batch loss of every step."""
        p = st["params"]
        key = st["key"]
        perm = st["perm"]
        if batch is None and dropout == 0:
            (loss, right), g = grad_fn(p, x, y)
            step_loss = loss
        elif batch is None:  # dropout on the full batch: the recorded loss is without dropout
            loss, right = loss_and_correct(p, x, y)
            (step_loss, _), g = grad_fn(p, x, y, jax.random.fold_in(jax.random.fold_in(key, 1), t))
        else:  # epochs of n // batch minibatches, reshuffled at each epoch's start
            per_epoch = x.shape[0] // batch
            epoch, pos = t // per_epoch, t % per_epoch
            perm = jax.lax.cond(
                pos == 0,
                lambda: jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 2), epoch),
                                               x.shape[0]).astype(jnp.int32),
                lambda: perm)
            idx = jax.lax.dynamic_slice(perm, (pos * batch,), (batch,))
            k_drop = jax.random.fold_in(jax.random.fold_in(key, 1), t)
            (step_loss, _), g = grad_fn(p, x[idx], y[idx], k_drop if dropout > 0 else None)
            # the full-batch loss only at the recorded loss steps (a pass over all n points)
            loss, right = jax.lax.cond(take, lambda: full_loss(p, x, y),
                                       lambda: (jnp.full((), jnp.nan, x.dtype), jnp.full((), -1, jnp.int32)))
        if not spec.output_bias:
            g = {**g, "out": g["out"].at[:, -1].set(0.0)}
        loss0, stopped, stop_step = st["loss0"], st["stopped"], st["stop_step"]
        if early_stop:
            loss0 = jnp.where(t == 0, loss, loss0)
            reach = (~stopped) & take & (loss <= hyper["ratio"] * loss0)
            stop_step = jnp.where(reach, t, stop_step)
            stopped = stopped | reach
        buf = jax.tree.map(lambda b, leaf: jax.lax.dynamic_update_index_in_dim(b, leaf, slot, 0), buf,
                           _recorded(p))

        def update(operands):
            params, opt_state, grads = operands
            updates, opt_state = make_opt(hyper["lr"]).update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        failed, fail_step = st["failed"], st["fail_step"]
        if guard:  # a seed whose loss or updated weights are not finite keeps its weights from then on
            cand_p, cand_opt = update((p, st["opt"], g))
            finite = jnp.isfinite(step_loss) & (~take | jnp.isfinite(loss)) & jnp.all(jnp.array([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(cand_p)]))
            newly = (~failed) & (~finite) & (t < hyper["T"])
            fail_step = jnp.where(newly, t, fail_step)
            failed = failed | newly
            active = ~failed & (t < hyper["T"]) & ~stopped if freeze else ~failed
            new_p = jax.tree.map(lambda a, b: jnp.where(active, a, b), cand_p, p)
            opt_state = jax.tree.map(lambda a, b: jnp.where(active, a, b), cand_opt, st["opt"])
        elif freeze:  # stopped seeds, steps past T and non-finite losses leave the weights as they are
            active = (t < hyper["T"]) & jnp.isfinite(step_loss) & ~stopped
            new_p, opt_state = jax.lax.cond(active, update, lambda ops: (ops[0], ops[1]), (p, st["opt"], g))
        else:
            new_p, opt_state = update((p, st["opt"], g))
        st = {"params": new_p, "opt": opt_state, "key": key, "perm": perm, "loss0": loss0, "stopped": stopped,
              "stop_step": stop_step, "failed": failed, "fail_step": fail_step}
        if count_correct and test is not None:  # the test points classified right, at recorded steps only
            test_right = jax.lax.cond(slot < Kc, lambda: full_loss(p, *test)[1], lambda: jnp.full((), -1, jnp.int32))
        else:
            test_right = jnp.full((), -1, jnp.int32)
        return st, (loss, step_loss, right, test_right), buf

    if S == 1:  # one network: no batch axis inside the step (XLA's small dots are faster so)
        def v_step(st, t, slot, take, buf, x, y, hyper, test):
            squeeze = lambda tree: jax.tree.map(lambda a: a[0], tree)
            st, losses, buf = seed_step(squeeze(st), t, slot, take, squeeze(buf), x, y, hyper, test)
            return jax.tree.map(lambda a: a[None], (st, losses, buf))
    else:  # t, slot and take are shared by the seeds: the full-batch loss stays a real branch
        v_step = jax.vmap(seed_step, in_axes=(0, None, None, None, 0, None, None, None, None))

    @partial(jax.jit, donate_argnums=1, compiler_options=compiler_options())
    def run_chunk(state, buf, x, y, hyper, t0, slots, takes, test=None):
        def body(carry, i):
            st, b = carry
            st, losses, b = v_step(st, t0 + i, slots[i], takes[i], b, x, y, hyper, test)
            return (st, b), losses

        (state, buf), losses = jax.lax.scan(body, (state, buf), jnp.arange(L, dtype=jnp.int32))
        return state, losses, buf  # losses: (loss, step_loss, right, test_right), each (L, S); buf: (S, Kc+1, ...)

    def buffer():
        zeros = lambda shape: jnp.zeros((S, Kc + 1) + tuple(shape), dtype)
        return {"hidden": [zeros(shape) for shape in spec.shapes[:-1]], "out": zeros(spec.shapes[-1])}

    def init(seeds: list[int], stds: list[float]):
        """The state of S networks: parameters from `init_params` (on the host), the optimizer's
        state from the optimizer's own `init` (one per network), and a raw threefry key [0, seed]
        per network for minibatches."""
        nets = [init_params(seed, spec, stds, dtype) for seed in seeds]
        params = jax.tree.map(lambda *leaves: np.stack(leaves), *nets)
        opt_init = make_opt(1.0).init  # per network, eagerly (cheaper than tracing a vmapped init)
        opt = jax.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]),
                           *[opt_init(jax.tree.map(lambda a, s=s: a[s], params)) for s in range(len(seeds))])
        zeros = lambda dt: np.zeros(len(seeds), dt)
        return {"params": params, "opt": opt,
                "key": np.array([[0, seed] for seed in seeds], np.uint32),
                "perm": np.zeros((len(seeds), n_data), np.int32),  # the current epoch's order
                "loss0": zeros(dtype), "stopped": zeros(bool),
                "stop_step": np.full(len(seeds), -1, np.int32),
                "failed": zeros(bool), "fail_step": np.full(len(seeds), -1, np.int32)}

    return Programs(init, buffer, run_chunk)


class Programs(NamedTuple):
    """What `programs` returns."""

    init: Callable
    buffer: Callable
    run_chunk: Callable
