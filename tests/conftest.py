"""Shared fixtures: a fresh compilation-cache-free environment and tiny training configs; a plain
`pytest` leaves out the tests marked slow (`-m` or `-k` chooses otherwise: `make test` runs them
all), but a test named by its id (`tests/x.py::test_y`) always runs."""
import os

os.environ.setdefault("CONDENSE_CACHE_DIR", "off")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import pytest


@pytest.fixture
def tiny():
    """A tiny, fast training config (1-d data, 8 neurons, 60 steps)."""
    from condense_cli import TrainConfig

    return TrainConfig(act="tanh", data="sin1d", n=12, width=8, steps=60, init_std=0.01, lr=1e-2)


def pytest_collection_modifyitems(config, items):
    """Without `-m` or `-k`, deselect the tests marked slow, except those named by their id."""
    if config.getoption("markexpr") or config.getoption("keyword"):
        return
    # 'tests/test_x.py::test_y' (or 'test_x.py::test_y' from inside tests/): its last path part, without parameters
    named = [str(arg).split("[")[0].replace("\\", "/").split("/")[-1] for arg in config.args if "::" in str(arg)]

    def spared(item):
        return (item.get_closest_marker("slow") is None
                or any(item.nodeid.split("[")[0].endswith("/" + n) or item.nodeid.split("[")[0] == n for n in named))

    slow = [item for item in items if not spared(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if spared(item)]
