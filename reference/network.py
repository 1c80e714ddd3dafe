"""The network, forward and backward by hand (NumPy only, vectorized over the batch): its
layers one after the other (reference/stack.py), then the case's loss.

    a_0 = X        a_k = layer_k(a_{k-1})        prediction = a_K        E = loss(prediction, Y)

Backward, from the output down, each layer's own VJP (one chain-rule factor per line):

    dE/da_K     = loss'(prediction, Y)                      (half_sse: Δ = prediction − Y)
    dE/da_{k-1} = layer_k's dE/dinput from dE/da_k          dE/dθ_k from the same dE/da_k

The article's dense network is the stack dense, activation, dense, activation, …
(``dense_chain``); in its notation, with z_l the output of dense layer l and a_l of its
activation, the same lines read (reference/layers/dense.py's row, and the activation's f′ from
reference/rules/activations.py):

    δ_l     = dE/da_l ⊙ f_l'(z_l)                      dE/dz_l
    dE/dW_l = a_{l-1}ᵀ · δ_l                           dz_l/dW_l = a_{l-1}
    dE/db_l = Σ_samples δ_l                            dz_l/db_l = 1
    dE/da_{l-1} = δ_l · W_lᵀ                           dz_l/da_{l-1} = W_l  (the OLD W_l)
"""

from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.rules.optimizers import params_dtype, start, update
from backprop_crosscheck.reference.stack import layer_backward, run_forward
from backprop_crosscheck.reference.training import train_loop


@dataclass(frozen=True)
class Forward:
    outputs: list  # a_0 = X, then every layer's output a_1 … a_K
    saved: list  # what each layer's backward needs
    loss: float

    @property
    def prediction(self) -> np.ndarray:
        return self.outputs[-1]

    # a dense network's (Case.dense), in the article's notation
    @property
    def z(self) -> list[np.ndarray]:
        """z_1 … z_L: the dense layers' outputs (pre-activations)."""
        return self.outputs[1::2]

    @property
    def a(self) -> list[np.ndarray]:
        """a_0 = X, a_1 … a_L: the activations' outputs."""
        return self.outputs[0::2]


def forward(case: Case, params: dict, X: np.ndarray, Y: np.ndarray) -> Forward:
    outputs, saved = run_forward(case.stack, X, params, case.leaky_slope)
    return Forward(outputs, saved, LOSSES[case.loss].value(outputs[-1], Y))


@dataclass(frozen=True)
class Backward:
    """Every quantity of the backward chain, from the output down."""

    dE_doutputs: list  # dE/da_0 (= dE/dX) … dE/da_K (= dE/dprediction); None for indices
    gradients: dict[str, np.ndarray]  # dE/dparameter for every parameter, and "X"

    # a dense network's (Case.dense), in the article's notation
    @property
    def dE_da(self) -> list[np.ndarray]:
        """dE/da_0 (= dE/dX) … dE/da_L (= dE/dprediction)."""
        return self.dE_doutputs[0::2]

    @property
    def delta(self) -> list[np.ndarray]:
        """δ_1 … δ_L (δ_l = dE/dz_l, at index l − 1)."""
        return self.dE_doutputs[1::2]


def backward_pass(case: Case, params: dict, fwd: Forward, Y: np.ndarray) -> Backward:
    """The backward pass, each layer's VJP (its row, reference/layers/) from the output down,
    keeping dE/d(every layer's output)."""
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
    return Backward(dE_da, {name: grads[name] for name in names})


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
    finite. The package's ``train`` (reference/mixed.py) runs a mixed-precision case's own
    scaled loop in its place."""
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
