"""Architecture diagrams in one visual language, drawn with matplotlib (`make figures`).

Blue: the shared embedding. Yellow: towers (MLPs). Green: how information is combined
(product ×, concatenation, attention). Orange: transfer networks. Circles: outputs; a solid
ring means the output has a loss on a known label, a dashed ring means it has none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

EMBEDDING = "#0072B2"
TOWER = "#F6E8B1"
COMBINE = "#CDE7C8"
TRANSFER = "#F5C59A"
OUTPUT = "#E69F00"
INK = "#222222"
STEPS = ("click", "apply", "approve", "activate")


class Canvas:
    """A figure in data units, with boxes, circles and arrows."""

    def __init__(self, width: float, height: float, title: str) -> None:
        self.fig, self.ax = plt.subplots(figsize=(width, height), dpi=110)
        self.ax.set_xlim(0, width * 10)
        self.ax.set_ylim(0, height * 10)
        self.ax.set_aspect("equal")
        self.ax.axis("off")
        self.ax.set_title(title, fontsize=11, color=INK)

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        text: str,
        color: str,
        text_color: str = INK,
        size: int = 9,
    ) -> tuple[float, float, float, float]:
        """A rounded box centred at (x, y); returns its (x, y, w, h)."""
        self.ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.3,rounding_size=1.2",
                fc=color,
                ec=INK,
                lw=0.8,
            )
        )
        self.ax.text(x, y, text, ha="center", va="center", fontsize=size, color=text_color)
        return x, y, w, h

    def circle(
        self,
        x: float,
        y: float,
        text: str,
        *,
        loss: bool,
        r: float = 3.6,
        color: str = OUTPUT,
        size: int = 8,
    ) -> tuple[float, float, float, float]:
        """An output; a dashed ring when it has no loss."""
        self.ax.add_patch(
            Circle(
                (x, y),
                r,
                fc=color,
                ec=INK,
                lw=1.4 if loss else 1.0,
                ls="-" if loss else (0, (3, 2)),
                alpha=1.0 if loss else 0.55,
            )
        )
        self.ax.text(x, y, text, ha="center", va="center", fontsize=size, color=INK)
        return x, y, 2 * r, 2 * r

    def arrow(self, start: tuple, end: tuple, text: str = "", rad: float = 0.0) -> None:
        """An arrow between the edges of two shapes given as (x, y, w, h)."""
        (x1, y1, w1, h1), (x2, y2, w2, h2) = start, end
        a, b = _edge(x1, y1, w1, h1, x2, y2), _edge(x2, y2, w2, h2, x1, y1)
        self.ax.add_patch(
            FancyArrowPatch(
                a,
                b,
                arrowstyle="-|>",
                mutation_scale=10,
                color=INK,
                lw=0.9,
                connectionstyle=f"arc3,rad={rad}",
            )
        )
        if text:
            self.ax.text(
                (a[0] + b[0]) / 2 + 1,
                (a[1] + b[1]) / 2,
                text,
                fontsize=7,
                color="#555555",
                va="center",
            )

    def note(self, x: float, y: float, text: str, size: int = 8, **kwargs) -> None:
        """Free text."""
        self.ax.text(x, y, text, fontsize=size, color="#333333", **kwargs)

    def save(self, path: Path) -> None:
        """Write the PNG."""
        self.fig.tight_layout()
        self.fig.savefig(path)
        plt.close(self.fig)


def _edge(x: float, y: float, w: float, h: float, tx: float, ty: float) -> tuple:
    """Where the line from a shape's centre towards (tx, ty) leaves its bounding box."""
    dx, dy = tx - x, ty - y
    if dx == dy == 0:
        return x, y
    scale = min(
        (w / 2 + 0.4) / abs(dx) if dx else float("inf"),
        (h / 2 + 0.4) / abs(dy) if dy else float("inf"),
    )
    return x + dx * scale, y + dy * scale


def _embedding(c: Canvas, x: float, width: float) -> tuple:
    return c.box(
        x,
        6,
        width,
        4,
        "shared embedding: one table per field, concatenated",
        EMBEDDING,
        text_color="white",
    )


def draw_esmm(path: Path) -> None:
    """ESMM: CTR and CVR towers on one embedding; pCTCVR = pCTR × pCVR."""
    c = Canvas(6.4, 5.4, "ESMM: two towers, one embedding, trained over every exposure")
    emb = _embedding(c, 32, 54)
    ctr = c.box(16, 20, 14, 5, "CTR tower", TOWER)
    cvr = c.box(48, 20, 14, 5, "CVR tower", TOWER)
    for t in (ctr, cvr):
        c.arrow(emb, t)
    pctr = c.circle(16, 33, "pCTR", loss=True)
    pcvr = c.circle(48, 33, "pCVR", loss=False)
    c.arrow(ctr, pctr)
    c.arrow(cvr, pcvr)
    prod = c.circle(32, 40, "×", loss=True, r=2.2, color=COMBINE, size=11)
    c.arrow(pctr, prod)
    c.arrow(pcvr, prod)
    pctcvr = c.circle(32, 48.5, "pCTCVR", loss=True, r=3.4, size=7)
    c.arrow(prod, pctcvr)
    c.note(1, 40, "loss: BCE(click, pCTR)", size=7)
    c.note(37, 49, "loss: BCE(click ∧ purchase, pCTCVR)", size=7)
    c.note(52, 39, "no loss on pCVR", size=7)
    c.save(path)


