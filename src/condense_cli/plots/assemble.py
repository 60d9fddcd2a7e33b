"""The assembly of each command's figures from its results: `analysis_figures` and
`phase_figures` return (name, Figure) pairs; the command layer saves them."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..measure.condensation import cosine_matrix
from ..wording import count_of
from .figures import (cosine_heatmap, count_vs_tolerance, direction_field, feature_map, loss_curve, output_fit,
                      phase_diagram, rd_vs_width_rows, training_series)


def analysis_figures(result, run) -> list[tuple[str, Figure]]:
    """The figures of `condense analyze` from an `Analysis` of `run`: (name, Figure) for the heat map
    and count-against-tolerance of each layer, the loss, the series and, for 1-d input, features,
    field and output (first seed)."""
    figures = []
    first = result.first

    def save(fig, name):
        figures.append((name, fig))

    figs = result.plot_data
    step = figs["step"]
    for fl, entry in zip(figs["layers"], first.layers):
        lc, order = fl["lc"], fl["order"]
        D = cosine_matrix(lc.unit[order]) if len(order) else np.zeros((1, 1))
        shown = f"{len(order)} of {lc.kept} kept" if len(order) < lc.kept else f"{lc.kept} kept"
        bound = entry.bound
        m = entry.measure
        how = (f"{m['persistent']['rule']}, cos {m['persistent']['range'][0]:.2f}-{m['persistent']['range'][1]:.2f}"
               if m.get("method") == "persistent" and m.get("persistent") and m["persistent"]["range"] else
               f"at cos {m['tol_used']:.2f}" if m.get("tol_used") is not None else "")
        title = (f"layer {fl['layer']}, {entry.activation} (p={entry.multiplicity or 'undef.'}), "
                 f"step {step}: {'condensed' if entry.condensed else 'NOT condensed'}\n"
                 f"{count_of(entry.directions, 'direction')}, {count_of(entry.lines, 'line')} ({how})"
                 + (f", bound 2p = {bound}" if bound is not None else "") + f"\n{shown} of {lc.neurons} neurons")
        save(cosine_heatmap(D, title, lc.labels[order] if len(order) else None), f"cosine_l{fl['layer']}")
        if lc.curve is not None and m.get("persistent") and m["persistent"]["range"]:
            pr = m["persistent"]
            save(count_vs_tolerance(lc.curve["tol"], lc.curve["directions"], lc.curve["lines"], pr["range"],
                                    m["fixed"]["tol"],
                                    f"layer {fl['layer']}, step {step}: {count_of(pr['directions'], 'direction')}, "
                                    f"{count_of(pr['lines'], 'line')} ({'condensed' if entry.condensed else 'not condensed'})",
                                    candidates=lc.curve["candidates"], needed=m.get("separation_needed"),
                                    chosen=lc.curve["chosen"]),
                 f"tolerance_l{fl['layer']}")
    ratio = first.loss_ratio
    save(loss_curve(np.asarray(run.loss[0]), step, 0.7, f"seed {first.seed}: loss ratio at step {step} "
                          f"= {ratio if ratio is None else round(ratio, 3)}",
                    run.loss_step, None if run.batch_loss is None else np.asarray(run.batch_loss[0])),
         "loss")
    arr = result.arrays
    save(training_series(arr["series_step"], arr["series_directions"][0], arr["series_lines"][0],
                               arr["series_rd"][0], arr["layers"].tolist(),
                               [e.bound for e in first.layers], step,
                               condensed=arr["series_condensed"][0],
                               model_rank=arr["series_model_rank"][0] if "series_model_rank" in arr else None), "series")
    one = figs["one_d"]
    if one is not None:
        act = first.layers[0].activation if first.layers else ""
        save(feature_map(one["theta"], one["A"], one["A_weighted"], f"layer 1 features at step {step} ({act})"),
             "features")
        save(direction_field(one["grid"], one["field"], one["w"], one["b"], one["lines"],
                                   f"direction field at step {step} ({act})", unstable=one["unstable"]), "field")
        save(output_fit(one["xs"], one["f"], one["fits"], run.x[:, 0], run.y[:, 0],
                              one["report"]["expected_degree"],
                              f"output at step {step}: lowest fitting degree {one['report']['poly_degree']}"),
             "output")
    return figures


def phase_figures(result) -> list[tuple[str, Figure]]:
    """The figures of `condense phase-diagram`: the slope map and RD against width for a few rows."""
    cfg = result.config
    unconverged = ~result.converged.all(axis=(2, 3))
    figures = []

    def save(fig, name):
        figures.append((name, fig))

    agree = ("n/a" if result.agreement is None
             else f"{result.agreement:.0%} of {result.agreement_points} converged points")
    save(phase_diagram(cfg.gammas, cfg.gamma_primes, result.slope, result.boundary, unconverged,
                             f"{cfg.act}, widths {', '.join(map(str, cfg.widths))}: agreement with theory {agree}"),
         "phase")
    gp = np.asarray(cfg.gamma_primes)
    rows = sorted({int(np.argmin(np.abs(gp - t))) for t in (0.0, 0.5, 1.0)})  # a few rows: γ′ near 0, 0.5, 1
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rd = np.exp(np.nanmean(np.log(np.where(result.rd > 0, result.rd, np.nan)), axis=-1))  # (Γ, Γ′, W)
    save(rd_vs_width_rows(cfg.widths, [mean_rd[:, j] for j in rows], cfg.gammas,
                                [result.slope[:, j] for j in rows], [cfg.gamma_primes[j] for j in rows]),
         "rd_vs_width")
    return figures
