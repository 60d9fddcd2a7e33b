"""Condensation of checkpoints made elsewhere: `analyze_checkpoint(source, layout, select, kinds,
options) -> CheckpointAnalysis`, typed, with `to_json()` the `--json` of `condense analyze` on a
checkpoint.

Every layer the plan finds (`layout.plan`) is read alone (never the whole file), oriented so rows
are neurons, its bias joined as the last column, and measured as a condense run's layer is
(`AnalysisOptions.measure`: persistent count, fixed reading, coverage, the isotropic verdict),
with its stable rank Σ(σ_i/σ_1)² (of the weight, bias left out). A folder of checkpoints, or
several files, is a series: ordered by the step in each file's metadata (`step`, `global_step`,
`iteration`, `epoch`) or else the last number in its name, measured at every checkpoint (the
series' smaller sample) and in full at the last.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..measure.condensation import stable_rank
from ..measure.options import AnalysisOptions
from .formats import PICKLE_SUFFIXES, Checkpoint, natural_key, open_checkpoint, refuse_pickle
from .layout import Plan, plan

STEP_KEYS = ("step", "global_step", "iteration", "epoch")
HEATMAP_NEURONS = 400  # rows shown per heat map of a checkpoint (evenly thinned, blocks keep their shares)


@dataclass(frozen=True)
class TensorAnalysis:
    """One layer of neurons read from a tensor (or one block Q, K or V of a fused one): its
    orientation, size, the measure (as `LayerAnalysis` reports a run's layer) and stable rank."""

    name: str
    tensor: str
    kind: str
    convention: str
    shape: tuple[int, ...]  # as stored
    neurons: int
    fan_in: int
    bias: str | None
    kept: int
    left_out: int
    nonfinite: int
    clustered: int
    directions: int
    lines: int
    condensed: bool
    coverage: float
    verdict: str | None
    stable_rank: float
    measure: dict
    clusters: list  # {"share", "neurons", "counted", "line"} per direction cluster (centres left out: fan_in long)

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["shape"] = list(self.shape)
        return out


@dataclass(frozen=True)
class CheckpointSeries:
    """The measure at every checkpoint of a series: step (T,), file (T,), and per layer (T, L)
    directions, lines, condensed, stable_rank, for the layers `names` (L,)."""

    step: np.ndarray
    file: tuple[str, ...]
    names: tuple[str, ...]
    directions: np.ndarray
    lines: np.ndarray
    condensed: np.ndarray
    stable_rank: np.ndarray

    def to_json(self) -> dict:
        return {"step": self.step.tolist(), "file": list(self.file), "names": list(self.names),
                "directions": self.directions.tolist(), "lines": self.lines.tolist(),
                "condensed": self.condensed.tolist(), "stable_rank": np.round(self.stable_rank, 4).tolist()}


@dataclass(frozen=True)
class CheckpointAnalysis:
    """A checkpoint's (or a series' last checkpoint's) layers in model order, the tensors skipped
    with their reasons, the layout used and why, and the series when there were several."""

    file: str
    format: str
    layout: str
    layout_reason: str
    metadata: dict
    tensors: tuple[TensorAnalysis, ...]
    skipped: tuple[tuple[str, str], ...]
    options: AnalysisOptions
    series: CheckpointSeries | None = None
    heatmaps: dict = field(default_factory=dict, repr=False, compare=False)  # name -> {"D", "blocks"}
    outputs: tuple[str, ...] | None = None

    def tensor(self, name: str) -> TensorAnalysis:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"{name} was not measured (measured: {[t.name for t in self.tensors]})")

    def to_json(self) -> dict:
        out = {"file": self.file, "format": self.format, "layout": self.layout, "layout_reason": self.layout_reason,
               "metadata": self.metadata, "tensors": [t.to_json() for t in self.tensors],
               "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
               "options": {k: v for k, v in self.options.to_json().items()
                           if k not in ("at", "at_loss_ratio", "fit_tol", "stage_ratio")},
               "series": None if self.series is None else self.series.to_json()}
        if self.outputs is not None:
            out["outputs"] = list(self.outputs)
        return out


