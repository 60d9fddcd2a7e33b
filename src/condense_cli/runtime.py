"""JAX runtime settings shared by the commands: the persistent compilation cache, one host
device per CPU core for sweeps, multi-host start-up (`jax.distributed`) when
CONDENSE_DISTRIBUTED=1, and the compiler options of the long-running programs.

`enable_compilation_cache()` points JAX at a per-user folder (CONDENSE_CACHE_DIR, else
$XDG_CACHE_HOME/condense/jax, else ~/.cache/condense/jax) so a repeated command compiles
less; CONDENSE_CACHE_DIR=off turns it off. The folder is the user's own: JAX trusts what a
cache holds, so it must never be shared with other users.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def cache_dir() -> Path | None:
    """The compilation-cache folder, or None when turned off."""
    env = os.environ.get("CONDENSE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "condense" / "jax"


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache (before the first compilation)."""
    import jax

    folder = cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def start_distributed() -> bool:
    """With CONDENSE_DISTRIBUTED=1, join a multi-process JAX job (`jax.distributed.initialize`):
    the coordinator, process count and id from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
    JAX_PROCESS_ID where set, else from the cluster's own environment (SLURM, Open MPI, ...,
    which JAX detects). On CPU the processes talk through Gloo collectives. Returns whether it
    joined; a malformed count or id is one BadInput line."""
    if os.environ.get("CONDENSE_DISTRIBUTED", "").strip() not in ("1", "true", "yes"):
        return False
    import jax

    from .errors import BadInput

    kw = {}
    for env, name in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(env, "").strip():
            try:
                kw[name] = int(os.environ[env])
            except ValueError:
                raise BadInput(f"{env} must be an integer, got {os.environ[env]!r}") from None
    try:
        jax.distributed.initialize(**kw)
    except (ValueError, RuntimeError) as e:
        raise BadInput(f"CONDENSE_DISTRIBUTED=1 but the JAX job could not start: {str(e).splitlines()[0]}") from None
    return True


def is_writer() -> bool:
    """Whether this process writes files: always, except in a multi-process job, where only
    process 0 does (the others compute their share and leave the files to it)."""
    import sys

    if "jax" not in sys.modules:
        return True
    import jax

    return jax.process_index() == 0


def split_cpu_into_devices() -> int | None:
    """Before JAX starts: expose one XLA host device per CPU core (unless XLA_FLAGS already sets a
    count), so a sweep sharded over devices runs its point groups on every core at once. It
    changes nothing on GPU/TPU, where the accelerator is the default backend. Returns the count
    set, or None when left alone."""
    import sys

    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2:
        return None
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()
    return cores


@lru_cache(maxsize=1)
def _cpu_has_avx512() -> bool:
    """Whether this x86 CPU (Linux) offers AVX-512F; False where that cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def compiler_options() -> dict[str, str]:
    """XLA options for the compiled training and sweep programs (`jax.jit(compiler_options=)`).

    On a CPU with AVX-512, XLA:CPU still vectorizes for 256-bit registers by default (to spare
    older Intel cores their 512-bit clock penalty); asking for 512 bits makes the elementwise
    kernels of a training step (tanh and its kind) up to 2x faster, which on the papers' small
    networks is 5-20 % of a step (benchmarks/bench_train.py). CONDENSE_VECTOR_WIDTH=256 keeps
    XLA's default. Elsewhere, or on GPU/TPU, no option is set."""
    import jax

    if jax.default_backend() != "cpu" or not _cpu_has_avx512():
        return {}
    if os.environ.get("CONDENSE_VECTOR_WIDTH", "").strip() == "256":
        return {}
    return {"xla_cpu_prefer_vector_width": "512"}


def x64(enabled: bool = True):
    """A context in which JAX computes in float64 (`jax.enable_x64`; the experimental form on
    older JAX); nothing global is left changed afterwards."""
    import contextlib

    import jax

    if not enabled:
        return contextlib.nullcontext()
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # pragma: no cover - JAX before enable_x64 moved

    return enable_x64()  # pragma: no cover
