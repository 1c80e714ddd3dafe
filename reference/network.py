"""The general network, forward and backward by hand (NumPy only, vectorized over the batch).

Notation as in the article, one row per sample:

    a0 = X
    z_l = a_{l-1} · W_l + b_l        a_l = f_l(z_l)          prediction = a_L
    E   = loss(prediction, Y)

Backward, one chain-rule factor per line (see ``backward``):

    dE/da_L = loss'(prediction, Y)                     (half_sse: Δ = prediction − Y)
    δ_l     = dE/da_l ⊙ f_l'(z_l)                      dE/dz_l
    dE/dW_l = a_{l-1}ᵀ · δ_l                           dz_l/dW_l = a_{l-1}
    dE/db_l = Σ_samples δ_l                            dz_l/db_l = 1
    dE/da_{l-1} = δ_l · W_lᵀ                           dz_l/da_{l-1} = W_l  (the OLD W_l)
"""

from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference.activations import activation
from backprop_crosscheck.reference.case import Case
from backprop_crosscheck.reference.losses import LOSSES
from backprop_crosscheck.reference.optimizers import params_dtype, start, update
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.stack import StackForward, layer_backward, run_forward
from backprop_crosscheck.reference.training import train_loop


@dataclass(frozen=True)
class Forward:
    z: list[np.ndarray]  # z_1 … z_L (pre-activations)
    a: list[np.ndarray]  # a_0 = X, a_1 … a_L (activations)
    loss: float

    @property
    def prediction(self) -> np.ndarray:
        return self.a[-1]


def forward(case: Case, params: dict, X: np.ndarray, Y: np.ndarray) -> Forward:
    if case.stack:  # a layer stack (reference/stack.py)
        a, saved = run_forward(case.stack, X, params, case.leaky_slope)
        return StackForward(a, saved, LOSSES[case.loss].value(a[-1], Y))
    a, zs, acts = X, [], [X]
    for layer, name in enumerate(case.activations, start=1):
        z = a @ params[f"W{layer}"]
        if f"b{layer}" in params:
            z += params[f"b{layer}"]  # in place: z is the product's own new array
        a = activation(name, case.leaky_slope).f(z)
        zs.append(z)
        acts.append(a)
    return Forward(zs, acts, LOSSES[case.loss].value(a, Y))


@dataclass(frozen=True)
class Backward:
    """Every quantity of the backward chain, from the output down."""

    dE_da: list[np.ndarray]  # dE/da_0 (= dE/dX) … dE/da_L (= dE/dprediction)
    delta: list[np.ndarray]  # δ_1 … δ_L  (δ_l = dE/dz_l, at index l − 1)
    gradients: dict[str, np.ndarray]  # dE/dparameter for every parameter, and "X"


def backward_pass(case: Case, params: dict, fwd: Forward, Y: np.ndarray) -> Backward:
    """The backward pass, one chain-rule factor per line, keeping every intermediate."""
    if case.stack:
        return _stack_backward(case, params, fwd, Y)
    grads, deltas = {}, [None] * case.depth
    dE_da = [None] * case.depth + [LOSSES[case.loss].gradient(fwd.prediction, Y)]
    for layer in range(case.depth, 0, -1):
        act = activation(case.activations[layer - 1], case.leaky_slope)
        z, a, a_prev = fwd.z[layer - 1], fwd.a[layer], fwd.a[layer - 1]
        delta = dE_da[layer] * act.fprime(z, a)  # δ_l = dE/da_l · da_l/dz_l
        grads[f"W{layer}"] = a_prev.T @ delta  # dE/dW_l = a_{l-1}ᵀ · δ_l
        if f"b{layer}" in params:
            grads[f"b{layer}"] = delta.sum(axis=0)  # dE/db_l = Σ over samples of δ_l
        dE_da[layer - 1] = delta @ params[f"W{layer}"].T  # dE/da_{l-1} = δ_l · W_lᵀ
        deltas[layer - 1] = delta
    grads["X"] = dE_da[0]
    return Backward(dE_da, deltas, {name: grads[name] for name in [*params, "X"]})


