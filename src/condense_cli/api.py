"""The Python API: the verbs of the CLI as functions with the CLI's defaults, returning typed
results (`TrainResult`, `Analysis`, `CheckpointAnalysis`, `PhaseResult`, `Reduction`, `Reproduction`). The CLI and these
functions share their configs and option classes, so the defaults are defined once. Errors are
the project's (`BadInput`, `RunFailure`), their messages naming the Python parameter
(`min_norm`, not `--min-norm`). A function that writes creates its folder.

    from condense_cli import TrainConfig, train, analyze, save_run
    run = train(TrainConfig(act="xtanh", gamma=4))
    result = analyze(run, at="end")
    result.layers[0].directions, result.to_json()
"""
from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

from .command_defaults import REPRODUCE
from .errors import CondenseError
from .mechanisms import POLISH_BAR, ZERO_TOL  # defaults shared with the CLI (no JAX)

_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def _python_names(message: str, renamed: dict | None = None) -> str:
    """'--min-norm must be …' → 'min_norm must be …': a CLI flag written as the parameter name
    (`renamed`: the flags whose parameter has another name, e.g. {'loss-tol': 'tol'})."""
    renamed = renamed or {}
    return _FLAG.sub(lambda m: renamed.get(m.group(1), m.group(1).replace("-", "_")), message)


def _pythonic(fn=None, *, renamed: dict | None = None):
    """`fn` raising the project's errors with Python parameter names in their messages;
    `@_pythonic(renamed={...})` where a flag and its parameter differ by more than the spelling."""
    if fn is None:
        return functools.partial(_pythonic, renamed=renamed)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CondenseError as e:
            named = _python_names(str(e), renamed)
            if named == str(e):
                raise
            raise type(e)(named) from e

    return wrapper


def _config(cls, given, settings: dict, verb: str):
    """`given` (an instance of the config class `cls`, or None: its defaults) with `settings`
    replaced; a name `cls` does not have is refused in one line."""
    from .errors import BadInput

    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in settings if k not in names]
    if unknown:
        raise BadInput(f"{verb}() got an unknown setting {unknown[0]!r}; {cls.__name__} has: {', '.join(names)}")
    return cls(**settings) if given is None else dataclasses.replace(given, **settings)


