"""A conversion funnel with known ground truth: `make_funnel` and `FunnelGenerator`.

Each exposure has categorical ids (Zipf-skewed, vocabularies of 3 to 10,000) and bucketized
numeric ids. Step t of the funnel happens with a true conditional probability

    P(y_t = 1 | y_{t-1} = 1, x) = sigmoid(b_t + s_t * d_t(x)),

and never without step t-1. The driver `d_t(x)` is a standardized nonlinear function of
latent factors of the ids: a linear part, pairwise factorization-machine interactions and a
small random tanh network. Drivers are chained along the funnel,

    d_t = rho_t * d_{t-1} + sqrt(1 - rho_t**2) * r_t,    r_t uncorrelated with d_{t-1},

so `rho_t` (the `overlap`) sets how much step t shares its drivers with step t-1, from 1
(shared) through 0 (unrelated) to -1 (opposed), and every later step carries information
from the steps before it. The intercepts `b_t` are solved so that the share of exposures
reaching each step matches `reach_rates`; `s_t` (the `signal`) sets how predictable a step is.

Selection into step t depends on the observed ids only, so the true P(y_t | y_{t-1}=1, x) is
the same function on clicked and non-clicked exposures. What a model fit on clicked rows
alone gets wrong on the rest is extrapolation into regions that few clicks cover, plus the
sparsity of its training data, not a different target.

One module, long (about 480 lines), because the world, its calibration and its row streams
share private state (weights, standardization constants, stream keys) that no other module
should touch.
"""

from __future__ import annotations

import gzip
import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mtl_lib.data.schema import POTENTIAL_PREFIX, Field, Schema, truth_name

DEFAULT_STEPS = ("click", "apply", "approve", "activate")
#: Share of exposures reaching each step, near a real credit-card funnel.
CREDIT_CARD_REACH_RATES = (0.20, 0.05, 0.045, 0.005)
DEFAULT_SIGNAL = 1.4
DEFAULT_OVERLAP = 0.5
FLOAT_FORMAT = "%.5g"

_LATENT_DIM = 16
_HIDDEN_UNITS = 32
_BLOCK_ROWS = 50_000  # rows are drawn in fixed blocks, so any chunking gives the same data
_CALIBRATION_ROWS = 100_000
# Variance shares of a driver: linear, pairwise interactions, tanh network.
_MIX = (0.5, 0.25, 0.25)
# Every random draw has its own NumPy stream, keyed by `[seed, source, block, draw]`, so
# that streams never overlap and any chunking of the rows gives the same data: source 0 is
# the world itself (weights, vocabularies), 1 the calibration sample, 2 + s row stream s.
_WORLD = 0
_CALIBRATION_STREAM = -1  # row stream -1, source 1: never a user's (streams are >= 0)
_FIRST_SOURCE = 2  # source of row stream s: s + _FIRST_SOURCE
_IDS, _UNIFORMS, _LATENT_DRAW = 0, 1, 2  # the draws of one block


@dataclass(frozen=True)
class FieldSpec:
    """How one input field is generated.

    Attributes:
        name: Column name.
        kind: `"C"` categorical (Zipf-skewed ids) or `"D"` bucketized numeric (a unimodal
            distribution over ordered buckets whose effects vary smoothly with the bucket).
        size: Number of ids or buckets; ids run `1..size`, and `0` means unknown.
        skew: Zipf exponent of the id frequencies (C only).
        weight: Relative importance of the field in the drivers.
        missing: Share of rows whose id is unknown (`0`).
    """

    name: str
    kind: Literal["C", "D"]
    size: int
    skew: float = 1.0
    weight: float = 1.0
    missing: float = 0.0


