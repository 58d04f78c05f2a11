"""The figures draw what they are given, with seaborn, readably."""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

import mtl_lib as mtl


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


STEPS = ["click", "apply", "approve", "activate"]


def _overlapping(boxes):
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def test_seed_dots_draw_one_row_per_model_with_values():
    table = pd.DataFrame(
        {
            "model": ["a"] * 3 + ["b"] * 3 + ["c"],
            "seed": [0, 1, 2] * 2 + [0],
            "auc": [0.70, 0.72, 0.74, 0.80, 0.80, 0.80, np.nan],
        }
    )
    ax = mtl.plots.plot_seed_dots(table, "auc", models=["b", "a", "c"], reference=0.9)
    # model models[i] at y = i, the first on top
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a", "c"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    rows = {}
    for dots in ax.collections:
        offsets = np.asarray(dots.get_offsets(), dtype=float)
        if len(offsets):
            (row,) = set(offsets[:, 1].round())
            rows[int(row)] = sorted(offsets[:, 0])
    assert rows == {0: [0.8] * 3, 1: [0.70, 0.72, 0.74]}  # c, with no value, draws nothing
    means = {
        int(y): x
        for line in ax.lines
        if line.get_marker() == "|"
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
        if not np.isnan(x)
    }
    assert means == pytest.approx({0: 0.80, 1: 0.72})
    intervals = [  # each a line through the interval and its caps, NaN between the parts
        (np.nanmin(x), np.nanmax(x))
        for line in ax.lines
        if line.get_marker() in (None, "None", "")
        and len(x := np.asarray(line.get_xdata(), dtype=float))
        and not np.isnan(x).all()
    ]
    np.testing.assert_allclose(sorted(intervals)[:2], [(0.70, 0.74), (0.8, 0.8)])  # 0.72 ± 0.02
    assert any(np.allclose(line.get_xdata(), 0.9) for line in ax.lines)  # the reference


