"""The MMoE family: Shared-Bottom, OMoE, MMoE (one or more layers) and PLE.

Every builder takes the data's description, either

- a `Schema` (funnel or census data): one input per field, the shared field embedding,
  tasks defaulting to the schema's steps and sigmoid heads (probabilities, for binary
  cross-entropy); or
- an `int` d (dense data such as the MMoE paper's synthetic tasks): one input `"x"` of
  shape `(batch, d)`, tasks defaulting to `("task_1", "task_2")` and linear heads (for
  mean squared error),

and returns an uncompiled functional `keras.Model`. Its outputs are keyed by task: each
`(batch, 1)`. Unlike the ESMM family, every task is predicted directly over the entire
space (P(reach the step | x) for a funnel), each trained on its own label over all rows.
Mixture models also output their gate weights, `"<task>_gate"`, `(batch, experts)` (with
several layers, `"<task>_gate_<l>"` for layer l = 1, 2, ...), for plotting which experts a
task uses; they get no loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras

from mtl_lib.data.schema import Schema
from mtl_lib.layers import MLP, ExtractionLayer, MixtureOfExperts
from mtl_lib.models.common import (
    DEFAULT_EMBEDDING_DIM,
    feature_inputs,
    named_outputs,
    shared_embedding,
)

Head = Literal["sigmoid", "linear"]
DEFAULT_TASKS = ("task_1", "task_2")
SHARED = "shared"


def gate_name(task: str, layer: int | None = None) -> str:
    """Output name of a task's gate weights: `click_gate`, or `click_gate_2` at layer 2."""
    return f"{task}_gate" if layer is None else f"{task}_gate_{layer}"


def model_inputs(
    data: Schema | int,
    *,
    tasks: Sequence[str] | None = None,
    head: Head | None = None,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor, tuple[str, ...], Head]:
    """Inputs, the representation every model builds on, the tasks and the head.

    Args:
        data: A `Schema` (one input per field, shared embedding) or the width d of a dense
            input `"x"`.
        tasks: Task (output) names; default the schema's steps, or `("task_1", "task_2")`.
        head: `"sigmoid"` or `"linear"`; default sigmoid for a schema, linear for dense data.
        embedding_dim: Width of every field's embedding (schema only).

    Returns:
        `(inputs, x, tasks, head)`: the input dict, the `(batch, features)` representation,
        the task names and the head.
    """
    if isinstance(data, Schema):
        inputs = feature_inputs(data)
        x = shared_embedding(data, inputs, embedding_dim)
        tasks = tuple(tasks) if tasks is not None else data.steps
        head = head or "sigmoid"
    elif isinstance(data, int) and not isinstance(data, bool) and data > 0:
        inputs = {"x": keras.Input((data,), name="x")}
        x = inputs["x"]
        tasks = tuple(tasks) if tasks is not None else DEFAULT_TASKS
        head = head or "linear"
    else:
        raise TypeError(f"data must be a Schema or a positive input width, got {data!r}")
    if len(tasks) < 2 or len(set(tasks)) != len(tasks):
        raise ValueError(f"a multi-task model needs two or more distinct task names, got {tasks}")
    if head not in ("sigmoid", "linear"):
        raise ValueError(f"head must be 'sigmoid' or 'linear', got {head!r}")
    return inputs, x, tasks, head


def _towers(
    representations: Sequence[keras.KerasTensor],
    tasks: Sequence[str],
    tower_units: Sequence[int],
    head: Head,
) -> dict[str, keras.KerasTensor]:
    """ŷ_k = head(w_kᵀ tower_k(f^k)) for every task k."""
    outputs = {}
    for task, rep in zip(tasks, representations, strict=True):
        if tower_units:
            rep = MLP(tower_units, name=f"{task}_tower")(rep)
        activation = "sigmoid" if head == "sigmoid" else None
        outputs[task] = keras.layers.Dense(1, activation=activation, name=f"{task}_head")(rep)
    return outputs


