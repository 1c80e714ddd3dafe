"""The case: one network (a stack of layers), one data set, initial parameters, learning
rate, steps, frozen set."""

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference.rules.loss_scaling import MixedPrecision
from backprop_crosscheck.reference.rules.optimizers import Optimizer
from backprop_crosscheck.reference.stack import (
    dense_chain,
    initial_parameters,
    is_dense_chain,
    parameter_names,
    takes_indices,
    walk,
)


class CaseError(ValueError):
    """An invalid case: the message names the file and the field."""


DENSE_FIELDS = ("weights", "biases", "activations")  # Case.replace's words for a dense network
_SCALAR = re.compile(r"^([Wb])(\d+)\[(\d+)(?:,\s*(\d+))?\]$")


@dataclass(frozen=True, eq=False)
class Case:
    """One network — a stack of layers (reference/stack.py); the article's dense network is
    the stack ``dense_chain`` builds, read back through ``layers``, ``activations``,
    ``weights`` and ``biases`` — with its data, initial parameters, loss and update rule."""

    name: str
    loss: str  # losses.LOSSES: "half_sse", "mse", "softmax_cross_entropy", …
    learning_rate: float
    steps: int
    inputs: np.ndarray  # (samples, features), NCHW images, or token indices
    targets: np.ndarray  # (samples, outputs)
    stack: tuple  # the layers, input side first (reference/stack.py)
    frozen: frozenset[str] = frozenset()  # tensor names kept fixed by the update
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)  # "w1" -> "W1[0,0]"
    leaky_slope: float = 0.01  # leaky_relu's slope for z < 0 (activations.LEAKY_SLOPE)
    optimizer: Optimizer = Optimizer()  # the update rule: plain SGD (the article's) by default
    mixed: MixedPrecision | None = None  # float32 masters, a lower compute precision, scaling
    description: str = ""
    source: str = "<built-in>"  # where the case came from, for messages

    def __post_init__(self):
        for layer in walk(self.stack):
            for a in (*layer.initial.values(), *(() if layer.mask is None else (layer.mask,))):
                a.setflags(write=False)
        for a in (self.inputs, self.targets):
            a.setflags(write=False)

    @functools.cached_property
    def dense(self) -> bool:
        """Whether the network is a dense one, as the article's (``is_dense_chain``): then it
        is also read as layers of neurons, in the article's words."""
        return is_dense_chain(self.stack)

    @property
    def architecture(self) -> str:
        """'2-2-1' for a dense network, else its layers: 'conv2d, relu, max_pool2d, …'."""
        if self.dense:
            return "-".join(map(str, self.layers))
        return ", ".join(layer.kind for layer in self.stack)

    # --- a dense network read as the article writes it (empty for any other stack) ---------

    @functools.cached_property
    def weights(self) -> tuple[np.ndarray, ...]:
        """W_l: (neurons of layer l − 1, of layer l), row = source neuron."""
        return tuple(d.initial["W"] for d in self.stack[::2]) if self.dense else ()

    @functools.cached_property
    def biases(self) -> tuple[np.ndarray, ...] | None:
        """b_l: (neurons of layer l,); None when the network has none."""
        if not self.dense or "b" not in self.stack[0].initial:
            return None
        return tuple(d.initial["b"] for d in self.stack[::2])

    @functools.cached_property
    def activations(self) -> tuple[str, ...]:
        """One per weight layer."""
        return tuple(a.kind for a in self.stack[1::2]) if self.dense else ()

    @functools.cached_property
    def layers(self) -> tuple[int, ...]:
        """Neurons per layer, the input layer first."""
        if not self.dense:
            return ()
        return (self.weights[0].shape[0], *(W.shape[1] for W in self.weights))

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.weights)

    @property
    def takes_indices(self) -> bool:
        """Whether its inputs are token indices (an embedding first): no dE/dX then."""
        return takes_indices(self.stack)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(parameter_names(self.stack))

    @property
    def parameter_count(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def parameters(self, dtype=np.float64) -> dict[str, np.ndarray]:
        """Fresh, writable copies of the initial parameters, in order (W1, b1, W2, b2, …)."""
        return {n: np.array(p, dtype=dtype) for n, p in initial_parameters(self.stack).items()}

    def replace(self, **changes) -> "Case":
        """A copy with ``changes``; a dense network's ``weights``, ``biases`` and
        ``activations`` may be among them (its stack is built again from them)."""
        dense = {k: changes.pop(k) for k in DENSE_FIELDS if k in changes}
        if dense:
            if not self.dense:
                raise ValueError(f"{', '.join(dense)}: only a dense network has them")
            parts = {"weights": self.weights, "biases": self.biases, **dense}
            changes["stack"] = dense_chain(
                parts["weights"], parts["biases"], parts.get("activations", self.activations)
            )
        return dataclasses.replace(self, **changes)

    def scalar_label(self, tensor: str, index: tuple[int, ...]) -> str:
        """The name a report shows for one scalar: the case's alias, else W1[i,j] / b2[j]."""
        plain = f"{tensor}[{','.join(str(i) for i in index)}]"
        return self._labels.get(plain, plain)

    @functools.cached_property
    def _labels(self) -> dict[str, str]:
        return {canonical_scalar(target): alias for alias, target in self.aliases.items()}


def canonical_scalar(text: str) -> str:
    """'W1[0, 1]' -> 'W1[0,1]'; raises ValueError when text does not name a scalar."""
    m = _SCALAR.match(text.strip())
    if not m:
        raise ValueError(text)
    kind, layer, i, j = m.groups()
    return f"{kind}{layer}[{i}]" if j is None else f"{kind}{layer}[{i},{j}]"


def parse_scalar(text: str) -> tuple[str, tuple[int, ...]]:
    """'W1[0,1]' -> ('W1', (0, 1))."""
    m = _SCALAR.match(canonical_scalar(text))
    kind, layer, i, j = m.groups()
    return f"{kind}{layer}", (int(i),) if j is None else (int(i), int(j))
