"""mtl_lib: multi-task learning for conversion funnels, on TensorFlow 2.21 and Keras 3.

Modules, by concept (dependencies point down the list):

- `mtl_lib.data`: the `Schema` of a data set, reading CSV splits into `tf.data`, validation.
- `mtl_lib.metrics`: evaluation over a whole split (AUC, calibration, Bayes ceiling).
- `mtl_lib.synthetic`, `mtl_lib.datasets`: data with known ground truth (`make_funnel`,
  the MMoE paper's correlated tasks), real data (UCI census-income, cached, checksummed;
  AliExpress; Ali-CCP), and `Splits`, the one container of every data set's splits.
- `mtl_lib.layers`: Keras 3 layers (field embedding, MLP, label-order penalty, AIT, experts).
- `mtl_lib.models`: functional builders, outputs keyed by step (task) name.
- `mtl_lib.losses`: objectives beyond a cross-entropy per step (ESCM²'s and DCMT's).
- `mtl_lib.optimizers`: `Adam` (Adam proper on embedding rows a batch repeats, where
  Keras 3's is not; one fused kernel per weight) and `LazyAdam`, Adam that updates only the
  embedding rows a batch uses.
- `mtl_lib.train`: seeding, compiling, training (on one device or under a `tf.distribute`
  strategy) and predicting.
- `mtl_lib.serving`: export a trained model as a SavedModel of raw feature columns.
- `mtl_lib.experiment`: one call to run a model (or many, over seeds) and tidy results.
- `mtl_lib.plots`: figures; draws arrays and frames, never imports model code.
- `mtl_lib.source`: the code behind an equation, printed in a notebook (`listing`).
- `mtl_lib.machine`: what a trained number depends on beyond code and seed (CPU, float path).
"""

# Importing changes no environment variable and no global state. TensorFlow's float path
# on a CPU (oneDNN's kernels or Eigen's) and its log level are the caller's choice, made
# before TensorFlow loads: `make lab`, `make test` and `make notebooks` export
# TF_ENABLE_ONEDNN_OPTS=0 (the path that wrote the committed outputs) and
# TF_CPP_MIN_LOG_LEVEL=3; `mtl_lib.machine.describe()` prints which path a process is on.

from mtl_lib import (
    data,
    datasets,
    experiment,
    layers,
    losses,
    machine,
    metrics,
    models,
    optimizers,
    serving,
    source,
    synthetic,
    train,
)

__all__ = [
    "data",
    "datasets",
    "experiment",
    "layers",
    "losses",
    "machine",
    "metrics",
    "models",
    "optimizers",
    "plots",
    "serving",
    "source",
    "synthetic",
    "train",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    """`mtl_lib.plots`, imported on first use: seaborn loads then, not at import.

    Keras and TensorFlow import matplotlib and PIL themselves.
    """
    if name == "plots":
        import importlib

        return importlib.import_module("mtl_lib.plots")
    raise AttributeError(f"module 'mtl_lib' has no attribute {name!r}")
