"""Draw the project's figures into `img/` (`make figures`).

- `img/funnel.png`: the credit-card conversion funnel and its default reach rates.
- `img/esmm*.png`: the ESMM family's architectures (`scripts/diagrams.py`).
- `img/base.png`: BASE, one model per step (`scripts/diagrams.py`).
- `img/shared_bottom.png`, `img/omoe.png`, `img/mmoe.png`, `img/multilayer_mmoe.png`,
  `img/ple.png`: the baselines and the MMoE family, in the same visual language
  (`draw_mixture_family`).

- `img/compare_all.png`: the comparison's headline figure, copied from the output of
  `notebooks/08_compare_all.ipynb`'s cell tagged `readme-figure` (the notebook draws it
  from the results it measures; run it first to refresh it).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from diagrams import COMBINE, EMBEDDING, TOWER, Canvas, draw_esmm_family
from matplotlib.patches import Polygon

from mtl_lib.plots import PALETTE
from mtl_lib.synthetic import CREDIT_CARD_REACH_RATES, DEFAULT_STEPS

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "img"
COMPARISON = ROOT / "notebooks" / "08_compare_all.ipynb"


def notebook_figure(notebook: Path, tag: str) -> bytes:
    """The PNG that the cell tagged `tag` of a committed notebook shows."""
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [c for c in cells if tag in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{notebook.name}: expected one cell tagged {tag!r}, found {len(tagged)}")
    images = [
        o["data"]["image/png"] for o in tagged[0]["outputs"] if "image/png" in o.get("data", {})
    ]
    if len(images) != 1:
        raise ValueError(
            f"{notebook.name}: the cell tagged {tag!r} shows {len(images)} figures, "
            "not 1 (run the notebook first)"
        )
    return base64.b64decode(images[0])


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


# ------------------------------------------------------------------ mixtures of experts
EXPERT = "#DCD3EC"  # shared experts
TASK_EXPERTS = ("#F9D9C4", "#CFE6F2")  # PLE: task A's and task B's own experts
MIXTURE_NOTE = 7


def _input(c: Canvas, x: float, width: float, text: str = "") -> tuple:
    text = text or "input: shared embedding (one table per field), or dense x"
    return c.box(x, 6, width, 4, text, EMBEDDING, text_color="white")


def _experts(c: Canvas, y: float, experts: int = 3) -> list:
    """Experts 1, 2, …, n in a row at height y; returns their boxes."""
    xs = [15 + 14 * i for i in range(experts)]
    boxes = []
    for i, x in enumerate(xs):
        label = "expert n" if i == experts - 1 else f"expert {i + 1}"
        boxes.append(c.box(x, y, 10, 4.4, label, EXPERT, size=8))
    c.note((xs[-2] + xs[-1]) / 2 - 0.9, y - 0.8, "…", size=10)
    return boxes


def _mixture_layer(c: Canvas, source: tuple | list, y: float, layer: str = "", experts: int = 3):
    """Experts in a row at height y, one gate and one Σ per task; returns the two Σ."""
    boxes = _experts(c, y, experts)
    if layer:
        c.note(63, y - 0.8, layer, size=8, fontweight="bold")
    sources = source if isinstance(source, list) else [source, source]
    for box in boxes:
        for src in dict.fromkeys(sources):
            c.arrow(src, box)
    mixes = []
    for k, (x_gate, x_mix, name) in enumerate(((5, 22, "A"), (67, 50, "B"))):
        gate = c.box(x_gate, y + 8, 8, 4.4, f"gate {name}\nsoftmax", COMBINE, size=7)
        c.arrow(sources[k], gate, rad=-0.2 if k == 0 else 0.2)
        mix = c.circle(x_mix, y + 11, "Σ", loss=True, r=2.2, color=COMBINE, size=11)
        for box in boxes:
            c.arrow(box, mix)
        c.arrow(gate, mix)
        mixes.append(mix)
    return mixes


def _heads(c: Canvas, mixes: list, y: float, xs: tuple = ()) -> None:
    """Tower and output of tasks A and B above their inputs `mixes` (at `xs`, or above each)."""
    xs = xs or tuple(mix[0] for mix in mixes)
    for mix, x, name in zip(mixes, xs, ("A", "B"), strict=True):
        tower = c.box(x, y, 12, 4.4, f"tower {name}", TOWER, size=8)
        c.arrow(mix, tower)
        out = c.circle(x, y + 9, f"task {name}", loss=True, size=7)
        c.arrow(tower, out)


def draw_mmoe(path: Path) -> None:
    """MMoE: n shared experts, a softmax gate per task mixing them, a tower per task."""
    c = Canvas(7.2, 5.8, "MMoE: experts shared by every task, one softmax gate per task")
    emb = _input(c, 36, 62)
    mixes = _mixture_layer(c, emb, 18)
    _heads(c, mixes, 40)
    c.note(
        1,
        55,
        "f^k(x) = Σ_i g^k(x)_i f_i(x),  g^k(x) = softmax(W_gk x),  ŷ_k = h^k(f^k(x))."
        "  OMoE: one gate for every task",
        size=MIXTURE_NOTE,
    )
    c.save(path)


def draw_shared_bottom(path: Path) -> None:
    """Shared-Bottom: one bottom network for every task, a tower per task."""
    c = Canvas(7.2, 5.2, "Shared-Bottom: every task shares the whole bottom network")
    emb = _input(c, 36, 62)
    bottom = c.box(36, 18, 40, 5, "shared bottom f (MLP)", EXPERT, size=9)
    c.arrow(emb, bottom)
    _heads(c, [bottom, bottom], 31, xs=(22, 50))
    c.note(
        1,
        49,
        "ŷ_k = h^k(f(x)): every task gets the same representation, which helps related tasks"
        " and lets conflicting ones pull it apart",
        size=MIXTURE_NOTE,
    )
    c.save(path)


def draw_omoe(path: Path) -> None:
    """OMoE: MMoE's experts with one gate for every task."""
    c = Canvas(7.2, 5.8, "OMoE: the experts of MMoE, one gate for every task")
    emb = _input(c, 36, 62)
    boxes = _experts(c, 18)
    for box in boxes:
        c.arrow(emb, box)
    gate = c.box(6, 26, 8, 4.4, "one gate\nsoftmax", COMBINE, size=7)
    c.arrow((6, 6, 0, 4), gate)  # from the input's left end, clear of expert 1
    mix = c.circle(36, 29, "Σ", loss=True, r=2.2, color=COMBINE, size=11)
    for box in boxes:
        c.arrow(box, mix)
    c.arrow(gate, mix)
    _heads(c, [mix, mix], 40, xs=(22, 50))
    c.note(
        1,
        55,
        "f(x) = Σ_i g(x)_i f_i(x),  ŷ_k = h^k(f(x)): every task gets the same mixture,"
        " so OMoE isolates what MMoE's per-task gates add",
        size=MIXTURE_NOTE,
    )
    c.save(path)


