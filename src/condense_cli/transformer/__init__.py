"""The transformer of the anchor-function task (Zhang et al., NeurIPS 2024), written with
flax.nnx: `model` (the network and its initialization), `training` (the compiled training
program, AdamW with warm-up and cosine decay, snapshots of the recorded matrices), `analysis`
(each recorded matrix's measure and stable rank), `runfile` (its run file).

As a namespace of the Python API:

    from condense_cli import transformer
    result = transformer.train(transformer.Config(steps=400))   # a transformer.Result
    report = transformer.analyze(result)                        # per seed, per recorded matrix
    transformer.save_run("anchors.npz", result)

Names load on first use (flax only when a model is built)."""
from __future__ import annotations

import importlib

_LAZY = {
    "Config": ("training", "TransformerConfig"),
    "Result": ("training", "TransformerResult"),
    "train": ("training", "train_transformer"),
    "analyze": ("analysis", "analyze_transformer"),
    "stable_rank": ("analysis", "stable_rank"),
    "save_run": ("runfile", "save_transformer_run"),
    "load_run": ("runfile", "load_transformer_run"),
    "AnchorTransformer": ("model", "AnchorTransformer"),
    "TransformerSpec": ("model", "TransformerSpec"),
    "recorded_matrices": ("model", "recorded_matrices"),
}

__all__ = sorted(_LAZY)


# their errors name Python parameters, as the API's do (`analyze` takes the CLI's --layer as `names`)
_FUNCTIONS = {"train": None, "analyze": {"layer": "names"}, "save_run": None, "load_run": None}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        if name in _FUNCTIONS:
            from ..api import _pythonic

            value = _pythonic(value, renamed=_FUNCTIONS[name])
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
