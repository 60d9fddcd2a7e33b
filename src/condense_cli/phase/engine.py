"""The phase diagram's engine (Luo et al. 2021): RD of every (γ, γ′, seed) point at each width,
and `sweep`, which runs the widths and combines them (`fits.combine`).

Network: f(x) = (1/α) Σ_k a_k σ(w_k·x̃), no output bias, a_k ~ N(0, β1²), w_k ~ N(0, β2² I)
(biases in w), with (α, β1, β2) from `init.phase_scales` (κ = β1β2/α = m^−γ, κ′ = β1/β2 = m^−γ′).

Training is full-batch gradient descent on the normalized variables ā = a/β1, w̄ = w/β2 (both
N(0, 1) at start) following the normalized flow  dā/dt̄ = −(1/κ′) ∂R/∂ā,  dw̄/dt̄ = −κ′ ∂R/∂w̄,
which is the gradient flow of (a, w) up to a change of time; the step is
η / max(κ, m κ² (κ′ + 1/κ′)) so every point moves at O(1) speed. A point whose loss rises rolls
back to its last accepted parameters and halves its own η, inside the compiled program; after
each accepted step η grows by 2 % back towards its start (so a plateau is not crawled at a
step once needed elsewhere). A point
stops at loss ≤ tol or after max_steps (a safety limit the default grid never reaches); η below
2^−40 of its start flags it as diverged.

The trained variables are the displacements δā = ā − ā(0), δw̄ = w̄ − w̄(0) (the network reads
ā(0) + δā): RD = |δw̄(T)| / |w̄(0)| stays measurable when the input weights move by less than
float32 resolves next to w̄(0) (deep in the linear regime). `x64` runs the engine in float64.

For each width, compiled programs train the (γ, γ′, seed) points (`vmap`), the point axis
sharded over all devices. Points are *compacted*: after each chunk of steps, once the unfinished
points (and those not yet started) fit a smaller group, they are moved into one, so points that
have finished stop costing work. Group sizes are the memory bound's and its halvings (multiples
of the device count), so a width compiles a handful of programs. Every seed's points share one
normalized draw per width (common random numbers across the grid), drawn on the host from a
NumPy generator seeded by (seed, m). RD is scale-free, so it is the RD of w; the final loss is
that of the last accepted parameters.

"""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Callable

import numpy as np

from ..data import Dataset
from ..errors import BadInput
from ..nn import activations
from ..nn.init import phase_scales
from ..runtime import compiler_options
from ..runtime import x64 as float64
from .config import PhaseConfig
from .fits import PhaseResult, WidthResult, combine

MIN_LR_FACTOR = 2.0 ** -40  # a point whose step fell this far below its start has diverged
RISE_TOL = 1e-5  # relative loss increase taken as a rise (float32 rounding is ~1e-7)
REGROW = 1.02  # step growth after each accepted step, capped at the starting step



def _point_scales(config: PhaseConfig, m: int):
    """(κ, κ′, β1/α, β2, step factor) for every (γ, γ′) point, each (Γ·Γ′,).

    For a positively homogeneous σ, f = κ Σ ā σ(w̄·x̃) exactly: the output factor is κ and the
    inner one 1, so every split computes the same numbers (not just the same mathematics)."""
    homogeneous = activations.positively_homogeneous(config.act)
    rows = []
    for g in config.gammas:
        for gp in config.gamma_primes:
            alpha, b1, b2 = phase_scales(g, gp, m, config.split)
            kappa, kprime = b1 * b2 / alpha, b1 / b2
            if homogeneous:
                alpha, b1, b2 = 1.0 / kappa, 1.0, 1.0
            step = 1.0 / max(kappa, m * kappa ** 2 * (kprime + 1 / kprime))
            rows.append((kappa, kprime, b1 / alpha, b2, step))
    return np.array(rows, dtype=np.float64).T


