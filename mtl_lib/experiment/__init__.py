"""Run one model, or many over seeds, on the same data, and collect tidy results.

splits = mtl.experiment.Splits.load("data/funnel")
result = mtl.experiment.run("aitm", splits, seed=0, epochs=3)
table, _ = mtl.experiment.run_seeds(["esmm_chain", "aitm"], splits, seeds=[0, 1, 2])

`Splits` (`mtl_lib.datasets.Splits`) holds the data. By concept, dependencies pointing down
the list:

- `registry`: the models a comparison trains by name, one `ModelSpec` record each.
- `runs`: `run` (one model, one seed) and `run_base` (the ESMM paper's BASE), `BUDGET`,
  `COUNTERFACTUAL_BUDGET`.
- `parallel`: `run_seeds`, over models and seeds, in worker processes if asked (`Workers`).
- `correlated`: `correlated_run`, one run of the MMoE paper's synthetic regression tasks.
- `report`: `summarize` and `markdown_table`; `save_results`, `load_results` and
  `results_folder`, for results a reader explores without re-running a notebook.
"""

from mtl_lib.datasets.splits import TEST_STREAM, Splits
from mtl_lib.experiment.correlated import CorrelatedRun, correlated_run
from mtl_lib.experiment.parallel import SeedRuns, Workers, run_seeds
from mtl_lib.experiment.registry import (
    BASE,
    LABELS,
    MODELS,
    OBJECTIVES,
    REGISTRY,
    TWO_STEP,
    ModelSpec,
    register,
)
from mtl_lib.experiment.report import (
    load_results,
    markdown_table,
    results_folder,
    save_results,
    summarize,
)
from mtl_lib.experiment.runs import (
    BUDGET,
    COUNTERFACTUAL_BUDGET,
    RunResult,
    fresh_model,
    run,
    run_base,
)

__all__ = [
    "BASE",
    "BUDGET",
    "COUNTERFACTUAL_BUDGET",
    "LABELS",
    "MODELS",
    "OBJECTIVES",
    "REGISTRY",
    "TEST_STREAM",
    "TWO_STEP",
    "CorrelatedRun",
    "ModelSpec",
    "RunResult",
    "SeedRuns",
    "Splits",
    "Workers",
    "correlated_run",
    "fresh_model",
    "load_results",
    "markdown_table",
    "register",
    "results_folder",
    "run",
    "run_base",
    "run_seeds",
    "save_results",
    "summarize",
]
