"""Shared fixtures: a fresh compilation-cache-free environment and tiny training configs."""
import os

os.environ.setdefault("CONDENSE_CACHE_DIR", "off")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import pytest


@pytest.fixture
def tiny():
    """A tiny, fast training config (1-d data, 8 neurons, 60 steps)."""
    from condense_cli import TrainConfig

    return TrainConfig(act="tanh", data="sin1d", n=12, width=8, steps=60, init_std=0.01, lr=1e-2)
