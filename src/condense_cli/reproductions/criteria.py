"""The criteria of the reproductions, in one place. Each is a `*_reason` function: None when the
measurement meets it, else the clause that failed, in words ("not condensed", "3 lines, paper
2"); `judge_*` is its yes/no. They are two-sided: a count must equal the paper's on a layer
judged condensed; a polynomial degree must equal p on a network that learned; a predicted line
must lie within MATCH_DEG degrees of a measured one; a slope must lie within the ±0.1 critical
band of the published one, in the same regime, on converged points; an accuracy within the
spread of the paper's table; a transformer's answers by majority. Tested against untrained,
uncondensed and wrongly configured networks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..wording import count_of
from ..measure.theory import MATCH_DEG  # noqa: F401  (the line-match bound, re-exported for the figures)


LEARNED_RATIO = 0.9  # a network has learned when its loss fell to at most 90 % of its initial value
SLOPE_BAND = 0.1  # the critical band of the phase diagram (|S| ≤ 0.1) and the slope tolerance
READINGS = ("persistent", "fixed")
ACCURACY_BAND = 0.01  # the spread of the paper's own Table 1 (0.8761 to 0.8861 over all 18 entries)
MAJORITY = 0.5  # "answers (4, 3) inferentially / symmetrically": more than half of the (4, 3) sequences




def reading(layer: dict, which: str = "persistent") -> tuple[int, int]:
    """(directions, lines) of an analyzed layer under the persistent count or the fixed reading."""
    m = layer["measure"]
    r = m.get(which) if which in READINGS else None
    if not r:
        return 0, 0
    return int(r["directions"]), int(r["lines"])


# Each criterion is a `*_reason` function: None when the measurement meets it, else the clause
# that failed, in words ("not condensed", "3 lines, paper 2"); `judge_*` is its yes/no.


def count_reason(layer: dict, directions: int | None = None, lines: int | None = None,
                 which: str = "persistent") -> str | None:
    """The layer condensed and its counts equal the paper's (None: not compared)."""
    if not layer["condensed"]:
        return "not condensed"
    d, l = reading(layer, which)
    wrong = ([f"{_n(d, 'direction')}, paper {directions}"] if directions is not None and d != directions else []) + (
        [f"{_n(l, 'line')}, paper {lines}"] if lines is not None and l != lines else [])
    return ", ".join(wrong) or None


def _n(k: int, noun: str) -> str:
    return f"{k} {noun}" + ("" if k == 1 else "s")


def judge_count(layer: dict, directions: int | None = None, lines: int | None = None,
                which: str = "persistent") -> bool:
    return count_reason(layer, directions, lines, which) is None


def degree_reason(poly_degree: int | None, p: int | None, loss_ratio: float | None) -> str | None:
    """The network learned (loss ≤ LEARNED_RATIO × initial) and its output's lowest fitting degree
    is exactly p; for p undefined (ReLU) the output is not linear (no degree-1 fit)."""
    if loss_ratio is None or not loss_ratio <= LEARNED_RATIO:
        return f"did not learn (loss ratio {loss_ratio if loss_ratio is None else round(loss_ratio, 3)} > {LEARNED_RATIO})"
    if p is None:
        return "the output is linear (a degree-1 fit)" if poly_degree == 1 else None
    if poly_degree != p:
        return ("no polynomial of degree ≤ 4 fits" if poly_degree is None else f"lowest fitting degree {poly_degree}") \
            + f", paper {p}"
    return None


def judge_degree(poly_degree: int | None, p: int | None, loss_ratio: float | None) -> bool:
    return degree_reason(poly_degree, p, loss_ratio) is None


def field_reason(layer: dict, p: int, which: str = "persistent", step0: bool = False) -> str | None:
    """The field (from the errors at the analyzed step, the paper's Fig. 6; `step0`: at step 0) has
    p stable lines, the layer condensed on p lines, and each stable line lies within the theory's
    `match_deg` of a measured line."""
    th = layer.get("theory")
    if th is None:
        return "not evaluated: " + (layer.get("theory_note") or "no theory for this layer")
    if step0:
        th = {**th["at_step0"], "match_deg": th["match_deg"]}
    if len(th["predicted_lines"]) != p:
        return f"{_n(len(th['predicted_lines']), 'stable line')} in the field, paper {p}"
    if not layer["condensed"]:
        return "not condensed"
    _, lines = reading(layer, which)
    if lines != p:
        return f"{_n(lines, 'measured line')}, paper {p}"
    far = [f"line {i + 1} is {a:.1f}° from the nearest measured line" for i, (a, m) in
           enumerate(zip(th["angle_deg"], th["matched_lines"])) if m is None]
    return ", ".join(far) + f" (at most {th['match_deg']:g}°)" if far else None


def judge_field(layer: dict, p: int, which: str = "persistent", step0: bool = False) -> bool:
    return field_reason(layer, p, which, step0) is None


