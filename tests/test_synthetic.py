import gzip
import itertools

import numpy as np
import pandas as pd
import pytest

from mtl_lib.synthetic import FunnelGenerator, make_funnel, truth_columns
from mtl_lib.synthetic.funnel import CREDIT_CARD_REACH_RATES, DEFAULT_FIELDS

STEPS = ("click", "apply", "approve", "activate")


@pytest.fixture(scope="module")
def gen():
    return FunnelGenerator(seed=7)


@pytest.fixture(scope="module")
def frame(gen):
    return gen.sample(120_000)


def _logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def test_columns_and_schema(gen, frame):
    assert gen.schema.steps == STEPS
    assert gen.schema.truth == truth_columns(STEPS)
    assert list(frame.columns) == list(gen.schema.columns)
    assert len(gen.schema.fields) == len(DEFAULT_FIELDS) >= 20
    sizes = [f.size for f in gen.schema.fields]
    assert min(sizes) == 3 and max(sizes) == 10_000
    for field in gen.schema.fields:
        ids = frame[field.name].to_numpy()
        assert ids.min() >= 0 and ids.max() <= field.size


def test_same_seed_same_data_other_seed_other_data(frame):
    again = FunnelGenerator(seed=7).sample(120_000)
    pd.testing.assert_frame_equal(frame, again)
    other = FunnelGenerator(seed=8).sample(1_000)
    assert not other.equals(frame.iloc[:1_000])


def test_streams_are_independent(gen):
    a, b = gen.sample(5_000, stream=0), gen.sample(5_000, stream=1)
    assert not a["user_id"].equals(b["user_id"])


def test_write_csv_is_byte_identical_and_matches_sample(gen, tmp_path):
    a = gen.write_csv(tmp_path / "a.csv.gz", 60_000, stream=3)
    b = gen.write_csv(tmp_path / "b.csv.gz", 60_000, stream=3)
    assert a.read_bytes() == b.read_bytes()
    plain = gen.write_csv(tmp_path / "c.csv", 60_000, stream=3)
    assert gzip.decompress(a.read_bytes()) == plain.read_bytes()
    back = pd.read_csv(plain)
    expected = gen.sample(60_000, stream=3)
    np.testing.assert_array_equal(back["user_id"], expected["user_id"])
    np.testing.assert_allclose(back["true_p_activate"], expected["true_p_activate"], rtol=1e-4)


def test_reach_rates_match_the_credit_card_defaults(frame):
    for step, target in zip(STEPS, CREDIT_CARD_REACH_RATES, strict=True):
        assert frame[f"true_p_{step}"].mean() == pytest.approx(target, rel=0.05)
        se = np.sqrt(target * (1 - target) / len(frame))
        assert abs(frame[step].mean() - target) < 5 * se


def test_labels_follow_the_funnel(frame):
    y = frame[list(STEPS)].to_numpy()
    assert np.all(np.diff(y, axis=1) <= 0), "a step happened without the previous one"


def test_truth_columns_chain(frame):
    reach = frame["true_p_click"].to_numpy()
    for prev, step in itertools.pairwise(STEPS):
        reach = reach * frame[f"true_p_{step}_given_{prev}"].to_numpy()
        np.testing.assert_allclose(frame[f"true_p_{step}"], reach, rtol=1e-12)


def test_labels_are_calibrated_to_the_truth_on_reached_rows(frame):
    # Selection depends on the ids only: among clicked rows, apply happens at exactly the
    # true conditional probability, decile by decile.
    clicked = frame[frame["click"] == 1]
    p = clicked["true_p_apply_given_click"]
    deciles = pd.qcut(p, 10, labels=False)
    observed = clicked["apply"].groupby(deciles).mean()
    expected = p.groupby(deciles).mean()
    se = np.sqrt(expected * (1 - expected) / clicked.groupby(deciles).size())
    assert np.all(np.abs(observed - expected) < 4 * se)


@pytest.mark.parametrize("overlap", [-0.8, 0.0, 0.9])
def test_overlap_sets_driver_correlation(overlap):
    gen = FunnelGenerator(("click", "purchase"), overlap=overlap, seed=1)
    f = gen.sample(50_000, stream=4)
    corr = np.corrcoef(_logit(f["true_p_click"]), _logit(f["true_p_purchase_given_click"]))[0, 1]
    assert corr == pytest.approx(overlap, abs=0.03)


