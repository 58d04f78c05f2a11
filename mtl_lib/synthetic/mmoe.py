"""Two regression tasks whose relatedness you set: the MMoE paper's synthetic data (§3.2).

Ma et al. (KDD 2018) control how related two tasks are with the cosine similarity p of
their weight vectors:

1. draw orthogonal unit vectors u1, u2 in R^d;
2. w1 = c·u1 and w2 = c·(p·u1 + √(1−p²)·u2), so that cos(w1, w2) = p;
3. draw x ~ N(0, I_d);
4. y_k = w_kᵀx + Σ_{i=1..m} sin(α_i·w_kᵀx + β_i) + ε_k, ε_k ~ N(0, 0.01),

with the same α_i, β_i for both tasks. The sines make the tasks nonlinear, so the labels'
Pearson correlation falls faster than p: unrelated-looking labels can come from fairly
similar weights. The paper gives d = 100 and the noise but not c, m, nor how α and β are
drawn. The defaults here are c = 1, m = 10 sines, α_i ~ U(1, 3) and β_i ~ U(0, 2π), and
noise variance 0.01. The sines come from a generator of their own (`sines_seed`, 12 by
default), apart from the directions u1, u2 (`seed`), so that changing `seed` redraws the
data but keeps the tasks' nonlinearity. With the default sines the labels' correlation is
0.06 at p = 0.4 and 1 at p = 1, as in the paper's Figure 2 (`CorrelatedTasks.label_correlation`
computes it exactly). Other draws of the sines give other curves: at p = 0.4, the
correlation ranges from about 0.05 to 0.35 over `sines_seed` 0 to 9 (the solution of 05's
fourth exercise measures it), so the default is a choice that matches the paper's figure,
not a property of the method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

DEFAULT_DIM = 100
DEFAULT_SCALE = 1.0
DEFAULT_NUM_SINES = 10
DEFAULT_ALPHA_RANGE = (1.0, 3.0)
DEFAULT_SINES_SEED = 12
DEFAULT_NOISE_STD = 0.1  # N(0, 0.01): variance 0.01
TASKS = ("task_1", "task_2")
# NumPy streams, keyed by `[seed, source]`: the directions (with `seed`), the sines (with
# `sines_seed`), and row stream s from source s + _FIRST_ROW_STREAM.
_DIRECTIONS, _SINES, _FIRST_ROW_STREAM = 0, 1, 1


class CorrelatedTasks:
    """The generator of the MMoE paper's synthetic experiment, for any correlation p.

    One instance fixes the directions u1, u2 from `seed`, and the sines' α_i ~ U(`alpha_range`)
    and β_i ~ U(0, 2π) from `sines_seed`. `sample(n, correlation)` then draws
    rows for any p, so that data sets of different p differ only in p.

    Args:
        dim: Input dimension d.
        scale: c, the norm of both weight vectors.
        num_sines: m, the number of sine terms.
        alpha_range: The sines' frequencies α_i are drawn uniformly from this interval.
        noise_std: Standard deviation of the label noise ε_k.
        sines_seed: Fixes the sines' α_i and β_i.
        seed: Fixes u1, u2 and, with `stream`, every sampled row.

    Example:
        >>> gen = CorrelatedTasks(seed=0)
        >>> x, y = gen.sample(1000, correlation=0.9)
        >>> x.shape, y.shape
        ((1000, 100), (1000, 2))
    """

    def __init__(
        self,
        dim: int = DEFAULT_DIM,
        *,
        scale: float = DEFAULT_SCALE,
        num_sines: int = DEFAULT_NUM_SINES,
        alpha_range: tuple[float, float] = DEFAULT_ALPHA_RANGE,
        noise_std: float = DEFAULT_NOISE_STD,
        sines_seed: int = DEFAULT_SINES_SEED,
        seed: int = 0,
    ) -> None:
        if dim < 2:
            raise ValueError(f"dim must be >= 2 (two orthogonal directions), got {dim}")
        if num_sines < 0:
            raise ValueError(f"num_sines must be >= 0, got {num_sines}")
        if scale <= 0 or noise_std < 0:
            raise ValueError(f"scale must be > 0 and noise_std >= 0, got {scale}, {noise_std}")
        lo, hi = alpha_range
        if lo > hi:
            raise ValueError(f"alpha_range must be (low, high) with low <= high, got {alpha_range}")
        self.dim, self.scale, self.num_sines = int(dim), float(scale), int(num_sines)
        self.alpha_range, self.noise_std, self.seed = (float(lo), float(hi)), noise_std, seed
        rng = np.random.default_rng([seed, _DIRECTIONS])
        q, _ = np.linalg.qr(rng.standard_normal((self.dim, 2)))
        self.u1, self.u2 = q[:, 0], q[:, 1]  # orthonormal
        sines = np.random.default_rng([sines_seed, _SINES])
        self.alpha = sines.uniform(lo, hi, self.num_sines)
        self.beta = sines.uniform(0.0, 2 * np.pi, self.num_sines)

    def weights(self, correlation: float) -> tuple[np.ndarray, np.ndarray]:
        """w1 = c·u1 and w2 = c·(p·u1 + √(1−p²)·u2), each `(dim,)`, cos(w1, w2) = p."""
        p = _check_correlation(correlation)
        w1 = self.scale * self.u1
        w2 = self.scale * (p * self.u1 + np.sqrt(1.0 - p * p) * self.u2)
        return w1, w2

    def _f(self, s: np.ndarray) -> np.ndarray:
        # s + Σ_i sin(α_i s + β_i), for s = w_kᵀx of shape (rows,)
        return s + np.sin(np.outer(s, self.alpha) + self.beta).sum(axis=1)

    def sample(
        self, n_rows: int, correlation: float, *, stream: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n_rows` rows at correlation p from row stream `stream`.

        Returns:
            `(x, y)`: x `(n_rows, dim)` and y `(n_rows, 2)`, both float32; y[:, k] is task
            k+1's label. The same seed, stream and p give the same rows.
        """
        if n_rows < 1:
            raise ValueError(f"n_rows must be >= 1, got {n_rows}")
        if stream < 0:
            raise ValueError(f"stream must be >= 0, got {stream}")
        w1, w2 = self.weights(correlation)
        rng = np.random.default_rng([self.seed, stream + _FIRST_ROW_STREAM])
        x = rng.standard_normal((n_rows, self.dim))
        noise = rng.normal(0.0, self.noise_std, (n_rows, 2))
        # y_k = w_kᵀx + Σ_i sin(α_i w_kᵀx + β_i) + ε_k
        y = np.stack([self._f(x @ w1), self._f(x @ w2)], axis=1) + noise
        return x.astype(np.float32), y.astype(np.float32)

    def label_correlation(self, correlation: float) -> float:
        """The labels' Pearson correlation at p, exactly (over the population, not a sample).

        With s_k = w_kᵀx jointly normal (variance c², covariance c²p), every term of
        Cov(y1, y2) has a closed form: E[cos(L)] = exp(−Var(L)/2) for a centred normal L.
        """
        p = _check_correlation(correlation)
        return self._covariance(p) / (self._covariance(1.0) + self.noise_std**2)

    def _covariance(self, p: float) -> float:
        c2, a, b = self.scale**2, self.alpha, self.beta
        ai, aj, bi, bj = a[:, None], a[None, :], b[:, None], b[None, :]
        # E[sin(a_i s1 + b_i) sin(a_j s2 + b_j)] = ½ E[cos(A − B)] − ½ E[cos(A + B)]
        minus = np.cos(bi - bj) * np.exp(-c2 * (ai**2 + aj**2 - 2 * ai * aj * p) / 2)
        plus = np.cos(bi + bj) * np.exp(-c2 * (ai**2 + aj**2 + 2 * ai * aj * p) / 2)
        mean_sin = np.sin(b) * np.exp(-c2 * a**2 / 2)  # E[sin(a s + b)]
        sines = 0.5 * (minus - plus).sum() - mean_sin.sum() ** 2
        # E[s1 sin(a s2 + b)] = Cov(s1, s2) · a cos(b) · exp(−a²c²/2), and symmetrically
        cross = 2 * (c2 * p * a * np.cos(b) * np.exp(-c2 * a**2 / 2)).sum()
        return float(c2 * p + cross + sines)