def growth_reason(counts: list[int], condensed: list[bool], marks: list[int]) -> str | None:
    """Condensed at every mark, the count never falls, and it ends higher than it started."""
    if len(counts) < 2:
        return "not evaluated: fewer than two marks"
    loose = [str(t) for t, c in zip(marks, condensed) if not c]
    if loose:
        return "not condensed at step " + ", ".join(loose)
    for t, a, b in zip(marks[1:], counts, counts[1:]):
        if b < a:
            return f"the count fell from {a} to {b} at step {t}"
    return None if counts[-1] > counts[0] else f"{counts[-1]} directions at the end, as at step {marks[0]}: no growth"


def judge_growth(counts: list[int], condensed: list[bool], marks: list[int] | None = None) -> bool:
    return growth_reason(counts, condensed, marks or list(range(len(counts)))) is None


def regime_of(slope: float) -> str:
    return "condensed" if slope > SLOPE_BAND else "linear" if slope < -SLOPE_BAND else "critical"


def slope_reason(slope: float, published: float, converged: bool) -> str | None:
    """Converged at every width, within SLOPE_BAND of the published slope, in its regime."""
    if not converged:
        return "not evaluated: a width did not converge"
    if not np.isfinite(slope):
        return "not evaluated: the slope is not finite"
    if regime_of(slope) != regime_of(published):
        return f"regime {regime_of(slope)}, paper {regime_of(published)}"
    if abs(slope - published) > SLOPE_BAND:
        return f"slope {slope:+.3f} is {abs(slope - published):.3f} from the published {published:+.3f} (band {SLOPE_BAND})"
    return None


def judge_slope(slope: float, published: float, converged: bool) -> bool:
    return slope_reason(slope, published, converged) is None


@dataclass(frozen=True)
class RunVerdict:
    """One run of a reproduction judged by its figure's criterion: its setting, its seed (or what
    stands for one: "all trials", "mean of seeds"), and why it disagrees (None: it agrees)."""

    setting: str
    seed: int | str
    reason: str | None

    @property
    def agree(self) -> bool:
        return self.reason is None

    def to_json(self) -> dict:
        return {"setting": self.setting, "seed": self.seed, "agree": self.agree, "reason": self.reason}


def run_entry(setting: str, seed, reason: str | None) -> RunVerdict:
    """One run of a reproduction: its setting, seed, whether it agrees and, if not, why."""
    return RunVerdict(setting, seed, reason)


def _with_legend(text: str) -> str:
    """`text` with the legend of the '*' mark where one appears, and only there."""
    return text + " (* not condensed)" if "*" in text and "* not condensed" not in text else text


def accuracy_reason(acc: float, common_mean: float) -> str | None:
    """A condensed initialization's test accuracy within ACCURACY_BAND of the common ones' mean."""
    if not np.isfinite(acc):
        return "not evaluated: the test accuracy is not finite"
    if abs(acc - common_mean) > ACCURACY_BAND:
        return f"test accuracy {acc:.4f} is {abs(acc - common_mean):.4f} from the common mean {common_mean:.4f} " \
               f"(band {ACCURACY_BAND})"
    return None


def judge_accuracy(acc: float, common_mean: float) -> bool:
    return accuracy_reason(acc, common_mean) is None


def answers_reason(inferential: float, symmetric: float, expect: str) -> str | None:
    """The (4, 3) answers are mostly of the expected kind: its share above MAJORITY and above the other's."""
    mine, other = (inferential, symmetric) if expect == "inferential" else (symmetric, inferential)
    if mine > MAJORITY and mine > other:
        return None
    kind = "symmetric" if expect == "inferential" else "inferential"
    return (f"{mine:.2f} of (4, 3) answered {expect}ally (needs more than {MAJORITY} and more than the {other:.2f} "
            f"{kind})")


def judge_answers(inferential: float, symmetric: float, expect: str) -> bool:
    return answers_reason(inferential, symmetric, expect) is None


CRITICAL_BAR = 1e-10  # gradient L1 norm of a critical point (the paper reached 7.15e-15 on its 1-d data)


def inertia_reason(grad_l1: float, counts: list[tuple[int, int, int]], bar: float = CRITICAL_BAR) -> str | None:
    """Embedding principle Fig. 3 on one network: it is a critical point (gradient L1 ≤ bar); over
    the splits m → m+1 → m+2 no count of (positive, zero, negative) eigenvalues decreases (JML 2022,
    Thm 6.2, any critical point); where the narrowest network is a strict local minimum (no zero or
    negative eigenvalue: the paper's case), each split adds exactly one zero eigenvalue and the
    negatives go 0 → 1 → 2 (the paper's Fig. 3)."""
    if not np.isfinite(grad_l1) or grad_l1 > bar:
        return f"not a critical point (gradient L1 {grad_l1:.2g} > {bar:g})"
    for (a, b) in zip(counts, counts[1:]):
        if any(v1 < v0 for v0, v1 in zip(a, b)):
            return f"a count decreased: {a} → {b}"
    if counts[0][1] == 0 and counts[0][2] == 0:
        steps = list(range(len(counts)))
        if [c[1] for c in counts] != steps:
            return f"zero eigenvalues {' → '.join(str(c[1]) for c in counts)}, paper 0 → 1 → 2"
        if [c[2] for c in counts] != steps:
            return f"negative eigenvalues {' → '.join(str(c[2]) for c in counts)}, paper 0 → 1 → 2"
    return None