def is_checkpoint(path: str | Path) -> bool:
    """Whether `path` is for the checkpoint reader rather than a condense run file: a folder, a
    safetensors file or index, a pickle-based file (to be refused with its hint), or an NPZ
    without condense's meta entry."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in (".safetensors", *PICKLE_SUFFIXES) or path.name.endswith(".index.json"):
        return True
    if path.suffix.lower() == ".npz" and path.is_file():
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                return "meta.npy" not in z.namelist()
        except (OSError, zipfile.BadZipFile):
            return False  # the run-file reader says what is wrong with it
    return False


def _members(folder: Path) -> list[tuple[Path, str | None]]:
    """The checkpoints in a folder, each with the name of the sub-folder it came from (None for a
    file of the folder itself): one sharded model (its index), or every safetensors/NPZ file and
    every sub-folder holding one model; BadInput when there is none."""
    indexes = sorted(folder.glob("*.index.json"))
    if len(indexes) == 1:
        return [(indexes[0], None)]
    if len(indexes) > 1:
        raise BadInput(f"{folder} holds {len(indexes)} index files; name the one to read")
    found = []
    for p in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if p.is_file() and p.suffix.lower() in (".safetensors", ".npz") and not p.name.endswith("_analysis.npz"):
            found.append((p, None))
        elif p.is_dir():
            inner = sorted(p.glob("*.index.json")) or sorted(p.glob("*.safetensors"))
            if len(inner) == 1:
                found.append((inner[0], p.name))
    if not found:
        pickled = [p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickled:
            refuse_pickle(folder / pickled[0])
        raise BadInput(f"{folder} holds no checkpoint (safetensors, a sharded index, or an NPZ of named arrays)")
    return found


SUFFIXES = (".safetensors.index.json", ".index.json", ".safetensors", ".npz")


def stem_of(name: str) -> str:
    """A checkpoint's file name without its suffix ('model.safetensors.index.json' -> 'model')."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _step_of(ck: Checkpoint, path: Path, folder: str | None = None) -> int:
    """The checkpoint's step: its metadata's, else the last number in the name of the sub-folder it
    came from (`checkpoint-500/model.safetensors`), else in its own name without the suffix."""
    for key in STEP_KEYS:
        v = ck.metadata.get(key)
        if v is not None:
            try:
                return int(str(v).strip())
            except ValueError:
                raise BadInput(f"{path}: its metadata {key}={v!r} is not a whole number") from None
    for name in ([folder] if folder else []) + [stem_of(path.name)]:
        numbers = re.findall(r"\d+", name)
        if numbers:
            return int(numbers[-1])
    raise BadInput(f"cannot order {path} in the series: no step in its metadata ({', '.join(STEP_KEYS)}) "
                   "or a number in its name")


def open_sources(source) -> list[tuple[int | None, Checkpoint]]:
    """[(step or None, Checkpoint)] for a path (file, index or folder) or a list of them; a
    series is sorted by step. Every header is read and checked before anything is measured."""
    paths = [Path(p) for p in ([source] if isinstance(source, (str, Path)) else list(source))]
    if not paths:
        raise BadInput("no checkpoint given")
    expanded = []  # (path, the sub-folder it came from)
    for p in paths:
        if p.is_dir():
            expanded += _members(p) if len(paths) == 1 else [(_single_in(p), p.name)]
        else:
            expanded.append((p, None))
    opened = [open_checkpoint(p) for p, _ in expanded]
    if len(opened) == 1:
        return [(None, opened[0])]
    steps = [_step_of(ck, p, folder or (p.parent.name if p.name.endswith(".index.json") else None))
             for ck, (p, folder) in zip(opened, expanded)]
    dup = {s for s in steps if steps.count(s) > 1}
    if dup:
        raise BadInput(f"two checkpoints of the series have step {min(dup)}; give each its own step")
    order = np.argsort(steps, kind="stable")
    return [(steps[i], opened[i]) for i in order]


def _single_in(folder: Path) -> Path:
    found = _members(folder)
    if len(found) != 1:
        raise BadInput(f"{folder} holds {len(found)} checkpoints; give the files themselves")
    return found[0][0]


def _measure(ck: Checkpoint, layer, options: AnalysisOptions, series: bool):
    W = ck.read(layer.tensor)
    b = ck.read(layer.bias) if layer.bias is not None else None
    M = layer.matrix(W, b)
    lc = options.measure(M, series=series)
    return M, lc, stable_rank(M[:, :-1] if b is not None else M)


