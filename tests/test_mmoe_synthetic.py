"""The MMoE paper's synthetic tasks (`mtl_lib.synthetic.CorrelatedTasks`)."""

import numpy as np
import pytest

import mtl_lib as mtl
from mtl_lib.synthetic import CorrelatedTasks, make_correlated_tasks, regression_dataset


@pytest.fixture(scope="module")
def gen():
    return CorrelatedTasks(seed=3)


def test_shapes_and_dtypes(gen):
    x, y = gen.sample(500, 0.5)
    assert x.shape == (500, 100) and y.shape == (500, 2)
    assert x.dtype == np.float32 and y.dtype == np.float32


@pytest.mark.parametrize("p", [-0.3, 0.0, 0.5, 0.9, 1.0])
def test_weights_have_cosine_p_and_norm_c(p):
    gen = CorrelatedTasks(dim=20, scale=2.0, seed=1)
    w1, w2 = gen.weights(p)
    assert np.isclose(np.linalg.norm(w1), 2.0) and np.isclose(np.linalg.norm(w2), 2.0)
    assert np.isclose(w1 @ w2 / (np.linalg.norm(w1) * np.linalg.norm(w2)), p)
    assert np.isclose(gen.u1 @ gen.u2, 0.0, atol=1e-12)


def test_labels_follow_the_papers_formula(gen):
    x, y = gen.sample(50, 0.7)
    w1, w2 = gen.weights(0.7)
    for k, w in enumerate((w1, w2)):
        s = x.astype(float) @ w
        clean = s + np.sin(np.outer(s, gen.alpha) + gen.beta).sum(axis=1)
        residual = y[:, k] - clean
        assert np.abs(residual).max() < 5 * gen.noise_std  # only the noise is left
        assert 0.5 * gen.noise_std < residual.std() < 2 * gen.noise_std


def test_same_seed_same_rows_and_streams_differ(gen):
    a = gen.sample(100, 0.5)
    b = CorrelatedTasks(seed=3).sample(100, 0.5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = gen.sample(100, 0.5, stream=1)
    assert not np.allclose(a[0], c[0])
    d = make_correlated_tasks(100, 0.5, seed=3)
    np.testing.assert_array_equal(a[1], d[1])


def test_same_inputs_at_every_correlation(gen):
    x1, y1 = gen.sample(100, 0.5)
    x2, y2 = gen.sample(100, 1.0)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1[:, 0], y2[:, 0])  # task 1 does not depend on p


def test_exact_label_correlation_matches_a_large_sample(gen):
    for p in (0.4, 0.9):
        _, y = gen.sample(100_000, p)
        sample = np.corrcoef(y.T)[0, 1]
        assert abs(sample - gen.label_correlation(p)) < 0.015


def test_default_curve_is_near_the_papers_figure_2():
    gen = CorrelatedTasks()
    assert abs(gen.label_correlation(0.4) - 0.06) < 0.01
    assert gen.label_correlation(1.0) > 0.99
    curve = [gen.label_correlation(p) for p in np.linspace(0, 1, 11)]
    assert np.all(np.diff(curve) > 0)  # rises with p


def test_the_curve_depends_on_the_sines_drawn_as_the_docstring_says():
    at_04 = [mtl.synthetic.CorrelatedTasks(sines_seed=s).label_correlation(0.4) for s in range(10)]
    assert 0.05 < min(at_04) < 0.06 and 0.35 < max(at_04) < 0.36  # "about 0.05 to 0.35"
    default = mtl.synthetic.CorrelatedTasks()
    assert default.num_sines == 10 and np.all((default.alpha >= 1) & (default.alpha <= 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"dim": 1}, "dim"), ({"alpha_range": (3.0, 1.0)}, "alpha_range"), ({"scale": 0}, "scale")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CorrelatedTasks(**kwargs)


def test_bad_correlation(gen):
    with pytest.raises(ValueError, match="correlation"):
        gen.sample(10, 1.5)


def test_regression_dataset_batches_labels_by_task(gen):
    x, y = gen.sample(10, 0.5)
    ds = regression_dataset(x, y, batch_size=4, shuffle=True, seed=0)
    batches = list(ds)
    assert [len(b[0]["x"]) for b in batches] == [4, 4, 2]
    _, labels = batches[0]
    assert set(labels) == {"task_1", "task_2"} and tuple(labels["task_1"].shape) == (4, 1)
    seen = np.concatenate([b[0]["x"].numpy() for b in batches])
    np.testing.assert_array_equal(np.sort(seen[:, 0]), np.sort(x[:, 0]))
    with pytest.raises(ValueError, match="rows"):
        regression_dataset(x, y[:, :1])


def test_exported():
    """`mtl.synthetic` re-exports the MMoE module's names and lists them in `__all__`."""
    for name in ("CorrelatedTasks", "make_correlated_tasks", "regression_dataset"):
        assert name in mtl.synthetic.__all__, name
        assert getattr(mtl.synthetic, name) is getattr(mtl.synthetic.mmoe, name), name
