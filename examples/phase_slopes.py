"""Luo et al. (2021) phase diagram: the slope of log RD against log m at γ′ = 0.

The paper trains two-layer ReLU networks on 4 points of 1-d data over widths 1000 to 40000 and
reports slopes −0.506 at γ = 0.5 (linear regime), 0.007 at γ = 1 (critical: Xavier, mean-field)
and 0.372 at γ = 1.75 (condensed). This script runs the same sweep with condense's engine (data:
`phase4`, 4 points x = −1, −1/3, 1/3, 1 with y = sin 3x, which is our stand-in for theirs) and
prints the measured slopes beside the published ones.

    python examples/phase_slopes.py            # widths 1000, 5000, 10000, 20000, 40000 (a few minutes)
    python examples/phase_slopes.py --quick    # widths 1000 and 10000
"""
import sys

from condense_cli import PhaseConfig, phase_diagram

PUBLISHED = {0.5: -0.506, 1.0: 0.007, 1.75: 0.372}


def main() -> None:
    widths = (1000, 10000) if "--quick" in sys.argv else (1000, 5000, 10000, 20000, 40000)
    cfg = PhaseConfig(gammas=tuple(PUBLISHED), gamma_primes=(0.0,), widths=widths, seeds=2)
    res = phase_diagram(cfg, data="phase4")
    print(f"widths {list(widths)}, {cfg.seeds} seeds, γ′ = 0")
    for i, g in enumerate(cfg.gammas):
        conv = "converged" if res.converged[i, 0].all() else "not converged at some width"
        print(f"  γ = {g:4}: slope {res.slope[i, 0]:+.3f} (published {PUBLISHED[g]:+.3f}), "
              f"{res.regime[i, 0]}, {conv}")


if __name__ == "__main__":
    main()
