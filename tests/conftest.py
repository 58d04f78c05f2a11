"""Fixtures the unit tests share: a seed, small synthetic splits, and a `.keras` round trip.

Tests that start processes (fresh interpreters, worker pools, notebooks) are marked `slow`;
`make unit FAST=1` skips them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import keras
import pytest

import mtl_lib as mtl


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: starts other processes (fresh interpreters, worker pools); "
        "`make unit FAST=1` skips them",
    )


@pytest.fixture
def seeded() -> None:
    """Keras, NumPy and Python seeded with 0 before the test (its weights and draws fixed)."""
    keras.utils.set_random_seed(0)


@functools.cache
def _splits(steps: tuple[str, ...], seed: int, rows: tuple[int, int, int]) -> mtl.experiment.Splits:
    gen = mtl.synthetic.FunnelGenerator(steps, seed=seed)
    train, valid, test = (gen.sample(n, stream=s) for s, n in enumerate(rows))
    return mtl.experiment.Splits.from_frames(gen.schema, train, valid, test)


@pytest.fixture(scope="session")
def small_splits() -> Callable[..., mtl.experiment.Splits]:
    """`small_splits(steps, seed=3, rows=(4_000, 1_000, 3_000))`: splits of a synthetic funnel.

    Training, validation and test rows come from the generator's streams 0, 1 and 2. The
    same arguments give the same object (drawn once per session): do not change it.
    """

    def make(
        steps: Sequence[str] = ("click", "purchase"),
        seed: int = 3,
        rows: tuple[int, int, int] = (4_000, 1_000, 3_000),
    ) -> mtl.experiment.Splits:
        return _splits(tuple(steps), seed, tuple(rows))

    return make


@pytest.fixture
def round_trip(tmp_path) -> Callable[[keras.Model], keras.Model]:
    """`round_trip(model)`: the model saved to a `.keras` file and loaded back."""

    def save_and_load(model: keras.Model, name: str = "model") -> keras.Model:
        path = tmp_path / f"{name}.keras"
        model.save(path)
        return keras.saving.load_model(path)

    return save_and_load
