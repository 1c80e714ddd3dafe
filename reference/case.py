"""The case: one network, one data set, initial parameters, learning rate, steps, frozen set."""

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference.optimizers import Optimizer
from backprop_crosscheck.reference.stack import initial_parameters, parameter_names, takes_indices


class CaseError(ValueError):
    """An invalid case: the message names the file and the field."""


_SCALAR = re.compile(r"^([Wb])(\d+)\[(\d+)(?:,\s*(\d+))?\]$")


@dataclass(frozen=True, eq=False)
class Case:
    name: str
    layers: tuple[int, ...]  # neurons per layer, input layer first
    activations: tuple[str, ...]  # one per weight layer
    loss: str  # losses.LOSSES: "half_sse", "mse", "softmax_cross_entropy", …
    learning_rate: float
    steps: int
    inputs: np.ndarray  # (samples, layers[0])
    targets: np.ndarray  # (samples, layers[-1])
    weights: tuple[np.ndarray, ...]  # W_l: (layers[l-1], layers[l]), row = source neuron
    biases: tuple[np.ndarray, ...] | None = None  # b_l: (layers[l],); None = no biases
    frozen: frozenset[str] = frozenset()  # tensor names kept fixed by the update
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)  # "w1" -> "W1[0,0]"
    leaky_slope: float = 0.01  # leaky_relu's slope for z < 0 (activations.LEAKY_SLOPE)
    optimizer: Optimizer = Optimizer()  # the update rule: plain SGD (the article's) by default
    # a layer-stack network (reference/stack.py) in place of layers/activations/weights/biases
    stack: tuple = ()
    description: str = ""
    source: str = "<built-in>"  # where the case came from, for messages

    def __post_init__(self):
        for a in (self.inputs, self.targets, *self.weights, *(self.biases or ())):
            a.setflags(write=False)

    @property
    def architecture(self) -> str:
        """'2-2-1', or a stack's layers: 'conv2d, relu, max_pool2d, flatten, dense'."""
        if self.stack:
            return ", ".join(layer.kind for layer in self.stack)
        return "-".join(map(str, self.layers))

    @property
    def takes_indices(self) -> bool:
        """Whether its inputs are token indices (an embedding first): no dE/dX then."""
        return takes_indices(self.stack)

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.weights)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        if self.stack:
            return tuple(parameter_names(self.stack))
        names = []
        for layer in range(1, self.depth + 1):
            names.append(f"W{layer}")
            if self.biases is not None:
                names.append(f"b{layer}")
        return tuple(names)

    @property
    def parameter_count(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def parameters(self, dtype=np.float64) -> dict[str, np.ndarray]:
        """Fresh, writable copies of the initial parameters, in order W1, b1, W2, b2, …"""
        if self.stack:
            return {n: np.array(p, dtype=dtype) for n, p in initial_parameters(self.stack).items()}
        params = {}
        for layer, W in enumerate(self.weights, start=1):
            params[f"W{layer}"] = np.array(W, dtype=dtype)
            if self.biases is not None:
                params[f"b{layer}"] = np.array(self.biases[layer - 1], dtype=dtype)
        return params

    def replace(self, **changes) -> "Case":
        return dataclasses.replace(self, **changes)

    def scalar_label(self, tensor: str, index: tuple[int, ...]) -> str:
        """The name a report shows for one scalar: the case's alias, else W1[i,j] / b2[j]."""
        plain = f"{tensor}[{','.join(str(i) for i in index)}]"
        return self._labels().get(plain, plain)

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