def _product_chain(c: Canvas, source: Callable[[float], tuple], *, reach_loss: bool) -> None:
    """A tower per step; each later step's reach probability is the last one × its conditional.

    `source(x)` gives the shape a tower at `x` reads from. With `reach_loss` the reach
    probabilities have the losses (the chain); otherwise the conditionals do (BASE).
    """
    prev = None
    for i, step in enumerate(STEPS):
        x = 10 + 20 * i
        tower = c.box(x, 17, 13, 5, f"{step} tower", TOWER)
        c.arrow(source(x), tower)
        if prev is None:
            reach = c.circle(x, 47, "click", loss=True, size=7)
            c.arrow(tower, reach)
        else:
            label = f"P({step} |\n{STEPS[i - 1]})"
            cond = c.circle(x, 28.5, label, loss=not reach_loss, size=6)
            c.arrow(tower, cond)
            prod = c.circle(x, 37.5, "×", loss=reach_loss, r=2.0, color=COMBINE, size=10)
            c.arrow(cond, prod)
            c.arrow(prev, prod, rad=0.25)
            reach = c.circle(x, 47, step, loss=reach_loss, size=7)
            c.arrow(prod, reach)
        prev = reach


def draw_chain(path: Path) -> None:
    """v2: a conditional tower per step; reach probabilities are running products."""
    c = Canvas(
        8.0, 5.4, "v2, the chain: P(reach step t) = Π P(step u | step u−1), a loss at every step"
    )

    emb = _embedding(c, 40, 74)
    _product_chain(c, lambda x: emb, reach_loss=True)
    c.note(
        1,
        1,
        "solid: entire-space P(reach step), with a loss on the step's label over all "
        "exposures; dashed: conditional, no loss",
        size=7,
    )
    c.save(path)


def draw_concat(path: Path) -> None:
    """v3: z_t = MLP([z_{t−1}, q_t]); each step predicts its entire-space probability."""
    c = Canvas(
        8.0, 5.8, "v3, information concat: each step sees the previous step's representation"
    )
    emb = _embedding(c, 40, 74)
    z_prev = None
    for i, step in enumerate(STEPS):
        x = 10 + 20 * i
        tower = c.box(x, 17, 13, 5, f"{step} tower\nq{i + 1}", TOWER, size=8)
        c.arrow(emb, tower)
        if z_prev is None:
            z = tower
        else:
            cat = c.box(x, 28, 12, 4, "concat", COMBINE, size=8)
            c.arrow(tower, cat)
            c.arrow(z_prev, cat, rad=0.15)
            z = c.box(x, 37, 12, 4, f"MLP → z{i + 1}", TOWER, size=8)
            c.arrow(cat, z)
        y = c.circle(x, 48, step, loss=True, size=7)
        c.arrow(z, y)
        z_prev = z
    c.note(
        1,
        54.5,
        "loss: Σ BCE(y_t, ŷ_t) + α · Σ mean(max(ŷ_t − ŷ_{t−1}, 0))  (label-order penalty)",
        size=7,
    )
    c.save(path)


def draw_aitm(path: Path) -> None:
    """v4, AITM: transfer g, attention over {p_{t−1}, q_t}, calibrator."""
    c = Canvas(
        8.0,
        6.0,
        "v4, AITM: attention weighs what the previous step transfers against the step's own tower",
    )
    emb = _embedding(c, 40, 74)
    z_prev = None
    for i, step in enumerate(STEPS):
        x = 10 + 20 * i
        tower = c.box(x, 17, 13, 5, f"{step} tower\nq{i + 1}", TOWER, size=8)
        c.arrow(emb, tower)
        if z_prev is None:
            z = tower
        else:
            g = c.box(x - 8, 29, 7, 4, "g", TRANSFER, size=8)
            c.arrow(z_prev, g, rad=0.1)
            z = c.box(x, 38, 13, 5, f"AIT → z{i + 1}", COMBINE, size=8)
            c.arrow(g, z, text="p")
            c.arrow(tower, z, text="q")
        y = c.circle(x, 50, step, loss=True, size=7)
        c.arrow(z, y)
        z_prev = z
    c.note(
        1,
        56.5,
        "AIT: z = Σ_u w_u h1(u), w_u = softmax(⟨h2(u), h3(u)⟩ / √k), "
        "u ∈ {p, q};  loss: Σ BCE + α · (1/N) Σ max(ŷ_t − ŷ_{t−1}, 0)",
        size=7,
    )
    c.save(path)


