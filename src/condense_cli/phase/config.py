"""What a phase-diagram sweep is: `PhaseConfig` (the grid of (γ, γ′), widths, seeds, data-free
settings, its resume key) and `parse_values` for '0.5,1,2' or 'start:stop:step' lists."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from ..errors import BadInput
from ..choices import SPLITS

MAX_EXPONENT = 20.0  # |γ|, |γ′|: m^−20 is below float64's range for the widths of a sweep
MAX_WIDTH = 10_000_000
ENGINE_VERSION = 2  # in the resume key: bump when a change to the engine changes a width's numbers (2: displacements)


# the default grid of `condense phase-diagram` and of `PhaseConfig()` (as the CLI writes it)
DEFAULT_WIDTHS = "1000,5000,10000,20000,40000"
DEFAULT_GAMMAS = "0.25:2.25:0.25"
DEFAULT_GAMMA_PRIMES = "-0.5:1.5:0.25"


@dataclass(frozen=True)
class PhaseConfig:
    """A phase-diagram sweep. Lists are tuples so the config hashes; the defaults are the CLI's."""

    gammas: tuple[float, ...] = field(default_factory=lambda: parse_values(DEFAULT_GAMMAS, "gammas"))
    gamma_primes: tuple[float, ...] = field(default_factory=lambda: parse_values(DEFAULT_GAMMA_PRIMES, "gamma_primes"))
    widths: tuple[int, ...] = field(default_factory=lambda: tuple(int(float(w)) for w in DEFAULT_WIDTHS.split(",")))
    seeds: int = 1
    seed: int = 0
    act: str = "relu"
    split: str = "unit-beta2"
    zero_output: bool = False
    tol: float = 1e-4
    max_steps: int = 2_000_000  # a safety limit: the slowest default point needs about 300,000
    lr: float = 0.5
    margin: float = 0.1
    boundary_margin: float = 0.25
    memory_mb: int = 512
    x64: bool = False

    def validate(self) -> None:
        if len(self.widths) < 2:
            raise BadInput("need at least two widths to fit a slope of log RD against log m")
        if any(int(m) != m or m < 1 for m in self.widths):
            raise BadInput(f"widths must be positive integers, got {list(self.widths)}")
        if len(set(self.widths)) != len(self.widths):
            raise BadInput(f"widths must be distinct, got {list(self.widths)}")
        for name, vals in (("gammas", self.gammas), ("gamma-primes", self.gamma_primes)):
            if not vals:
                raise BadInput(f"--{name} is empty")
            if not all(math.isfinite(v) for v in vals):
                raise BadInput(f"--{name} must be finite numbers, got {list(vals)}")
            if max(abs(v) for v in vals) > MAX_EXPONENT:
                raise BadInput(f"--{name} must lie within ±{MAX_EXPONENT:g} (m^−γ over- or underflows past it), "
                               f"got {max(vals, key=abs):g}")
        if max(self.widths) > MAX_WIDTH:
            raise BadInput(f"widths must be at most {MAX_WIDTH:,}, got {max(self.widths):,}")
        from ..nn import activations

        activations.get(self.act)
        if self.split not in SPLITS:
            raise BadInput(f"unknown split {self.split!r}; choose one of: {', '.join(SPLITS)}")
        if self.seeds < 1:
            raise BadInput(f"--seeds must be at least 1, got {self.seeds}")
        if not (math.isfinite(self.tol) and self.tol >= 0):
            raise BadInput(f"--loss-tol must be a non-negative finite number (0: no early stop), got {self.tol}")
        for name, v in (("lr", self.lr), ("margin", self.margin)):
            if not (math.isfinite(v) and v > 0):
                raise BadInput(f"--{name} must be a positive finite number, got {v}")
        if not 1 <= self.max_steps <= 2 ** 31 - 2:
            raise BadInput(f"--max-steps must be from 1 to {2 ** 31 - 2:,}, got {self.max_steps}")
        if self.zero_output and any(m % 2 for m in self.widths):
            raise BadInput("--zero-output mirrors neurons in pairs: every width must be even")

    def key(self, data_spec: dict) -> str:
        """A fingerprint of everything that decides one width's result (for resuming), the
        engine's version included: a part computed by another engine is redone."""
        d = asdict(self)
        d.pop("widths")
        d.pop("memory_mb")
        d.pop("margin")
        d.pop("boundary_margin")
        blob = json.dumps({"config": d, "data": data_spec, "engine": ENGINE_VERSION}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


MAX_VALUES = 10_000  # values one list or range may give


def parse_values(text: str, what: str) -> tuple[float, ...]:
    """'0.5,1,2' or a range 'start:stop:step' (stop included when on the grid)."""
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise BadInput(f"{what}: a range is start:stop:step, got {text!r}")
        try:
            a, b, s = (float(p) for p in parts)
        except ValueError:
            raise BadInput(f"{what}: {text!r} is not a range of numbers") from None
        if not all(math.isfinite(v) for v in (a, b, s)):
            raise BadInput(f"{what}: NaN or infinite in {text!r}")
        if s <= 0:
            raise BadInput(f"{what}: the step of {text!r} must be positive")
        if b < a:
            raise BadInput(f"{what}: the range {text!r} is reversed (stop < start)")
        n = math.floor((b - a) / s + 1e-9) + 1
        if n > MAX_VALUES:
            raise BadInput(f"{what}: the range {text!r} has {n:,} values, more than {MAX_VALUES:,}")
        return tuple(round(a + i * s, 10) for i in range(n))
    if not text:
        raise BadInput(f"{what}: empty")
    out = []
    items = [p.strip() for p in text.split(",")]
    if "" in items:
        raise BadInput(f"{what}: an empty item in {text!r}")
    if len(items) > MAX_VALUES:
        raise BadInput(f"{what}: {len(items):,} values, more than {MAX_VALUES:,}")
    for p in items:
        try:
            v = float(p)
        except ValueError:
            raise BadInput(f"{what}: {p!r} is not a number") from None
        if not math.isfinite(v):
            raise BadInput(f"{what}: {p!r} is not a finite number")
        out.append(v)
    if not out:
        raise BadInput(f"{what}: empty")
    return tuple(out)
