"""JAX runtime settings shared by the commands: the persistent compilation cache.

`enable_compilation_cache()` points JAX at a per-user folder (CONDENSE_CACHE_DIR, else
$XDG_CACHE_HOME/condense/jax, else ~/.cache/condense/jax) so a repeated command compiles
less; CONDENSE_CACHE_DIR=off turns it off. The folder is the user's own: JAX trusts what a
cache holds, so it must never be shared with other users.
"""
from __future__ import annotations

import os
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
