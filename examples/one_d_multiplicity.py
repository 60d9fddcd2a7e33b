"""Initial-condensation paper, Figs. 5 and 6: 1-d input, the multiplicity sets the lines.

The paper (Sec. 4.3) trains 1-100-1 networks on 40 points of sin 3x + sin(6x)/2 on [-1, 1.5]
(var 0.005², Adam lr 5e-4) and reports, at the initial stage: tanh, x·tanh and x²·tanh condense on
one, two and three lines (at most 2p directions), the output is close to a polynomial of degree p,
and the neurons sit on the stable lines of the direction field ω̇ = −(1/n) Σ e_i x̃_i σ′(ω·x̃_i).

This script trains the three networks with condense, analyzes them at the initial stage and prints,
for each, the measured lines and directions, the lines predicted from the degree-p polynomial, the
neurons' alignment with them, and the lowest polynomial degree that fits the output.

What it printed when last measured (CPU, persistent count): x²·tanh condensed on 3 lines / 6 directions
at step 290, on the 3 stable lines of the field (alignment 0.99; 2 of them within the 10° match,
the third 10.3° off), output degree 3; x·tanh condensed on 1 line / 2 directions at step 1000 (the
field has 2 stable lines, neither within 10° of a measured line), output degree 2. tanh under Adam is judged not condensed at step 1000 (the whole run is
its initial stage): its neurons sit on a segment offset from the origin (Adam's early, nearly
sign-like steps move every neuron by the same vector), although the output is linear; under
gradient descent (`optimizer="gd"`) tanh neurons lie on the one predicted line (alignment > 0.98,
tests/test_analysis.py).

    python examples/one_d_multiplicity.py
"""
from condense_cli import TrainConfig, analyze, train


def main() -> None:
    print(f"{'activation':10s} {'p':>2s} {'step':>5s} {'loss ratio':>10s} {'lines':>5s} {'dirs':>4s} {'condensed':>9s} "
          f"{'2p':>3s} {'stable':>6s} {'unstable':>8s} {'matched':>7s} {'alignment':>9s} {'poly degree':>11s}")
    for act in ("tanh", "xtanh", "x2tanh"):
        run = train(TrainConfig(act=act, data="sin1d", width=100, init_std=0.005, lr=5e-4, steps=1000,
                                record_every=10))
        result = analyze(run, fit_tol=0.06)
        layer = result.layers[0]
        th = layer.theory
        matched = sum(m is not None for m in th["matched_lines"])
        print(f"{act:10s} {layer.multiplicity:2d} {result.first.step:5d} {result.first.loss_ratio:10.3f} "
              f"{layer.lines:5d} {layer.directions:4d} {str(layer.condensed):>9s} {layer.bound:3d} "
              f"{len(th['predicted_lines']):6d} {len(th['unstable_lines']):8d} {matched:7d} {th['alignment']:9.3f} "
              f"{str(result.first.one_d['poly_degree']):>11s}")


if __name__ == "__main__":
    main()