def draw_multilayer_mmoe(path: Path) -> None:
    """Two stacked MMoE layers: layer 2's gates and experts take each task's layer-1 mix."""
    c = Canvas(7.2, 8.4, "Multi-layer MMoE: each task's mixture feeds its gate and experts above")
    emb = _input(c, 36, 62)
    first = _mixture_layer(c, emb, 17, "layer 1")
    second = _mixture_layer(c, first, 40, "layer 2")
    _heads(c, second, 63)
    c.note(
        1,
        80,
        "layer 2: f^k = Σ_i g^k(h_k)_i f_i(h_k), h_k = task k's layer-1 mixture:\n"
        "the experts' weights are shared, and each task runs them on its own h_k",
        size=MIXTURE_NOTE,
        va="top",
    )
    c.save(path)


def _extraction(c: Canvas, sources: list, y: float, level: str, shared_out: bool) -> list:
    """PLE level: A's experts, shared experts, B's experts; gates A, B (and shared)."""
    groups = (("A", 10, TASK_EXPERTS[0]), ("S", 36, EXPERT), ("B", 62, TASK_EXPERTS[1]))
    boxes = {}
    for (name, x, color), src in zip(groups, sources, strict=True):
        label = "shared experts" if name == "S" else f"experts of {name}"
        boxes[name] = c.box(x, y, 15, 4.4, f"{label}{level}", color, size=8)
        c.arrow(src, boxes[name])
    outs = []
    for name, x, xg, yg in (("A", 18, 4, 9), ("S", 36, 45, 17), ("B", 54, 68, 9)):
        if name == "S" and not shared_out:
            continue
        src = sources[("A", "S", "B").index(name)]
        gate = c.box(xg, y + yg, 7, 4.4, f"gate {name}", COMBINE, size=7)
        c.arrow(src, gate, rad=-0.25 if name == "A" else 0.25)
        mix = c.circle(x, y + 12, "Σ", loss=True, r=2.2, color=COMBINE, size=11)
        for seen in ("A", "S", "B") if name == "S" else (name, "S"):
            c.arrow(boxes[seen], mix)
        c.arrow(gate, mix)
        outs.append(mix)
    return outs


def draw_ple(path: Path) -> None:
    """PLE: task-specific and shared experts; the shared gate feeds the next level."""
    c = Canvas(7.2, 8.6, "PLE: each task's gate mixes its own and the shared experts")
    emb = _input(c, 36, 62)
    a, s, b = _extraction(c, [emb, emb, emb], 17, " (1)", shared_out=True)
    top = _extraction(c, [a, s, b], 43, " (2)", shared_out=False)
    _heads(c, top, 65)
    c.note(
        1,
        84,
        "gate S (level 1) mixes every expert into the input of level 2's shared "
        "experts;\nthe last level has no shared output. One level alone is CGC",
        size=MIXTURE_NOTE,
        va="top",
    )
    c.save(path)


MIXTURE_FAMILY = {
    "shared_bottom.png": draw_shared_bottom,
    "omoe.png": draw_omoe,
    "mmoe.png": draw_mmoe,
    "multilayer_mmoe.png": draw_multilayer_mmoe,
    "ple.png": draw_ple,
}


def draw_mixture_family(folder: Path) -> None:
    """Write every mixture-of-experts diagram into `folder`."""
    for name, draw in MIXTURE_FAMILY.items():
        draw(folder / name)


def main(folder: Path = IMG) -> None:
    """Draw every figure into `folder`."""
    folder.mkdir(exist_ok=True)
    draw_funnel(folder / "funnel.png")
    draw_esmm_family(folder)
    draw_mixture_family(folder)
    (folder / "compare_all.png").write_bytes(notebook_figure(COMPARISON, "readme-figure"))
    print(f"wrote figures to {folder}")


if __name__ == "__main__":
    main()
