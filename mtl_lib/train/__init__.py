"""Compile, train and predict: the loop every notebook shares.

mtl.train.set_seed(0)
model = mtl.models.build_esmm(schema)
mtl.train.compile_model(model, schema.steps)          # BCE on each step's output
history = mtl.train.fit(model, train_ds, validation=valid_ds, epochs=3)
predictions = mtl.train.predict(model, test_frame, schema)

The same, replicated by a `tf.distribute` strategy (the model is built and compiled under
its scope; see `train_model` for running on a cluster):

model, history = mtl.train.train_model(
    lambda: mtl.models.build_esmm(schema), train_ds, schema.steps,
    strategy=tf.distribute.MirroredStrategy(), epochs=3,
)

By concept, dependencies pointing down the list: `seeding` (`set_seed`), `predicting`
(`predict`, and the traced forward pass that also scores validation), `fitting`
(`compile_model`, `fit`), `distribute` (`scope`, `train_model`).
"""

from mtl_lib.train.distribute import scope, train_model
from mtl_lib.train.fitting import (
    DEFAULT_LEARNING_RATE,
    SELECTED,
    STEPS_PER_EXECUTION,
    KeepBest,
    StopWhenAll,
    compile_model,
    fit,
)
from mtl_lib.train.predicting import PREDICT_BATCH, predict
from mtl_lib.train.seeding import set_seed

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "PREDICT_BATCH",
    "SELECTED",
    "STEPS_PER_EXECUTION",
    "KeepBest",
    "StopWhenAll",
    "compile_model",
    "fit",
    "predict",
    "scope",
    "set_seed",
    "train_model",
]