#: ~20 categorical fields of a credit-card ad funnel, then bucketized numeric fields.
DEFAULT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("user_id", "C", 10_000, skew=0.9, weight=1.0),
    FieldSpec("creative_id", "C", 5_000, skew=1.1, weight=0.8),
    FieldSpec("ad_id", "C", 2_000, skew=1.1, weight=0.8),
    FieldSpec("device_model", "C", 800, skew=1.2, weight=0.3, missing=0.02),
    FieldSpec("city", "C", 350, skew=1.0, weight=0.6, missing=0.01),
    FieldSpec("campaign_id", "C", 300, skew=1.0, weight=0.6),
    FieldSpec("app_category", "C", 120, skew=1.0, weight=0.5),
    FieldSpec("occupation", "C", 60, skew=0.9, weight=0.8, missing=0.05),
    FieldSpec("placement", "C", 50, skew=1.0, weight=0.7),
    FieldSpec("card_product", "C", 40, skew=0.8, weight=1.0),
    FieldSpec("province", "C", 34, skew=0.8, weight=0.4, missing=0.01),
    FieldSpec("hour", "C", 24, skew=0.3, weight=0.4),
    FieldSpec("channel", "C", 12, skew=1.0, weight=0.7),
    FieldSpec("education", "C", 8, skew=0.6, weight=0.6, missing=0.05),
    FieldSpec("weekday", "C", 7, skew=0.1, weight=0.2),
    FieldSpec("network", "C", 5, skew=1.0, weight=0.3),
    FieldSpec("marital_status", "C", 5, skew=0.7, weight=0.4, missing=0.05),
    FieldSpec("device_os", "C", 4, skew=1.0, weight=0.3),
    FieldSpec("has_credit_card", "C", 3, skew=0.5, weight=0.8),
    FieldSpec("gender", "C", 3, skew=0.2, weight=0.3, missing=0.02),
    FieldSpec("age_bucket", "D", 12, weight=0.9, missing=0.02),
    FieldSpec("income_bucket", "D", 20, weight=1.0, missing=0.08),
    FieldSpec("credit_score_bucket", "D", 20, weight=1.2, missing=0.1),
    FieldSpec("tenure_bucket", "D", 16, weight=0.5),
    FieldSpec("past_clicks_bucket", "D", 10, weight=0.8),
)


def truth_columns(steps: Sequence[str]) -> tuple[str, ...]:
    """Ground-truth column names of a funnel, in the order they are written.

    `true_p_<step>` is the entire-space probability that an exposure reaches the step;
    `true_p_<step>_given_<previous>` the conditional probability of the step given the
    previous one.

    Example:
        >>> truth_columns(("click", "purchase"))
        ('true_p_click', 'true_p_purchase_given_click', 'true_p_purchase')
    """
    cols = [truth_name(steps[0])]
    for prev, step in itertools.pairwise(steps):
        cols += [truth_name(step, prev), truth_name(step)]
    return tuple(cols)


def _per_step(value: float | Sequence[float], n: int, name: str) -> np.ndarray:
    arr = np.full(n, float(value)) if np.isscalar(value) else np.asarray(value, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"{name} needs one value per step ({n}), got {len(arr)}")
    return arr


def _rng(seed: int, stream: int, block: int, draw: int) -> np.random.Generator:
    """The NumPy generator of one draw of one block of row stream `stream`."""
    return np.random.default_rng([seed, stream + _FIRST_SOURCE, block, draw])


