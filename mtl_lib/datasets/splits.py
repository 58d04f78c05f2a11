"""`Splits`: the train, validation and test frames of any data set, with its schema.

The one container of every data set: the shipped funnel and data folders (`Splits.load`),
frames in memory (`Splits.from_frames`), one seed's draw of a synthetic world
(`Splits.from_generator`), and the real data sets' loaders (`load_census`,
`load_aliexpress`), which return it with `source` (and `vocabulary`) set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import tensorflow as tf

from mtl_lib.data import Schema, make_dataset, read_frame, split_path, truth_name
from mtl_lib.metrics import bayes_ceiling
from mtl_lib.synthetic import FunnelGenerator

SPLITS = ("train", "valid", "test")

#: Row stream of a synthetic world's shared test split (see `Splits.from_generator`): the
#: seeds' training and validation rows come from streams 0, 1, 2, ..., never this one.
TEST_STREAM = 99


@dataclass
class Splits:
    """Train, validation and test frames of one data set, with its schema.

    Attributes:
        schema: The input fields and, as its steps, the labels (a funnel's steps in order,
            or the tasks of a data set that is not a funnel, e.g. census-income's).
        train, valid, test: One row per example: the ids, values and labels.
        ceiling: The Bayes ceiling of the test split (AUC and log loss of the true
            probabilities), where the frames carry them (synthetic data); else None.
        source: How the splits were made, in words (the real data sets' loaders say).
        vocabulary: The category codes kept, where a loader fitted them on `train`
            (AliExpress); else None.
    """

    schema: Schema
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    ceiling: pd.DataFrame | None = field(default=None, repr=False)
    source: str = ""
    vocabulary: Any = field(default=None, repr=False)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The labels, in order (the schema's steps)."""
        return self.schema.steps

    def dataset(
        self, split: str, *, batch_size: int = 1024, shuffle: bool = False, seed: int | None = None
    ) -> tf.data.Dataset:
        """Batches `(features, labels)` of `split` (`"train"`, `"valid"` or `"test"`).

        The frames were validated when they were read, and the labels need not form a
        funnel (census-income's tasks do not): the rows are not checked again.

        Returns:
            A dataset as `mtl_lib.data.make_dataset` gives: `({"ids": (batch, fields)
            int32, ...}, {step: (batch, 1), ...})`.

        Raises:
            ValueError: for another split name.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        return make_dataset(
            getattr(self, split),
            self.schema,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            validate=False,
        )

    @classmethod
    def load(
        cls,
        folder: str | Path,
        steps: Sequence[str] | None = None,
        *,
        drop_inconsistent: bool = False,
    ) -> Splits:
        """Read and validate `train`, `valid`, `test` from a data folder.

        Args:
            folder: A folder in the project's layout, or the original project's
                (`info_v4.csv`, `embedding_number_v4.json`, `sample_*.csv`; see
                `data/README.md`).
            steps: Optionally, the first steps only (e.g. `("click", "apply")`). When the
                feature list does not mark them all as targets (the original project's
                list marks one), they name the funnel's label columns in funnel order.
            drop_inconsistent: Drop training, validation and test rows that reach a step
                without the one before (real logs have a few), with a warning.
        """
        schema = Schema.load(folder)
        if steps is not None and not set(steps) <= set(schema.steps):
            schema = Schema.load(folder, steps=steps)  # the labels named by the caller
        frames = {
            name: read_frame(split_path(folder, name), schema, drop_inconsistent=drop_inconsistent)
            for name in SPLITS
        }
        return cls.from_frames(schema, **frames, steps=steps)

    @classmethod
    def from_frames(
        cls,
        schema: Schema,
        train: pd.DataFrame,
        valid: pd.DataFrame,
        test: pd.DataFrame,
        steps: Sequence[str] | None = None,
    ) -> Splits:
        """Splits of in-memory frames (e.g. from `mtl_lib.synthetic`)."""
        if steps is not None:
            steps = tuple(steps)
            if steps != schema.steps[: len(steps)]:
                raise ValueError(f"steps must be the first steps of {schema.steps}, got {steps}")
            truth = [  # each kept step's truth, entire-space and given the step before
                c
                for c in schema.truth
                if any(c == truth_name(s) or c.startswith(truth_name(s, "")) for s in steps)
            ]
            schema = schema.with_steps(steps, truth)
        splits = cls(schema, train, valid, test)
        if all(truth_name(s) in test.columns for s in schema.steps):
            splits.ceiling = bayes_ceiling(test, schema)
        return splits

    @classmethod
    def from_generator(
        cls,
        generator: FunnelGenerator,
        seed: int,
        *,
        train_rows: int,
        valid_rows: int,
        test: pd.DataFrame,
    ) -> Splits:
        """One seed's splits of a synthetic world: rows of its own, and a shared test split.

        Seed s draws its training rows from the generator's row stream 2s and its
        validation rows from stream 2s + 1, so every seed trains on a fresh sample of the
        same world and no two seeds share a row. Every seed is judged on the same test
        rows: draw them once, from a stream no seed uses (`TEST_STREAM`), and pass them.

        Args:
            generator: The world, e.g. `mtl_lib.synthetic.FunnelGenerator(...)`.
            seed: The seed, 0 or more.
            train_rows: Training exposures to draw.
            valid_rows: Validation exposures to draw.
            test: The shared test split, e.g. `generator.sample(rows, stream=TEST_STREAM)`.

        Raises:
            ValueError: if `seed` is negative or its streams would include `TEST_STREAM`.

        Example:
            >>> gen = mtl.synthetic.FunnelGenerator(("click", "purchase"))  # doctest: +SKIP
            >>> test = gen.sample(40_000, stream=TEST_STREAM)  # doctest: +SKIP
            >>> splits = Splits.from_generator(
            ...     gen, 3, train_rows=30_000, valid_rows=6_000, test=test
            ... )  # doctest: +SKIP
        """
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if TEST_STREAM in (2 * seed, 2 * seed + 1):
            raise ValueError(
                f"seed {seed} would draw its rows from streams {2 * seed} and {2 * seed + 1}, "
                f"and stream {TEST_STREAM} holds the test split: choose another seed"
            )
        train = generator.sample(train_rows, stream=2 * seed)
        valid = generator.sample(valid_rows, stream=2 * seed + 1)
        return cls.from_frames(generator.schema, train, valid, test)
