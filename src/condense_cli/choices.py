"""The names a user chooses from, defined once: data sets, architectures, optimizers, losses,
initial-scale splits, figure formats, test-set sources, and the layouts and roles of checkpoints'
tensors. The library validates
against these and the CLI lists them in `--help`; this module imports nothing, so `--help`
stays fast."""

SYNTHETIC_DATA = ("sin5d", "sin5d-low", "sin3d", "sin1d", "relu-combo", "relu-kinks", "tanh1d", "sin1",
                  "phase4")  # the papers' targets, made by `data.synthetic` (its `NAMED`)
REAL_DATA = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")  # classification sets, `data.images`
ANCHORS = "anchors"  # the anchor-function task of the transformer, `data.anchors`
ARCHS = ("mlp", "cnn", "resnet18")  # networks with recorded dense layers, trained by `training`
TRANSFORMER = "transformer"  # the anchor-task transformer, trained by `condense_cli.transformer`
OPTIMIZERS = ("adam", "gd", "sgd")
LOSSES = ("mse", "ce")
SPLITS = ("unit-beta2", "unit-alpha", "balanced")  # how (γ, γ′) is split into (α, β1, β2)
FORMATS = ("png", "pdf")
TEST_SETS = ("auto", "official", "split")  # classification data: official test files, a split, or auto
LAYOUTS = ("auto", "torch", "flax", "gpt2")  # how a checkpoint's weight tensors are oriented
KINDS = ("attention", "mlp", "conv")  # roles of a checkpoint's tensors (`condense analyze --kind`)