class FunnelGenerator:
    """A seeded generative world of a conversion funnel, with its true probabilities.

    The world (id frequencies, latent factors, drivers, intercepts) is fixed by `seed`;
    `sample` then draws exposures from independent row streams of that world.

    Args:
        steps: Funnel steps after the exposure, in order (at least two).
        reach_rates: Share of exposures that reach each step, strictly decreasing in (0, 1).
            Default: the credit-card funnel's 20 %, 5 %, 4.5 %, 0.5 % (its first
            `len(steps)` values; give them explicitly for longer funnels).
        overlap: Correlation of step t's driver with step t-1's, in [-1, 1]; one value for
            every step after the first, or a sequence of `len(steps) - 1`.
        signal: Scale of each step's logit driver (larger: more predictable); one value or
            one per step.
        fields: The input fields.
        seed: Fixes the world and, with `stream`, every sampled row.
        confounding: Weight γ of a hidden confounder: a latent z ~ N(0, 1) per exposure,
            drawn apart from the features and never among them, adds γ·z to the logit of
            every step, so that it raises clicking and converting alike. Selection is
            then no longer "at random" given the features: no model of x can know z, and
            a propensity of x alone cannot undo it. The truth columns are the exposure's
            own probabilities, z included (what it would do; the best a model of x can
            reach is their mean over z). 0 (the default) draws no z and leaves every
            sample as it was, byte for byte.

    Example:
        >>> gen = FunnelGenerator(steps=("click", "purchase"), seed=0)
        >>> frame = gen.sample(1_000)
        >>> frame.shape
        (1000, 30)
    """

    def __init__(
        self,
        steps: Sequence[str] = DEFAULT_STEPS,
        *,
        reach_rates: Sequence[float] | None = None,
        overlap: float | Sequence[float] = DEFAULT_OVERLAP,
        signal: float | Sequence[float] = DEFAULT_SIGNAL,
        fields: Sequence[FieldSpec] = DEFAULT_FIELDS,
        seed: int = 0,
        confounding: float = 0.0,
    ) -> None:
        self.steps = tuple(steps)
        n = len(self.steps)
        if n < 2:
            raise ValueError(f"a funnel needs at least two steps, got {self.steps}")
        if reach_rates is None:
            if n > len(CREDIT_CARD_REACH_RATES):
                raise ValueError(f"give reach_rates for a funnel of {n} steps")
            reach_rates = CREDIT_CARD_REACH_RATES[:n]
        self.reach_rates = _per_step(reach_rates, n, "reach_rates")
        previous = np.concatenate([[1.0], self.reach_rates[:-1]])
        if np.any(self.reach_rates <= 0) or np.any(self.reach_rates >= previous):
            raise ValueError(
                "reach_rates must be in (0, 1) and strictly decreasing along the funnel, "
                f"got {tuple(self.reach_rates)}"
            )
        self.overlap = _per_step(overlap, n - 1, "overlap (one per step after the first)")
        if np.any(np.abs(self.overlap) > 1):
            raise ValueError(f"overlap must be in [-1, 1], got {tuple(self.overlap)}")
        self.signal = _per_step(signal, n, "signal")
        if np.any(self.signal < 0):
            raise ValueError(f"signal must be >= 0, got {tuple(self.signal)}")
        if not confounding >= 0:
            raise ValueError(f"confounding must be >= 0, got {confounding}")
        self.confounding = float(confounding)
        self.fields = tuple(fields)
        self.seed = int(seed)
        self.truth = truth_columns(self.steps)
        self.schema = Schema(
            tuple(Field(f.name, f.kind, f.size) for f in self.fields), self.steps, self.truth
        )
        self._build_world(np.random.default_rng([self.seed, _WORLD]))
        self._calibrate()

    # ------------------------------------------------------------------------ the world
    def _build_world(self, rng: np.random.Generator) -> None:
        k, m, n = _LATENT_DIM, _HIDDEN_UNITS, len(self.steps)
        self._id_probs, self._factors = [], []
        for f in self.fields:
            if f.kind == "C":
                probs = np.arange(1, f.size + 1, dtype=float) ** -f.skew
                probs = probs[rng.permutation(f.size)]  # frequent ids are not the low ones
                factors = rng.normal(size=(f.size, k))
            else:
                centre = rng.uniform(0.3, 0.7) * (f.size - 1)
                probs = np.exp(-0.5 * ((np.arange(f.size) - centre) / (0.3 * f.size)) ** 2)
                walk = np.cumsum(rng.normal(size=(f.size, k)), axis=0)  # smooth in the bucket
                factors = (walk - walk.mean(0)) / (walk.std(0) + 1e-12)
            factors = np.vstack([np.zeros((1, k)), factors])  # id 0, unknown: no effect
            self._id_probs.append(probs / probs.sum())
            self._factors.append(factors * f.weight)
        # One driver per step: each weighs the fields differently, then mixes three parts.
        self._field_mult = rng.lognormal(0.0, 0.5, size=(n, len(self.fields)))
        self._linear = rng.normal(size=(n, k)) / np.sqrt(k)
        self._pair = rng.normal(size=(n, k))
        self._hidden_w = rng.normal(size=(n, k, m)) / np.sqrt(k)
        self._hidden_b = rng.normal(size=(n, m)) * 0.5
        self._hidden_u = rng.normal(size=(n, m)) / np.sqrt(m)

    def _draw_ids(self, rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
        ids = {}
        for f, probs in zip(self.fields, self._id_probs, strict=True):
            col = rng.choice(f.size, size=rows, p=probs).astype(np.int32) + 1
            if f.missing > 0:
                col[rng.random(rows) < f.missing] = 0
            ids[f.name] = col
        return ids

    def _raw_drivers(self, ids: dict[str, np.ndarray]) -> np.ndarray:
        """Unstandardized parts of every step's driver, `(steps, 3, rows)`."""
        n = len(self.steps)
        rows = len(next(iter(ids.values())))
        parts = np.empty((n, 3, rows))
        looked_up = [
            factors[ids[f.name]] for f, factors in zip(self.fields, self._factors, strict=True)
        ]
        for j in range(n):
            h = np.zeros((rows, _LATENT_DIM))
            sq = np.zeros(rows)
            for mult, v in zip(self._field_mult[j], looked_up, strict=True):
                h += mult * v
                sq += mult**2 * (v**2 * self._pair[j]).sum(1)
            parts[j, 0] = h @ self._linear[j]
            parts[j, 1] = 0.5 * ((h**2 * self._pair[j]).sum(1) - sq)  # sum over field pairs
            hidden = np.tanh(h @ self._hidden_w[j] / np.sqrt(len(self.fields)) + self._hidden_b[j])
            parts[j, 2] = hidden @ self._hidden_u[j]
        return parts

    def _drivers(self, ids: dict[str, np.ndarray]) -> np.ndarray:
        """Standardized, chained drivers `d_t(x)`, `(steps, rows)`."""
        parts = (self._raw_drivers(ids) - self._part_mean[..., None]) / self._part_std[..., None]
        g = np.einsum("p,tpr->tr", np.sqrt(_MIX), parts)
        g = (g - self._g_mean[:, None]) / self._g_std[:, None]
        d = np.empty_like(g)
        d[0] = g[0]
        for t in range(1, len(self.steps)):
            resid = (g[t] - self._beta[t] * d[t - 1] - self._r_mean[t]) / self._r_std[t]
            rho = self.overlap[t - 1]
            d[t] = rho * d[t - 1] + np.sqrt(1 - rho**2) * resid
        return d

    def _calibrate(self) -> None:
        """Fix standardization constants and intercepts on a large calibration sample."""
        ids = self._draw_block_ids(stream=_CALIBRATION_STREAM, rows=_CALIBRATION_ROWS)
        parts = self._raw_drivers(ids)
        self._part_mean, self._part_std = parts.mean(2), parts.std(2) + 1e-12
        g = np.einsum(
            "p,tpr->tr",
            np.sqrt(_MIX),
            (parts - self._part_mean[..., None]) / self._part_std[..., None],
        )
        self._g_mean, self._g_std = g.mean(1), g.std(1) + 1e-12
        g = (g - self._g_mean[:, None]) / self._g_std[:, None]
        n = len(self.steps)
        self._beta, self._r_mean, self._r_std = np.zeros(n), np.zeros(n), np.ones(n)
        d = np.empty_like(g)
        d[0] = g[0]
        for t in range(1, n):  # Gram-Schmidt: the part of g_t not explained by d_{t-1}
            self._beta[t] = np.mean(g[t] * d[t - 1]) / np.mean(d[t - 1] ** 2)
            resid = g[t] - self._beta[t] * d[t - 1]
            self._r_mean[t], self._r_std[t] = resid.mean(), resid.std() + 1e-12
            rho = self.overlap[t - 1]
            d[t] = rho * d[t - 1] + np.sqrt(1 - rho**2) * (resid - self._r_mean[t]) / self._r_std[t]
        self.intercepts = np.zeros(n)
        reach = np.ones(d.shape[1])
        hidden = self._latent(stream=_CALIBRATION_STREAM, block=0, rows=d.shape[1])
        for t in range(n):
            score = self.signal[t] * d[t] + hidden
            self.intercepts[t] = _solve_intercept(score, reach, self.reach_rates[t])
            reach = reach * _sigmoid(self.intercepts[t] + score)

    # ------------------------------------------------------------------------- sampling
    def _draw_block_ids(self, stream: int, rows: int, block: int = 0) -> dict[str, np.ndarray]:
        return self._draw_ids(_rng(self.seed, stream, block, _IDS), rows)

    def _latent(self, stream: int, block: int, rows: int) -> np.ndarray | float:
        """γ·z for each row, from a stream of its own (0 and no draw when γ = 0)."""
        if self.confounding == 0:
            return 0.0
        rng = _rng(self.seed, stream, block, _LATENT_DRAW)
        return self.confounding * rng.normal(size=rows)

    def true_probabilities(
        self, ids: dict[str, np.ndarray], latent: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """True conditional probability of every step, `(steps, rows)`.

        Args:
            ids: Column name → id array of shape `(rows,)`, one per field.
            latent: The confounder's γ·z per row (0: none, or its mean effect's centre).
        """
        d = self._drivers(ids)
        return _sigmoid(self.intercepts[:, None] + self.signal[:, None] * d + latent)

    def best_of_features(
        self, frame: pd.DataFrame, *, not_reached: str | None = None, nodes: int = 48
    ) -> np.ndarray:
        """The best prediction of every step's conditional probability from the features.

        With a hidden confounder (`confounding` γ > 0) the truth columns hold each
        exposure's own probabilities, z included, which no model of the features x can
        know. The best a model of x can predict, in squared error, is their mean over z
        given what the model's rows are: E[σ(a(x) + γz) | x], or, with `not_reached=step`,
        E[σ(a(x) + γz) | x, the step not taken], z weighted by how likely each value made
        the step's refusal (a non-clicked exposure tends to have a low z). The mean over z
        is Gauss–Hermite quadrature with `nodes` nodes. The mean absolute error of this
        oracle is what a model of x cannot beat by much: the floor of a sweep over γ.
        Without a confounder it is the truth itself.

        Args:
            frame: Rows with the schema's fields (e.g. a test split).
            not_reached: Condition on this step not being taken (the rows a metric scores).
            nodes: Quadrature nodes.

        Returns:
            `(steps, rows)` float64: each step's probability given the step before, as
            `true_probabilities`.

        Raises:
            ValueError: for a step that is not in the funnel.
        """
        if not_reached is not None and not_reached not in self.steps:
            raise ValueError(f"no step {not_reached!r} in {self.steps}")
        ids = {f.name: frame[f.name].to_numpy() for f in self.fields}
        if self.confounding == 0:
            return self.true_probabilities(ids)
        z, weight = np.polynomial.hermite_e.hermegauss(nodes)  # for a N(0, 1) density
        cond = self.true_probabilities(ids, self.confounding * z[:, None, None])  # (n, s, r)
        weight = np.broadcast_to(weight[:, None], (nodes, cond.shape[2]))
        if not_reached is not None:
            weight = weight * (1 - cond[:, self.steps.index(not_reached)])
        return np.einsum("nr,nsr->sr", weight, cond) / weight.sum(0)

    def _block(self, stream: int, block: int, rows: int, potential: bool = False) -> pd.DataFrame:
        ids = self._draw_block_ids(stream, rows, block)
        cond = self.true_probabilities(ids, self._latent(stream, block, rows))
        uniform = _rng(self.seed, stream, block, _UNIFORMS).random(cond.shape)
        frame = pd.DataFrame(ids)
        reached = np.ones(rows, dtype=bool)
        for step, p, u in zip(self.steps, cond, uniform, strict=True):
            reached = reached & (u < p)  # a step can only happen after the previous one
            frame[step] = reached.astype(np.int8)
        if potential:  # whether each exposure would take the step had it taken the one before
            for step, p, u in zip(self.steps[1:], cond[1:], uniform[1:], strict=True):
                frame[f"{POTENTIAL_PREFIX}{step}"] = (u < p).astype(np.int8)
        reach = cond[0]
        frame[self.truth[0]] = reach
        for t in range(1, len(self.steps)):
            reach = reach * cond[t]
            frame[self.truth[2 * t - 1]] = cond[t]
            frame[self.truth[2 * t]] = reach
        return frame

    def iter_blocks(
        self, n_rows: int, *, stream: int = 0, potential: bool = False
    ) -> Iterator[pd.DataFrame]:
        """Yield the rows of `sample(n_rows, stream, potential=...)` in blocks of bounded size."""
        if n_rows < 1:
            raise ValueError(f"n_rows must be >= 1, got {n_rows}")
        if stream < 0:
            raise ValueError(f"stream must be >= 0, got {stream}")
        for block, start in enumerate(range(0, n_rows, _BLOCK_ROWS)):
            yield self._block(stream, block, min(_BLOCK_ROWS, n_rows - start), potential)

    def sample(self, n_rows: int, *, stream: int = 0, potential: bool = False) -> pd.DataFrame:
        """Draw `n_rows` exposures from row stream `stream`.

        Args:
            n_rows: Exposures to draw.
            stream: Row stream (independent of every other stream of the same world).
            potential: Also return, for every step after the first, its potential outcome
                `potential_<step>`: 1 if the exposure would take the step had it taken the
                one before, for every exposure, reached or not. It is drawn with the same
                uniform as the step's label, so it equals the label wherever the step
                before was reached. An evaluation split may carry it (no schema lists
                it, so no model reads it); training data should not.

        Returns:
            A frame with one int32 column per field, one int8 0/1 column per step and the
            float ground-truth columns `truth_columns(steps)` (and the potential outcomes).
        """
        blocks = self.iter_blocks(n_rows, stream=stream, potential=potential)
        return pd.concat(list(blocks), ignore_index=True)

    def write_csv(self, path: str | Path, n_rows: int, *, stream: int = 0) -> Path:
        """Write `sample(n_rows, stream)` to a CSV (gzip if it ends in `.gz`) in blocks.

        Memory stays bounded whatever `n_rows`, and the same arguments always give
        byte-identical files (gzip with no timestamp or name in its header).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as raw:
            if path.suffix == ".gz":
                binary = gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
                )
            else:
                binary = raw
            with io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
                for i, block in enumerate(self.iter_blocks(n_rows, stream=stream)):
                    block.to_csv(
                        text,
                        header=i == 0,
                        index=False,
                        float_format=FLOAT_FORMAT,
                        lineterminator="\n",
                    )
            if binary is not raw:
                binary.close()
        return path


def make_funnel(
    n_rows: int,
    *,
    steps: Sequence[str] = DEFAULT_STEPS,
    reach_rates: Sequence[float] | None = None,
    overlap: float | Sequence[float] = DEFAULT_OVERLAP,
    signal: float | Sequence[float] = DEFAULT_SIGNAL,
    fields: Sequence[FieldSpec] = DEFAULT_FIELDS,
    seed: int = 0,
    confounding: float = 0.0,
) -> tuple[pd.DataFrame, Schema]:
    """Draw a funnel data set with known true probabilities.

    See `FunnelGenerator` for the generating process and the arguments.

    Returns:
        `(frame, schema)`: `n_rows` exposures with ids, 0/1 step labels and ground-truth
        columns, and the `Schema` describing them.

    Example:
        >>> frame, schema = make_funnel(10_000, steps=("click", "purchase"), seed=0)
        >>> schema.truth
        ('true_p_click', 'true_p_purchase_given_click', 'true_p_purchase')
    """
    gen = FunnelGenerator(
        steps,
        reach_rates=reach_rates,
        overlap=overlap,
        signal=signal,
        fields=fields,
        seed=seed,
        confounding=confounding,
    )
    return gen.sample(n_rows), gen.schema


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # exact sigmoid, no overflow for large |z|


def _solve_intercept(score: np.ndarray, weight: np.ndarray, target: float) -> float:
    """The b with mean(weight * sigmoid(b + score)) == target, by bisection."""
    lo, hi = -30.0, 30.0
    if not np.mean(weight * _sigmoid(hi + score)) > target:
        raise ValueError(
            f"reach rate {target:.4g} is not reachable: the previous step is reached by "
            f"{np.mean(weight):.4g} of exposures"
        )
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.mean(weight * _sigmoid(mid + score)) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