def analyze_checkpoint(source, layout: str = "auto", select: tuple[str, ...] = (), kinds: tuple[str, ...] = (),
                       options: AnalysisOptions = AnalysisOptions(), progress=None,
                       heatmaps: bool = False) -> CheckpointAnalysis:
    """Measure every layer of a checkpoint, or of each checkpoint of a series (see the module
    docstring). `select`: tensor-name globs; `kinds`: 'attention', 'mlp', 'conv'. `progress(done,
    total)` after each layer; `heatmaps` keeps each layer's cosine heat map (thinned) for figures."""
    options.validate(0)
    sources = open_sources(source)
    last_step, last = sources[-1]
    p: Plan = plan(last.tensors, layout, tuple(select), tuple(kinds))
    if not p.layers:
        reasons = "; ".join(f"{n}: {r}" for n, r in p.skipped[:3])
        raise BadInput("no tensor of this checkpoint is a layer of neurons to measure"
                       + (f" ({reasons})" if reasons else " (--layer/--kind selected none)"))
    for step, ck in sources[:-1]:
        missing = [t for l in p.layers for t in (l.tensor, l.bias) if t is not None and t not in ck.tensors]
        if missing:
            raise BadInput(f"{ck.path} (step {step}) lacks tensor {missing[0]} that the last checkpoint has")
    T, L = len(sources), len(p.layers)
    total, done = (T - 1) * L + L, 0
    dirs, lines = np.zeros((T, L), np.int64), np.zeros((T, L), np.int64)
    cond, ranks = np.zeros((T, L), bool), np.zeros((T, L))
    for t, (step, ck) in enumerate(sources[:-1]):
        for j, layer in enumerate(p.layers):
            _, lc, r = _measure(ck, layer, options, series=True)
            dirs[t, j], lines[t, j], cond[t, j], ranks[t, j] = lc.directions, lc.lines, lc.condensed, r
            done += 1
            if progress is not None:
                progress(done, total)
        ck.close()
    results, maps = [], {}
    for j, layer in enumerate(p.layers):
        M, lc, r = _measure(last, layer, options, series=False)
        dirs[-1, j], lines[-1, j], cond[-1, j], ranks[-1, j] = lc.directions, lc.lines, lc.condensed, r
        info = last.tensors[layer.tensor]
        results.append(TensorAnalysis(
            name=layer.name, tensor=layer.tensor, kind=layer.kind, convention=layer.convention, shape=info.shape,
            neurons=int(M.shape[0]), fan_in=int(M.shape[1] - (layer.bias is not None)), bias=layer.bias,
            kept=lc.kept, left_out=lc.left_out, nonfinite=lc.nonfinite, clustered=lc.clustered,
            directions=lc.directions, lines=lc.lines, condensed=lc.condensed, coverage=round(lc.coverage, 6),
            verdict=lc.measure.get("verdict"), stable_rank=round(r, 6), measure=lc.measure,
            clusters=[{k: v for k, v in c.items() if k != "direction"} for c in lc.clusters]))
        if heatmaps and len(lc.order):
            order = lc.order
            if len(order) > HEATMAP_NEURONS:
                order = order[np.linspace(0, len(order) - 1, HEATMAP_NEURONS).round().astype(int)]
            U = lc.unit[order]
            maps[layer.name] = {"D": np.clip(U @ U.T, -1, 1).astype(np.float32), "blocks": lc.labels[order]}
        done += 1
        if progress is not None:
            progress(done, total)
    last.close()
    series = None
    if T > 1:
        series = CheckpointSeries(step=np.array([s for s, _ in sources], np.int64),
                                  file=tuple(str(ck.path) for _, ck in sources), names=tuple(l.name for l in p.layers),
                                  directions=dirs, lines=lines, condensed=cond, stable_rank=ranks)
    return CheckpointAnalysis(file=str(last.path), format=last.format, layout=p.layout, layout_reason=p.layout_reason,
                              metadata=dict(last.metadata), tensors=tuple(results), skipped=p.skipped, options=options,
                              series=series, heatmaps=maps)