def _with_folder(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@_pythonic
def train(config=None, *, progress=None, dataset=None, initial_params=None, **settings):
    """Train `config` (a `TrainConfig`; or its fields as keywords, `train(act="xtanh", gamma=4)`)
    and return the `TrainResult` (every seed, every recorded step). See `training.loop.train`."""
    from .training import TrainConfig
    from .training.loop import train as _train

    config = _config(TrainConfig, config, settings, "train")
    return _train(config, progress=progress, dataset=dataset, initial_params=initial_params)


@_pythonic
def analyze(run, options=None, *, act: str | None = None, alpha: float | None = None, residual: bool | None = None,
            progress=None, **settings):
    """The condensation of a run: `run` is a `TrainResult` or the path of a run file; `options` an
    `AnalysisOptions` or its fields as keywords (`at="end"`, `layers=(1,)`, `tol=0.95`, …), with
    `condense analyze`'s defaults. `act`, `alpha`, `residual` complete a run file that lacks them.
    Returns an `Analysis`; `.to_json()` is `condense analyze --json` without `outputs`."""
    from .measure.analyze import analyze as _analyze, resolve_run
    from .measure.options import AnalysisOptions
    from .run import TrainResult, load_run

    options = _config(AnalysisOptions, options, settings, "analyze")
    file = None
    if not isinstance(run, TrainResult):
        from .errors import BadInput
        from .transformer.runfile import is_transformer_run

        file = str(run)
        if is_transformer_run(run):
            raise BadInput(f"{file} is a transformer run: analyze it with condense_cli.transformer.analyze("
                           f"condense_cli.transformer.load_run({file!r}))")
        run = load_run(run)
    run = resolve_run(run, act=act, alpha=alpha, residual=residual)
    return dataclasses.replace(_analyze(run, options, progress=progress), file=file)


@_pythonic
def analyze_checkpoint(source, options=None, *, layout: str = "auto", layers=(), kinds=(), progress=None,
                       heatmaps: bool = False, **settings):
    """The condensation of a checkpoint made elsewhere: `source` a safetensors file, its
    `.index.json`, an NPZ of named arrays, a folder of them or a list of files (a series over
    training). `layout` 'auto', 'torch', 'flax' or 'gpt2'; `layers` tensor-name globs; `kinds`
    'attention', 'mlp', 'conv'; `options` an `AnalysisOptions` or its fields as keywords (`tol`,
    `min_norm`, …). Returns a `CheckpointAnalysis`; `.to_json()` is `condense analyze --json` on it
    without `outputs`."""
    from .checkpoints.analysis import analyze_checkpoint as _analyze
    from .measure.options import AnalysisOptions

    options = _config(AnalysisOptions, options, settings, "analyze_checkpoint")
    if isinstance(layers, str) or isinstance(kinds, str):
        layers, kinds = ((layers,) if isinstance(layers, str) else layers), ((kinds,) if isinstance(kinds, str) else kinds)
    return _analyze(source, layout, tuple(layers), tuple(kinds), options, progress=progress, heatmaps=heatmaps)


def _run_of(run):
    from .run import TrainResult, load_run

    return run if isinstance(run, TrainResult) else load_run(run)


@_pythonic
def embed(run, splits=(), nulls=(), *, at: str = "end", seed_index: int = 0, polish: bool = False,
          bar: float = POLISH_BAR, zero_tol: float = ZERO_TOL):
    """The embedding principle on one network of a run (a `TrainResult` or a run file's path):
    `splits` as 'LAYER:NEURON[:ALPHA]' strings or `Embedding`s, `nulls` as 'LAYER[:BIAS]', applied
    in that order after an optional polish to a critical point. Returns an `EmbedResult` (loss,
    gradient, output change and Hessian inertia before and after each; `.run` the embedded
    network); nothing is written."""
    from .mechanisms.embed import embed_run
    from .mechanisms.embedding import Embedding, parse_null, parse_split

    embeddings = [e if isinstance(e, Embedding) else parse_split(e) for e in splits]
    embeddings += [e if isinstance(e, Embedding) else parse_null(e) for e in nulls]
    return embed_run(_run_of(run), embeddings, at=at, seed_index=seed_index, polish=polish, bar=bar, zero_tol=zero_tol)


@_pythonic
def hessian_inertia(run, *, at: str = "end", seed_index: int = 0, zero_tol: float = ZERO_TOL):
    """The exact float64 Hessian of the full-batch loss of one network of a run and its inertia:
    an `Inertia` (positive, zero, negative at `zero_tol`, and the eigenvalues either side of the cut)."""
    return embed(run, at=at, seed_index=seed_index, zero_tol=zero_tol).before.inertia


@_pythonic
def model_rank(run, *, at: str = "end", seed_index: int = 0, points: int | None = None, tol: float = 1e-8):
    """The empirical model rank of one network of a run: the rank of ∇_θ f at the training inputs
    (or at `points` inputs drawn from their range) at relative tolerance `tol`, and the rank of the
    narrow network of one neuron per measured cluster. Returns a `ModelRank`."""
    import numpy as np

    from .measure.steps import pick
    from .mechanisms.rank import model_rank as _rank, rank_points
    from .run import network, params_at

    run = _run_of(run)
    k, _ = pick(run, at, seed_index)
    _, spec = network(run, seed_index, k)
    params = params_at(run, seed_index, k)
    x = run.x if points is None else rank_points(run.x, points)
    return _rank(params, spec, np.asarray(x, np.float64), tol=tol)


@_pythonic(renamed={"loss-tol": "tol"})  # PhaseConfig.tol is the CLI's --loss-tol
def phase_diagram(config=None, *, data: str = "phase4", n: int | None = None, data_seed: int = 0,
                  out_dir=None, fresh: bool = False, progress=None, **settings):
    """The phase diagram (Luo et al. 2021): `config` a `PhaseConfig` or its fields as keywords,
    the CLI's default grid otherwise. With `out_dir` the sweep resumes from and saves into that
    folder (created) and writes `phase.npz`, as `condense phase-diagram` does; without, nothing is
    written. Returns a `PhaseResult`."""
    from .data import resolve
    from .phase import PhaseConfig, run_sweep, sweep

    config = _config(PhaseConfig, config, settings, "phase_diagram")
    config.validate()
    dataset = resolve(data, n, data_seed)
    if out_dir is None:
        return sweep(config, dataset, progress=progress)
    return run_sweep(config, dataset, Path(out_dir), fresh=fresh, progress=progress)[0]


@_pythonic
def reduce(run, *, out=None, force: bool = False, progress=None, **options):
    """Merge each condensed cluster of one network of `run` (a `TrainResult` or a run file's path)
    into one neuron, as `condense reduce`; `options` are `reduction.reduce_run`'s (`at`,
    `seed_index`, `tol`, `min_norm`, `finetune_steps`, `lr`, `refit`, `loss_tol`) with its defaults, the
    CLI's: the merge keeps the loss within `loss_tol` (1 %) by reading finer when it must. Returns a
    `Reduction`; with `out` the reduced run is also written there (its folder created; an existing
    file only with `force`; never the input)."""
    import inspect

    from .errors import BadInput
    from .reduction import check_output, reduce_run
    from .run import TrainResult, load_run, save_run

    known = [n for n in inspect.signature(reduce_run).parameters if n not in ("run", "progress", "source")]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise BadInput(f"reduce() got an unknown setting {unknown[0]!r}; it takes: {', '.join(known)}")
    source = None if isinstance(run, TrainResult) else Path(run)
    if out is not None:
        check_output(Path(out), source, force)
    if source is not None:
        run = load_run(source)
    reduction = reduce_run(run, progress=progress, source="" if source is None else str(source), **options)
    if out is None:
        return reduction
    return dataclasses.replace(reduction, out=str(save_run(_with_folder(out), reduction.run)))


@_pythonic
def save_run(path, result) -> Path:
    """Write a `TrainResult` as a run file (atomically; the folder is created)."""
    from .run import save_run as _save

    return _save(_with_folder(path), result)


@_pythonic
def load_run(path):
    """Read and check a run file; a `TrainResult`."""
    from .run import load_run as _load

    return _load(path)


@_pythonic
def reproduce(figure: str, quick: bool = REPRODUCE.quick, seeds: int = REPRODUCE.seeds, data_dir: str | None = None):
    """Reproduce a published figure (`reproductions()` lists the ids); a `Reproduction`."""
    from .reproductions import reproduce as _reproduce

    return _reproduce(figure, quick=quick, seeds=seeds, data_dir=data_dir)


def reproductions() -> dict:
    """The reproducible figures: id → `Figure` (title, source, the paper's claim, criterion)."""
    from .reproductions import FIGURES

    return dict(FIGURES)


def activations() -> tuple[str, ...]:
    """The named activations (any formula of x is accepted too, e.g. 'x**2*tanh(x)')."""
    from .nn.activations import ACTIVATIONS

    return tuple(ACTIVATIONS)


@_pythonic
def multiplicity(act: str) -> int | None:
    """p, the multiplicity of σ at 0 (the order of the first non-zero derivative; None where it is
    undefined, e.g. ReLU). The theory bounds the condensed directions by 2p."""
    from .nn.activations import multiplicity as _multiplicity

    return _multiplicity(act)


@_pythonic
def load_dataset(data: str = "sin5d", n: int | None = None, seed: int = 0, data_dir: str | None = None,
                 test_fraction: float = 0.2, test_set: str = "auto"):
    """A named data set, a real classification set or a .npz/.csv file, as `--data` reads it; a
    `Dataset` (x (n, d), y (n, d_out), spec)."""
    from .data import resolve

    return resolve(data, n, seed, data_dir, test_fraction, test_set)
