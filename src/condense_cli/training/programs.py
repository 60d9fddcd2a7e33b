"""The compiled programs of a run: `programs(spec, optimizer, ...)` returns `Programs(init, buffer,
run_chunk)`, where `run_chunk` runs a chunk of training steps inside `jit`, `vmap` over seeds: a
`lax.scan` over the chunk's events (snapshots written into a donated buffer, full-batch passes,
test accuracy), each preceded by a loop of plain training steps."""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Callable, NamedTuple

import numpy as np

BLOCK_FLOATS = 2 ** 22  # a pass over all data goes in blocks whose widest activation holds about this many numbers


def data_block(spec) -> int:
    """Points per block of a pass over all data (a minibatch run's full-batch loss, accuracies):
    a power of two in [256, 4096] whose widest activation stays near BLOCK_FLOATS (16 MiB in
    float32), so that a block's activations stay in cache: a wide CNN layer takes small blocks, a
    dense net large ones (the timings behind the rule: benchmarks/README.md, "Design choices")."""
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
    - `run_chunk(state, buf, x (n, d), y (n, d_out), hyper, t0, steps (E,), slots (E,), takes
      (E,) bool, test=None or (x_test, y_test))` -> (state, (loss, step_loss, right,
      test_right), buf), each of the four (L, S): evaluations t0..t0+L-1, with the chunk's
      events (`schedule.chunk_inputs`; E = L means steps[i] = i, an event at every step, the
      chunk then one scan of event-then-step): at step t0+steps[j], the parameters written to slot
      `slots[j]` of `buf` (slot Kc is scratch) and, where `takes[j]`, the full-batch loss
      taken in a pass of its own. `loss` the full-batch loss (minibatch training: only at
      those events, NaN elsewhere), `step_loss` the loss of the batch each step's gradient
      was taken on (full batch: the full-batch loss; with dropout, with it), `right` the
      training points classified right (argmax of f against that of y) in the same pass as
      `loss` when `count_correct` (−1 where not taken, 0 without `count_correct`),
      `test_right` the test points classified right at the recorded steps (`slots[j] < Kc`;
      −1 elsewhere, or without `count_correct` and `test`). Between events the program runs
      nothing but training steps. `buf` is donated: its memory is reused in
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

    def judge(st, t, loss, take, hyper):
        """The bookkeeping of a taken full-batch loss of step t: early stop (the loss at step 0,
        the step the asked ratio is first reached) and, for several seeds, a non-finite loss
        freezing its seed. `take`: whether `loss` was taken at t."""
        if early_stop:
            loss0 = jnp.where(take & (t == 0), loss, st["loss0"])
            reach = (~st["stopped"]) & take & (loss <= hyper["ratio"] * loss0)
            st = {**st, "loss0": loss0, "stop_step": jnp.where(reach, t, st["stop_step"]),
                  "stopped": st["stopped"] | reach}
        if guard:
            st = mark_failed(st, t, take & ~jnp.isfinite(loss), hyper)
        return st

    def mark_failed(st, t, bad, hyper):
        """Several seeds: a seed whose step t (before T) went `bad` is failed from then on, at that step."""
        newly = (~st["failed"]) & bad & (t < hyper["T"])
        return {**st, "fail_step": jnp.where(newly, t, st["fail_step"]), "failed": st["failed"] | newly}

    def seed_step(st, t, x, y, hyper):
        """One seed's training step t: (state, (loss, step_loss, right)). Full batch: `loss` the
        full-batch loss and `right` the points classified right, from the gradient's own pass
        (with dropout, a pass without it), `step_loss` the loss the gradient was taken on.
        Minibatch: `step_loss` the minibatch's loss; `loss` NaN and `right` −1 (an event's
        pass takes them, `seed_event`)."""
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
            loss, right = jnp.full((), jnp.nan, x.dtype), jnp.full((), -1, jnp.int32)
        if not spec.output_bias:
            g = {**g, "out": g["out"].at[:, -1].set(0.0)}
        if batch is None:  # every step's full-batch loss is taken here
            st = judge(st, t, loss, True, hyper)

        def update(operands):
            params, opt_state, grads = operands
            updates, opt_state = make_opt(hyper["lr"]).update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        stopped = st["stopped"]
        if guard:  # a seed whose loss or updated weights are not finite keeps its weights from then on
            cand_p, cand_opt = update((p, st["opt"], g))
            finite = jnp.isfinite(step_loss) & jnp.all(jnp.array([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(cand_p)]))
            st = mark_failed(st, t, ~finite, hyper)
            active = ~st["failed"] & (t < hyper["T"]) & ~stopped if freeze else ~st["failed"]
            new_p = jax.tree.map(lambda a, b: jnp.where(active, a, b), cand_p, p)
            opt_state = jax.tree.map(lambda a, b: jnp.where(active, a, b), cand_opt, st["opt"])
        elif freeze:  # stopped seeds, steps past T and non-finite losses leave the weights as they are
            active = (t < hyper["T"]) & jnp.isfinite(step_loss) & ~stopped
            new_p, opt_state = jax.lax.cond(active, update, lambda ops: (ops[0], ops[1]), (p, st["opt"], g))
        else:
            new_p, opt_state = update((p, st["opt"], g))
        st = {**st, "params": new_p, "opt": opt_state, "perm": perm}
        return st, (loss, step_loss, right)

    def seed_event(st, buf, t, slot, take, x, y, hyper, test):
        """What happens at an event step t besides its training step, on the parameters before
        that step's update: (state, buf, (loss, right, test_right)). The parameters are written
        to snapshot slot `slot` (Kc: scratch); where `take`, the full-batch loss and the points
        classified right in a pass over all n points (NaN and −1 elsewhere), then `judge`;
        at a recorded step (`slot < Kc`) the test points classified right (−1 elsewhere, or
        without `count_correct` and `test`)."""
        p = st["params"]
        buf = jax.tree.map(lambda b, leaf: jax.lax.dynamic_update_index_in_dim(b, leaf, slot, 0), buf,
                           _recorded(p))
        loss, right = jax.lax.cond(take, lambda: full_loss(p, x, y),
                                   lambda: (jnp.full((), jnp.nan, x.dtype), jnp.full((), -1, jnp.int32)))
        st = judge(st, t, loss, take, hyper)
        if count_correct and test is not None:
            test_right = jax.lax.cond(slot < Kc, lambda: full_loss(p, *test)[1], lambda: jnp.full((), -1, jnp.int32))
        else:
            test_right = jnp.full((), -1, jnp.int32)
        return st, buf, (loss, right, test_right)

    if S == 1:  # one network: no batch axis inside the step (XLA's small dots are faster so)
        squeeze = lambda tree: jax.tree.map(lambda a: a[0], tree)  # noqa: E731
        expand = lambda tree: jax.tree.map(lambda a: a[None], tree)  # noqa: E731

        def v_step(st, t, x, y, hyper):
            return expand(seed_step(squeeze(st), t, x, y, hyper))

        def v_event(st, buf, t, slot, take, x, y, hyper, test):
            return expand(seed_event(squeeze(st), squeeze(buf), t, slot, take, x, y, hyper, test))
    else:  # the step, slot and pass are shared by the seeds: the full-batch pass stays a real branch
        v_step = jax.vmap(seed_step, in_axes=(0, None, None, None, None))
        v_event = jax.vmap(seed_event, in_axes=(0, 0, None, None, None, None, None, None, None))

    @partial(jax.jit, donate_argnums=1, compiler_options=compiler_options())
    def run_chunk(state, buf, x, y, hyper, t0, steps, slots, takes, test=None):
        # the four per-step outputs, with a last scratch row that a padded event (step L) writes
        out = (jnp.full((L + 1, S), jnp.nan, dtype), jnp.full((L + 1, S), jnp.nan, dtype),
               jnp.full((L + 1, S), -1, jnp.int32), jnp.full((L + 1, S), -1, jnp.int32))

        def one_step(i, carry):
            """Training step i of the chunk (its outputs written at row i)."""
            st, (loss, step_loss, right, test_right) = carry
            st, (l, sl, r) = v_step(st, t0 + i, x, y, hyper)
            if batch is None:
                loss, right = loss.at[i].set(l), right.at[i].set(r)
            return st, (loss, step_loss.at[i].set(sl), right, test_right)

        def at_event(st, b, out, j):
            """Event j of the chunk, at its step e (row L, the scratch row, for a padded one)."""
            e = steps[j]
            loss, step_loss, right, test_right = out
            st, b, (l, r, tr) = v_event(st, b, t0 + e, slots[j], takes[j], x, y, hyper, test)
            if batch is not None:
                loss, right = loss.at[e].set(l), right.at[e].set(r)
            return st, b, (loss, step_loss, right, test_right.at[e].set(tr)), e

        if steps.shape[0] == L:  # every step an event (`chunk_inputs`): event i, then step i
            def event_and_step(carry, i):
                st, b, out = carry
                st, b, out, _ = at_event(st, b, out, i)
                st, out = one_step(i, (st, out))
                return (st, b, out), None

            (state, buf, out), _ = jax.lax.scan(event_and_step, (state, buf, out), jnp.arange(L, dtype=jnp.int32))
        else:  # the training steps before each event in a loop of their own: the hot loop
            def event(carry, j):
                st, b, out, i0 = carry
                st, out = jax.lax.fori_loop(i0, steps[j], one_step, (st, out))
                return at_event(st, b, out, j), None

            (state, buf, out, last), _ = jax.lax.scan(event, (state, buf, out, jnp.int32(0)),
                                                      jnp.arange(steps.shape[0]))
            state, out = jax.lax.fori_loop(last, L, one_step, (state, out))
        return state, tuple(o[:L] for o in out), buf  # four (L, S); buf: (S, Kc+1, ...)

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
