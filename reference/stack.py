"""A network as a sequence of layers (docs/layers.md): the rows of reference/layers/ and the
activations of reference/rules/activations.py, one after the other, then the case's loss.

    a_0 = X        a_k = layer_k(a_{k-1})        prediction = a_K        E = loss(prediction, Y)

Backward, from the output down, each layer's own VJP (its row, one chain-rule factor per line):

    dE/da_K     = loss'(prediction, Y)
    dE/da_{k-1} = layer_k's dE/dinput from dE/da_k       dE/dθ_k from the same dE/da_k

A layer's parameters are named by its kind's parameter and its place in the stack: ``kernel1``,
``bias1``, ``gamma2``, ``W4``, ``table1``; the layers inside a residual block at place 3 are
3.1, 3.2, … (``W3.1``). Images are NCHW.
"""

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from backprop_crosscheck.reference.layers import LAYERS, windows
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, activation

KINDS = (*LAYERS, *ACTIVATIONS)  # every kind a stack may hold: a layer's row, or an activation


def activation_forward(x, kind: str, leaky_slope: float):
    a = activation(kind, leaky_slope).f(x)
    return a, (x, a)


def activation_backward(dy, saved, kind: str, leaky_slope: float):
    z, a = saved
    return dy * activation(kind, leaky_slope).fprime(z, a), {}  # da/dz = f′(z)


# kind -> (forward, backward): each layer row's (reference/layers/), every activation's one
# "activation" row; a mistake (reference/mistakes.py) runs with one of them changed
ROWS = {
    "activation": (activation_forward, activation_backward),
    **{name: (kind.forward, kind.backward) for name, kind in LAYERS.items()},
}


@dataclass(frozen=True, eq=False)
class Layer:
    kind: str
    label: str  # its place: "2", or "3.1" inside the residual block at 3
    settings: dict = field(default_factory=dict)  # stride, padding, size, eps, p
    initial: dict = field(default_factory=dict)  # its parameters' initial values: W, kernel…
    mask: np.ndarray | None = None  # dropout's, as given (0/1, the shape of its input)
    block: tuple["Layer", ...] = ()  # residual: the layers of its block
    # arrays the case gives that are not trained: attention's scores_mask (samples or 1, Tq,
    # Tk) and lengths (one per sample)
    given: dict = field(default_factory=dict)

    def arguments(self, dtype) -> dict:
        """What its row's forward takes besides x and the parameters: its settings, dropout's
        mask in the run's dtype, and what else the case gives (attention's masks)."""
        if self.mask is None and not self.given:
            return self.settings
        mask = {} if self.mask is None else {"mask": self.mask.astype(dtype)}
        given = {k: a.astype(dtype) if a.dtype.kind == "f" else a for k, a in self.given.items()}
        return {**self.settings, **mask, **given}

    def name(self, parameter: str) -> str:
        """The parameter's name in reports: kernel1, W3.1; h0_2 (a name ending in a digit)."""
        return f"{parameter}{'_' if parameter[-1].isdigit() else ''}{self.label}"

    def __post_init__(self):
        # its parameters' names in the network's, by their short names ({"W": "W2", …}), worked
        # out once: every step of every run asks them (a plain attribute, which torch.compile's
        # tracer reads as it is — a functools.cached_property takes a lock it cannot trace)
        object.__setattr__(self, "names", {p: self.name(p) for p in self.initial})

    def __setstate__(self, state: dict):
        # unpickled (a worker's case, a copy): worked out again here, whatever code pickled it
        self.__dict__.update(state)
        self.__post_init__()

    def own(self, params: dict) -> dict:
        """This layer's parameters out of the network's, by their short names."""
        return {p: params[name] for p, name in self.names.items()}

    def describe(self) -> str:
        """One line: 'conv2d kernel 2×1×3×3, bias 2 (stride 1, padding 0)'."""
        shapes = ", ".join(f"{k} {'×'.join(map(str, a.shape))}" for k, a in self.initial.items())
        settings = ", ".join(f"{k} {v}" for k, v in self.settings.items())
        inner = " → ".join(b.kind for b in self.block)
        return " ".join(
            filter(None, [self.kind, shapes, settings and f"({settings})", inner and f"[{inner}]"])
        )


def dense_chain(weights, biases, activations) -> tuple[Layer, ...]:
    """A dense network — the article's — as a stack: weight layer l and its activation, both
    at place l (so its parameters are W1, b1, W2, …). ``biases``: one per layer, or None."""
    stack = []
    for place, (W, act) in enumerate(zip(weights, activations, strict=True), start=1):
        initial = {"W": W} if biases is None else {"W": W, "b": biases[place - 1]}
        stack += [Layer("dense", str(place), initial=initial), Layer(act, str(place))]
    return tuple(stack)