def group_size(n_points: int, m: int, n: int, d: int, memory_mb: int, n_devices: int) -> int:
    """Points per compiled group so that parameters, optimizer copies and activations fit in
    `memory_mb` (a multiple of the device count)."""
    per_point = 4 * m * (6 * (d + 2) + 6 * n)  # bytes: 3 copies of (ā, w̄) + grads + activations
    g = max(1, min(n_points, (memory_mb * 2 ** 20) // max(per_point, 1)))
    g = max(n_devices, (g // n_devices) * n_devices)
    return int(g)


@lru_cache(maxsize=16)
def _program(act: str, m: int, n: int, d: int, G: int, chunk: int):
    """The compiled `run(state, pts, base, xt, y, tol, max_steps)`: `chunk` steps of G points of
    width m on n data points of dimension d (one program per width)."""
    import jax
    import jax.numpy as jnp

    sigma = activations.get(act).fn

    def loss_fn(delta, pt, base, xt, y):
        a, w = base[0] + delta[0], base[1] + delta[1]
        z = pt["b2"] * (xt @ w.T)  # (n, m)
        f = pt["b1_over_alpha"] * (sigma(z) @ a)  # (n,)
        e = f - y
        return 0.5 * jnp.mean(e * e)

    grad_fn = jax.value_and_grad(loss_fn)

    def step_one(st, pt, base, xt, y, tol, max_steps):
        loss, (ga, gw) = grad_fn(st["p"], pt, base, xt, y)
        running = (~st["done"])
        # a rise beyond float rounding (relative RISE_TOL) is rejected
        rise = (~jnp.isfinite(loss)) | (loss > st["loss_acc"] * (1 + RISE_TOL))
        accept = running & ~rise
        reject = running & rise
        eta = st["eta"] * pt["step"]
        new_a = st["p"][0] - eta / pt["kprime"] * ga
        new_w = st["p"][1] - eta * pt["kprime"] * gw
        p = (jnp.where(accept, new_a, jnp.where(reject, st["acc"][0], st["p"][0])),
             jnp.where(accept, new_w, jnp.where(reject, st["acc"][1], st["p"][1])))
        acc = (jnp.where(accept, st["p"][0], st["acc"][0]), jnp.where(accept, st["p"][1], st["acc"][1]))
        loss_acc = jnp.where(accept, loss, st["loss_acc"])
        # halve on a rise; after an accepted step grow back slowly, never above the start
        eta_new = jnp.where(reject, st["eta"] * 0.5,
                            jnp.where(accept, jnp.minimum(st["eta"] * REGROW, st["eta0"]), st["eta"]))
        steps = st["steps"] + running.astype(jnp.int32)
        converged = st["converged"] | (accept & (loss <= tol))
        diverged = st["diverged"] | (running & (eta_new < st["eta0"] * MIN_LR_FACTOR))
        done = converged | diverged | (steps >= max_steps)
        return {**st, "p": p, "acc": acc, "loss_acc": loss_acc, "eta": eta_new, "steps": steps,
                "converged": converged, "diverged": diverged, "done": done}

    v_step = jax.vmap(step_one, in_axes=(0, 0, 0, None, None, None, None))

    @partial(jax.jit, compiler_options=compiler_options())
    def run(state, pts, base, xt, y, tol, max_steps):
        def body(st, _):  # the starting weights `base` stay outside the carried state
            return v_step(st, pts, base, xt, y, tol, max_steps), None

        state, _ = jax.lax.scan(body, state, None, length=chunk)
        return state

    return run


def initial_weights(seed: int, m: int, d: int, zero_output: bool) -> tuple[np.ndarray, np.ndarray]:
    """The normalized draw (ā (m,), w̄ (m, d+1)) ~ N(0, 1) of one seed at width m, shared by
    every (γ, γ′) point; with `zero_output` the second half mirrors the first as (−ā, w̄)."""
    rng = np.random.default_rng([seed, m])
    half = m // 2 if zero_output else m
    a = rng.standard_normal(half).astype(np.float32)
    w = rng.standard_normal((half, d + 1)).astype(np.float32)
    if zero_output:
        a, w = np.concatenate([a, -a]), np.concatenate([w, w])
    return a, w


def _host(x) -> np.ndarray:
    """A (possibly sharded) array as NumPy; across hosts (jax.distributed) every process
    gathers the whole array."""
    import jax

    if jax.process_count() > 1:  # pragma: no cover - needs several hosts
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def group_sizes(g_max: int, n_devices: int) -> list[int]:
    """The compiled group sizes of a width: the memory bound g_max and its halvings down to the
    device count (each a multiple of it), ascending."""
    sizes, g = {g_max}, g_max
    while g // 2 >= n_devices:
        g = max(n_devices, (g // 2 // n_devices) * n_devices)
        sizes.add(g)
    return sorted(sizes)


def _fit(sizes: list[int], count: int) -> int:
    """The smallest group size holding `count` points (the largest when none does)."""
    return next((g for g in sizes if g >= count), sizes[-1])


def run_width(config: PhaseConfig, data: Dataset, m: int,
              progress: Callable[[int], None] | None = None, chunk: int = 500) -> WidthResult:
    """Train every (γ, γ′, seed) point at width m; `progress(points_done)` after each chunk.

    All points' states live on the host between groups; a group is the unfinished points (then
    the ones not yet started) in the smallest compiled size that holds them, regrouped as soon as
    a smaller size would do or freed places can take waiting points."""
    import time

    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    start = time.perf_counter()
    x = np.asarray(data.x, np.float64)
    if data.y.shape[1] != 1:
        raise BadInput("the phase diagram needs a scalar target (y with one column)")
    n, d = x.shape
    dt = np.float64 if config.x64 else np.float32
    xt = np.concatenate([x, np.ones((n, 1))], 1).astype(dt)
    y = data.y[:, 0].astype(dt)
    kappa, kprime, b1a, b2, step = _point_scales(config, m)
    GG = len(kappa)
    S = config.seeds
    P = GG * S
    devices = jax.devices()
    nd = len(devices)
    sizes = group_sizes(group_size(P, m, n, d, config.memory_mb, nd), nd)
    chunk = max(1, min(chunk, config.max_steps))
    mesh = Mesh(np.array(devices), ("points",))
    shard = NamedSharding(mesh, PartitionSpec("points"))
    draws = [initial_weights(config.seed + s, m, d, config.zero_output) for s in range(S)]

    # point p = s * GG + g: grid point g, seed s; every point's state kept here between groups
    grid_idx = np.tile(np.arange(GG), S)
    seed_idx = np.repeat(np.arange(S), GG)
    pts_all = {"kprime": kprime[grid_idx].astype(dt), "b1_over_alpha": b1a[grid_idx].astype(dt),
               "b2": b2[grid_idx].astype(dt), "step": step[grid_idx].astype(dt)}
    zeros_a, zeros_w = np.zeros((P, m), dt), np.zeros((P, m, d + 1), dt)
    host = {"p": (zeros_a, zeros_w), "acc": (zeros_a.copy(), zeros_w.copy()),
            "loss_acc": np.full(P, np.inf, dt), "eta": np.full(P, config.lr, dt), "eta0": np.full(P, config.lr, dt),
            "steps": np.zeros(P, np.int32), "converged": np.zeros(P, bool), "diverged": np.zeros(P, bool),
            "done": np.zeros(P, bool)}
    tol, max_steps = dt(config.tol), np.int32(config.max_steps)
    waiting = list(range(P))  # not started yet, in order
    running: list[int] = []
    point_steps, used = 0, []
    x64 = float64(config.x64)

    def take(tree, idx):
        return jax.tree_util.tree_map(lambda a: a[idx], tree)

    with x64:
        while running or waiting:
            G = _fit(sizes, len(running) + len(waiting))
            members = running + waiting[: G - len(running)]
            waiting = waiting[G - len(running):]
            pad = np.array(members + [members[0]] * (G - len(members)))  # same shapes: one program each
            run = _program(config.act, m, n, d, G, chunk)
            base = (np.stack([draws[s][0] for s in seed_idx[pad]]).astype(dt),
                    np.stack([draws[s][1] for s in seed_idx[pad]]).astype(dt))
            state = take(host, pad)
            pts = take(pts_all, pad)
            if nd > 1:
                state, pts, base = jax.device_put((state, pts, base), shard)
            used.append(G)
            while True:
                state = run(state, pts, base, xt, y, tol, max_steps)
                point_steps += G * chunk
                done = _host(state["done"])[: len(members)]
                if progress is not None:  # members were not done when the group formed
                    progress(int(host["done"].sum()) + int(done.sum()))
                left = int((~done).sum())
                regroup = _fit(sizes, left + len(waiting)) < G or (waiting and G - left >= max(1, G // 4))
                if left == 0 or regroup:
                    break
            back = jax.tree_util.tree_map(lambda a: _host(a)[: len(members)], state)
            idx = np.array(members)
            for k, v in back.items():
                if isinstance(v, tuple):
                    for dst, src in zip(host[k], v):
                        dst[idx] = src
                else:
                    host[k][idx] = v
            running = [p for p, fin in zip(members, done) if not fin]

    w_start = np.stack([draws[s][1] for s in seed_idx]).astype(np.float64).reshape(P, -1)
    moved = host["acc"][1].astype(np.float64).reshape(P, -1)
    rd = np.linalg.norm(moved, axis=1) / np.linalg.norm(w_start, axis=1)
    shape = (S, len(config.gammas), len(config.gamma_primes))
    to_grid = lambda a: np.moveaxis(a.reshape(shape), 0, -1)  # (Γ, Γ′, S)
    return WidthResult(width=m, rd=to_grid(rd), converged=to_grid(host["converged"]),
                       diverged=to_grid(host["diverged"]), steps=to_grid(host["steps"].astype(np.int64)),
                       final_loss=to_grid(host["loss_acc"].astype(np.float64)),
                       seconds=time.perf_counter() - start, point_steps=int(point_steps), groups=tuple(used))


def sweep(config: PhaseConfig, data: Dataset, finished: dict[int, WidthResult] | None = None,
          on_width: Callable[[WidthResult], None] | None = None,
          progress: Callable[[int, int], None] | None = None) -> PhaseResult:
    """Run every width not in `finished` (width -> result, e.g. read back from part files),
    calling `on_width` as each one completes (the caller saves it at once), then combine.
    `progress(points_done, points_total)` counts points over all widths."""
    config.validate()
    finished = dict(finished or {})
    per_width = len(config.gammas) * len(config.gamma_primes) * config.seeds
    total = per_width * len(config.widths)
    base = per_width * sum(1 for m in config.widths if m in finished)
    if progress is not None:
        progress(base, total)
    for m in config.widths:
        if m in finished:
            continue
        part = run_width(config, data, m,
                         progress=None if progress is None else (lambda k, b=base: progress(b + k, total)))
        finished[m] = part
        base += per_width
        if on_width is not None:
            on_width(part)
    return combine(config, [finished[m] for m in config.widths])
