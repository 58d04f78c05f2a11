"""The project's figure style: compact PNGs for notebooks."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import mtl_lib as mtl


def _figure():
    fig, ax = plt.subplots(figsize=(4, 3), dpi=90)
    ax.imshow(np.arange(100).reshape(10, 10), cmap="Blues")
    ax.plot([0, 9], [0, 9], color="#D55E00")
    ax.set_title("a gradient, a line and text")
    return fig


def test_compact_png_is_a_small_palette_image_of_the_same_figure():
    fig = _figure()
    png = mtl.plots.compact_png(fig)
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=fig.dpi, bbox_inches="tight")
    compact, rgba = Image.open(io.BytesIO(png)), Image.open(full)
    assert compact.mode == "P" and compact.size == rgba.size
    assert len(png) < 0.6 * len(full.getvalue())
    difference = np.abs(
        np.asarray(compact.convert("RGB"), float) - np.asarray(rgba.convert("RGB"), float)
    )
    assert difference.mean() < 2.0  # the same picture, to the eye
    assert mtl.plots.compact_png(_figure()) == png  # the same figure, the same bytes
    plt.close("all")


def test_an_empty_figure_shows_nothing():
    assert mtl.plots.compact_png(plt.figure()) is None
    plt.close("all")
