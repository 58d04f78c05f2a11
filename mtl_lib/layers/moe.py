"""Mixtures of experts: MMoE and OMoE (Ma et al., KDD 2018), PLE's extraction layer (CGC).

Every layer here returns `(outputs, gates)`: one representation per task (and, for a
non-final PLE layer, one shared representation), and the softmax gate weights that mixed
them, one `(batch, experts)` array per gate, so that a notebook can plot which experts
each task uses.

Every expert is its own `MLP` with its own freshly initialized weights: no integer seed is
passed to the experts, so they draw different initial weights from the global seed
(`keras.utils.set_random_seed`). Handing every expert the same initializer seed, as some
libraries do, starts all experts identical and makes the mixture pointless.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import keras
from keras import ops

from mtl_lib.layers.core import MLP, PACKAGE


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _is_list(inputs: object) -> bool:
    return isinstance(inputs, list | tuple)


def _same_shapes(shapes: Sequence[tuple], what: str) -> tuple:
    widths = {tuple(s)[-1] for s in shapes}
    if len(widths) != 1:
        raise ValueError(f"{what} must all have the same width, got widths {sorted(widths)}")
    return tuple(shapes[0])


@keras.saving.register_keras_serializable(package=PACKAGE)
class MixtureOfExperts(keras.layers.Layer):
    """Multi-gate mixture of experts (MMoE), or one gate for every task (OMoE).

    `num_experts` expert networks f_i are shared by all tasks; task k mixes them with its
    own softmax gate over the experts,

        f^k(x) = Σ_i g^k(x)_i f_i(x),    g^k(x) = softmax(W_gk x),

    so tasks that need different things can learn to use different experts. With
    `shared_gate=True` there is a single gate g for every task (the paper's OMoE
    baseline), and every task receives the same mixture.

    **Stacking** (multi-layer MMoE). Called on a list of `num_tasks` tensors, one per task
    (the outputs of the layer below), the layer keeps the tasks' paths apart: task k's
    gate sees task k's representation h_k, and so do the experts that it mixes,

        f^k = Σ_i g^k(h_k)_i f_i(h_k).

    The experts' weights are shared by every task, but each task runs them on its own
    representation: a task's representation is never averaged with another task's, so a
    task that has separated from the others at layer l stays separate above it.

    Args:
        num_experts: Number of experts.
        expert_units: Hidden widths of every expert, e.g. `(16,)` or `(64, 16)` for
            deep experts; each task's output has width `expert_units[-1]`.
        num_tasks: Number of tasks (gates).
        shared_gate: One gate for all tasks (OMoE) instead of one per task (MMoE).
        expert_activation: Activation of the experts' layers.
        expert_dropout: Dropout after each expert layer.

    Call args:
        inputs: `(batch, d)` floats seen by every task, or a list of `num_tasks` tensors
            `(batch, d)`, task k's representation (when stacked on another layer).
        training: Whether dropout is active.

    Returns:
        `(outputs, gates)`: `outputs` a list of `num_tasks` tensors `(batch,
        expert_units[-1])`, the tasks' mixtures; `gates` a list of `num_tasks` tensors
        `(batch, num_experts)`, each row summing to one (identical lists with
        `shared_gate=True`).

    Example:
        >>> layer = MixtureOfExperts(num_experts=4, expert_units=(8,), num_tasks=2)
        >>> outputs, gates = layer(ops.ones((3, 5)))
        >>> [tuple(o.shape) for o in outputs], tuple(gates[0].shape)
        ([(3, 8), (3, 8)], (3, 4))
    """

    def __init__(
        self,
        num_experts: int,
        expert_units: Sequence[int],
        num_tasks: int = 2,
        *,
        shared_gate: bool = False,
        expert_activation: str = "relu",
        expert_dropout: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        _check_positive(num_experts=num_experts, num_tasks=num_tasks)
        self.num_experts = num_experts
        self.expert_units = tuple(int(u) for u in expert_units)
        self.num_tasks = num_tasks
        self.shared_gate = bool(shared_gate)
        self.expert_activation = expert_activation
        self.expert_dropout = expert_dropout
        self.experts = [
            MLP(self.expert_units, expert_activation, expert_dropout, name=f"expert_{i}")
            for i in range(num_experts)
        ]
        self.gates = [
            keras.layers.Dense(num_experts, activation="softmax", name=f"gate_{k}")
            for k in range(1 if self.shared_gate else num_tasks)
        ]

    @property
    def output_dim(self) -> int:
        """Width of each task's mixture."""
        return self.expert_units[-1]

    def build(self, input_shape: tuple | Sequence[tuple]) -> None:
        if _is_list(input_shape) and not isinstance(input_shape[0], int | None):
            if len(input_shape) != self.num_tasks:
                raise ValueError(
                    f"{self.name}: expected one input per task ({self.num_tasks}), "
                    f"got {len(input_shape)}"
                )
            input_shape = _same_shapes(input_shape, f"{self.name}: the tasks' inputs")
        for layer in (*self.experts, *self.gates):
            layer.build(tuple(input_shape))

    def _gate(self, k: int) -> keras.layers.Dense:
        return self.gates[0 if self.shared_gate else k]

    def call(
        self, inputs: keras.KerasTensor | Sequence[keras.KerasTensor], training: bool | None = None
    ) -> tuple[list[keras.KerasTensor], list[keras.KerasTensor]]:
        if _is_list(inputs):
            if len(inputs) != self.num_tasks:
                raise ValueError(
                    f"{self.name}: expected one input per task ({self.num_tasks}), "
                    f"got {len(inputs)}"
                )
            per_task = ops.stack(list(inputs), axis=1)  # (batch, tasks, d)
            # f_i(h_k) for every expert i and task k: (batch, tasks, experts, units)
            experts = ops.stack([e(per_task, training=training) for e in self.experts], axis=2)
            gates = [self._gate(k)(inputs[k]) for k in range(self.num_tasks)]  # g^k(h_k)
            mixed = ops.einsum("bte,bteu->btu", ops.stack(gates, axis=1), experts)
        else:
            experts = ops.stack([e(inputs, training=training) for e in self.experts], axis=1)
            if self.shared_gate:
                gates = [self.gates[0](inputs)] * self.num_tasks  # OMoE: one g for all
            else:
                gates = [gate(inputs) for gate in self.gates]  # g^k(x) = softmax(W_gk x)
            # f^k(x) = Σ_i g^k(x)_i f_i(x)
            mixed = ops.einsum("bte,beu->btu", ops.stack(gates, axis=1), experts)
        return [mixed[:, k] for k in range(self.num_tasks)], list(gates)

    def compute_output_shape(self, input_shape: tuple | Sequence[tuple]) -> tuple[list, list]:
        if _is_list(input_shape) and not isinstance(input_shape[0], int | None):
            input_shape = input_shape[0]
        batch = next(iter(input_shape))
        return (
            [(batch, self.output_dim)] * self.num_tasks,
            [(batch, self.num_experts)] * self.num_tasks,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "expert_units": list(self.expert_units),
            "num_tasks": self.num_tasks,
            "shared_gate": self.shared_gate,
            "expert_activation": self.expert_activation,
            "expert_dropout": self.expert_dropout,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ExtractionLayer(keras.layers.Layer):
    """One extraction layer of PLE (Tang et al., RecSys 2020); alone, it is CGC.

    Customized gate control (CGC) splits the experts into `num_task_experts` experts of
    each task and `num_shared_experts` shared experts. Task k's gate mixes only its own
    experts and the shared ones,

        h_k = Σ_i g^k(x_k)_i E_i(x),  E over task k's experts ∪ shared experts,

    so no task can take over another task's experts. Progressive layered extraction (PLE)
    stacks such layers; every layer but the last also outputs a shared representation, a
    shared gate's mixture of **all** the experts, which feeds the next layer's shared
    experts. Each task's experts and gate take that task's representation from the layer
    below.

    Experts are ordered task 1's, task 2's, ..., then the shared ones, and every gate is
    reported over all of them (zero for the experts it cannot see), so gates stack into a
    `(gates, all experts)` matrix.

    Args:
        num_tasks: Number of tasks.
        num_task_experts: Experts of each task.
        num_shared_experts: Experts shared by all tasks.
        expert_units: Hidden widths of every expert.
        shared_output: Also output the shared representation (every layer but the last).
        expert_activation: Activation of the experts' layers.
        expert_dropout: Dropout after each expert layer.

    Call args:
        inputs: `(batch, d)` floats (the first layer), or a list of `num_tasks + 1` tensors,
            the tasks' representations then the shared one (a layer below with
            `shared_output=True`).
        training: Whether dropout is active.

    Returns:
        `(outputs, gates)`: `outputs` the tasks' representations `(batch,
        expert_units[-1])`, followed by the shared one if `shared_output`; `gates` one
        `(batch, num_tasks * num_task_experts + num_shared_experts)` tensor per output.

    Example:
        >>> layer = ExtractionLayer(2, 1, 2, (8,), shared_output=True)
        >>> outputs, gates = layer(ops.ones((3, 5)))
        >>> len(outputs), tuple(gates[0].shape)
        (3, (3, 4))
    """

    def __init__(
        self,
        num_tasks: int,
        num_task_experts: int = 1,
        num_shared_experts: int = 1,
        expert_units: Sequence[int] = (16,),
        *,
        shared_output: bool = False,
        expert_activation: str = "relu",
        expert_dropout: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        _check_positive(
            num_tasks=num_tasks,
            num_task_experts=num_task_experts,
            num_shared_experts=num_shared_experts,
        )
        self.num_tasks = num_tasks
        self.num_task_experts = num_task_experts
        self.num_shared_experts = num_shared_experts
        self.expert_units = tuple(int(u) for u in expert_units)
        self.shared_output = bool(shared_output)
        self.expert_activation = expert_activation
        self.expert_dropout = expert_dropout

        def expert(name: str) -> MLP:
            return MLP(self.expert_units, expert_activation, expert_dropout, name=name)

        self.task_experts = [
            [expert(f"task_{k}_expert_{i}") for i in range(num_task_experts)]
            for k in range(num_tasks)
        ]
        self.shared_experts = [expert(f"shared_expert_{i}") for i in range(num_shared_experts)]
        own = num_task_experts + num_shared_experts
        self.task_gates = [
            keras.layers.Dense(own, activation="softmax", name=f"task_{k}_gate")
            for k in range(num_tasks)
        ]
        self.shared_gate = (
            keras.layers.Dense(self.num_experts, activation="softmax", name="shared_gate")
            if self.shared_output
            else None
        )

    @property
    def num_experts(self) -> int:
        """All the layer's experts: every task's and the shared ones."""
        return self.num_tasks * self.num_task_experts + self.num_shared_experts

    @property
    def output_dim(self) -> int:
        """Width of each output."""
        return self.expert_units[-1]

    def build(self, input_shape: tuple | Sequence[tuple]) -> None:
        if _is_list(input_shape) and not isinstance(input_shape[0], int | None):
            self._check_streams(len(input_shape))
            input_shape = _same_shapes(input_shape, f"{self.name}: the inputs")
        shape = tuple(input_shape)
        task_experts = itertools.chain.from_iterable(self.task_experts)
        for layer in (*task_experts, *self.shared_experts, *self.task_gates):
            layer.build(shape)
        if self.shared_gate is not None:
            self.shared_gate.build(shape)

    def _check_streams(self, n: int) -> None:
        if n != self.num_tasks + 1:
            raise ValueError(
                f"{self.name}: expected the {self.num_tasks} tasks' representations and the "
                f"shared one ({self.num_tasks + 1} inputs), got {n}"
            )

    def call(
        self, inputs: keras.KerasTensor | Sequence[keras.KerasTensor], training: bool | None = None
    ) -> tuple[list[keras.KerasTensor], list[keras.KerasTensor]]:
        if _is_list(inputs):
            self._check_streams(len(inputs))
            streams = list(inputs)
        else:
            streams = [inputs] * (self.num_tasks + 1)
        task_in, shared_in = streams[:-1], streams[-1]
        shared = [e(shared_in, training=training) for e in self.shared_experts]
        own = [
            [e(task_in[k], training=training) for e in self.task_experts[k]]
            for k in range(self.num_tasks)
        ]
        outputs, gates = [], []
        n_t = self.num_task_experts
        for k in range(self.num_tasks):
            g = self.task_gates[k](task_in[k])  # (batch, n_t + n_s)
            experts = ops.stack(own[k] + shared, axis=1)  # (batch, n_t + n_s, units)
            outputs.append(ops.einsum("be,beu->bu", g, experts))  # h_k = Σ_i g^k_i E_i
            before, after = k * n_t, (self.num_tasks - 1 - k) * n_t
            padded = ops.pad(g[:, :n_t], [[0, 0], [before, after]])
            gates.append(ops.concatenate([padded, g[:, n_t:]], axis=-1))
        if self.shared_gate is not None:
            g = self.shared_gate(shared_in)  # over every expert
            experts = ops.stack([*itertools.chain.from_iterable(own), *shared], axis=1)
            outputs.append(ops.einsum("be,beu->bu", g, experts))
            gates.append(g)
        return outputs, gates

    def compute_output_shape(self, input_shape: tuple | Sequence[tuple]) -> tuple[list, list]:
        if _is_list(input_shape) and not isinstance(input_shape[0], int | None):
            input_shape = input_shape[0]
        batch = next(iter(input_shape))
        n = self.num_tasks + int(self.shared_output)
        return [(batch, self.output_dim)] * n, [(batch, self.num_experts)] * n

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "num_task_experts": self.num_task_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": list(self.expert_units),
            "shared_output": self.shared_output,
            "expert_activation": self.expert_activation,
            "expert_dropout": self.expert_dropout,
        }
