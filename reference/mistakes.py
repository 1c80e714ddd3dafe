"""The classic mistakes of a hand-derived backpropagation, each computed on a case: what an
engine — or a learner's derivation — with that one mistake produces. The diagnosis holds a
failing backend's numbers against each (comparisons/judge/diagnosis.py).

``train_with(case, mistake)`` is the reference's own training loop (reference/network.py) with
one line changed; the line is named where the mistake is listed.
"""

import numpy as np
from backprop_crosscheck.reference import network
from backprop_crosscheck.reference.activations import activation
from backprop_crosscheck.reference.case import Case
from backprop_crosscheck.reference.losses import LOSSES
from backprop_crosscheck.reference.network import inputs_of
from backprop_crosscheck.reference.optimizers import adam_step, start, update
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.stack import StackForward, run_backward, run_forward, walk
from backprop_crosscheck.reference.stack_mistakes import STACK_MISTAKES, mistaken_rows
from backprop_crosscheck.reference.training import train_loop

# name -> what it is, as a learner would say it
MISTAKES = {
    "sign_flip": "the output layer's gradient has its sign flipped",
    "no_activation_derivative": "δ = dE/da: the activation's derivative f′(z) dropped",
    "fprime_of_activation": "f′ taken of the activation, not the pre-activation: σ′(a) for σ′(z)",
    "tanh_prime_of_z": "tanh′ written as 1 − z² instead of 1 − tanh(z)²",
    "ce_missing_target": "the softmax cross-entropy gradient missing its −target term",
    "leaky_slope_positive": "leaky_relu's slope applied on the positive side: f′ = slope for z > 0",
    "new_output_weights": "the hidden layer's gradient uses the already-updated output weights",
    "transposed_gradient": "a square weight gradient transposed: δ·a_prevᵀ",
    "no_grad_clear": "gradients not cleared between steps (accumulated)",
    "forgot_half": "the ½ of the loss forgotten: gradients doubled",
    "batch_mean_sum": "batch mean and sum confused",
    "mse_per_sample": "mse averaged over samples only, not over every element (outputs too)",
    "lr_twice": "the learning rate applied twice: p − a·a·g",
    "lr_missing": "the learning rate not applied: p − g",
    "bias_first_sample": "the bias gradient not summed over the batch (first sample only)",
    "bias_sign_flip": "the update's sign flipped for the biases only: b + a·g",
    "never_updates_output": "the output weights never updated",
    "float32_inside": "float32 arithmetic inside a float64 run",
    "layer_shift": "layer l's gradient reported for layer l+1",
    "frozen_updated": "a frozen parameter updated anyway",
    "adam_no_bias_correction": "Adam without its bias correction: m/(√v + ε) for m̂/(√v̂ + ε)",
    "momentum_not_carried": (
        "momentum's velocity (Adam's moments too) not carried between steps: every step taken "
        "as the first"
    ),
}
MISTAKES.update({name: what for name, (_, what) in STACK_MISTAKES.items()})
OPTIMIZER_MISTAKES = {
    "adam_no_bias_correction": ("adam",),
    "momentum_not_carried": ("momentum", "adam"),
}
# the mistakes above that do not depend on the layers: a layer stack can make them too
ANY_NETWORK = (
    "forgot_half",
    "batch_mean_sum",
    "mse_per_sample",
    "ce_missing_target",
    "no_grad_clear",
    "lr_twice",
    "lr_missing",
    "float32_inside",
    "frozen_updated",
    "adam_no_bias_correction",
    "momentum_not_carried",
)


def mistakes_for(case: Case) -> list[str]:
    """The mistakes that can be made on this case (not Adam's under plain SGD; a layer's only
    where the case has that layer)."""
    rule = case.optimizer.name
    if case.stack:
        kinds = {layer.kind for layer in walk(case.stack)}
        possible = [*ANY_NETWORK, *(m for m, (k, _) in STACK_MISTAKES.items() if k in kinds)]
    else:
        possible = [m for m in MISTAKES if m not in STACK_MISTAKES]
    return [m for m in possible if rule in OPTIMIZER_MISTAKES.get(m, (rule,))]


def train_with(case: Case, mistake: str, dtype=np.float64) -> Result:
    """``case.steps`` steps as the reference takes them, but for ``mistake``."""
    out = np.dtype(dtype)
    work = np.float32 if mistake == "float32_inside" else out
    params = case.parameters(work)
    X, Y = inputs_of(case, work), case.targets.astype(work)
    carried = {}  # no_grad_clear: the last step's gradients, still there
    rows = mistaken_rows(mistake)

    def forward(case, params, X, Y):
        if not case.stack:
            return network.forward(case, params, X, Y)
        a, saved = run_forward(case.stack, X, params, case.leaky_slope, rows)
        return StackForward(a, saved, LOSSES[case.loss].value(a[-1], Y))

    def one_step(params, state):
        fwd = forward(case, params, X, Y)
        if case.stack:
            grads = _stack_gradients(case, params, fwd, Y, mistake, rows)
        else:
            grads = _gradients(case, params, fwd, Y, mistake)
        if mistake == "no_grad_clear":
            grads = {n: g + carried.get(n, 0) for n, g in grads.items()}
            carried.update(grads)
        if mistake == "momentum_not_carried":
            state = start(case, params)  # velocity and moments back to 0, t to 0
        return fwd.loss, grads, *_update(case, params, grads, mistake, state)

    def final_loss(params):
        return forward(case, params, X, Y).loss

    def cast(t):
        return np.asarray(t, dtype=out)

    with np.errstate(all="ignore"):
        return train_loop(
            one_step, params, start(case, params), case.steps, final_loss, keep=cast, loss_dtype=out
        )