def build_shared_bottom(
    data: Schema | int,
    *,
    tasks: Sequence[str] | None = None,
    bottom_units: Sequence[int] = (64,),
    tower_units: Sequence[int] = (8,),
    head: Head | None = None,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    name: str = "shared_bottom",
) -> keras.Model:
    """Shared-Bottom (Caruana, 1997): one bottom network for every task, one tower each.

        y_k = h^k(f(x))

    The baseline of the MMoE paper: all tasks share every bottom parameter, which helps when
    tasks are related and hurts when they conflict.

    Args:
        data: A `Schema`, or the width of a dense input `"x"` (see the module docstring).
        tasks: Task names (default: the schema's steps, or `task_1`, `task_2`).
        bottom_units: Hidden widths of the shared bottom f.
        tower_units: Hidden widths of each task's tower h^k (empty for none).
        head: `"sigmoid"` (probabilities) or `"linear"` (regression); default by `data`.
        embedding_dim: Width of every field's embedding (schema only).
        name: The model's name.

    Returns:
        A model mapping the inputs to `{task: (batch, 1)}`.
    """
    inputs, x, tasks, head = model_inputs(data, tasks=tasks, head=head, embedding_dim=embedding_dim)
    bottom = MLP(bottom_units, name="shared_bottom")(x)  # f(x)
    outputs = _towers([bottom] * len(tasks), tasks, tower_units, head)
    return keras.Model(inputs, named_outputs(outputs), name=name)


