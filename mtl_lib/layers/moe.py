"""Mixtures of experts: MMoE and OMoE (Ma et al., KDD 2018), PLE's extraction layer (CGC).

Every layer here returns `(outputs, gates)`: one representation per task (and, for a
non-final PLE layer, one shared representation), and the softmax gate weights that mixed
them, one `(batch, experts)` array per gate, so that a notebook can plot which experts
each task uses.

The experts of a layer live in one `ExpertBank`: every expert is an MLP of the same shape,
and the bank stacks their weights, so that one matrix product computes every expert's
layer at once instead of one product per expert: fewer, larger operations, faster steps.
Each expert still has its own freshly initialized weights, drawn from the global seed
(`keras.utils.set_random_seed`): handing every expert the same initializer seed, as some
libraries do, starts all experts identical and makes the mixture pointless. The module is
long (about 480 lines) because the bank, MMoE's layer and PLE's layer share one
`(outputs, gates)` contract and are read together; each class is documented by example.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from mtl_lib.layers.core import PACKAGE, checked_units


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _mix(gate: keras.KerasTensor, experts: keras.KerasTensor) -> keras.KerasTensor:
    """Σ_i gate_i expert_i per row: `(batch, e)` and `(batch, e, units)` → `(batch, units)`."""
    return ops.squeeze(ops.matmul(ops.expand_dims(gate, 1), experts), 1)


def _is_list(inputs: object) -> bool:
    return isinstance(inputs, list | tuple)


def _same_shapes(shapes: Sequence[tuple], what: str) -> tuple:
    widths = {tuple(s)[-1] for s in shapes}
    if len(widths) != 1:
        raise ValueError(f"{what} must all have the same width, got widths {sorted(widths)}")
    return tuple(shapes[0])


@keras.saving.register_keras_serializable(package=PACKAGE)
class ExpertBank(keras.layers.Layer):
    """`num_experts` MLPs of the same shape, computed together: the experts of one layer.

    Expert i is the MLP `f_i(x) = a(... a(x W_i^1 + b_i^1) ... W_i^L + b_i^L)`, as
    `MLP(units)` would compute it. The bank stores layer j's kernels of every expert as one
    `(num_experts, d_in, units[j])` weight, so that one matrix product computes every
    expert's layer j on every row of the input at once.

    Each expert's kernels are initialized as a `Dense` layer's would be (Glorot uniform
    with the fans of one expert, `d_in` and `units[j]`), independently of the others.

    Args:
        num_experts: Number of experts.
        units: Hidden widths of every expert, e.g. `(32,)` or `(64, 16)`.
        activation: Activation of every layer.
        dropout: Dropout rate after each layer (0 for none).

    Call args:
        inputs: `(..., d)` floats, the same input for every expert.
        training: Whether dropout is active.

    Returns:
        `(..., num_experts, units[-1])` floats: expert i's output at index i.

    Example:
        >>> bank = ExpertBank(3, (8, 4))
        >>> tuple(bank(ops.ones((2, 5))).shape)
        (2, 3, 4)
        >>> [w.shape for w in bank.expert_weights(0)[0]]
        [(5, 8), (8,)]
    """

    def __init__(
        self,
        num_experts: int,
        units: Sequence[int],
        activation: str = "relu",
        dropout: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        _check_positive(num_experts=num_experts)
        self.num_experts = num_experts
        self.units = checked_units(units, dropout)
        self.activation = activation
        self.dropout = dropout
        self._activation = keras.activations.get(activation)
        self.dropout_layers = [keras.layers.Dropout(dropout) for _ in self.units] if dropout else []

    def build(self, input_shape: tuple) -> None:
        d_in = int(input_shape[-1])
        self.kernels, self.biases = [], []
        for j, units in enumerate(self.units):
            # The fans of a (n, d, u) weight count n "receptive fields": fan_avg is
            # n (d + u) / 2, so scale n gives every expert Glorot's limit, sqrt(6 / (d + u)).
            initializer = keras.initializers.VarianceScaling(
                scale=float(self.num_experts), mode="fan_avg", distribution="uniform"
            )
            self.kernels.append(
                self.add_weight(
                    shape=(self.num_experts, d_in, units),
                    initializer=initializer,
                    name=f"kernel_{j}",
                )
            )
            self.biases.append(
                self.add_weight(
                    shape=(self.num_experts, units), initializer="zeros", name=f"bias_{j}"
                )
            )
            d_in = units

    def call(self, inputs: keras.KerasTensor, training: bool | None = None) -> keras.KerasTensor:
        return self.forward(inputs, self.kernels, self.biases, training)

    def forward(
        self,
        inputs: keras.KerasTensor,
        kernels: Sequence[keras.KerasTensor],
        biases: Sequence[keras.KerasTensor],
        training: bool | None = None,
    ) -> keras.KerasTensor:
        """The bank's computation with the given weights, for any number n of experts.

        Args:
            inputs: `(..., d_in)` floats.
            kernels: Per layer j, `(n, d_in_j, units[j])`: `ExtractionLayer` passes
                several banks' kernels concatenated, to compute them in one product.
            biases: Per layer j, `(n, units[j])`.
            training: Whether dropout is active.

        Returns:
            `(..., n, units[-1])` floats.
        """
        lead, d_in = ops.shape(inputs)[:-1], ops.shape(inputs)[-1]
        n, first = int(kernels[0].shape[0]), self.units[0]
        # Layer 1, every expert at once: one 2-D product with the kernels side by side,
        # (rows, d) @ (d, n * u). Plain 2-D products: TensorFlow's einsum and matmul with
        # extra leading axes are tens of times slower here.
        side_by_side = ops.reshape(ops.transpose(kernels[0], (1, 0, 2)), (d_in, n * first))
        x = ops.matmul(ops.reshape(inputs, (-1, d_in)), side_by_side)
        x = ops.reshape(x, (-1, n, first)) + biases[0]  # (rows, n, u)
        x = self._layer_end(x, 0, training)
        if len(self.units) > 1:  # each expert its own input: one batched product over n
            x = ops.transpose(x, (1, 0, 2))  # (n, rows, u)
            for j in range(1, len(self.units)):
                x = ops.matmul(x, kernels[j]) + biases[j][:, None, :]
                x = self._layer_end(x, j, training)
            x = ops.transpose(x, (1, 0, 2))
        return ops.reshape(x, (*lead, n, self.units[-1]))

    def _layer_end(self, x: keras.KerasTensor, j: int, training: bool | None) -> keras.KerasTensor:
        x = self._activation(x)
        return self.dropout_layers[j](x, training=training) if self.dropout_layers else x

    def expert_weights(self, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Expert i's `(kernel (d_in, units), bias (units,))` of every layer, as NumPy."""
        if not 0 <= i < self.num_experts:
            raise IndexError(f"expert {i} out of range: the bank has {self.num_experts}")
        return [
            (ops.convert_to_numpy(k)[i], ops.convert_to_numpy(b)[i])
            for k, b in zip(self.kernels, self.biases, strict=True)
        ]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.num_experts, self.units[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "units": list(self.units),
            "activation": self.activation,
            "dropout": self.dropout,
        }


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

    Its arguments come in the order `ExtractionLayer` takes too: tasks, experts, widths.

    Args:
        num_tasks: Number of tasks (gates).
        num_experts: Number of experts.
        expert_units: Hidden widths of every expert, e.g. `(16,)` or `(64, 16)` for
            deep experts; each task's output has width `expert_units[-1]`.
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
        >>> layer = MixtureOfExperts(num_tasks=2, num_experts=4, expert_units=(8,))
        >>> outputs, gates = layer(ops.ones((3, 5)))
        >>> [tuple(o.shape) for o in outputs], tuple(gates[0].shape)
        ([(3, 8), (3, 8)], (3, 4))
    """

    def __init__(
        self,
        num_tasks: int,
        num_experts: int,
        expert_units: Sequence[int],
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
        self.experts = ExpertBank(
            num_experts, self.expert_units, expert_activation, expert_dropout, name="experts"
        )
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
        for layer in (self.experts, *self.gates):
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
            experts = self.experts(per_task, training=training)
            gates = [self._gate(k)(inputs[k]) for k in range(self.num_tasks)]  # g^k(h_k)
            # Σ_i g^k(h_k)_i f_i(h_k), per row and task: (1, experts) @ (experts, units)
            stacked = ops.expand_dims(ops.stack(gates, axis=1), 2)  # (batch, tasks, 1, experts)
            mixed = ops.squeeze(ops.matmul(stacked, experts), 2)
        else:
            experts = self.experts(inputs, training=training)  # (batch, experts, units)
            if self.shared_gate:
                gates = [self.gates[0](inputs)] * self.num_tasks  # OMoE: one g for all
            else:
                gates = [gate(inputs) for gate in self.gates]  # g^k(x) = softmax(W_gk x)
            # f^k(x) = Σ_i g^k(x)_i f_i(x)
            # (batch, tasks, experts) @ (batch, experts, units), a matmul per row: TensorFlow's
            # einsum of the same is slower
            mixed = ops.matmul(ops.stack(gates, axis=1), experts)
        # unstack, not one slice per task: its gradient is one stack, not a zero-filled
        # tensor per task to add up (the same numbers, a faster step)
        return ops.unstack(mixed, axis=1), list(gates)

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

        def bank(n: int, name: str) -> ExpertBank:
            return ExpertBank(n, self.expert_units, expert_activation, expert_dropout, name=name)

        self.task_experts = [bank(num_task_experts, f"task_{k}_experts") for k in range(num_tasks)]
        self.shared_experts = bank(num_shared_experts, "shared_experts")
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
        for layer in (*self.task_experts, self.shared_experts, *self.task_gates):
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
        banks = [*self.task_experts, self.shared_experts]
        gates = [*self.task_gates, *([self.shared_gate] if self.shared_gate else [])]
        # Every gate over every expert, as one (d, N) kernel each: task k's own columns and
        # the shared ones hold its weights, the others zeros with a bias of −∞, so that
        # its softmax puts exactly 0 there: h_k = Σ_i g^k_i E_i over all N experts.
        padded = [self._padded_gate(k, gate) for k, gate in enumerate(gates)]
        kernels, biases = [w for w, _ in padded], [b for _, b in padded]
        if _is_list(inputs):  # each task's experts and gate on its own stream
            self._check_streams(len(inputs))
            experts = ops.concatenate(
                [bank(x, training=training) for bank, x in zip(banks, inputs, strict=True)],
                axis=1,
            )
            # gate k on stream k; the shared gate (if any) on the shared stream, the last
            logits = ops.stack(
                [ops.matmul(x, w) + b for x, w, b in zip(inputs, kernels, biases, strict=False)],
                axis=1,
            )
        else:  # one input: every bank in one product, every gate in another
            layers = range(len(self.expert_units))
            experts = self.shared_experts.forward(  # (batch, N, units), the shared bank's dropout
                inputs,
                [ops.concatenate([bank.kernels[j] for bank in banks], 0) for j in layers],
                [ops.concatenate([bank.biases[j] for bank in banks], 0) for j in layers],
                training,
            )
            logits = ops.matmul(inputs, ops.concatenate(kernels, 1)) + ops.concatenate(biases, 0)
            logits = ops.reshape(logits, (-1, len(gates), self.num_experts))
        g = ops.softmax(logits, axis=-1)  # (batch, outputs, N)
        mixed = ops.matmul(g, experts)  # (batch, outputs, units): Σ_i g_i E_i, per output
        return ops.unstack(mixed, axis=1), ops.unstack(g, axis=1)  # unstack: see MixtureOfExperts

    def _padded_gate(
        self, k: int, gate: keras.layers.Dense
    ) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        """Gate k's `(d, N)` kernel and `(N,)` bias over all N experts.

        k = `num_tasks` is the shared gate, which sees them all.
        """
        if k == self.num_tasks:
            return gate.kernel, gate.bias
        n_t, before = self.num_task_experts, k * self.num_task_experts
        after = (self.num_tasks - 1 - k) * n_t
        kernel = ops.concatenate(
            [ops.pad(gate.kernel[:, :n_t], [[0, 0], [before, after]]), gate.kernel[:, n_t:]], 1
        )
        bias = ops.concatenate(
            [
                ops.pad(gate.bias[:n_t], [[before, after]], constant_values=-np.inf),
                gate.bias[n_t:],
            ],
            0,
        )
        return kernel, bias

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
