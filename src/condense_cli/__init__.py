"""condense: train networks with small initialization and measure their condensation.

Python API (the CLI calls exactly this):

    from condense_cli import TrainConfig, train, save_run
    result = train(TrainConfig(act="xtanh", gamma=4))
    save_run("run.npz", result)

Heavy modules (JAX) load on first use, so `condense --help` stays fast.
"""
__version__ = "0.1.0"

_LAZY = {
    "TrainConfig": ("training.config", "TrainConfig"),
    "TrainResult": ("run", "TrainResult"),
    "train": ("training.loop", "train"),
    "save_run": ("run", "save_run"),
    "load_run": ("run", "load_run"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
