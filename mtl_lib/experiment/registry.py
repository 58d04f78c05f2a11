"""The models a comparison can train by name: one record per model.

A record holds everything `run` needs to know about a model: its builder, how tables and
figures name it, its objective, and whether it learns the first and last step only.
Adding a model is adding one record:

    mtl.experiment.register("mmoe_wide", ModelSpec(
        partial(mtl.models.build_mmoe, num_experts=16), label="MMoE, 16 experts"))

`MODELS`, `OBJECTIVES`, `LABELS` and `TWO_STEP` are views of the records (`MODELS["x"]`
is the builder of record "x"); assigning `MODELS["x"] = build` adds a record with that
builder, and `OBJECTIVES["x"] = objective` changes record x's objective.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from functools import partial

import keras

from mtl_lib import losses, models

#: "base" is not a single model: one per step, each on the rows that reached the step
#: before (see `mtl_lib.experiment.run_base`).
BASE = "base"
BASE_LABEL = "BASE"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the registry.

    Attributes:
        build: `f(schema, **kwargs) -> keras.Model`, outputs keyed by step.
        label: How figures and tables name the model.
        objective: `f(steps) -> mtl_lib.losses.Objective`: a cross-entropy per step unless
            the model trains with more (ESCM²'s and DCMT's counterfactual terms).
        two_step: On a longer funnel, the model learns its first and last step (exposure →
            click → activate), as the original ESMM would be applied to it, without the
            labels between.
        variant_of: For a control or a setting of another record's model (the same
            builder, another objective: notebook 01b's), that record's name. Tests that
            cover every architecture skip variants; `variant_of` names what they test.
    """

    build: Callable[..., keras.Model]
    label: str
    objective: Callable[[Sequence[str]], losses.Objective] = losses.cross_entropy
    two_step: bool = False
    variant_of: str | None = None


_ESCM2 = {
    estimator: ModelSpec(
        partial(models.build_escm2, estimator=estimator),
        f"ESCM²-{estimator.upper()}",
        partial(losses.escm2, estimator=estimator),
        two_step=True,
    )
    for estimator in ("ips", "dr")
}
_DCMT = ModelSpec(models.build_dcmt, "DCMT", losses.dcmt, two_step=True)


def _variant(of: str, label: str, **settings) -> ModelSpec:
    """Record `of`'s model (ESCM² or DCMT) with its objective's `settings` changed."""
    default = {"escm2_ips": _ESCM2["ips"], "escm2_dr": _ESCM2["dr"], "dcmt": _DCMT}[of]
    objective = partial(default.objective, **settings)
    return dataclasses.replace(default, label=label, objective=objective, variant_of=of)


# The mixture family's sizes make every multi-task model of the funnel comparable: 55k to
# 70k parameters above the shared embedding (151k on the shipped funnel), as the ESMM
# family's towers have with their defaults (ESMM's two towers: 30k; ESMM-NS also has a
# second embedding; ESCM²-DR a third tower, for the imputed error, and DCMT one for the
# counterfactual CVR: 45k).
REGISTRY: dict[str, ModelSpec] = {
    "esmm": ModelSpec(models.build_esmm, "ESMM", two_step=True),
    "esmm_ns": ModelSpec(
        partial(models.build_esmm, share_embedding=False, name="esmm_ns"), "ESMM-NS", two_step=True
    ),
    "esmm_chain": ModelSpec(models.build_esmm_chain, "v2 chain"),
    "esmm_concat": ModelSpec(models.build_esmm_concat, "v3 concat"),
    "aitm": ModelSpec(models.build_aitm, "v4 AITM"),
    "escm2_ips": _ESCM2["ips"],
    "escm2_dr": _ESCM2["dr"],
    "dcmt": _DCMT,
    # Controls and settings of the counterfactual estimators (notebook 01b): the same
    # architectures, other objectives.
    "escm2_ips_oracle": _variant("escm2_ips", "ESCM²-IPS, true p", propensity="oracle"),
    "escm2_dr_oracle": _variant("escm2_dr", "ESCM²-DR, true p", propensity="oracle"),
    "escm2_ips_paper": _variant("escm2_ips", "ESCM²-IPS, ÷ exposures", normalisation="exposures"),
    "escm2_dr_clip3": _variant("escm2_dr", "ESCM²-DR, clip 3", clip=3.0),
    "dcmt_lambda1": _variant("dcmt", "DCMT, λ = 1", prior_weight=1.0),
    "dcmt_clip15": _variant("dcmt", "DCMT, clip 15", clip=15.0),
    "dcmt_lambda1_clip15": _variant("dcmt", "DCMT, λ = 1, clip 15", prior_weight=1.0, clip=15.0),
    "shared_bottom": ModelSpec(
        partial(models.build_shared_bottom, bottom_units=(192, 64), tower_units=(32,)),
        "Shared-Bottom",
    ),
    "omoe": ModelSpec(
        partial(models.build_omoe, num_experts=8, expert_units=(32,), tower_units=(16,)), "OMoE"
    ),
    "mmoe": ModelSpec(
        partial(models.build_mmoe, num_experts=8, expert_units=(32,), tower_units=(16,)), "MMoE"
    ),
    "mmoe_deep": ModelSpec(
        partial(
            models.build_mmoe,
            num_experts=8,
            expert_units=(32, 16),
            tower_units=(16,),
            name="mmoe_deep",
        ),
        "MMoE, deep experts",
    ),
    "mmoe_2_layers": ModelSpec(
        partial(
            models.build_mmoe,
            num_experts=8,
            expert_units=(32,),
            num_layers=2,
            tower_units=(16,),
            name="mmoe_2_layers",
        ),
        "MMoE, 2 layers",
    ),
    "ple": ModelSpec(
        partial(
            models.build_ple,
            num_task_experts=2,
            num_shared_experts=2,
            expert_units=(24,),
            num_levels=2,
            tower_units=(16,),
        ),
        "PLE",
    ),
}