def test_signal_zero_gives_constant_probabilities():
    f, _ = make_funnel(2_000, steps=("click", "purchase"), signal=0.0, seed=0)
    assert f["true_p_click"].std() < 1e-12
    assert f["true_p_click"].iloc[0] == pytest.approx(0.2, rel=1e-6)


def test_more_signal_more_predictable():
    from sklearn.metrics import roc_auc_score

    aucs = []
    for signal in (0.5, 2.0):
        f, _ = make_funnel(20_000, steps=("click", "purchase"), signal=signal, seed=0)
        aucs.append(roc_auc_score(f["click"], f["true_p_click"]))
    assert aucs[0] + 0.1 < aucs[1]


def test_ids_are_skewed():
    f, _ = make_funnel(50_000, steps=("click", "purchase"), seed=0)
    shares = f["user_id"].value_counts(normalize=True).to_numpy()
    assert shares[0] > 50 / 10_000  # the top user is far above the uniform 1/10,000
    assert f["user_id"].nunique() > 3_000  # and a long tail of rare users


def test_later_steps_carry_earlier_information(frame):
    # Step t's driver contains step t-1's: the conditional logits are correlated.
    corr = np.corrcoef(_logit(frame["true_p_click"]), _logit(frame["true_p_apply_given_click"]))[
        0, 1
    ]
    assert corr == pytest.approx(0.5, abs=0.03)


def test_two_step_default_rates():
    gen = FunnelGenerator(("click", "purchase"), seed=0)
    assert tuple(gen.reach_rates) == (0.20, 0.05)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": ("click",)}, "at least two steps"),
        ({"steps": ("a", "b", "c", "d", "e")}, "give reach_rates"),
        ({"reach_rates": (0.2, 0.3, 0.1, 0.01)}, "strictly decreasing"),
        ({"reach_rates": (0.2, 0.1)}, "one value per step"),
        ({"overlap": 1.5}, r"overlap must be in \[-1, 1\]"),
        ({"overlap": (0.1, 0.2)}, "one per step after the first"),
        ({"signal": -1.0}, "signal must be >= 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FunnelGenerator(**kwargs)


def test_bad_row_counts(gen):
    with pytest.raises(ValueError, match="n_rows must be >= 1"):
        gen.sample(0)
    with pytest.raises(ValueError, match="stream must be >= 0"):
        gen.sample(10, stream=-1)


def test_the_best_of_the_features_is_the_truth_without_a_confounder():
    gen = FunnelGenerator(("click", "purchase"), seed=0)
    frame = gen.sample(500)
    best = gen.best_of_features(frame, not_reached="click")
    np.testing.assert_allclose(best[1], frame["true_p_purchase_given_click"], rtol=1e-6)


def test_the_best_of_the_features_averages_the_confounder_out():
    # Quadrature against Monte Carlo over z, for a few rows: E[σ(a + γz) | x], and given
    # no click, each z weighted by 1 − p_click(x, z).
    gen = FunnelGenerator(("click", "purchase"), seed=0, confounding=1.5)
    frame = gen.sample(5)
    ids = {f.name: frame[f.name].to_numpy() for f in gen.fields}
    z = np.random.default_rng(0).normal(size=100_000)
    cond = gen.true_probabilities(ids, 1.5 * z[:, None, None])  # (draws, steps, rows)
    mean = cond.mean(0)
    weight = 1 - cond[:, 0]
    given = (weight[:, None, :] * cond).sum(0) / weight.sum(0)
    np.testing.assert_allclose(gen.best_of_features(frame), mean, rtol=0.02)
    np.testing.assert_allclose(
        gen.best_of_features(frame, not_reached="click")[1], given[1], rtol=0.02
    )
    assert (
        gen.best_of_features(frame, not_reached="click")[1] < gen.best_of_features(frame)[1]
    ).all()  # a non-click points to a low z
    with pytest.raises(ValueError, match="no step 'buy'"):
        gen.best_of_features(frame, not_reached="buy")
