"""Initial-condensation paper, Fig. 3: a six-layer residual network, one activation per layer.

The paper trains 3-18-18-18-18-18-1 with h_{l+1} = σ_l(W_l h_l + b_l) + h_l, activations x²·tanh,
x·tanh, sigmoid, tanh, softplus for hidden layers 1 to 5, on 80 points of Σ_k 4 sin(12 x_k + 1)
(x ~ U[−4, 2]^3), all parameters from N(0, 0.01²), Adam lr 4e-5, and reports that the input weights
condense on 3, 2, 1, 1, 1 lines (layers 1-5) at epochs 1000, 900, 900, 1400, 1400.

This script trains that network with condense (widths 3-18-...-1 with `--residual`) and prints, for
each layer at the paper's epoch, the measured lines and directions against the paper's lines and
the bound 2p.

    python examples/residual_six_layer.py

What it printed when last measured (3 seeds, persistent count): layers 3-4 (sigmoid, tanh) condensed on
1 line / 2 directions on every seed, as reported; layer 5 (softplus) on 2 directions that are not
opposite enough to be one line (2 lines, paper 1; the fixed cosine 0.95 reads 2 lines too); layer 2
(x·tanh) on 1 line (paper 2); layer 1 (x²·tanh) on 3 lines (paper 3), 5, 6 and 4 directions,
judged not condensed on the second seed.
"""
import numpy as np

from condense_cli import TrainConfig, analyze, train

ACTS = ("x2tanh", "xtanh", "sigmoid", "tanh", "softplus")
PAPER_LINES = (3, 2, 1, 1, 1)
PAPER_EPOCH = (1000, 900, 900, 1400, 1400)


def main() -> None:
    run = train(TrainConfig(act=ACTS, widths=(18,) * 5, residual=True, data="sin3d", init_std=0.01, lr=4e-5,
                            steps=1400, record_every=100, seeds=3))
    print(f"loss {run.loss[0, 0]:.3f} -> {run.loss[0, -1]:.3f} (seed 0)")
    print(f"{'layer':>5} {'σ':>9} {'epoch':>5} {'paper lines':>11} {'lines (3 seeds)':>15} {'directions':>12} "
          f"{'condensed':>20} {'lines at 0.95':>14} {'2p':>3}")
    for layer, (act, want, epoch) in enumerate(zip(ACTS, PAPER_LINES, PAPER_EPOCH), 1):
        result = analyze(run, at=str(epoch), layers=(layer,))
        seeds = [s.layer(layer) for s in result.seeds]
        lines = [l.lines for l in seeds]
        dirs = [l.directions for l in seeds]
        cond = [l.condensed for l in seeds]
        fixed = [l.measure["fixed"]["lines"] for l in seeds]
        p = seeds[0].multiplicity
        print(f"{layer:5d} {act:>9} {epoch:5d} {want:11d} {str(lines):>15} {str(dirs):>12} {str(cond):>20} "
              f"{str(fixed):>14} {2 * p:3d}")
    assert np.isfinite(run.loss).all()


if __name__ == "__main__":
    main()
