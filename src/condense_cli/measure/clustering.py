"""Orientation clusters of one layer, counted as the cosine heat map shows them (NumPy, SciPy).

The one clustering of the package. Input is a cosine matrix C (n, n) of n kept neurons (or
channels); the tree is SciPy's average linkage on the angular distance 1 − C. Cutting the tree
at a cosine tolerance t keeps together the groups whose members have mean cosine at least t.

- `count_curve(tree, n, min_share)`: the number of *counted* direction clusters (those holding
  at least `min_share` of the n neurons, and at least two) as a step function of t over [0, 1].
- `persistent(segments)`: the count that stays the same over the widest range of t (count ≥ 1),
  with that range; the clusters are then read at the middle of the range.
- `read(tree, C, t, min_share)`: the clusters at tolerance t and the lines they form: two direction
  clusters are one line when one of them, negated, would merge with the other at t (their mean
  cosine is at most −t). A line is counted when it holds a counted direction cluster, so lines
  never outnumber directions.
- `isotropic_reference(n, k, min_share)`: the reference for the verdict: the two statistics below
  on `DRAWS` layers of n isotropic random directions in R^k.
- `condensation(C, ...)`: all of it for one layer: persistent and fixed readings, coverage (the
  share of neurons inside counted clusters), the verdict, the count against the tolerance.

Ranges of tolerance are measured as angles, θ = arccos t, so that a tight cluster is not
short-changed (cos 0.99 → 0.999 is as far as 0.5 → 0.6). Two statistics of the persistent range
[θ_start, θ_end]: its *persistence* θ_end − θ_start (degrees: wide when clusters are far apart)
and its *sharpness* ln(θ_end / θ_start) (large when clusters are tight for their separation).

Verdict: a layer is *condensed* when its counted clusters of two or more neurons cover at least
`min_coverage` of the kept neurons and either statistic exceeds `MARGIN` times the largest value
among `DRAWS` isotropic layers of the same size and dimension (measured: no isotropic layer of
300 drawn per (n, k), for k from 2 to 785, passed the persistence test and at most 2 in 300 the
sharpness test). The verdict is judged on a fixed sample of at most `VERDICT_NEURONS` neurons.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

DRAWS = 99  # isotropic layers drawn for the reference
MARGIN = 1.5  # a condensed layer's statistic exceeds MARGIN × the largest isotropic one
VERDICT_NEURONS = 500  # the verdict is judged on at most this many neurons
MIN_ANGLE = 0.01  # degrees: θ_start is floored here (identical neurons)
GRID = np.linspace(0.0, 1.0, 101)  # tolerances at which the curve of lines is sampled


@dataclass(frozen=True)
class Segment:
    """Tolerances lo < t ≤ hi over which `count` clusters are counted."""

    lo: float
    hi: float
    count: int

    @property
    def width(self) -> float:
        """The range as an angle in degrees: arccos(lo) − arccos(hi)."""
        return float(np.degrees(np.arccos(self.lo) - np.arccos(self.hi)))

    @property
    def sharpness(self) -> float:
        """ln(θ_end / θ_start), θ_start floored at MIN_ANGLE degrees."""
        start = max(float(np.degrees(np.arccos(self.hi))), MIN_ANGLE)
        return float(np.log(max(float(np.degrees(np.arccos(self.lo))), MIN_ANGLE) / start))

    @property
    def middle(self) -> float:
        """The tolerance halfway through the range, in angle."""
        return float(np.cos(0.5 * (np.arccos(self.lo) + np.arccos(self.hi))))


@dataclass
class Reading:
    """Clusters at one tolerance. Clusters are numbered by decreasing size; lines likewise."""

    tol: float
    labels: np.ndarray  # (n,) direction cluster of each neuron
    sizes: np.ndarray  # (K,) neurons per direction cluster
    counted: np.ndarray  # (K,) bool: at least min_share of n
    line_of: np.ndarray  # (K,) line of each direction cluster
    line_counted: np.ndarray  # (L,) bool: holds a counted direction cluster

    @property
    def directions(self) -> int:
        return int(self.counted.sum())

    @property
    def lines(self) -> int:
        return int(self.line_counted.sum())

    @property
    def coverage(self) -> float:
        """Share of the neurons inside counted clusters of at least two neurons (a neuron alone
        shares its orientation with nobody)."""
        n = self.sizes.sum()
        return float(self.sizes[self.counted & (self.sizes >= 2)].sum() / n) if n else 0.0

    @property
    def line_labels(self) -> np.ndarray:
        return self.line_of[self.labels] if len(self.labels) else self.labels


def cosine_of_rows(U: np.ndarray) -> np.ndarray:
    """C = U Uᵀ for unit rows U (n, k), clipped to [−1, 1] with an exact unit diagonal."""
    C = np.clip(U @ U.T, -1.0, 1.0)
    np.fill_diagonal(C, 1.0)
    return C


def tree(C: np.ndarray) -> np.ndarray:
    """SciPy linkage matrix (n − 1, 4) of average linkage on 1 − C; needs n ≥ 2."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    D = np.clip(1.0 - np.asarray(C, np.float64), 0.0, 2.0)
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    return linkage(squareform(D, checks=False), method="average")