def _fprime(case, name: str, z, a, mistake: str):
    if mistake == "fprime_of_activation":
        a_of_a = activation(name, case.leaky_slope).f(a)
        return activation(name, case.leaky_slope).fprime(a, a_of_a)  # f′ evaluated at a, not at z
    if mistake == "tanh_prime_of_z" and name == "tanh":
        return 1 - z * z  # 1 − z², where 1 − tanh(z)² was meant
    if mistake == "leaky_slope_positive" and name == "leaky_relu":
        return np.where(z > 0, case.leaky_slope, 1.0).astype(z.dtype)  # the two sides swapped
    return activation(name, case.leaky_slope).fprime(z, a)


def _stack_gradients(case, params, fwd, Y, mistake, rows) -> dict:
    """A layer stack's backward pass (network._stack_backward), but for ``mistake``."""
    dE_da = _output_gradient(case, fwd.prediction, Y, mistake)
    dX, grads = run_backward(case.stack, dE_da, fwd.saved, params, case.leaky_slope, rows)
    return {**{n: grads[n] for n in params}, **({} if case.takes_indices else {"X": dX})}


def _output_gradient(case, p, Y, mistake):
    """dE/dprediction, but for the loss's mistakes."""
    n = Y.shape[0]
    dE_da = LOSSES[case.loss].gradient(p, Y)
    if mistake == "forgot_half":
        dE_da = 2 * dE_da
    if mistake == "ce_missing_target" and case.loss == "softmax_cross_entropy":
        dE_da = dE_da + Y / n  # (softmax − t)/n + t/n = softmax/n
    if mistake == "batch_mean_sum":
        dE_da = dE_da / n if case.loss == "half_sse" else dE_da * n
    if mistake == "mse_per_sample" and case.loss == "mse":
        dE_da = dE_da * p.shape[1]  # divided by the samples alone
    return dE_da


def _gradients(case, params, fwd, Y, mistake) -> dict:
    """The reference's backward pass (network.backward_pass), but for ``mistake``."""
    dE_da = _output_gradient(case, fwd.prediction, Y, mistake)
    grads = {}
    for layer in range(case.depth, 0, -1):
        name = case.activations[layer - 1]
        z, a, a_prev = fwd.z[layer - 1], fwd.a[layer], fwd.a[layer - 1]
        f1 = 1 if mistake == "no_activation_derivative" else _fprime(case, name, z, a, mistake)
        delta = dE_da * f1
        gW = a_prev.T @ delta
        if mistake == "transposed_gradient" and gW.shape[0] == gW.shape[1]:
            gW = gW.T
        grads[f"W{layer}"] = gW
        if f"b{layer}" in params:
            grads[f"b{layer}"] = delta[0] if mistake == "bias_first_sample" else delta.sum(axis=0)
        W = params[f"W{layer}"]
        if mistake == "new_output_weights":
            W = W - case.learning_rate * gW  # updated before δ is sent back through it
        dE_da = delta @ W.T
    grads["X"] = dE_da
    if mistake == "sign_flip":
        grads[f"W{case.depth}"] = -grads[f"W{case.depth}"]
    if mistake == "layer_shift":
        shifted = dict(grads)
        for layer in range(1, case.depth):
            lo, hi = f"W{layer}", f"W{layer + 1}"
            if grads[lo].shape == grads[hi].shape:
                shifted[hi] = grads[lo]
        grads = shifted
    return {name: grads[name] for name in [*params, "X"]}


def _update(case, params, grads, mistake, state) -> tuple[dict, dict]:
    """The case's update rule (reference/optimizers.py), but for ``mistake``."""
    a = case.learning_rate
    rule = case.replace(
        learning_rate={"lr_twice": a * a, "lr_missing": 1.0}.get(mistake, a),
        frozen=frozenset() if mistake == "frozen_updated" else case.frozen,
    )
    new, after = update(rule, params, grads, state)
    if mistake == "adam_no_bias_correction" and case.optimizer.name == "adam":
        for name in new:  # the moments as they are, not divided by 1 − βᵗ, ε where the case puts it
            if name not in rule.frozen:
                m, v = after["m"][name], after["v"][name]
                new[name] = params[name] - a * adam_step(case.optimizer, m, v, after["t"], False)
    for name, p in params.items():
        if mistake == "never_updates_output" and name == f"W{case.depth}":
            new[name] = p
        if mistake == "bias_sign_flip" and name.startswith("b"):
            new[name] = 2 * p - new[name]  # p + step where p − step was meant
    return new, after
