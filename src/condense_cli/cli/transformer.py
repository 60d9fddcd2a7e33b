"""`condense train --arch transformer --data anchors` and `condense analyze` of its run file: the
command side of `condense_cli.transformer` (options in, run file and report out)."""
from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from ..wording import count_of
from .common import emit_json, err, fmt_num, report_ending, save_figure


# what --full-size leaves to the user: the shape and the seeds (the paper's size sets the rest)
FULL_SIZE_FREE = ("depth", "heads", "gamma", "data_seed", "seed", "seeds", "weight_decay", "vocab")


def train_transformer_cmd(arch: str, data: str, settings: dict, full_size: bool, out: Path, as_json: bool,
                          quiet: bool, force: bool = False, refused: list[str] = ()) -> None:
    """`condense train --arch transformer`: `settings` the options given (`TransformerConfig`
    fields); the others take its defaults, or with `full_size` the paper's size. `refused`: the
    dense-only flags the user gave, refused once the architecture and data are known to agree."""
    from .. import io
    from ..transformer.runfile import save_transformer_run
    from ..transformer.training import TransformerConfig, train_transformer
    from .progress import progress_bar

    if arch != "transformer":
        raise BadInput(f"--data anchors needs --arch transformer (got --arch {arch})")
    if data != "anchors":
        raise BadInput(f"--arch transformer trains on --data anchors only (got --data {data})")
    if refused:
        raise BadInput(f"{refused[0]} does not apply to --arch transformer (see the Transformer panel of "
                       "condense train --help)")
    if full_size:  # the paper's size; the shape options above still apply
        fixed = [k for k in settings if k not in FULL_SIZE_FREE]
        if fixed:
            raise BadInput(f"--{fixed[0].replace('_', '-')} does not apply with --full-size (the paper's size sets it; "
                           f"--{', --'.join(k.replace('_', '-') for k in FULL_SIZE_FREE)} still apply)")
        config = TransformerConfig.paper(**settings)
    else:
        config = TransformerConfig(**settings)
    config.validate()
    from ..data.anchors import check_vocab

    check_vocab(config.vocab)  # refused before any work
    io.check_new(out, force)
    io.check_writable(out)
    from ..runtime import enable_compilation_cache

    enable_compilation_cache()
    with progress_bar(f"training transformer d_model {config.d_model}, depth {config.depth}", disable=quiet,
                      console=err) as advance:
        result = train_transformer(config, progress=advance)
    target = out if result.meta["status"] == "finished" else io.partial_path(out)  # never replaces --out
    save_transformer_run(target, result)
    summary = {"out": str(target), "steps": config.steps, "seeds": result.meta["seeds"],
               "loss_final": [float(v) for v in result.batch_loss[:, -1]],
               **{k: [float(v) for v in getattr(result, k)[:, -1]]
                  for k in ("train_acc", "id_acc", "ood_inferential", "ood_symmetric")}}
    if not quiet:
        err.print(f"transformer → {out}: train acc {', '.join(fmt_num(v) for v in summary['train_acc'])}; "
                  f"ID acc {', '.join(fmt_num(v) for v in summary['id_acc'])}; (4, 3) inferential "
                  f"{', '.join(fmt_num(v) for v in summary['ood_inferential'])}, symmetric "
                  f"{', '.join(fmt_num(v) for v in summary['ood_symmetric'])}", soft_wrap=True)
    if as_json:
        emit_json(summary)
    report_ending(result.meta, target, out)


def analyze_transformer_cmd(run_file: Path, folder: Path, stem: str, options, fmt: str, no_figures: bool,
                            as_json: bool, quiet: bool, layer: str | None = None) -> None:
    """Each recorded matrix's measure and stable rank at the snapshot `options.at` names (an
    `AnalysisOptions`: the moment, the tolerances, the clustering options), the accuracies over
    training; figures: cosine heat maps (seed 0) and the accuracy curves. `--layer` names
    matrices (e.g. 'wq1,ff1')."""
    from ..transformer.analysis import analyze_transformer
    from ..transformer.runfile import load_transformer_run

    options.validate(0)  # the dense runs' checks and messages, before the file is read
    run = load_transformer_run(run_file)
    names = [n.strip() for n in layer.split(",") if n.strip()] if layer else None
    report = {**analyze_transformer(run, options, names=names), "file": str(run_file)}
    heatmaps = report.pop("heatmaps")
    outputs = []
    if not no_figures:
        import matplotlib

        matplotlib.use("Agg")
        from ..plots.figures import accuracy_curves, cosine_heatmap

        for name, h in heatmaps.items():
            entry = report["seeds"][0]["matrices"][name]
            title = (f"{name} at step {report['step']}:\n{count_of(entry['directions'], 'direction')} "
                     f"({'condensed' if entry['condensed'] else 'not condensed'}), stable rank {entry['stable_rank']:.1f}")
            save_figure(cosine_heatmap(h["D"], title, h["blocks"]), folder / f"{stem}_cosine_{name}.{fmt}", fmt, outputs)
        curves = {k: getattr(run, k)[0] for k in ("train_acc", "id_acc", "ood_inferential", "ood_symmetric")}
        save_figure(accuracy_curves(run.step, curves, "seed 0: accuracies over training"),
                    folder / f"{stem}_accuracy.{fmt}", fmt, outputs)
    report["outputs"] = outputs
    if not quiet:
        for e in report["seeds"]:
            err.print(f"seed {e['seed']}, step {e['step']}: train {fmt_num(e['train_acc'])}, ID {fmt_num(e['id_acc'])}, "
                      f"(4, 3) inferential {fmt_num(e['ood_inferential'])}, symmetric {fmt_num(e['ood_symmetric'])}",
                      soft_wrap=True)
            for name, m in e["matrices"].items():
                err.print(f"  {name}: {count_of(m['directions'], 'direction')} / {count_of(m['lines'], 'line')} of "
                          f"{count_of(m['kept'], 'kept row')}, "
                          f"{'condensed' if m['condensed'] else 'not condensed'}, stable rank {m['stable_rank']:.2f}",
                          soft_wrap=True)
    if as_json:
        emit_json(report)