def _need(n: int, min_share: float) -> int:
    """Neurons a cluster needs to be counted: `min_share` of n, and never fewer than two (a neuron
    alone shares its orientation with nobody); one when there is a single neuron."""
    return 1 if n == 1 else max(int(np.ceil(min_share * n - 1e-9)), 2)


def count_curve(Z: np.ndarray, n: int, min_share: float) -> list[Segment]:
    """Counted direction clusters as a step function of t ∈ [0, 1], as maximal segments of one
    count, from the tightest tolerance (t = 1) down to t = 0."""
    need = _need(n, min_share)
    sizes = {i: 1 for i in range(n)}
    counted = n if need <= 1 else 0
    raw, upper = [], 1.0
    for i, (a, b, h, s) in enumerate(Z):
        raw.append((1.0 - h, upper, counted))
        sa, sb = sizes.pop(int(a)), sizes.pop(int(b))
        counted += int(s >= need) - int(sa >= need) - int(sb >= need)
        sizes[n + i] = int(s)
        upper = 1.0 - h
    raw.append((-np.inf, upper, counted))
    segs: list[Segment] = []
    for lo, hi, c in raw:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
        if hi <= lo:
            continue
        if segs and segs[-1].count == c:
            segs[-1] = Segment(lo, segs[-1].hi, c)
        else:
            segs.append(Segment(lo, hi, c))
    return segs