def judge_inertia(grad_l1: float, counts: list[tuple[int, int, int]], bar: float = CRITICAL_BAR) -> bool:
    return inertia_reason(grad_l1, counts, bar) is None


PLATEAU_TOL = 0.15  # decades of loss: two plateaus at most this far apart are the same level
PLATEAU_SHARE = 0.02  # a plateau holds at least this share of a width's (trial, step) pairs


def plateau_levels(freq: np.ndarray, centres: np.ndarray, share: float = PLATEAU_SHARE) -> list[float]:
    """The log10 losses of a histogram's local maxima holding at least `share` of its mass."""
    f = np.asarray(freq, float)
    padded = np.concatenate([[-1.0], f, [-1.0]])
    return [float(centres[i]) for i in range(len(f)) if f[i] >= share and f[i] >= padded[i] and f[i] >= padded[i + 2]]


def plateaus_reason(levels: dict, median_log_loss: dict, tol: float = PLATEAU_TOL) -> str | None:
    """Overview Fig. 7 across widths (keys ascending): every plateau of the widest network lies
    within `tol` decades of a plateau of a narrower one (the same loss levels recur; width adds no
    new plateau), and the median log10 loss over training falls by more than `tol` from each width
    to the next (wider networks spend their time at lower losses)."""
    widths = sorted(levels)
    narrower = [v for w in widths[:-1] for v in levels[w]]
    new = [v for v in levels[widths[-1]] if not any(abs(v - u) <= tol for u in narrower)]
    if new:
        return f"plateau at loss {10 ** new[0]:.2g} of width {widths[-1]} is at no narrower width"
    med = [median_log_loss[w] for w in widths]
    if not all(b < a - tol for a, b in zip(med, med[1:])):
        return (f"the median loss does not fall by more than {tol:g} decades per width: "
                + ", ".join(f"{10 ** v:.2g}" for v in med))
    return None


# the optimistic-estimate paper (Zhang et al. 2023): where trained networks start to recover a target
OE_TRANSITION = 3  # the notebook's dashed line: tanh(x + 1) needs one neuron, model rank 1·(d + 1) + 1 = 3
OE4_RANK = 21  # the paper's model-rank line for the fully connected network: 3 neurons × (d + 1) + 3 output weights
OE4_BAND = 6  # the measured transition must lie within this many samples of the model-rank line


def transition(recovered: np.ndarray, sizes) -> int | None:
    """The smallest n from which at least half of the trials recover at n and at every larger n."""
    ok = np.asarray(recovered, float).mean(axis=-1) >= 0.5
    for i in range(len(sizes)):
        if ok[i:].all():
            return int(sizes[i])
    return None


def oe_reason(measured: int | None, paper: int = OE_TRANSITION) -> str | None:
    """The transition exactly at the notebook's n (tanh(x + 1): 3)."""
    if measured is None:
        return "no sample size from which half of the trials recover"
    return None if measured == paper else f"transition at n = {measured}, notebook {paper}"


def oe4_reason(measured: int | None, sizes) -> str | None:
    """The transition near the model rank (within OE4_BAND samples) and far below the parameter count."""
    if measured is None:
        return f"no sample size up to {max(sizes)} from which half of the trials recover"
    if abs(measured - OE4_RANK) > OE4_BAND:
        return f"transition at n = {measured}, {abs(measured - OE4_RANK)} from the model rank {OE4_RANK}"
    return None


# the overview's Fig. 8 and 9 (dropout condenses, and learns sooner than a small initialization)
LOSS_LEVEL = 0.05  # Fig. 9: the steps until the loss is at most this share of its initial value


def dropout_condensed_reason(dropout: dict, normal: dict, which: str = "persistent") -> str | None:
    """Fig. 8: the dropout network's layer is condensed, and the normal-init one's is not, or on
    more lines (analyzed layers as `reading` takes them)."""
    if not dropout["condensed"]:
        return "the dropout network is not condensed"
    if normal["condensed"] and reading(dropout, which)[1] >= reading(normal, which)[1]:
        return (f"the normal-init network is condensed on {count_of(reading(normal, which)[1], 'line')}, the dropout "
                f"one on {count_of(reading(dropout, which)[1], 'line')}: not fewer")
    return None


def dropout_sooner_reason(dropout_step: int | None, small_step: int | None) -> str | None:
    """Fig. 9: the dropout network reaches LOSS_LEVEL of its initial loss sooner than the small
    initialization (which may never reach it)."""
    if dropout_step is None:
        return f"the dropout network never reached {LOSS_LEVEL * 100:g} % of its initial loss"
    if small_step is None or dropout_step < small_step:
        return None
    return (f"dropout reached {LOSS_LEVEL * 100:g} % at step {dropout_step}, the small init at step {small_step}: "
            "not sooner")
