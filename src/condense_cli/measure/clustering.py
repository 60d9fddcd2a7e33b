"""Orientation clusters of one layer, counted as the cosine heat map shows them (NumPy, SciPy).

The one clustering of the package. Input is a cosine matrix C (n, n) of n kept neurons (or
channels); the tree is SciPy's average linkage on the angular distance 1 − C. Cutting the tree
at a cosine tolerance t keeps together the groups whose members have mean cosine at least t.
Angles between groups are *mean pairwise angles* in degrees: the spread W of a group is the mean
angle between two of its members, the distance B of two groups the mean angle across them.

The count (the *persistent* reading). The tree's cuts are candidate partitions; a partition's
*separation* is the smallest ratio B(c, d) / max(W(c), W(d)) over its pairs of counted clusters
(those holding at least `min_share` of the neurons, and at least two; the other neurons join the
counted cluster they are nearest to, and so they are reported). The count read is the partition of the
largest separation, provided it is at least the needed separation (`SEPARATION` = 2: the
clusters are at least twice as far apart as they are wide; more where one uniform cloud of the
same size and dimension already shows more, as on a circle), its pairs are at least
`MIN_APART` degrees apart and its counted clusters hold at least `min_coverage` of the neurons.
The ratio is scale-free: two tight clouds 30° apart are as distinct as two 90° apart, and no
cap of the tolerance range enters (the whole tree is searched). Where no partition is so
separated, the count is the one that stays the same over the widest range of t (in degrees,
over [0, 1]): a single cloud, diffuse clusters, or isotropic directions.

Lines: in a separated reading two direction clusters are one line when one of them, negated,
would not be distinct from the other: 180° − B(c, d) below MIN_APART or below the needed
separation × max(W(c), W(d)). A reading at one tolerance t (the fixed one, and the widest-range
fallback) joins two clusters into a line when their mean cosine is at most −t. A line is
counted when it holds a counted direction cluster, so lines never outnumber directions.

- `count_curve(tree, n, min_share)`: counted direction clusters as a step function of t ∈ [0, 1].
- `persistent(segments)`: the count that stays the same over the widest range of t in degrees
  (the statistic of the verdict, below).
- `separated(tree, C, min_share, min_coverage, needed)`: the chosen partition and every candidate.
- `read(tree, C, t, min_share)`: the clusters at one tolerance t.
- `isotropic_reference(n, k, min_share)`: the verdict's reference on `DRAWS` layers of n
  isotropic random directions in R^k.
- `condensation(C, ...)`: all of it for one layer.

Ranges of tolerance are measured as angles, θ = arccos t. Two statistics of the widest range
[θ_start, θ_end] of one count: its *persistence* θ_end − θ_start (degrees) and its *sharpness*
ln(θ_end / θ_start).

Verdict: a layer is *condensed* when the counted clusters of its reading cover at least
`min_coverage` of the kept neurons and either
statistic exceeds `MARGIN` times the largest value among `DRAWS` isotropic layers of the same
size and dimension (no isotropic layer of 300 drawn per (n, k), for k from 2 to 785, passed the
persistence test and at most 2 in 300 the sharpness test). The verdict is judged on a fixed
sample of at most `VERDICT_NEURONS` neurons.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

DRAWS = 99  # isotropic layers drawn for the reference
MARGIN = 1.5  # a condensed layer's statistic exceeds MARGIN × the largest isotropic one
VERDICT_NEURONS = 500  # the verdict is judged on at most this many neurons
MIN_ANGLE = 0.01  # degrees: θ_start is floored here (identical neurons)
GRID = np.cos(np.radians(np.geomspace(90.0, 0.05, 101)))  # tolerances of the curve: angles 90°-0.05°, log-spaced
SEPARATION = 2.0  # distinct clusters: mean angle across at least twice the larger mean angle within
MIN_APART = 10.0  # degrees: clusters closer than this (cosine 0.985) are one orientation on any scale


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


def _labels(Z: np.ndarray, n: int, height: float) -> np.ndarray:
    """Cluster labels 0..K−1 (by decreasing size) of the cut of the tree at distance `height`: the
    partition of SciPy's `fcluster(Z, height, criterion="distance")`. On a linkage whose merges
    are sorted by height (SciPy's are) that is the components joined by every merge at or below
    `height`, found here by pointer jumping instead of `fcluster`, which checks the whole linkage
    at every call (most of an analysis's time once); any other linkage goes to `fcluster`."""
    if n == 1:
        return np.zeros(n, np.int64)
    heights = Z[:, 2]
    if not np.all(heights[1:] >= heights[:-1]):  # unsorted (or NaN): SciPy's own cut
        from scipy.cluster.hierarchy import fcluster

        return _relabel_by_size(fcluster(Z, height, criterion="distance"))
    k = int(np.searchsorted(heights, height, side="right"))  # merges 0..k−1 lie at or below the cut
    parent = np.arange(2 * n - 1)
    merged = n + np.arange(k)
    parent[Z[:k, 0].astype(np.int64)] = merged
    parent[Z[:k, 1].astype(np.int64)] = merged
    while True:  # every node's parent replaced by its grandparent until each points at its root
        up = parent[parent]
        if np.array_equal(up, parent):
            return _relabel_by_size(parent[:n])
        parent = up


def _lines(sizes: np.ndarray, counted: np.ndarray, joins) -> tuple[np.ndarray, np.ndarray]:
    """(line of each direction cluster (K,), counted lines (L,)): lines are the union of the
    cluster pairs (a, b) in `joins` (a counted; an uncounted b joins the first line it meets),
    numbered by decreasing size."""
    K = len(sizes)
    parent = np.arange(K)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in joins:
        if counted[b]:
            parent[root(b)] = root(a)
        elif parent[b] == b:
            parent[b] = root(a)
    line_root = np.array([root(i) for i in range(K)])
    line_sizes = np.bincount(line_root, weights=sizes, minlength=K)
    roots = np.unique(line_root)
    order = roots[np.lexsort((roots, -line_sizes[roots]))]
    line_id = np.empty(K, np.int64)
    line_id[order] = np.arange(len(order))
    line_of = line_id[line_root]
    line_counted = np.zeros(len(order), bool)
    line_counted[line_of[counted]] = True
    return line_of, line_counted


def read(Z: np.ndarray, C: np.ndarray, t: float, min_share: float) -> Reading:
    """Direction clusters and lines at the fixed tolerance t (see the module docstring)."""
    n = len(C)
    labels = _labels(Z, n, 1.0 - t + 1e-12)
    K = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=K)
    counted = sizes >= _need(n, min_share)
    rows = np.flatnonzero(counted)
    joins = []
    if len(rows) and K > 1:  # two clusters are one line when antipodal at t
        M = _block_means(C, labels, rows, K)  # (c, K)
        joins = [(a, int(b)) for i, a in enumerate(rows) for b in np.flatnonzero(M[i] <= -t) if b != a]
    line_of, line_counted = _lines(sizes, counted, joins)
    return Reading(float(t), labels, sizes, counted, line_of, line_counted)


def angles(C: np.ndarray) -> np.ndarray:
    """Angles in degrees (n, n) of a cosine matrix, zero on the diagonal."""
    A = np.degrees(np.arccos(np.clip(np.asarray(C, np.float64), -1.0, 1.0)))
    np.fill_diagonal(A, 0.0)
    return A


def spreads(A: np.ndarray, labels: np.ndarray, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W (k,), B (k, k), assignment (n,)) for the clusters `ids` of `labels`: W the mean angle
    between two members of a cluster, B the mean angle across two clusters (degrees). Neurons of
    the other clusters join the cluster of `ids` they are nearest to (smallest mean angle)."""
    ids = np.asarray(ids)
    k = len(ids)
    where = np.full(int(labels.max()) + 1, -1)
    where[ids] = np.arange(k)
    assign = where[labels]
    onehot = (assign[:, None] == np.arange(k)[None, :]).astype(np.float64)  # (n, k)
    S = A @ onehot  # (n, k) summed angles to each cluster
    rest = assign < 0
    if rest.any():
        assign[rest] = np.argmin(S[rest] / onehot.sum(0), axis=1)
        onehot = (assign[:, None] == np.arange(k)[None, :]).astype(np.float64)
        S = A @ onehot
    sizes = onehot.sum(0)
    G = onehot.T @ S  # (k, k) summed angles within and across
    W = np.diag(G) / np.maximum(sizes * (sizes - 1), 1.0)
    return W, G / np.outer(sizes, sizes), assign


def separation_of(W: np.ndarray, B: np.ndarray) -> tuple[float, float]:
    """(separation, apart): the smallest B(c, d) / max(W(c), W(d)) and the smallest B(c, d) over
    pairs c ≠ d of k ≥ 2 clusters."""
    k = len(W)
    c, d = np.triu_indices(k, 1)
    wide = np.maximum(np.maximum(W[c], W[d]), 1e-9)
    return float(np.min(B[c, d] / wide)), float(np.min(B[c, d]))


@dataclass(frozen=True)
class Candidate:
    """One cut of the tree at distance `height`: `count` ≥ 2 counted clusters holding `coverage`
    of the neurons; over tolerances lo < t ≤ hi the count stays the same. `separation` and
    `apart` (degrees) as in `separation_of`; `spread` is the largest W (degrees)."""

    count: int
    height: float
    lo: float
    hi: float
    coverage: float
    spread: float
    separation: float
    apart: float

    def distinct(self, needed: float = SEPARATION) -> bool:
        """Two or more clusters separated by at least `needed` and at least MIN_APART degrees apart."""
        return self.separation >= needed and self.apart >= MIN_APART


def candidates(Z: np.ndarray, A: np.ndarray, min_share: float, min_coverage: float) -> list[Candidate]:
    """The cuts just below each merge that changes the number of counted clusters (the coarsest
    partition of each count), with two or more counted clusters holding at least `min_coverage`."""
    n = len(A)
    need = _need(n, min_share)
    heights = Z[:, 2]
    sizes = {i: 1 for i in range(n)}
    counted = n if need <= 1 else 0
    start = 0.0  # height at which the current count began
    out = []
    for i, (a, b, h, s) in enumerate(Z):
        sa, sb = sizes.pop(int(a)), sizes.pop(int(b))
        after = counted + int(s >= need) - int(sa >= need) - int(sb >= need)
        sizes[n + i] = int(s)
        if after != counted and counted >= 2 and (i == 0 or heights[i - 1] < h):
            cut = 0.5 * ((heights[i - 1] if i else 0.0) + h)
            out.append(_candidate(A, _labels(Z, n, cut), need, cut, 1.0 - h, 1.0 - start, min_coverage))
        if after != counted:
            start = h
        counted = after
    return [c for c in out if c is not None]


def _candidate(A, labels, need, height, lo, hi, min_coverage) -> Candidate | None:
    sizes = np.bincount(labels)
    ids = np.flatnonzero(sizes >= need)
    coverage = float(sizes[ids].sum() / len(labels))
    if len(ids) < 2 or coverage < min_coverage:
        return None
    W, B, _ = spreads(A, labels, ids)
    sep, apart = separation_of(W, B)
    return Candidate(len(ids), height, max(lo, -1.0), min(hi, 1.0), coverage, float(W.max()), sep, apart)


def choose(cands: list[Candidate], needed: float = SEPARATION) -> Candidate | None:
    """The distinct partition (separation at least `needed`) of the largest separation, or None."""
    distinct = [c for c in cands if c.distinct(needed)]
    return max(distinct, key=lambda c: (c.separation, c.count)) if distinct else None


def _uniform_cloud(n: int, k: int, rng, radius: float = 30.0) -> np.ndarray:
    """n unit vectors (n, k) uniform in the cap of `radius` degrees around the first axis."""
    perp = rng.standard_normal((n, k))
    perp[:, 0] = 0.0
    perp /= np.linalg.norm(perp, axis=1, keepdims=True)
    theta = np.radians(radius) * rng.uniform(0.0, 1.0, n) ** (1.0 / (k - 1))
    U = np.sin(theta)[:, None] * perp
    U[:, 0] = np.cos(theta)
    return U


@lru_cache(maxsize=256)
def uniform_reference(n: int, k: int, min_share: float, min_coverage: float, draws: int = DRAWS) -> float:
    """The largest separation of any partition the count considers, over `draws` single clouds
    of n neurons uniform in a cap of R^k (fixed seed per n and k): what one cloud with no
    clusters in it can show. Large on a circle (k = 2: the halves of an arc are 3× farther apart
    than wide), near 2 for k = 3, below SEPARATION from k = 4 on."""
    if k < 2 or n < 4:
        return 0.0
    rng = np.random.default_rng([7, n, k])
    best = 0.0
    for _ in range(draws):
        U = _uniform_cloud(n, k, rng)
        Cm = cosine_of_rows(U)
        cands = candidates(tree(Cm), angles(Cm), min_share, min_coverage)
        best = max([best] + [c.separation for c in cands if c.apart >= MIN_APART])
    return float(best)


def separation_needed(n: int, dim: int | None, min_share: float, min_coverage: float) -> float:
    """SEPARATION, or more where one uniform cloud of the same size (at most 100 neurons, by
    tens) and dimension already shows more (see `uniform_reference`)."""
    if dim is None:
        return SEPARATION
    n_ref = max(min(n, 100) // 10 * 10, min(n, 10))
    return max(SEPARATION, uniform_reference(n_ref, int(dim), float(min_share), float(min_coverage)))


def separated(Z: np.ndarray, C: np.ndarray, min_share: float, min_coverage: float,
              needed: float = SEPARATION) -> tuple[Reading | None, Candidate | None, list[Candidate]]:
    """(reading, chosen candidate, all candidates) of the separated count with clusters at least
    `needed` apart (in units of their spread); the reading is None when nothing is separated."""
    n = len(C)
    A = angles(C)
    cands = candidates(Z, A, min_share, min_coverage) if n > 1 else []
    best = choose(cands, needed)
    if best is None:
        return None, None, cands
    return _separated_reading(Z, A, best, min_share, needed), best, cands


def _separated_reading(Z: np.ndarray, A: np.ndarray, best: Candidate, min_share: float, needed: float) -> Reading:
    """The reading of candidate `best`: every neuron in the counted cluster it is nearest to (the
    partition whose separation was measured); two clusters are one line when one of them,
    negated, would not be distinct from the other."""
    n = len(A)
    cut = _labels(Z, n, best.height)
    ids = np.flatnonzero(np.bincount(cut) >= _need(n, min_share))
    W, B, assign = spreads(A, cut, ids)
    labels = _relabel_by_size(assign)
    order = np.empty(len(ids), np.int64)  # cluster j of `assign` is cluster order[j] of `labels`
    order[assign] = labels
    K = len(ids)
    sizes = np.bincount(labels, minlength=K)
    counted = np.ones(K, bool)
    joins = [(int(order[i]), int(order[j])) for i in range(K) for j in range(i + 1, K)
             if 180.0 - B[i, j] < max(MIN_APART, needed * max(W[i], W[j]))]
    line_of, line_counted = _lines(sizes, counted, joins)
    return Reading(float(np.clip(1.0 - best.height, -1.0, 1.0)), labels, sizes, counted, line_of, line_counted)


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
    """One layer's clusters. `reading` is what is reported: the persistent (separated) reading by
    default, the fixed one when a tolerance was asked for (`method` says which)."""

    n: int
    method: str  # "persistent" or "fixed"
    reading: Reading
    persistent_reading: Reading | None
    fixed_reading: Reading
    chosen: Candidate | None  # the separated partition read (None: the widest range was read)
    needed: float  # the separation a partition needed (SEPARATION or the uniform-cloud reference)
    candidates: list = field(repr=False)  # every Candidate considered
    segment: Segment | None  # the widest range of one count (the verdict's statistics)
    persistence: float  # degrees
    sharpness: float
    reference: tuple[float, float] | None  # the largest isotropic (persistence, sharpness); None: not judged
    coverage: float  # at the persistent reading
    condensed: bool
    why: str  # the verdict in words
    curve: dict = field(repr=False)  # {"tol", "directions", "lines", "segments", "candidates"} over GRID
    leaves: np.ndarray = field(repr=False)  # dendrogram leaf order (n,)

    def summary(self) -> dict:
        """JSON-able description of both readings and the verdict."""
        def r(x):
            return None if x is None else round(float(x), 6)

        pr, c, seg = self.persistent_reading, self.chosen, self.segment
        rng = [c.lo, c.hi] if c is not None else None if seg is None else [seg.lo, seg.hi]
        return {
            "method": self.method, "tol_used": r(self.reading.tol),
            "persistent": None if pr is None else {
                "directions": pr.directions, "lines": pr.lines, "tol": r(pr.tol),
                "range": None if rng is None else [r(rng[0]), r(rng[1])],
                "rule": "separated" if c is not None else "widest range",
                "separation": None if c is None else r(c.separation),
                "apart_deg": None if c is None else r(c.apart), "spread_deg": None if c is None else r(c.spread)},
            "separation_needed": r(self.needed), "min_apart_deg": MIN_APART,
            "best_separation": r(max((x.separation for x in self.candidates), default=None)),
            "fixed": {"tol": r(self.fixed_reading.tol), "directions": self.fixed_reading.directions,
                      "lines": self.fixed_reading.lines},
            "persistence": r(self.persistence), "sharpness": r(self.sharpness),
            "isotropic_persistence": None if self.reference is None else r(self.reference[0]),
            "isotropic_sharpness": None if self.reference is None else r(self.reference[1]),
            "coverage": r(self.coverage), "condensed": self.condensed, "verdict": self.why,
        }


def _count_rule(chosen: Candidate | None, cands: list[Candidate], needed: float, seg: Segment | None) -> str:
    """The count in words: why this reading was chosen."""
    if chosen is not None:
        return (f"{chosen.count} clusters {chosen.separation:.1f}× farther apart than they are wide (at least "
                f"{needed:.2f} needed; closest pair {chosen.apart:.0f}° apart, widest cluster {chosen.spread:.1f}°)")
    best = max(cands, key=lambda x: x.separation, default=None)
    why = ("no two counted clusters to separate" if best is None else
           f"no partition is separated (best: {best.count} clusters at {best.separation:.2f} < {needed:.2f})")
    if seg is None:
        return why
    return why + f"; read at the widest range of one count, cos {seg.lo:.2f}-{seg.hi:.2f}"


def condensation(C: np.ndarray, min_share: float = 0.05, fixed_tol: float = 0.95, tol: float | None = None,
                 dim: int | None = None, min_coverage: float = 0.5, curve: bool = True) -> Condensation:
    """Clusters of n neurons from their cosine matrix C (n, n), n ≥ 1.

    `tol` None reports the persistent (separated) reading, a number the fixed reading at that
    tolerance; the fixed reading at `fixed_tol` (or `tol`) is always computed as the second,
    stated one. `dim` is the dimension the neurons live in (fan_in + 1): the isotropic reference
    is drawn there; None skips the verdict's test against it (condensed is then False, `why`
    says so)."""
    C = np.asarray(C, np.float64)
    n = len(C)
    fixed_t = fixed_tol if tol is None else tol
    if n == 0:
        raise ValueError("no neurons to cluster")
    Z = tree(C) if n > 1 else np.zeros((0, 4))
    segs = count_curve(Z, n, min_share) if n > 1 else [Segment(0.0, 1.0, 1)]
    seg = persistent(segs)
    needed = separation_needed(n, dim, min_share, min_coverage)
    pr, chosen, cands = separated(Z, C, min_share, min_coverage, needed) if n > 1 else (None, None, [])
    if pr is None:  # nothing separated: the count that holds over the widest range of t
        pr = read(Z, C, seg.middle, min_share) if seg is not None else None
    fr = read(Z, C, fixed_t, min_share)
    persistence = 0.0 if seg is None else seg.width
    sharpness = 0.0 if seg is None else seg.sharpness
    coverage = chosen.coverage if chosen is not None else 0.0 if pr is None else pr.coverage
    rule = _count_rule(chosen, cands, needed, seg)
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
            condensed, why = False, (f"not condensed: neither wide nor sharp enough against isotropic directions: "
                                     f"{stats}; {rule}")
        elif coverage < min_coverage:
            condensed, why = False, (f"not condensed: counted clusters of two or more neurons hold {coverage:.0%} "
                                     f"of the kept neurons (less than {min_coverage:.0%}); {stats}")
        else:
            condensed, why = True, (f"condensed: {rule}; {'wide' if wide else 'sharp'} against isotropic "
                                    f"directions: {stats}; counted clusters hold {coverage:.0%} of the kept neurons")
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
                        persistent_reading=pr, fixed_reading=fr, chosen=chosen, needed=needed, candidates=cands, segment=seg,
                        persistence=persistence, sharpness=sharpness, reference=reference, coverage=coverage,
                        condensed=condensed, why=why,
                        curve={"tol": GRID, "directions": dirs_curve, "lines": lines_curve,
                               "segments": [(s.lo, s.hi, s.count) for s in segs],
                               "candidates": [(c.lo, c.hi, c.count, c.separation) for c in cands],
                               "chosen": None if chosen is None else (chosen.lo, chosen.hi, chosen.count)},
                        leaves=np.asarray(leaves))


def block_order(reading: Reading, leaves: np.ndarray) -> np.ndarray:
    """Positions 0..n−1 for the heat map: lines by size, within a line its direction clusters by
    size (a direction's opposite next to it), within a cluster the dendrogram's leaf order."""
    n = len(reading.labels)
    leaf_pos = np.empty(n, np.int64)
    leaf_pos[leaves] = np.arange(n)
    labels = reading.labels
    return np.lexsort((leaf_pos, labels, reading.line_of[labels]))