def test_comparison_draws_one_step_of_a_results_table_and_names_what_it_lacks():
    means = {"a": 0.7, "b": 0.8}  # at the click; 0.1 lower at buy
    rows = [
        (m, seed, step, means[m] - (0.1 if step == "buy" else 0.0))
        for m in means
        for seed in (0, 1, 2)
        for step in ("click", "buy")
    ]
    table = pd.DataFrame(rows, columns=["model", "seed", "step", "auc"])
    table.loc[(table["model"] == "b") & (table["seed"] == 0), "auc"] += 0.03
    ax = mtl.plots.plot_comparison(table, "auc", models=["b", "a"])  # the last step: buy
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]
    dots = sorted(x for c in ax.collections for x in np.asarray(c.get_offsets())[:, 0])
    np.testing.assert_allclose(dots, [0.6] * 3 + [0.7, 0.7, 0.73])
    assert any(np.allclose(line.get_xdata(), 0.71) for line in ax.lines)  # b's mean, the best
    assert ax.get_title().startswith("buy: auc, 3 seeds per model")
    for kwargs, message in [
        ({"metric": "ece"}, r"no column 'ece'"),
        ({"step": "apply"}, r"no step 'apply'; the table has \['click', 'buy'\]"),
        ({"models": ["a", "c"]}, r"for \['c'\]; models there: \['a', 'b'\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            mtl.plots.plot_comparison(table, **kwargs)


def test_seed_dots_keep_rows_aligned_on_shared_axes():
    table = pd.DataFrame({"model": ["a", "b", "a", "b"], "auc": [0.7, 0.8, 0.71, np.nan]})
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax, part in zip(axes, (table, table[table["model"] == "b"]), strict=True):
        mtl.plots.plot_seed_dots(part, "auc", ax=ax, models=["a", "b"])
    fig.canvas.draw()
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["a", "b"]
    for ax in axes:  # b's one value on row 1 in both panels, though the second lacks a
        b_dots = [c.get_offsets() for c in ax.collections if 0.8 in c.get_offsets()[:, 0]]
        assert [d[:, 1].tolist() for d in b_dots] == [[1.0]]


def _results(values_of):
    return pd.DataFrame(
        [
            {"model": model, "seed": seed, "step": step, "v": values_of(model, step, seed)}
            for model in ("m", "n", "o")
            for step in ("s1", "s2")
            for seed in range(4)
        ]
    )


def _intervals(ax):
    return [
        line.get_ydata()
        for line in ax.lines
        if line.get_marker() in (None, "None", "")
        and len(line.get_xdata()) == 2
        and line.get_xdata()[0] == line.get_xdata()[1]
    ]


@pytest.mark.parametrize("centre", [0.0005, 0.9995])
def test_metric_dots_intervals_stay_in_the_unit_interval(centre):
    rng = np.random.default_rng(0)
    table = _results(lambda *_: float(np.clip(centre + rng.normal(0, 0.01), 0, 1)))
    ax = mtl.plots.plot_metric_bars(table, "v", models=["o", "m", "n"], ylabel="share")
    intervals = _intervals(ax)
    assert len(intervals) == 6  # one per model and step
    for low, high in intervals:
        assert 0.0 <= low <= high <= 1.0
    assert min(i[0] for i in intervals) == 0.0 or max(i[1] for i in intervals) == 1.0
    assert not ax.patches  # dots, not bars
    assert [t.get_text() for t in ax.get_xticklabels()] == ["s1", "s2"]
    assert ax.get_ylabel() == "share"
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["o", "m", "n"]
    assert legend.get_texts()[0].get_fontsize() == 8


def test_metric_dots_draw_every_seed_and_the_mean_in_the_palette():
    table = _results(lambda model, step, seed: 0.7 + 0.01 * seed + (0.1 if step == "s2" else 0))
    ax = mtl.plots.plot_metric_bars(table, "v", ylim=(0.6, 0.9))
    assert ax.get_ylim() == (0.6, 0.9)
    seeds = [c for c in ax.collections if len(c.get_offsets())]
    assert sum(len(c.get_offsets()) for c in seeds) == len(table)
    means = [line for line in ax.lines if line.get_marker() == "o" and len(line.get_xdata())]
    assert [line.get_color() for line in means] == list(mtl.plots.PALETTE[:3])
    np.testing.assert_allclose(means[0].get_ydata(), [0.715, 0.815])
    np.testing.assert_allclose(means[0].get_xdata(), [-0.8 / 3, 1 - 0.8 / 3])  # dodged


def test_heatmap_writes_each_formatted_value_and_its_annotation_and_leaves_nan_blank():
    frame = pd.DataFrame(
        [[0.6, 0.8], [np.nan, 0.7]],
        index=pd.Index(["x", "y"], name="row"),
        columns=pd.Index(["p", "q"], name="col"),
    )
    notes = frame.map(lambda v: f"[{v:.2f}]")
    ax = mtl.plots.plot_heatmap(frame, fmt="{:.1%}", annotations=notes, cmap="Blues", center=None)
    assert ax.collections[0].get_clim() == (0.6, 0.8)  # spans the values
    assert sorted(t.get_text() for t in ax.texts) == [
        "60.0%\n[0.60]",
        "70.0%\n[0.70]",
        "80.0%\n[0.80]",
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["p", "q"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels() + ax.get_yticklabels())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("col", "row")


def test_diverging_heatmap_is_centred_and_readable_on_dark_cells():
    frame = pd.DataFrame([[-0.1, 0.3, 0.0]])
    ax = mtl.plots.plot_heatmap(frame, label="gain")
    assert ax.collections[0].get_clim() == (-0.3, 0.3)
    colours = {t.get_text(): to_rgb(t.get_color()) for t in ax.texts}
    assert list(colours) == ["-0.100", "+0.300", "+0.000"]
    assert colours["+0.300"] == (1.0, 1.0, 1.0)  # the darkest cell
    assert max(colours["+0.000"]) < 0.5  # dark text on the white middle
    assert ax.figure.axes[-1].get_ylabel() == "gain"  # the colour bar
    ax = mtl.plots.plot_heatmap(pd.DataFrame([[1.5, 2.5]]), center=1.0)
    assert ax.collections[0].get_clim() == (-0.5, 2.5)


def test_gates_share_the_heatmap():
    gates = pd.DataFrame([[0.1, 0.9], [0.5, 0.5]], index=["task_1", "task_2"], columns=[1, 2])
    ax = mtl.plots.plot_gates(gates, vmax=0.6)
    assert ax.collections[0].get_clim() == (0.0, 0.6)
    assert [t.get_text() for t in ax.texts] == ["0.10", "0.90", "0.50", "0.50"]
    assert ax.get_xlabel() == "expert"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["task_1", "task_2"]
    assert ax.figure.axes[-1].get_ylabel() == "mean gate weight"
    _, ax = plt.subplots()
    mtl.plots.plot_gates(gates, ax=ax, colorbar=False, fmt="")
    assert not ax.texts
    assert len(ax.figure.axes) == 1
    assert ax.collections[0].get_clim() == (0.0, 0.9)


@pytest.mark.parametrize(
    ("sources", "steps", "figsize"),
    [
        (1, 4, (6.4, 3.6)),
        (2, 4, (6.4, 3.6)),
        (4, 4, (6.4, 3.6)),
        (5, 4, (6.4, 3.2)),
        (5, 5, (6.4, 3.2)),
    ],
)
def test_funnel_labels_do_not_overlap(sources, steps, figsize):
    rng = np.random.default_rng(sources)
    true = pd.Series([0.2, 0.05, 0.045, 0.005, 0.0042][:steps], index=[*STEPS, "use"][:steps])
    frame = pd.DataFrame(
        {f"source {i}": true * rng.uniform(0.8, 1.2, steps) for i in range(sources)}
    )
    fig, ax = plt.subplots(figsize=figsize)
    mtl.plots.plot_funnel(frame, ax=ax)
    ax.set_title("a title")
    fig.canvas.draw()
    labels = [t for t in ax.texts if t.get_text()]
    assert len(labels) == 1 + sources * steps  # one label for the exposures, one per bar
    assert labels[-1].get_text() == "100%"
    boxes = [t.get_window_extent() for t in labels]
    assert not _overlapping(boxes)
    legend = ax.get_legend()
    if sources > 1:
        legend_box = legend.get_window_extent()
        assert not any(box.overlaps(legend_box) for box in boxes)
    title = ax.title.get_window_extent()
    assert not any(box.overlaps(title) for box in boxes)


def test_spread_draws_dots_and_readable_log_ticks():
    rng = np.random.default_rng(0)
    finals = pd.DataFrame(
        [
            {"correlation": p, "model": m, "test_loss": c * np.exp(rng.normal(0, 0.3))}
            for p in (0.5, 0.9, 1.0)
            for m, c in (("Shared-Bottom", 0.9), ("OMoE", 0.3), ("MMoE", 0.2))
            for _ in range(5)
        ]
    )
    ax = mtl.plots.plot_spread(finals, x="correlation", y="test_loss", hue="model", log=True)
    ax.figure.canvas.draw()
    assert not ax.patches  # no bars on a log axis
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(finals)
    low, high = ax.get_ylim()
    labels = [
        t.get_text()
        for t in ax.yaxis.get_majorticklabels() + ax.yaxis.get_minorticklabels()
        if t.get_text() and low <= t.get_position()[1] <= high
    ]
    assert len(labels) >= 4, labels
    assert all("10^" not in s and "e" not in s for s in labels)  # plain numbers
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "0.9", "1.0"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Shared-Bottom", "OMoE", "MMoE"]


def test_history_curves_mark_whole_epochs():
    history = pd.DataFrame(
        {"loss": [0.5, 0.4, 0.38], "val_loss": [0.52, 0.45, 0.46]}, index=[1, 2, 3]
    )
    ax = mtl.plots.plot_history(history, ["loss", "val_loss"])
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--"]
    plt.close("all")
