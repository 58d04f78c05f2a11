"""Draw the project's figures into `img/` (`make figures`).

- `img/funnel.png`: the credit-card conversion funnel and its default reach rates.
- `img/esmm*.png`: the ESMM family's architectures (`scripts/diagrams.py`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Polygon

from diagrams import draw_esmm_family
from mtl_lib.plots import PALETTE
from mtl_lib.synthetic import CREDIT_CARD_REACH_RATES, DEFAULT_STEPS

IMG = Path(__file__).resolve().parents[1] / "img"


def draw_funnel(path: Path) -> None:
    """A funnel of trapezoids, widths on a compressed scale, the true rates written in."""
    steps = ("exposure", *DEFAULT_STEPS)
    rates = (1.0, *CREDIT_CARD_REACH_RATES)
    widths = [r**0.3 for r in rates]  # compressed so that 0.5 % stays visible
    fig, ax = plt.subplots(figsize=(7.2, 4.0), dpi=110)
    band, gap = 1.0, 0.12
    for i, (step, rate, w) in enumerate(zip(steps, rates, widths, strict=True)):
        top = -i * (band + gap)
        w_next = widths[i + 1] if i + 1 < len(widths) else w * 0.8
        poly = Polygon(
            [(-w, top), (w, top), (w_next, top - band), (-w_next, top - band)],
            closed=True,
            color=PALETTE[i % len(PALETTE)],
            alpha=0.85,
            lw=0,
        )
        ax.add_patch(poly)
        mid = top - band / 2
        share = "all exposures" if i == 0 else f"{rate:.1%} of exposures"
        ax.text(
            -1.15,
            mid,
            step,
            ha="right",
            va="center",
            fontsize=11,
            fontweight="bold",
            color=PALETTE[i % len(PALETTE)],
        )
        ax.text(-1.15, mid - 0.32, share, ha="right", va="center", fontsize=9, color="#333333")
        if i:
            cond = rate / rates[i - 1]
            ax.annotate(
                f"× {cond:.0%} = P({step} | {steps[i - 1]})",
                xy=(1.1, top + gap / 2),
                va="center",
                fontsize=9,
                color="#333333",
            )
    ax.set_xlim(-2.0, 2.4)
    ax.set_ylim(-len(steps) * (band + gap), 0.1)
    ax.axis("off")
    ax.set_title(
        "A credit-card conversion funnel: every step is a label, each rarer than the last",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    IMG.mkdir(exist_ok=True)
    draw_funnel(IMG / "funnel.png")
    draw_esmm_family(IMG)
    print(f"wrote figures to {IMG}")


if __name__ == "__main__":
    main()