def is_dense_chain(stack) -> bool:
    """Whether the stack is a dense network as ``dense_chain`` builds it: dense layer, its
    activation, at places 1, 2, …, every layer with a bias or none. A stack file numbers its
    layers one by one, so its [dense, sigmoid, …] is never one: its parameters are W1, W3."""
    dense, acts = stack[::2], stack[1::2]
    if not stack or len(dense) != len(acts) or len({"b" in d.initial for d in dense}) != 1:
        return False
    pairs = enumerate(zip(dense, acts, strict=True), start=1)
    return all(
        d.kind == "dense" and a.kind in ACTIVATIONS and d.label == a.label == str(k)
        for k, (d, a) in pairs
    )


def walk(stack) -> list[Layer]:
    """Every layer, the ones inside residual blocks too, in order."""
    return [w for layer in stack for w in [layer, *walk(layer.block)]]


def one_sample(stack, i: int) -> tuple:
    """The stack for sample i alone: each dropout mask cut to its row, and each array the case
    gives per sample (one shared by every sample, first axis 1, kept)."""
    return tuple(
        dataclasses.replace(
            layer,
            block=one_sample(layer.block, i),
            mask=None if layer.mask is None else layer.mask[i : i + 1],
            given={k: a if len(a) == 1 else a[i : i + 1] for k, a in layer.given.items()},
        )
        for layer in stack
    )


def parameter_names(stack) -> list[str]:
    return [layer.name(p) for layer in walk(stack) for p in layer.initial]


def initial_parameters(stack) -> dict[str, np.ndarray]:
    return {layer.name(p): a for layer in walk(stack) for p, a in layer.initial.items()}


def takes_indices(stack) -> bool:
    """Whether the network's inputs are integer indices (it starts with an embedding): then
    there is no dE/dX."""
    return bool(stack) and stack[0].kind == "embedding"


def layer_forward(layer: Layer, x, params: dict, leaky_slope: float, rows=ROWS):
    """One layer's output and what its backward needs (``rows``: ROWS, or a mistake's)."""
    kind = layer.kind
    if kind in ACTIVATIONS:
        return rows["activation"][0](x, kind, leaky_slope)
    if kind == "residual":

        def block(x, params):
            out, saved = run_forward(layer.block, x, params, leaky_slope, rows)
            return out[-1], saved

        return rows[kind][0](x, params, block)  # x + block(x)
    return rows[kind][0](x, layer.own(params), **layer.arguments(x.dtype))


def layer_backward(layer: Layer, dy, saved, params: dict, leaky_slope: float, rows=ROWS):
    """One layer's VJP: (dE/dinput, {parameter name: dE/dparameter})."""
    kind = layer.kind
    if kind in ACTIVATIONS:
        return rows["activation"][1](dy, saved, kind, leaky_slope)
    if kind == "residual":

        def block(dy, saved, params):
            return run_backward(layer.block, dy, saved, params, leaky_slope, rows)

        return rows[kind][1](dy, saved, params, block)  # the identity path + the block's
    dx, grads = rows[kind][1](dy, saved, layer.own(params))
    return dx, {layer.names[p]: g for p, g in grads.items()}


def run_forward(stack, x, params: dict, leaky_slope: float, rows=ROWS):
    """Every layer's output (a_0 = x first) and what each backward needs."""
    a, saved = [x], []
    for layer in stack:
        y, kept = layer_forward(layer, a[-1], params, leaky_slope, rows)
        a.append(y)
        saved.append(kept)
    return a, saved


def run_backward(stack, dy, saved, params: dict, leaky_slope: float, rows=ROWS):
    """dE/d(the stack's input) from dE/d(its output), and every parameter's gradient."""
    grads = {}
    for layer, kept in zip(reversed(stack), reversed(saved), strict=True):
        dy, own = layer_backward(layer, dy, kept, params, leaky_slope, rows)
        grads.update(own)
    return dy, grads


def truncated(stack) -> list[str]:
    """The recurrent layers that truncate backpropagation through time, as 'rnn 1'."""
    return [f"{w.kind} {w.label}" for w in walk(stack) if w.settings.get("truncate")]


def ties(case, params: dict | None = None) -> list[str]:
    """The max-pool windows of the case's first forward pass whose maximum is not unique, as
    'max_pool2d 3: 2 windows' — where the first-maximum rule decides the gradient."""
    params = case.parameters() if params is None else params
    X = case.inputs if takes_indices(case.stack) else case.inputs.astype(np.float64)
    a, _ = run_forward(case.stack, X, params, case.leaky_slope)
    found = []
    for k, layer in enumerate(case.stack):
        if layer.kind == "max_pool2d":
            s = layer.settings
            win = windows(a[k], s["size"], s["size"], s["stride"])
            flat = win.reshape(*win.shape[:4], -1)
            tied = int(((flat == flat.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).sum())
            if tied:
                found.append(f"max_pool2d {layer.label}: {tied} windows")
    return found