def draw_base(path: Path) -> None:
    """BASE: one independent model per step, each trained on the rows that reached the last."""
    c = Canvas(8.0, 6.0, "BASE: one model per step, each trained where the step before happened")
    _product_chain(
        c,
        lambda x: c.box(x, 6, 15, 4, "own embedding", EMBEDDING, text_color="white", size=8),
        reach_loss=False,
    )
    c.note(
        1,
        58.5,
        "the apply model learns on clicked rows only, approve on applied rows, ... "
        "(sample selection bias),\nand predicts for every exposure; "
        "reach probabilities are products of the four models, with no loss of their own",
        size=7,
        va="top",
    )
    c.save(path)


def _twin_of_esmm(
    path: Path,
    title: str,
    towers: tuple[tuple[str, float, dict], ...],
    outputs: tuple[tuple[str, dict], ...],
    link: tuple[int, int, float, str],
    notes: tuple[str, str],
) -> None:
    """ESMM's towers and product, plus a third tower and what ties it to the others."""
    c = Canvas(7.6, 5.6, title)
    emb = _embedding(c, 38, 66)
    boxes = [
        c.box(x, 20, width, 5, text, TOWER, **style)
        for x, (text, width, style) in zip((14, 38, 62), towers, strict=True)
    ]
    for box in boxes:
        c.arrow(emb, box)
    circles = [
        c.circle(x, 33, text, loss=True, **style)
        for x, (text, style) in zip((14, 38, 62), outputs, strict=True)
    ]
    for box, circle in zip(boxes, circles, strict=True):
        c.arrow(box, circle)
    start, end, x, text = link
    c.arrow(circles[start], circles[end], rad=0.35)
    c.note(x, 26.5, text, size=7)
    prod = c.circle(26, 42, "×", loss=True, r=2.2, color=COMBINE, size=11)
    c.arrow(circles[0], prod)
    c.arrow(circles[1], prod)
    pctcvr = c.circle(26, 50, "pCTCVR", loss=True, r=3.4, size=7)
    c.arrow(prod, pctcvr)
    c.note(1, 41, "loss: BCE(click, pCTR)", size=7)
    c.note(31, 51, notes[0], size=7)
    c.note(45, 44.5, notes[1], size=7, va="top")
    c.save(path)


def draw_escm2(path: Path) -> None:
    """ESCM²: ESMM plus a counterfactual CVR risk on pCVR, weighted by 1 / pCTR."""
    _twin_of_esmm(
        path,
        "ESCM²: ESMM plus a counterfactual CVR risk (IPS, or DR with an imputation)",
        (
            ("CTR tower", 14, {}),
            ("CVR tower", 14, {}),
            ("imputation tower\n(DR only)", 16, {"size": 8}),
        ),
        (("pCTR", {}), ("pCVR", {}), ("δ", {"size": 10})),
        (0, 1, 18, "weight 1 / pCTR (no gradient)"),
        (
            "loss × 0.5: BCE(click ∧ purchase, pCTCVR)",
            "loss × 0.5 on pCVR, clicked rows:\nIPS: BCE(purchase, pCVR) / pCTR\n"
            "DR: imputed error δ, corrected by IPS",
        ),
    )


def draw_dcmt(path: Path) -> None:
    """DCMT: a factual and a counterfactual CVR tower, tied by r̂ + r̂* ≈ 1."""
    _twin_of_esmm(
        path,
        "DCMT: a factual and a counterfactual CVR tower, tied by a prior",
        (
            ("CTR tower", 14, {}),
            ("factual CVR tower", 16, {"size": 8}),
            ("counterfactual\nCVR tower", 18, {"size": 8}),
        ),
        (("pCTR", {}), ("r̂", {"size": 10}), ("r̂*", {"size": 10})),
        (1, 2, 43, "prior: r̂ + r̂* ≈ 1"),
        (
            "loss: BCE(click ∧ purchase, pCTCVR)",
            "r̂ on clicked rows: BCE(purchase, r̂) / pCTR\n"
            "r̂* on non-clicked rows: BCE(1, r̂*) / (1 − pCTR)",
        ),
    )


ESMM_FAMILY = {
    "base.png": draw_base,
    "esmm.png": draw_esmm,
    "esmm_v2_chain.png": draw_chain,
    "esmm_v3_concat.png": draw_concat,
    "esmm_v4_aitm.png": draw_aitm,
    "escm2.png": draw_escm2,
    "dcmt.png": draw_dcmt,
}


def draw_esmm_family(folder: Path) -> None:
    """Write every ESMM-family diagram into `folder`."""
    for name, draw in ESMM_FAMILY.items():
        draw(folder / name)