def build_mmoe(
    data: Schema | int,
    *,
    tasks: Sequence[str] | None = None,
    num_experts: int = 8,
    expert_units: Sequence[int] = (16,),
    num_layers: int = 1,
    tower_units: Sequence[int] = (8,),
    shared_gate: bool = False,
    head: Head | None = None,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    name: str = "mmoe",
) -> keras.Model:
    """Multi-gate Mixture-of-Experts (Ma et al., KDD 2018), one or more layers.

        f^k(x) = Σ_i g^k(x)_i f_i(x),  g^k(x) = softmax(W_gk x),  y_k = h^k(f^k(x))

    The experts f_i are shared; each task mixes them with its own gate. Deep experts
    (`expert_units=(64, 16)`) are what the original project's second version called a
    multi-layer MMoE; `num_layers > 1` stacks mixture layers instead, each task's gate and
    experts at layer l+1 taking that task's mixture from layer l (see
    `mtl_lib.layers.MixtureOfExperts`).

    Args:
        data: A `Schema`, or the width of a dense input `"x"` (see the module docstring).
        tasks: Task names (default: the schema's steps, or `task_1`, `task_2`).
        num_experts: Experts per layer.
        expert_units: Hidden widths of every expert.
        num_layers: Stacked mixture layers.
        tower_units: Hidden widths of each task's tower h^k (empty for none).
        shared_gate: One gate for every task: OMoE (see `build_omoe`).
        head: `"sigmoid"` (probabilities) or `"linear"` (regression); default by `data`.
        embedding_dim: Width of every field's embedding (schema only).
        name: The model's name.

    Returns:
        A model mapping the inputs to `{task: (batch, 1)}` and the gates
        `{"<task>_gate": (batch, num_experts)}` (`"<task>_gate_<l>"` per layer when
        `num_layers > 1`).

    Example:
        >>> schema = Schema.load("data/funnel").with_steps(("click", "apply"))  # doctest: +SKIP
        >>> model = build_mmoe(schema, num_experts=8, expert_units=(64, 16))  # doctest: +SKIP
        >>> sorted(model.output_names)  # doctest: +SKIP
        ['apply', 'apply_gate', 'click', 'click_gate']
        >>> sorted(build_mmoe(100, num_layers=2).output_names)[:3]
        ['task_1', 'task_1_gate_1', 'task_1_gate_2']
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    inputs, x, tasks, head = model_inputs(data, tasks=tasks, head=head, embedding_dim=embedding_dim)
    reps, gates = x, {}
    for layer in range(1, num_layers + 1):
        moe = MixtureOfExperts(
            len(tasks),
            num_experts,
            expert_units,
            shared_gate=shared_gate,
            name="moe" if num_layers == 1 else f"moe_{layer}",
        )
        reps, layer_gates = moe(reps)
        for task, gate in zip(tasks, layer_gates, strict=True):
            gates[gate_name(task, None if num_layers == 1 else layer)] = gate
    outputs = _towers(reps, tasks, tower_units, head)
    return keras.Model(inputs, named_outputs({**outputs, **gates}), name=name)


def build_omoe(
    data: Schema | int,
    *,
    tasks: Sequence[str] | None = None,
    num_experts: int = 8,
    expert_units: Sequence[int] = (16,),
    tower_units: Sequence[int] = (8,),
    head: Head | None = None,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    name: str = "omoe",
) -> keras.Model:
    """One-gate Mixture-of-Experts: MMoE's baseline with a single gate for every task.

        f(x) = Σ_i g(x)_i f_i(x),  y_k = h^k(f(x))

    Every task gets the same mixture, so OMoE isolates what the per-task gates add.
    Arguments and outputs as `build_mmoe` (every task's gate output is the same).
    """
    return build_mmoe(
        data,
        tasks=tasks,
        num_experts=num_experts,
        expert_units=expert_units,
        tower_units=tower_units,
        shared_gate=True,
        head=head,
        embedding_dim=embedding_dim,
        name=name,
    )


def build_ple(
    data: Schema | int,
    *,
    tasks: Sequence[str] | None = None,
    num_task_experts: int = 2,
    num_shared_experts: int = 2,
    expert_units: Sequence[int] = (16,),
    num_levels: int = 2,
    tower_units: Sequence[int] = (8,),
    head: Head | None = None,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    name: str = "ple",
) -> keras.Model:
    """Progressive Layered Extraction (Tang et al., RecSys 2020); CGC with `num_levels=1`.

    Each task has its own experts besides the shared ones, and task k's gate mixes only
    its own and the shared experts (customized gate control):

        h_k = Σ_i g^k(x_k)_i E_i,  i ∈ task k's experts ∪ shared experts,

    Levels are stacked; every level but the last also mixes all the experts into a shared
    representation for the next level's shared experts (see
    `mtl_lib.layers.ExtractionLayer`).

    Args:
        data: A `Schema`, or the width of a dense input `"x"` (see the module docstring).
        tasks: Task names (default: the schema's steps, or `task_1`, `task_2`).
        num_task_experts: Experts of each task, per level.
        num_shared_experts: Shared experts, per level.
        expert_units: Hidden widths of every expert.
        num_levels: Stacked extraction layers.
        tower_units: Hidden widths of each task's tower (empty for none).
        head: `"sigmoid"` (probabilities) or `"linear"` (regression); default by `data`.
        embedding_dim: Width of every field's embedding (schema only).
        name: The model's name.

    Returns:
        A model mapping the inputs to `{task: (batch, 1)}` and each task's gate over all
        of a level's experts, `(batch, tasks × num_task_experts + num_shared_experts)`:
        `"<task>_gate"` with one level, `"<task>_gate_<l>"` per level otherwise, and
        `"shared_gate_<l>"` for the shared gate of every level but the last.

    Example:
        >>> model = build_ple(100, num_levels=2)
        >>> tuple(model.get_layer("task_1_gate_2").output.shape)  # 2 × 2 task + 2 shared
        (None, 6)
    """
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    inputs, x, tasks, head = model_inputs(data, tasks=tasks, head=head, embedding_dim=embedding_dim)
    reps, gates = x, {}
    for level in range(1, num_levels + 1):
        last = level == num_levels
        layer = ExtractionLayer(
            len(tasks),
            num_task_experts,
            num_shared_experts,
            expert_units,
            shared_output=not last,
            name="cgc" if num_levels == 1 else f"extraction_{level}",
        )
        reps, level_gates = layer(reps)
        names = [gate_name(t, None if num_levels == 1 else level) for t in tasks]
        if not last:
            names.append(gate_name(SHARED, level))
        gates.update(zip(names, level_gates, strict=True))
    outputs = _towers(reps, tasks, tower_units, head)
    return keras.Model(inputs, named_outputs({**outputs, **gates}), name=name)
