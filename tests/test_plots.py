"""The comparison's figures draw what they are given."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import mtl_lib as mtl


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_seed_dots_draw_every_seed_and_the_mean():
    table = pd.DataFrame(
        {
            "model": ["a"] * 3 + ["b"] * 3 + ["c"],
            "seed": [0, 1, 2] * 2 + [0],
            "auc": [0.70, 0.72, 0.74, 0.80, 0.80, 0.80, np.nan],
        }
    )
    ax = mtl.plots.plot_seed_dots(table, "auc", models=["b", "a", "c"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a", "b"]  # top to bottom
    dots = [c for c in ax.collections if c.get_offsets().shape[0] == 3]
    assert len(dots) == 2  # a model with no value (NaN) draws nothing
    means = sorted(bar.lines[0].get_xdata()[0] for bar in ax.containers)  # errorbars
    np.testing.assert_allclose(means, [0.72, 0.80])


def test_sequential_heatmap_spans_the_values_and_leaves_nan_blank():
    frame = pd.DataFrame([[0.6, 0.8], [np.nan, 0.7]], index=["x", "y"], columns=["p", "q"])
    ax = mtl.plots.plot_heatmap(frame, fmt="{:.1f}", cmap="Blues", center=None)
    image = ax.images[0]
    assert image.get_clim() == (0.6, 0.8)
    assert sorted(t.get_text() for t in ax.texts) == ["0.6", "0.7", "0.8"]


def test_diverging_heatmap_is_centred():
    frame = pd.DataFrame([[-0.1, 0.3]])
    ax = mtl.plots.plot_heatmap(frame)
    assert ax.images[0].get_clim() == (-0.3, 0.3)