def register(name: str, spec: ModelSpec) -> None:
    """Add a model (or replace one) under `name`, for `run` and `run_seeds`.

    The record lives in this process. `run_seeds(..., workers=2)` trains in fresh worker
    processes, which see the records of a fresh import: there, register the model in a
    module the workers import too, or train it with `workers=1`.

    Raises:
        ValueError: for the name of BASE, which is not a single model.
    """
    if name == BASE:
        raise ValueError(f"{BASE!r} names BASE's set of single-task models; choose another name")
    REGISTRY[name] = spec


def spec(name: str) -> ModelSpec:
    """The record of model `name`.

    Raises:
        ValueError: for a name with no record, listing the names there are.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose from {[BASE, *REGISTRY]}")
    return REGISTRY[name]


class _View(MutableMapping):
    """One attribute of every record, as a dict keyed by model name (see the module)."""

    def __init__(self, attribute: str, *, only_set: bool = False) -> None:
        self._attribute = attribute
        self._only_set = only_set  # only the records that change the attribute's default

    def _names(self) -> list[str]:
        default = ModelSpec.__dataclass_fields__[self._attribute].default
        return [
            name
            for name, record in REGISTRY.items()
            if not self._only_set or getattr(record, self._attribute) is not default
        ]

    def __getitem__(self, name: str):
        if name not in self._names():
            raise KeyError(name)
        return getattr(REGISTRY[name], self._attribute)

    def __setitem__(self, name: str, value) -> None:
        if name in REGISTRY:
            REGISTRY[name] = dataclasses.replace(REGISTRY[name], **{self._attribute: value})
        elif self._attribute == "build":
            register(name, ModelSpec(value, label=name))
        else:
            raise KeyError(
                f"no model {name!r} to set the {self._attribute} of: register it first "
                f"(MODELS[{name!r}] = its builder, or mtl.experiment.register)"
            )

    def __delitem__(self, name: str) -> None:
        if self._attribute != "build":
            raise TypeError(f"remove a model from MODELS, not from its {self._attribute}")
        del REGISTRY[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(dict(self))


class _Labels(_View):
    """Model name → label, BASE's first."""

    def __init__(self) -> None:
        super().__init__("label")

    def _names(self) -> list[str]:
        return [BASE, *REGISTRY]

    def __getitem__(self, name: str) -> str:
        return BASE_LABEL if name == BASE else super().__getitem__(name)

    def __setitem__(self, name: str, value: str) -> None:
        if name == BASE:
            raise KeyError(f"{BASE!r} is not a record: its label is {BASE_LABEL!r}")
        super().__setitem__(name, value)


class _TwoStep(Sequence):
    """The names of the two-step models, in the registry's order."""

    def _names(self) -> tuple[str, ...]:
        return tuple(name for name, record in REGISTRY.items() if record.two_step)

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


#: Model name → builder `f(schema, **kwargs) -> keras.Model` with outputs keyed by step.
MODELS: MutableMapping[str, Callable[..., keras.Model]] = _View("build")
#: Models trained with more than a cross-entropy per step: model name → `f(steps) ->
#: mtl_lib.losses.Objective` (the others get `mtl_lib.losses.cross_entropy`).
OBJECTIVES: MutableMapping[str, Callable] = _View("objective", only_set=True)
#: How figures and tables name each model (BASE included).
LABELS: MutableMapping[str, str] = _Labels()
#: Models of two steps (see `ModelSpec.two_step`).
TWO_STEP: Sequence[str] = _TwoStep()