def persistent(segments: list[Segment]) -> Segment | None:
    """The segment with count ≥ 1 over the widest range of t; ties go to the tighter one."""
    best = None
    for s in segments:  # ordered from t = 1 downwards: a tie keeps the tighter segment
        if s.count >= 1 and (best is None or s.width > best.width + 1e-12):
            best = s
    return best


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels 0..K−1 by decreasing cluster size (ties: first appearance)."""
    _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    first = np.full(len(counts), len(labels))
    np.minimum.at(first, inv, np.arange(len(labels)))
    order = np.lexsort((first, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inv]


def _block_means(C: np.ndarray, labels: np.ndarray, rows: np.ndarray, K: int) -> np.ndarray:
    """M[i, b] = mean of C over (members of cluster rows[i]) × (members of cluster b): (len(rows), K)."""
    sizes = np.bincount(labels, minlength=K).astype(np.float64)
    out = np.zeros((len(rows), K))
    for i, a in enumerate(rows):
        col = C[labels == a].sum(axis=0)  # (n,)
        out[i] = np.bincount(labels, weights=col, minlength=K) / (sizes[a] * sizes)
    return out


def read(Z: np.ndarray, C: np.ndarray, t: float, min_share: float) -> Reading:
    """Direction clusters and lines at tolerance t (see the module docstring)."""
    from scipy.cluster.hierarchy import fcluster

    n = len(C)
    if n == 1:
        labels = np.zeros(1, np.int64)
    else:
        labels = _relabel_by_size(fcluster(Z, 1.0 - t + 1e-12, criterion="distance"))
    K = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=K)
    counted = sizes >= _need(n, min_share)
    # lines: union-find over counted clusters joined when antipodal at t; every other cluster
    # joins the line of the first counted cluster it is antipodal to, or stays alone
    parent = np.arange(K)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows = np.flatnonzero(counted)
    if len(rows) and K > 1:
        M = _block_means(C, labels, rows, K)  # (c, K)
        for i, a in enumerate(rows):
            for b in np.flatnonzero(M[i] <= -t):
                if b == a:
                    continue
                if counted[b]:
                    parent[root(b)] = root(a)
                elif parent[b] == b:
                    parent[b] = root(a)
    line_root = np.array([root(i) for i in range(K)])
    # number lines by decreasing size
    line_sizes = np.bincount(line_root, weights=sizes, minlength=K)
    roots = np.unique(line_root)
    order = roots[np.lexsort((roots, -line_sizes[roots]))]
    line_id = np.empty(K, np.int64)
    line_id[order] = np.arange(len(order))
    line_of = line_id[line_root]
    line_counted = np.zeros(len(order), bool)
    line_counted[line_of[counted]] = True
    return Reading(float(t), labels, sizes, counted, line_of, line_counted)


def _statistics(C: np.ndarray, min_share: float) -> tuple[float, float]:
    """(persistence, sharpness) of the persistent range of the layer with cosine matrix C."""
    n = len(C)
    best = persistent(count_curve(tree(C), n, min_share)) if n > 1 else None
    return (0.0, 0.0) if best is None else (best.width, best.sharpness)


@lru_cache(maxsize=256)
def isotropic_reference(n: int, k: int, min_share: float, draws: int = DRAWS, seed: int = 0) -> tuple[float, float]:
    """The largest (persistence, sharpness) among `draws` layers of n isotropic unit vectors in R^k
    (a fixed seed per n and k, so a result does not depend on what was analyzed before)."""
    rng = np.random.default_rng([seed, n, k])
    stats = []
    for _ in range(draws):
        V = rng.standard_normal((n, k))
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        stats.append(_statistics(cosine_of_rows(V), min_share))
    stats = np.array(stats)
    return float(stats[:, 0].max()), float(stats[:, 1].max())


@dataclass
class Condensation:
    """One layer's clusters. `reading` is what is reported: the persistent reading by default,
    the fixed one when a tolerance was asked for (`method` says which)."""

    n: int
    method: str  # "persistent" or "fixed"
    reading: Reading
    persistent_reading: Reading | None
    fixed_reading: Reading
    segment: Segment | None  # the persistent count's range
    persistence: float  # degrees
    sharpness: float
    reference: tuple[float, float] | None  # the largest isotropic (persistence, sharpness); None: not judged
    coverage: float  # at the persistent reading
    condensed: bool
    why: str  # the verdict in words
    curve: dict = field(repr=False)  # {"tol", "directions", "lines"} over GRID
    leaves: np.ndarray = field(repr=False)  # dendrogram leaf order (n,)

    def summary(self) -> dict:
        """JSON-able description of both readings and the verdict."""
        def r(x):
            return None if x is None else round(float(x), 6)

        pr = self.persistent_reading
        return {
            "method": self.method, "tol_used": r(self.reading.tol),
            "persistent": None if pr is None else {
                "directions": pr.directions, "lines": pr.lines, "tol": r(pr.tol),
                "range": [r(self.segment.lo), r(self.segment.hi)]},
            "fixed": {"tol": r(self.fixed_reading.tol), "directions": self.fixed_reading.directions,
                      "lines": self.fixed_reading.lines},
            "persistence": r(self.persistence), "sharpness": r(self.sharpness),
            "isotropic_persistence": None if self.reference is None else r(self.reference[0]),
            "isotropic_sharpness": None if self.reference is None else r(self.reference[1]),
            "coverage": r(self.coverage), "condensed": self.condensed, "verdict": self.why,
        }


def condensation(C: np.ndarray, min_share: float = 0.05, fixed_tol: float = 0.95, tol: float | None = None,
                 dim: int | None = None, min_coverage: float = 0.5, curve: bool = True) -> Condensation:
    """Clusters of n neurons from their cosine matrix C (n, n), n ≥ 1.

    `tol` None reports the persistent reading, a number the fixed reading at that tolerance; the
    fixed reading at `fixed_tol` (or `tol`) is always computed as the second, stated one. `dim`
    is the dimension the neurons live in (fan_in + 1): the isotropic reference is drawn there;
    None skips the verdict's test against it (condensed is then False, `why` says so)."""
    C = np.asarray(C, np.float64)
    n = len(C)
    fixed_t = fixed_tol if tol is None else tol
    if n == 0:
        raise ValueError("no neurons to cluster")
    Z = tree(C) if n > 1 else np.zeros((0, 4))
    segs = count_curve(Z, n, min_share) if n > 1 else [Segment(0.0, 1.0, 1)]
    seg = persistent(segs)
    pr = read(Z, C, seg.middle, min_share) if seg is not None else None
    fr = read(Z, C, fixed_t, min_share)
    persistence = 0.0 if seg is None else seg.width
    sharpness = 0.0 if seg is None else seg.sharpness
    coverage = 0.0 if pr is None else pr.coverage
    reference = None
    if n < 3:
        condensed, why = False, f"too few kept neurons ({n}) to judge condensation"
    elif dim is None:
        condensed, why = False, "no isotropic reference for these vectors: not judged"
    else:
        nv = min(n, VERDICT_NEURONS)
        if nv < n:  # judged on a fixed random sample (the caller's rows are in no particular order)
            pick = np.sort(np.random.default_rng(1).choice(n, nv, replace=False))
            p_v, s_v = _statistics(C[np.ix_(pick, pick)], min_share)
        else:
            p_v, s_v = persistence, sharpness
        reference = isotropic_reference(nv, int(dim), float(min_share))
        wide, sharp = p_v > MARGIN * reference[0], s_v > MARGIN * reference[1]
        sample = f" (judged on {nv} of {n} neurons)" if nv < n else ""
        stats = (f"persistence {p_v:.1f}° (condensed above {MARGIN} × {reference[0]:.1f}° = "
                 f"{MARGIN * reference[0]:.1f}°, the widest of {DRAWS} isotropic layers), sharpness {s_v:.2f} "
                 f"(above {MARGIN} × {reference[1]:.2f} = {MARGIN * reference[1]:.2f}){sample}")
        if not (wide or sharp):
            condensed, why = False, f"not condensed: neither wide nor sharp enough against isotropic directions: {stats}"
        elif coverage < min_coverage:
            condensed, why = False, (f"not condensed: counted clusters of two or more neurons hold {coverage:.0%} "
                                     f"of the kept neurons (less than {min_coverage:.0%}); {stats}")
        else:
            condensed, why = True, (f"condensed: {'wide' if wide else 'sharp'} against isotropic directions: {stats}; "
                                    f"counted clusters hold {coverage:.0%} of the kept neurons")
    dirs_curve = np.zeros(len(GRID), np.int64)
    lines_curve = np.zeros(len(GRID), np.int64)
    if curve:
        for i, t in enumerate(GRID):
            rd = read(Z, C, t, min_share)
            dirs_curve[i], lines_curve[i] = rd.directions, rd.lines
    from scipy.cluster.hierarchy import leaves_list

    leaves = leaves_list(Z) if n > 1 else np.zeros(1, np.int64)
    reading = fr if tol is not None or pr is None else pr
    return Condensation(n=n, method="fixed" if tol is not None else "persistent", reading=reading,
                        persistent_reading=pr, fixed_reading=fr, segment=seg, persistence=persistence,
                        sharpness=sharpness, reference=reference, coverage=coverage, condensed=condensed, why=why,
                        curve={"tol": GRID, "directions": dirs_curve, "lines": lines_curve,
                               "segments": [(s.lo, s.hi, s.count) for s in segs]},
                        leaves=np.asarray(leaves))


def block_order(reading: Reading, leaves: np.ndarray) -> np.ndarray:
    """Positions 0..n−1 for the heat map: lines by size, within a line its direction clusters by
    size (a direction's opposite next to it), within a cluster the dendrogram's leaf order."""
    n = len(reading.labels)
    leaf_pos = np.empty(n, np.int64)
    leaf_pos[leaves] = np.arange(n)
    labels = reading.labels
    return np.lexsort((leaf_pos, labels, reading.line_of[labels]))
