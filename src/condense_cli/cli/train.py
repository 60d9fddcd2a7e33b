"""`condense train`: options into a `TrainConfig`, `training.train`, the run file, a summary."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import choices
from ..training.config import TrainConfig as DEFAULTS  # the Python API's defaults, defined once (no JAX)
from ..errors import BadInput
from .common import (Arch, Loss, Optimizer, TestSet, app, emit_json, err, flag_of, fmt_num, given_on_command_line,
                     parse_int_list, report_ending,
                     reported)


# the options of the dense networks only (the transformer takes the others: its own panel, and the shared
# --data, --n, --data-seed, --depth, --gamma, --lr, --steps, --batch-size, --seed, --seeds, --record-every)
DENSE_ONLY = ("act", "width", "widths", "residual", "output_bias", "alpha", "init_std", "optimizer",
              "loss_every", "snapshots", "log_spaced", "stop_at_loss_ratio", "dropout", "loss", "data_dir",
              "test_fraction", "test_set", "x64", "channels", "kernel", "trunk_width")
TRANSFORMER_ONLY = ("d_model", "heads", "d_ff", "weight_decay", "warmup", "vocab", "full_size")  # its own panel


@app.command("train")
@reported
def train_cmd(
    ctx: typer.Context,
    act: Annotated[str, typer.Option(help="Activation, or one per hidden layer: 'x2tanh,xtanh'. See `condense activations`.", rich_help_panel="Network")] = DEFAULTS.act,
    data: Annotated[str, typer.Option(help=f"Named data set ({', '.join(choices.SYNTHETIC_DATA)}), real data ({', '.join(choices.REAL_DATA)}), {choices.ANCHORS} (--arch transformer) or a .npz (x, y) / .csv file.", rich_help_panel="Data")] = DEFAULTS.data,
    n: Annotated[Optional[int], typer.Option(help="Number of training points (default: the data set's own; for classification data, after the test set is set apart).", rich_help_panel="Data")] = DEFAULTS.n,
    data_seed: Annotated[int, typer.Option(help="Seed for sampling the data.", rich_help_panel="Data")] = DEFAULTS.data_seed,
    arch: Annotated[Arch, typer.Option(help="mlp; cnn: one convolution layer (--channels, --kernel) before the dense layers; resnet18: the ResNet18 convolution trunk before the dense layers (image data); transformer: the anchor-task transformer (--data anchors; --depth, --d-model, --heads, --d-ff).", rich_help_panel="Network")] = Arch(DEFAULTS.arch),
    d_model: Annotated[Optional[int], typer.Option(help="--arch transformer: model width (default 64).", rich_help_panel="Transformer (--arch transformer)")] = None,
    heads: Annotated[Optional[int], typer.Option(help="--arch transformer: attention heads, d_model divisible by them (default 1).", rich_help_panel="Transformer (--arch transformer)")] = None,
    d_ff: Annotated[Optional[int], typer.Option(help="--arch transformer: feed-forward width (default 3 x d_model).", rich_help_panel="Transformer (--arch transformer)")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="--arch transformer: AdamW weight decay (default 0.01).", rich_help_panel="Transformer (--arch transformer)")] = None,
    warmup: Annotated[Optional[float], typer.Option(help="--arch transformer: share of the steps of linear learning-rate warm-up before the cosine decay (default 0.05).", rich_help_panel="Transformer (--arch transformer)")] = None,
    vocab: Annotated[Optional[int], typer.Option(help="--arch transformer: vocabulary size (default the authors' 201; the targets reach 109).", rich_help_panel="Transformer (--arch transformer)")] = None,
    full_size: Annotated[bool, typer.Option("--full-size", help="--arch transformer: the paper's size (d_model 400, d_ff 1200, 810,000 sequences, batch 2048, 210 epochs, warm-up 10 epochs to 2.5e-4; for a GPU machine); --depth, --heads, --gamma, --seed, --seeds, --data-seed, --weight-decay and --vocab still apply, the other size options are refused.", rich_help_panel="Transformer (--arch transformer)", metavar="")] = False,
    trunk_width: Annotated[int, typer.Option(help="--arch resnet18: channels of the first stage (64 as in ResNet18; e.g. 4 for a CPU smoke run).", rich_help_panel="Network")] = DEFAULTS.trunk_width,
    channels: Annotated[int, typer.Option(help="--arch cnn: convolution channels.", rich_help_panel="Network")] = DEFAULTS.channels,
    kernel: Annotated[int, typer.Option(help="--arch cnn: kernel size k (k x k, stride 1, no padding).", rich_help_panel="Network")] = DEFAULTS.kernel,
    depth: Annotated[Optional[int], typer.Option(help="Number of hidden layers (default 1; --arch transformer: blocks, default 2).", rich_help_panel="Network")] = None,
    width: Annotated[int, typer.Option(help="Hidden width m.", rich_help_panel="Network")] = DEFAULTS.width,
    widths: Annotated[Optional[str], typer.Option(help="Widths per hidden layer, e.g. '50,30' (overrides --depth/--width).", rich_help_panel="Network")] = DEFAULTS.widths,
    residual: Annotated[bool, typer.Option(help="Residual hidden layers: h_{l+1} = σ(W h_l + b) + h_l.", rich_help_panel="Network", metavar="")] = DEFAULTS.residual,
    output_bias: Annotated[bool, typer.Option("--output-bias/--no-output-bias", help="Bias on the output layer (--no-output-bias: f = Σ a_k σ(w_k·x̃) exactly).", rich_help_panel="Network", metavar="")] = DEFAULTS.output_bias,
    alpha: Annotated[float, typer.Option(help="Output scale: f = (1/α)·(...).", rich_help_panel="Network")] = DEFAULTS.alpha,
    gamma: Annotated[Optional[float], typer.Option(help="Init every weight and bias from N(0, m^-γ) (variance; m the hidden width). --arch transformer: the paper's reading, standard deviation d_in^-γ per weight matrix (default 0.5).", rich_help_panel="Initialization")] = DEFAULTS.gamma,
    init_std: Annotated[Optional[str], typer.Option(help="Init std directly: one value, or one per layer '1,0.03' (hidden layers, then output); default 0.005, the paper's Fig. 2.", rich_help_panel="Initialization")] = None,
    optimizer: Annotated[Optimizer, typer.Option(help="adam, gd (full-batch gradient descent) or sgd (stochastic with --batch-size); adam and sgd are full batch without --batch-size.", rich_help_panel="Optimizer")] = Optimizer(DEFAULTS.optimizer),
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (default 1e-3; --arch transformer: the peak, 2.5e-4).", rich_help_panel="Optimizer")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Training steps T (default 1000; --arch transformer: 3000).", rich_help_panel="Optimizer")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Minibatch size (--optimizer sgd or adam); epochs reshuffled.", rich_help_panel="Optimizer")] = DEFAULTS.batch_size,
    seed: Annotated[int, typer.Option(help="Seed of the first network.", rich_help_panel="Initialization")] = DEFAULTS.seed,
    seeds: Annotated[int, typer.Option(help="Train S networks at once (seeds seed..seed+S-1), sharded over the local devices (on CPU one per core).", rich_help_panel="Initialization")] = DEFAULTS.seeds,
    record_every: Annotated[Optional[int], typer.Option(help="Record weights every k steps (default: about 100 snapshots; --arch transformer: about 20).", rich_help_panel="Recording")] = DEFAULTS.record_every,
    snapshots: Annotated[Optional[int], typer.Option(help="Record K snapshots instead (0 and T included).", rich_help_panel="Recording")] = DEFAULTS.snapshots,
    loss_every: Annotated[Optional[int], typer.Option(help="Minibatch training: also take the full-batch loss every k steps (it is always taken at the recorded snapshot steps and T; the minibatch loss of every step is kept as batch_loss).", rich_help_panel="Recording")] = DEFAULTS.loss_every,
    log_spaced: Annotated[bool, typer.Option(help="Space the --snapshots logarithmically.", rich_help_panel="Recording", metavar="")] = DEFAULTS.log_spaced,
    stop_at_loss_ratio: Annotated[Optional[float], typer.Option(help="Stop once loss <= r · initial loss (0.7: end of the initial stage).", rich_help_panel="Optimizer")] = DEFAULTS.stop_at_loss_ratio,
    dropout: Annotated[float, typer.Option(help="Dropout rate after every hidden layer during training (the recorded loss is without dropout).", rich_help_panel="Optimizer")] = DEFAULTS.dropout,
    loss: Annotated[Loss, typer.Option(help="mse, or ce (softmax cross-entropy, classification data).", rich_help_panel="Optimizer")] = Loss(DEFAULTS.loss),
    data_dir: Annotated[Optional[str], typer.Option(help="Folder with the MNIST/Fashion-MNIST IDX or CIFAR binary files (never downloaded).", rich_help_panel="Data")] = DEFAULTS.data_dir,
    test_fraction: Annotated[float, typer.Option(help="Classification data with --test-set split: share of the training files held out for test accuracy.", rich_help_panel="Data")] = DEFAULTS.test_fraction,
    test_set: Annotated[TestSet, typer.Option(help="Classification data: the official test files (MNIST/Fashion-MNIST t10k-*, CIFAR test_batch.bin / test.bin), a split of the training files, or auto (official when the files are there).", rich_help_panel="Data")] = TestSet(DEFAULTS.test_set),
    x64: Annotated[bool, typer.Option("--x64", help="Train in float64 (for tiny initializations).", rich_help_panel="Optimizer", metavar="")] = DEFAULTS.x64,
    out: Annotated[Path, typer.Option(help="Run file to write (NPZ, schema condense.run/3).", rich_help_panel="Output")] = Path("run.npz"),
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists (never replaced otherwise).", rich_help_panel="Output", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.", rich_help_panel="Output", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.", rich_help_panel="Output", metavar="")] = False,
):
    """Train a network (default: initial-condensation Fig. 2, 5-50-1 tanh, Adam) and write a run file."""
    if arch.value == "transformer" or data == "anchors":
        dense_only = [flag_of(ctx, name) for name in given_on_command_line(ctx, DENSE_ONLY)]
        from .transformer import train_transformer_cmd

        # the options given; the others take `TransformerConfig`'s defaults
        settings = dict(n=n, data_seed=data_seed, depth=depth, d_model=d_model, heads=heads, d_ff=d_ff, gamma=gamma,
                        lr=lr, steps=steps, batch_size=batch_size, seed=seed, seeds=seeds, record_every=record_every,
                        weight_decay=weight_decay, warmup=warmup, vocab=vocab)
        return train_transformer_cmd(arch=arch.value, data=data, settings={k: v for k, v in settings.items() if v is not None},
                                     full_size=full_size, out=out, as_json=as_json, quiet=quiet, force=force,
                                     refused=dense_only)
    transformer_only = given_on_command_line(ctx, TRANSFORMER_ONLY)
    if transformer_only:
        raise BadInput(f"{flag_of(ctx, transformer_only[0])} applies to --arch transformer (--data anchors) only")
    from ..data import resolve_in_background

    # the data is read (and any fault in it found) while JAX is imported and the options are checked
    dataset = resolve_in_background(data, n, data_seed, data_dir, test_fraction, test_set.value)
    from .. import io
    from .. import run as run_files
    from ..runtime import split_cpu_into_devices

    if seeds > 1:  # before JAX starts: the seeds are sharded over every core (one device each)
        split_cpu_into_devices()
    from ..training import TrainConfig, train
    from ..training.summary import train_summary

    config = TrainConfig(
        act=tuple(a.strip() for a in act.split(",")), arch=arch.value, channels=channels, kernel=kernel,
        trunk_width=trunk_width,
        data=data, n=n, data_seed=data_seed,
        width=width, widths=parse_int_list(widths, "--widths") if widths else None,
        residual=residual, output_bias=output_bias, alpha=alpha, gamma=gamma, init_std=_parse_stds(init_std),
        optimizer=optimizer.value, batch_size=batch_size, seed=seed, seeds=seeds,
        # not given: the config's own default
        **{k: v for k, v in (("depth", depth), ("lr", lr), ("steps", steps)) if v is not None},
        record_every=record_every, loss_every=loss_every, snapshots=snapshots, log_spaced=log_spaced,
        stop_at_loss_ratio=stop_at_loss_ratio, dropout=dropout, loss=loss.value, data_dir=data_dir,
        test_fraction=test_fraction, test_set=test_set.value, x64=x64,
    )
    config.validate()
    io.check_new(out, force)
    io.check_writable(out)
    from .progress import progress_bar
    from ..runtime import enable_compilation_cache

    enable_compilation_cache()

    # the data goes into the run file's temp file while the run trains; the rest is added at the end
    with io.StagedNpz(out) as staged:
        with progress_bar(f"training {'×'.join(map(str, config.hidden_widths()))} {act}",
                          disable=quiet, console=err) as advance:
            result = train(config, progress=advance, dataset=dataset, on_data=staged.begin)
        finished = result.meta["status"] == "finished"
        target = out if finished else io.partial_path(out)  # a failed run never replaces anything at --out
        run_files.save_run(target, result, staged)
    summary = train_summary(result, target)
    if not quiet:
        _print_train_summary(summary, result)
    if as_json:
        emit_json(summary)
    skipped = (result.meta.get("data") or {}).get("skipped_header")
    if skipped is not None:
        err.print(f"note: the first row of {data}, {skipped!r}, holds no number and was read as a header", soft_wrap=True)
    report_ending(result.meta, target, out)


def _parse_stds(text: str | None):
    """--init-std: None, one float, or a tuple of floats (one per layer)."""
    if text is None:
        return None
    from ..phase import parse_values

    values = parse_values(text, "--init-std")
    return values[0] if len(values) == 1 else values


def _print_train_summary(s: dict, result) -> None:
    t = Table(title=f"condense train → {s['out']}", show_header=False)
    t.add_column("what", style="bold", overflow="fold")
    t.add_column("value", overflow="fold")
    meta = result.meta
    t.add_row("network", f"{meta['d']}-{'-'.join(map(str, meta['widths']))}-{meta['d_out']}, "
              f"{', '.join(meta['activation'])}, {meta['dtype']}")
    t.add_row("steps", f"{s['steps']} of {meta['steps_requested']} ({meta['status']}"
              + (f": {meta['reason']}" if meta["reason"] else "") + ")")
    seeds = f" (mean of {len(meta['seeds'])} seeds)" if len(meta["seeds"]) > 1 else ""
    t.add_row("loss", f"{fmt_num(s['loss_initial'])} → {fmt_num(s['loss_final'])}{seeds}")
    t.add_row("loss ratio", fmt_num(s["loss_ratio"]))
    if "train_acc" in s:
        t.add_row("accuracy", f"train {fmt_num(s['train_acc'])}, test {fmt_num(s['test_acc'])}")
    for l, r in enumerate(s["rd"], 1):
        t.add_row(f"RD layer {l}", fmt_num(r))
    ps = meta["multiplicity"]
    t.add_row("p / 2p", ", ".join("undefined" if p is None else f"{p} / {2 * p}" for p in ps))
    t.add_row("seconds", f"{s['seconds']:.2f}")
    err.print(t)


