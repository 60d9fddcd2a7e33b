"""condense: train networks with small initialization and measure their condensation.

The Python API is the CLI's verbs as functions with the CLI's defaults, returning typed results:

    from condense_cli import TrainConfig, train, analyze, phase_diagram, save_run
    run = train(TrainConfig(act="xtanh", gamma=4))     # a TrainResult
    save_run("runs/xtanh.npz", run)                    # the folder is created
    result = analyze(run)                              # an Analysis: result.seeds[s].layers[l]
    result.layers[0].directions, result.to_json()      # to_json() is `condense analyze --json`
    sweep = phase_diagram(widths=(100, 200), gammas=(0.5, 1.5), gamma_primes=(0.0, 1.0))

`analyze_checkpoint("model.safetensors")` measures a checkpoint made elsewhere (a
`CheckpointAnalysis`, one `TensorAnalysis` per layer of neurons); `embed`, `hessian_inertia` and
`model_rank` test the embedding principle and the model rank on a trained network. Also `reduce`, `split_neuron`, `reproduce`, `reproductions`, `activations`, `multiplicity`,
`load_dataset`, `load_run`, their configs and result types, and `transformer` (`transformer.train`,
`transformer.Config`, `transformer.analyze`). Figures of an in-memory result are in
`condense_cli.plots` (matplotlib; never imported here). Errors are `BadInput` (bad input) and
`RunFailure` (a failure while running), both `CondenseError`. Heavy modules (JAX) load on first
use, so `condense --help` stays fast.
"""
__version__ = "0.1.0"

_LAZY = {
    # verbs
    "train": ("api", "train"),
    "analyze": ("api", "analyze"),
    "analyze_checkpoint": ("api", "analyze_checkpoint"),
    "embed": ("api", "embed"),
    "hessian_inertia": ("api", "hessian_inertia"),
    "model_rank": ("api", "model_rank"),
    "phase_diagram": ("api", "phase_diagram"),
    "reduce": ("api", "reduce"),
    "split_neuron": ("reduction", "split_neuron"),
    "reproduce": ("api", "reproduce"),
    "reproductions": ("api", "reproductions"),
    "activations": ("api", "activations"),
    "multiplicity": ("api", "multiplicity"),
    "load_dataset": ("api", "load_dataset"),
    "save_run": ("api", "save_run"),
    "load_run": ("api", "load_run"),
    "summarize": ("training.summary", "summarize"),
    # configs
    "TrainConfig": ("training.config", "TrainConfig"),
    "AnalysisOptions": ("measure.options", "AnalysisOptions"),
    "PhaseConfig": ("phase.config", "PhaseConfig"),
    # results
    "TrainResult": ("run", "TrainResult"),
    "TrainSummary": ("training.summary", "TrainSummary"),
    "Analysis": ("measure.results", "Analysis"),
    "SeedAnalysis": ("measure.results", "SeedAnalysis"),
    "LayerAnalysis": ("measure.results", "LayerAnalysis"),
    "CheckpointAnalysis": ("checkpoints.analysis", "CheckpointAnalysis"),
    "TensorAnalysis": ("checkpoints.analysis", "TensorAnalysis"),
    "CheckpointSeries": ("checkpoints.analysis", "CheckpointSeries"),
    "EmbedResult": ("mechanisms.embed", "EmbedResult"),
    "Inertia": ("mechanisms.landscape", "Inertia"),
    "ModelRank": ("mechanisms.rank", "ModelRank"),
    "PhaseResult": ("phase.fits", "PhaseResult"),
    "Reduction": ("reduction", "Reduction"),
    "Reproduction": ("reproductions.base", "Reproduction"),
    "Ablation": ("reproductions.base", "Ablation"),
    "RunVerdict": ("reproductions.criteria", "RunVerdict"),
    "Dataset": ("data.dataset", "Dataset"),
    # errors
    "CondenseError": ("errors", "CondenseError"),
    "BadInput": ("errors", "BadInput"),
    "RunFailure": ("errors", "RunFailure"),
}
_MODULES = ("transformer", "plots")

__all__ = ["__version__", *_LAZY, "transformer"]


def __getattr__(name):
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*__all__, "plots"])