def _stack_backward(case: Case, params: dict, fwd: StackForward, Y: np.ndarray) -> Backward:
    """A layer stack's backward pass: each layer's VJP (layers.py) from the output down;
    dE/da_k kept for every layer's output (no δ: a stack's activations are layers)."""
    K, grads = len(case.stack), {}
    dE_da = [None] * K + [LOSSES[case.loss].gradient(fwd.prediction, Y)]
    for k in range(K, 0, -1):
        layer = case.stack[k - 1]
        dE_da[k - 1], own = layer_backward(
            layer, dE_da[k], fwd.saved[k - 1], params, case.leaky_slope
        )
        grads.update(own)
    names = [*params] + ([] if case.takes_indices else ["X"])
    grads["X"] = dE_da[0]
    return Backward(dE_da, [], {name: grads[name] for name in names})


def backward(case: Case, params: dict, fwd: Forward, Y: np.ndarray) -> dict[str, np.ndarray]:
    """dE/dparameter for every parameter, and dE/dX under "X"."""
    return backward_pass(case, params, fwd, Y).gradients


def loss_value(case: Case, params: dict, X=None, Y=None) -> float:
    """E at params (the forward pass alone: what finite differences need)."""
    dtype = params_dtype(params)
    X = inputs_of(case, dtype) if X is None else X
    Y = case.targets.astype(dtype) if Y is None else Y
    return forward(case, params, X, Y).loss


def inputs_of(case: Case, dtype) -> np.ndarray:
    """The case's inputs in ``dtype``; token indices stay integers."""
    return case.inputs if case.takes_indices else case.inputs.astype(dtype)


def step(case: Case, params: dict, X: np.ndarray, Y: np.ndarray, state: dict):
    """One step of the case's optimizer: (loss before it, dE/d everything, the updated
    parameters, the optimizer's state after it); ``state`` from optimizers.start."""
    fwd = forward(case, params, X, Y)
    grads = backward(case, params, fwd, Y)
    return fwd.loss, grads, *update(case, params, grads, state)


def train(case: Case, dtype=np.float64) -> Result:
    """Run ``case.steps`` steps of the case's optimizer in ``dtype`` and collect the Result.
    Overflow is not warned about: ``reference_problem`` says where a trajectory stops being
    finite."""
    with np.errstate(all="ignore"):
        return _train(case, dtype)


def reference_problem(result: Result) -> str | None:
    """Where a Result first holds a number that is not finite, in words; None if nowhere."""
    for step, loss in enumerate(result.loss):
        if not np.isfinite(loss):
            return f"it overflows by step {step}: the loss there is {loss}"
    for what in ("gradients", "updated", "final"):
        for name, values in getattr(result, what).items():
            if not np.all(np.isfinite(values)):
                return f"it overflows: {what} {name} holds {values[~np.isfinite(values)][0]}"
    return None


def train_from(case: Case, params: dict, X: np.ndarray, dtype=np.float64) -> Result:
    """``train`` from these parameters and inputs instead of the case's own (the same loop:
    reference/rounding.py nudges them by a rounding each), in ``dtype``."""
    params = {n: p.astype(dtype) for n, p in params.items()}
    X = X if case.takes_indices else X.astype(dtype)
    with np.errstate(all="ignore"):
        return _train(case, dtype, params, X)


def _train(case: Case, dtype, params=None, X=None) -> Result:
    params = case.parameters(dtype) if params is None else params
    X = inputs_of(case, dtype) if X is None else X
    Y = case.targets.astype(dtype)

    def one_step(params, state):
        return step(case, params, X, Y, state)

    def final_loss(params):
        return forward(case, params, X, Y).loss

    return train_loop(
        one_step, params, start(case, params), case.steps, final_loss, loss_dtype=dtype
    )
