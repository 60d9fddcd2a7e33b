"""The names a user chooses from, defined once: architectures, optimizers, losses, initial-scale
splits, figure formats, test-set sources, and the layouts and roles of checkpoints' tensors. The library validates
against these and the CLI lists them in `--help`; this module imports nothing, so `--help`
stays fast."""

ARCHS = ("mlp", "cnn", "resnet18")  # networks with recorded dense layers, trained by `training`
TRANSFORMER = "transformer"  # the anchor-task transformer, trained by `condense_cli.transformer`
OPTIMIZERS = ("adam", "gd", "sgd")
LOSSES = ("mse", "ce")
SPLITS = ("unit-beta2", "unit-alpha", "balanced")  # how (γ, γ′) is split into (α, β1, β2)
FORMATS = ("png", "pdf")
TEST_SETS = ("auto", "official", "split")  # classification data: official test files, a split, or auto
LAYOUTS = ("auto", "torch", "flax", "gpt2")  # how a checkpoint's weight tensors are oriented
KINDS = ("attention", "mlp", "conv")  # roles of a checkpoint's tensors (`condense analyze --kind`)
