"""What a network is: `activations` (named, or a formula of x: `formula`; multiplicity p by
autodiff), `models` (dense, convolution and ResNet18-trunk networks as pure functions over the
run file's parameter layout, `NetSpec`, losses), `init` (initial scales)."""
