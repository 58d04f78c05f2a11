"""The significance rule: paired by seed, a t interval, a tie inside it."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mtl_lib as mtl
from mtl_lib.metrics import compare, paired_interval, ties_with_best


def test_interval_is_scipys_paired_t_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.80, 0.01, 5), rng.normal(0.79, 0.01, 5)
    interval = paired_interval(a, b)
    expected = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)
    assert interval.mean == pytest.approx(np.mean(a - b))
    assert interval.seeds == 5


def test_hand_computed_interval_with_three_seeds():
    # differences 1, 2, 3: mean 2, sd 1, t(2) = 4.3027, half width 4.3027 / sqrt(3)
    interval = paired_interval([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert interval.half_width == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    assert interval.verdict == "tied"  # 2 ± 2.48 contains zero, though every seed is ahead


def test_verdicts():
    assert paired_interval([1.0, 1.1, 1.2], [0.0, 0.0, 0.0]).verdict == "ahead"
    assert paired_interval([0.0, 0.0, 0.0], [1.0, 1.1, 1.2]).verdict == "behind"
    assert paired_interval([1.0, -1.0, 0.5], [0.0, 0.0, 0.0]).verdict == "tied"


def test_pairing_by_seed_removes_what_the_seeds_share():
    # the seeds move both models together; unpaired the two would look tied
    shared = np.array([0.70, 0.80, 0.75, 0.72, 0.78])
    a, b = shared + 0.002, shared + np.array([0.0, 0.0005, -0.0005, 0.0002, -0.0002])
    assert paired_interval(a, b).verdict == "ahead"
    assert stats.ttest_ind(a, b).pvalue > 0.5


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([0.5], [0.4], "at least 2 seeds"),
        ([0.5, 0.6], [0.4], "same length"),
        ([0.5, np.nan], [0.4, 0.5], "finite"),
    ],
)
def test_bad_input(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_interval(a, b)


def _table():
    # two steps, three models, five seeds; rows shuffled so pairing must use the seed column
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(5):
        noise = rng.normal(0, 0.003)
        for step, level in (("click", 0.7), ("buy", 0.8)):
            rows += [
                {"model": "a", "seed": seed, "step": step, "auc": level + noise + 0.01},
                {"model": "b", "seed": seed, "step": step, "auc": level + noise},
                {"model": "c", "seed": seed, "step": step, "auc": level + rng.normal(0, 0.01)},
            ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_compare_pairs_by_seed_and_step():
    table = _table()
    frame = compare(table, "auc", reference="b")
    row = frame[(frame["step"] == "click") & (frame["model"] == "a")].iloc[0]
    assert row["difference"] == pytest.approx(0.01) and row["verdict"] == "ahead"
    assert row["low"] == pytest.approx(0.01) and row["high"] == pytest.approx(0.01)
    assert set(frame["model"]) == {"a", "c"} and (frame["seeds"] == 5).all()
    lossy = compare(table, "auc", reference="b", higher_is_better=False)
    assert lossy.set_index(["step", "model"]).loc[("click", "a"), "verdict"] == "behind"


def test_ties_with_best():
    table = _table()
    best = ties_with_best(table, "auc")
    assert list(best.index) == ["click", "buy"]
    assert (best["best"] == "a").all() and (best["runner_up"] != "a").all()
    wide = table[table["step"] == "buy"].pivot(index="seed", columns="model", values="auc")
    for model in ("b", "c"):
        verdict = paired_interval(wide["a"], wide[model]).verdict
        assert (model in best.loc["buy", "tied"]) == (verdict == "tied")
        assert (model in best.loc["buy", "behind"]) == (verdict != "tied")


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'seed'"):
        compare(pd.DataFrame({"model": ["a"], "auc": [0.5]}), "auc", reference="a")


def test_plot_differences_marks_every_interval():
    frame = compare(_table(), "auc", reference="b")
    ax = mtl.plots.plot_differences(frame[frame["step"] == "click"], models=["a", "c"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a"]  # bottom to top
    assert len(ax.lines) == 2 * 2 + 1  # an interval and a dot per model, the zero line


def test_plot_differences_places_rows_by_name_across_panels():
    """A model missing from one step keeps an empty row, so shared y axes line up by name."""
    import matplotlib.pyplot as plt

    frame = compare(_table(), "auc", reference="b")
    # "c" has no output at "buy" (as ESMM has none for `apply`): "a" must keep its own row
    click = frame[frame["step"] == "click"]
    buy = frame[(frame["step"] == "buy") & (frame["model"] != "c")]
    fig, (left, right) = plt.subplots(1, 2, sharey=True)
    try:
        mtl.plots.plot_differences(click, ax=left, models=["a", "c"])
        mtl.plots.plot_differences(buy, ax=right, models=["a", "c"])
        # shared: the labels shown on the left are the last panel's, bottom to top
        assert [t.get_text() for t in left.get_yticklabels()] == ["c", "a"]
        assert list(left.get_yticks()) == [0, 1] and left.get_ylim() == right.get_ylim()

        def dots(ax):  # the y of each model's dot, top to bottom
            return [line.get_ydata()[0] for line in ax.lines if line.get_marker() == "o"]

        assert dots(left) == [1, 0] and dots(right) == [1]  # "a" on the row labelled "a"
    finally:
        plt.close(fig)


def test_plot_differences_keeps_its_tick_labels_apart():
    """Wide intervals with long tick labels (-0.175, -0.150, ...) get at most six ticks."""
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(
        {
            "model": ["a", "b"],
            "difference": [-0.16, -0.01],
            "low": [-0.178, -0.021],
            "high": [-0.139, 0.001],
            "verdict": ["behind", "tied"],
        }
    )
    fig, ax = plt.subplots(figsize=(5, 2))  # one panel of 01b's first figure
    try:
        mtl.plots.plot_differences(frame, ax=ax)
        fig.canvas.draw()
        shown = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert len(shown) <= 6
    finally:
        plt.close(fig)


def test_interval_text():
    frame = pd.DataFrame(
        {"difference": [0.01962], "low": [0.01241], "high": [0.02687], "verdict": ["ahead"]}
    )
    assert mtl.metrics.interval_text(frame).tolist() == ["+0.0196 [+0.0124, +0.0269] ahead"]


def test_net_wins_count_only_the_rules_verdicts():
    table = _table()
    wins = mtl.metrics.net_wins(table, "auc")
    for step in ("click", "buy"):
        wide = table[table["step"] == step].pivot(index="seed", columns="model", values="auc")
        for model in "abc":
            by_hand = 0
            for other in set("abc") - {model}:
                verdict = paired_interval(wide[model], wide[other]).verdict
                by_hand += {"ahead": 1, "behind": -1, "tied": 0}[verdict]
            assert wins.loc[model, step] == by_hand
        assert wins.loc["a", step] >= 1  # a is ahead of b by exactly 0.01 on every seed
    losses = mtl.metrics.net_wins(table, "auc", higher_is_better=False)
    pd.testing.assert_frame_equal(losses, -wins)
