"""What to train: `TrainConfig`, frozen, with `validate()`, `to_dict()` and `from_dict()` (a config
read back from a run file's meta). Importing it loads no JAX (the CLI reads its defaults here)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..choices import ARCHS, LOSSES, OPTIMIZERS, TEST_SETS
from ..errors import BadInput

DEFAULT_INIT_STD = 0.005  # initial-condensation Fig. 2: var = 0.005²


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults: initial-condensation Fig. 2
    (5-50-1 tanh network, sin5d data, n = 80, std 0.005, Adam lr 1e-3, full batch)."""

    act: tuple[str, ...] | str = "tanh"
    arch: str = "mlp"  # "mlp", or "cnn": one convolution layer of `channels` k x k kernels, then the dense layers
    channels: int = 8
    kernel: int = 3
    trunk_width: int = 64  # arch "resnet18": channels of the first stage (64 in ResNet18; tiny for CPU smoke runs)
    data: str = "sin5d"
    n: int | None = None
    data_seed: int = 0
    depth: int = 1
    width: int = 50
    widths: tuple[int, ...] | None = None
    residual: bool = False
    output_bias: bool = True
    alpha: float = 1.0
    gamma: float | None = None
    init_std: float | tuple[float, ...] | None = None  # one for every layer, or one per layer (hidden..., output)
    optimizer: str = "adam"
    lr: float = 1e-3
    steps: int = 1000
    batch_size: int | None = None
    seed: int = 0
    seeds: int = 1
    record_every: int | None = None
    loss_every: int | None = None  # minibatch training: the full-batch loss every k steps too (besides snapshots)
    snapshots: int | None = None
    log_spaced: bool = False
    stop_at_loss_ratio: float | None = None
    dropout: float = 0.0
    loss: str = "mse"
    data_dir: str | None = None
    test_fraction: float = 0.2
    test_set: str = "auto"  # classification data: "official" test files, a "split", or "auto" (official when present)
    x64: bool = False

    def hidden_widths(self) -> tuple[int, ...]:
        """(m_1..m_L): `widths` if given, else `depth` layers of `width`."""
        return tuple(int(m) for m in self.widths) if self.widths else (int(self.width),) * int(self.depth)

    def layer_widths(self) -> tuple[int, ...]:
        """Neurons of every hidden layer: for a CNN the channels first, then the dense widths."""
        head = self.hidden_widths()
        return (int(self.channels), *head) if self.arch == "cnn" else head

    def activation_names(self) -> tuple[str, ...]:
        """One activation per hidden layer (a single name is used for every layer)."""
        depth = len(self.layer_widths())
        acts = (self.act,) if isinstance(self.act, str) else tuple(self.act)
        if len(acts) == 1:
            acts = acts * depth
        if len(acts) != depth:
            raise BadInput(f"{len(acts)} activations given for {depth} hidden layers")
        return acts

    def validate(self) -> None:
        """Raise BadInput (one line) for anything impossible, before any work is done."""
        if self.depth < 1 and not self.widths:
            raise BadInput(f"--depth must be at least 1, got {self.depth}")
        if (len(self.widths) if self.widths else self.depth) > MAX_DEPTH:
            raise BadInput(f"at most {MAX_DEPTH} hidden layers (each one adds to the compiled program), got "
                           f"{len(self.widths) if self.widths else self.depth}")
        if self.steps > MAX_STEPS:
            raise BadInput(f"--steps must be at most {MAX_STEPS:,} (the compiled loop counts in 32 bits), "
                           f"got {self.steps}")
        widths = self.hidden_widths()
        if any(m < 1 for m in widths):
            raise BadInput(f"width must be at least 1, got {list(widths)}")
        from ..nn import activations  # JAX: only when a config is checked

        for a in self.activation_names():
            activations.get(a)
        if self.arch not in ARCHS:
            raise BadInput(f"unknown architecture {self.arch!r}; choose one of: mlp, cnn, resnet18")
        if self.arch == "resnet18" and self.trunk_width < 1:
            raise BadInput(f"--trunk-width must be at least 1, got {self.trunk_width}")
        if self.arch == "cnn" and (self.channels < 1 or self.kernel < 1):
            raise BadInput(f"--channels and --kernel must be at least 1, got {self.channels} and {self.kernel}")
        if self.optimizer not in OPTIMIZERS:
            raise BadInput(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.steps < 1:
            raise BadInput(f"--steps must be at least 1, got {self.steps}")
        if self.seeds < 1:
            raise BadInput(f"--seeds must be at least 1, got {self.seeds}")
        if not 0 <= self.seed < 2 ** 31:
            raise BadInput(f"--seed must be a non-negative integer below 2^31, got {self.seed}")
        _positive("lr", self.lr)
        _positive("alpha", self.alpha)
        if self.gamma is not None and not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise BadInput(f"--gamma must be a non-negative finite number, got {self.gamma}")
        if self.init_std is not None:
            stds = self.init_std if isinstance(self.init_std, tuple) else (self.init_std,)
            if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in stds):
                raise BadInput(f"--init-std must be non-negative finite numbers, got {self.init_std}")
            layers = len(self.layer_widths())
            if len(stds) not in (1, layers + 1):
                raise BadInput(f"--init-std takes one value or {layers + 1} (each hidden layer, then the "
                               f"output layer), got {len(stds)}")
        if self.gamma is not None and self.init_std is not None:
            raise BadInput("give --gamma or --init-std, not both")
        if self.record_every is not None and self.record_every < 1:
            raise BadInput(f"--record-every must be at least 1, got {self.record_every}")
        if self.snapshots is not None and self.snapshots < 1:
            raise BadInput(f"--snapshots must be at least 1, got {self.snapshots}")
        if self.record_every is not None and self.snapshots is not None:
            raise BadInput("give --record-every or --snapshots, not both")
        if self.log_spaced and self.snapshots is None:
            raise BadInput("--log-spaced needs --snapshots K")
        if self.loss_every is not None:
            if self.loss_every < 1 or self.loss_every > self.steps:
                raise BadInput(f"--loss-every must be a positive integer at most --steps ({self.steps}), "
                               f"got {self.loss_every}")
            if self.batch_size is None:
                raise BadInput("--loss-every applies to minibatch training (--batch-size B); "
                               "full-batch training records the full-batch loss of every step")
        if self.batch_size is not None:
            if self.optimizer == "gd":
                raise BadInput("--optimizer gd is full-batch gradient descent; for minibatches use sgd or adam "
                               "with --batch-size")
            if self.batch_size < 1:
                raise BadInput(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.loss not in LOSSES:
            raise BadInput(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.test_set not in TEST_SETS:
            raise BadInput(f"--test-set must be one of {', '.join(TEST_SETS)}, got {self.test_set!r}")
        if not (math.isfinite(self.test_fraction) and 0 <= self.test_fraction < 1):
            raise BadInput(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        if not (math.isfinite(self.dropout) and 0 <= self.dropout < 1):
            raise BadInput(f"--dropout must be in [0, 1), got {self.dropout}")
        r = self.stop_at_loss_ratio
        if r is not None and not (math.isfinite(r) and 0 < r < 1):
            raise BadInput(f"--stop-at-loss-ratio must be in (0, 1), got {r}")
        if self.residual and len(set(widths)) > 1:
            raise BadInput(f"--residual needs equal hidden widths, got {list(widths)}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config read back from `to_dict()` (a run file's meta "config"): unknown keys are
        ignored, lists become tuples, and the computed keys (`layer_widths`) are dropped."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
        return cls(**kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["act"] = list(self.activation_names())
        d["widths"] = list(self.hidden_widths())
        d["layer_widths"] = list(self.layer_widths())
        if isinstance(self.init_std, tuple):
            d["init_std"] = list(self.init_std)
        return d


MAX_DEPTH = 64
MAX_STEPS = 2 ** 31 - 2


def recorded_count(config: "TrainConfig") -> int:
    """How many snapshots `config` records (what `schedule.record_steps` returns, counted without
    building it)."""
    T = config.steps
    if config.snapshots is not None:
        return min(int(config.snapshots), T + 1) + 1
    k = config.record_every or max(1, T // 100)
    return T // k + 2


def check_memory(config: "TrainConfig", spec, n: int) -> None:
    """BadInput, with the estimate, when the run would hold more than `io.memory_budget()`:
    the snapshots (S, K, parameters), the loss record, the optimizer state and the data."""
    from ..io import gib, memory_budget

    params = sum(r * c for r, c in spec.shapes)
    item = 8 if config.x64 else 4
    S, K = config.seeds, recorded_count(config)
    losses = config.steps + 1 if config.batch_size is None else K + config.steps // (config.loss_every or config.steps)
    need = item * (S * K * params + 2 * S * losses + 4 * S * params) + 8 * n * (spec.d + spec.d_out)
    budget = memory_budget()
    if need > budget:
        raise BadInput(f"this run needs about {gib(need)} ({S} seed(s) × {K} snapshots × {params:,} weights, "
                       f"{losses:,} loss entries, {n:,} points), more than the {gib(budget)} this machine allows; "
                       "record fewer snapshots (--snapshots), or use fewer seeds, steps or neurons")


def _positive(name: str, v: float) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
        raise BadInput(f"--{name} must be a positive finite number, got {v}")