def _check_correlation(correlation: float) -> float:
    p = float(correlation)
    if not -1.0 <= p <= 1.0:
        raise ValueError(f"correlation (the cosine of w1 and w2) must be in [-1, 1], got {p}")
    return p


def make_correlated_tasks(
    n_rows: int, correlation: float, *, seed: int = 0, stream: int = 0, **kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """`CorrelatedTasks(seed=seed, **kwargs).sample(n_rows, correlation, stream=stream)`."""
    return CorrelatedTasks(seed=seed, **kwargs).sample(n_rows, correlation, stream=stream)


def regression_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    tasks: Sequence[str] = TASKS,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches `({"x": x}, {task: (batch, 1) labels})` for a model with one dense input `x`.

    Args:
        x: Inputs `(rows, dim)`.
        y: Labels `(rows, len(tasks))`, column k for `tasks[k]`.
        tasks: The output names, in the order of y's columns.
        batch_size: Rows per batch.
        shuffle: Shuffle the rows anew every epoch.
        seed: Shuffle seed.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 2 or y.shape[1] != len(tasks) or len(y) != len(x):
        raise ValueError(f"y must be (rows, {len(tasks)}) with x's rows, got {y.shape}")
    data = tf.nest.map_structure(
        tf.constant,
        ({"x": np.asarray(x, np.float32)}, {t: y[:, [k]] for k, t in enumerate(tasks)}),
    )
    ds = tf.data.Dataset.range(len(y))
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(
        lambda rows: tf.nest.map_structure(lambda t: tf.gather(t, rows), data)
    )
    return ds.prefetch(tf.data.AUTOTUNE)
