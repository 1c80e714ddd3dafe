"""Deliberately wrong backprop engines: each one a bug people really make.

``MutantBackend(bug)`` is an independent, hand-written forward/backward/SGD loop (not the
reference's code) with one switch per bug. Each bug also says which tensors it really touches,
so a test can check that the report names one of them.
"""

import math

import numpy as np
from backprop_crosscheck.backends import Backend, Capabilities
from backprop_crosscheck.reference.result import Result


def _gelu(z):  # z·Φ(z), Φ from math.erf
    return z * 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def _gelu_prime(z, a):
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2))) + z * np.exp(
        -z * z / 2
    ) / math.sqrt(2 * math.pi)


C = math.sqrt(2 / math.pi)


def _gelu_tanh_prime(z, a):
    u = np.tanh(C * (z + 0.044715 * z**3))
    return 0.5 * (1 + u) + 0.5 * z * (1 - u**2) * C * (1 + 3 * 0.044715 * z**2)


ACT = {  # (f, f′); leaky_relu's take the slope as well
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a**2),
    "relu": (lambda z: np.where(z > 0, z, 0), lambda z, a: (z > 0) * 1.0),
    "leaky_relu": (lambda z, s: np.where(z > 0, z, s * z), lambda z, a, s: np.where(z > 0, 1.0, s)),
    "softplus": (lambda z: np.log1p(np.exp(-abs(z))) + np.maximum(z, 0),
                 lambda z, a: 1 / (1 + np.exp(-z))),
    "gelu": (_gelu, _gelu_prime),
    "gelu_tanh": (lambda z: 0.5 * z * (1 + np.tanh(C * (z + 0.044715 * z**3))), _gelu_tanh_prime),
}  # fmt: skip


def weights(case, *layers):
    return {f"W{layer}" for layer in layers}


# bug -> (what it is, the tensors it touches for a case)
BUGS = {
    "sign_flip": (
        "the output layer's gradient has its sign flipped",
        lambda c: weights(c, c.depth),
    ),
    "no_activation_derivative": (
        "δ = dE/da: the activation's derivative f'(z) dropped",
        lambda c: (
            {f"{k}{i + 1}" for i, a in enumerate(c.activations) if a != "identity" for k in "Wb"}
            | {f"{k}{i}" for i in range(1, c.depth) for k in "Wb"}
        ),
    ),
    "new_output_weights": (
        "the hidden layer's gradient uses the already-updated output weights",
        lambda c: {f"{k}{i}" for i in range(1, c.depth) for k in "Wb"} | {"X"},
    ),
    "transposed_gradient": (
        "a square weight gradient transposed: a_prev·δᵀ",
        lambda c: {"W1", "W2", "W3"},
    ),
    "leaky_slope_positive": (
        "leaky_relu's slope applied on the positive side: f′ = slope for z > 0, 1 below",
        lambda c: {f"{k}{i}" for i in range(1, c.depth + 1) for k in "Wb"},
    ),
    "ce_missing_target": (
        "the softmax cross-entropy gradient missing its −target term: dE/dz = softmax(z)/n",
        lambda c: {f"{k}{i}" for i in range(1, c.depth + 1) for k in "Wb"},
    ),
    "no_grad_clear": (
        "gradients not cleared between steps (accumulated)",
        lambda c: set(c.parameter_names),
    ),
    "forgot_half": (
        "the ½ of the loss forgotten: gradients doubled",
        lambda c: set(c.parameter_names),
    ),
    "batch_mean_sum": ("batch mean and sum confused", lambda c: set(c.parameter_names)),
    "lr_twice": ("the learning rate applied twice: p − a·a·g", lambda c: set(c.parameter_names)),
    "lr_missing": ("the learning rate not applied: p − g", lambda c: set(c.parameter_names)),
    "bias_first_sample": (
        "the bias gradient not summed over the batch",
        lambda c: {"b1", "b2", "b3"},
    ),
    "never_updates_output": ("the output weights never updated", lambda c: weights(c, c.depth)),
    "float32_inside": ("float32 arithmetic inside a float64 run", lambda c: set(c.parameter_names)),
    "layer_shift": ("layer l's gradient reported for layer l+1", lambda c: weights(c, 2, 3)),
    "frozen_updated": ("a frozen parameter updated anyway", lambda c: set(c.frozen)),
    "fprime_of_activation": (
        "f′ taken of the activation, not the pre-activation: σ′(a) for σ′(z)",
        lambda c: {f"{k}{i}" for i in range(1, c.depth + 1) for k in "Wb"},
    ),
    "tanh_prime_of_z": (
        "tanh′ written as 1 − z²",
        lambda c: {f"{k}{i}" for i in range(1, c.depth + 1) for k in "Wb"},
    ),
    "mse_per_sample": ("mse averaged over samples only", lambda c: set(c.parameter_names)),
    "bias_sign_flip": (
        "the update's sign flipped for the biases only",
        lambda c: {"b1", "b2", "b3"},
    ),
    # an update rule's bug shows most in the loss of the steps after (the report's worst)
    "adam_no_bias_correction": (
        "Adam without its bias correction: m/(√v + ε)",
        lambda c: set(c.parameter_names) - c.frozen | {"loss"},
    ),
    "momentum_not_carried": (
        "momentum's velocity (Adam's moments) not carried between steps",
        lambda c: set(c.parameter_names) - c.frozen | {"loss"},
    ),
}


class MutantBackend(Backend):
    capabilities = Capabilities(optimizers=("sgd", "momentum", "adam"))
    act = ACT  # (f, f′) per activation: a subclass may get one wrong

    def __init__(self, bug: str):
        self.bug = bug
        self.name = f"mutant-{bug}"

    def run(self, case, dtype, device="cpu"):
        out = np.dtype(dtype)
        work = np.float32 if self.bug == "float32_inside" else out
        params = case.parameters(work)
        X, Y = case.inputs.astype(work), case.targets.astype(work)
        losses, first, updated, carried = [], None, None, None
        self.slots = {}  # momentum's velocity, Adam's moments and step count
        for step in range(case.steps):
            if self.bug == "momentum_not_carried":
                self.slots = {}
            loss, grads, params = self.step(case, params, X, Y, carried)
            if self.bug == "no_grad_clear":
                carried = grads
            losses.append(loss)
            if step == 0:
                first, updated = grads, dict(params)
        losses.append(self.forward(case, params, X, Y)[2])

        def cast(d):
            return {n: np.asarray(v, dtype=out) for n, v in d.items()}

        return Result(np.array(losses, dtype=out), cast(first), cast(updated), cast(params))

    def convention(self, optimizer):
        if (
            optimizer.learning_rate_on != "step"
            or optimizer.epsilon_placement != "after_correction"
        ):
            return "the mutants write momentum's step form and Adam's m̂/(√v̂ + ε) only"
        return None

    def optimize(self, case, params, grads):
        """Momentum and Adam, written again (not the reference's code); state in self.slots."""
        opt, lr, slots = case.optimizer, case.learning_rate, self.slots
        t = slots["t"] = slots.get("t", 0) + 1
        new = dict(params)
        for name in params:
            if name in case.frozen:
                continue
            g = grads[name]
            if opt.name == "momentum":
                v = slots[name, "v"] = (
                    opt.momentum * slots.get((name, "v"), 0) + (1 - opt.dampening) * g
                )
                new[name] = params[name] - lr * v
                continue
            m = slots[name, "m"] = opt.beta1 * slots.get((name, "m"), 0) + (1 - opt.beta1) * g
            v = slots[name, "v"] = opt.beta2 * slots.get((name, "v"), 0) + (1 - opt.beta2) * g * g
            if self.bug != "adam_no_bias_correction":
                m, v = m / (1 - opt.beta1**t), v / (1 - opt.beta2**t)
            new[name] = params[name] - lr * m / (np.sqrt(v) + opt.epsilon)
        return new

    def f(self, case, act):
        f = self.act[act][0]
        return (lambda z: f(z, case.leaky_slope)) if act == "leaky_relu" else f

    def fprime(self, case, act):
        f1 = self.act[act][1]
        return (lambda z, a: f1(z, a, case.leaky_slope)) if act == "leaky_relu" else f1

    def forward(self, case, params, X, Y):
        zs, acts = [], [X]
        for layer, act in enumerate(case.activations, start=1):
            z = acts[-1] @ params[f"W{layer}"] + params.get(f"b{layer}", 0)
            zs.append(z)
            acts.append(self.f(case, act)(z))
        z, r = acts[-1], acts[-1] - Y
        if case.loss == "softmax_cross_entropy":  # logits: −Σ t·log softmax, mean over samples
            shifted = z - z.max(axis=1, keepdims=True)
            log_s = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return zs, acts, -np.sum(Y * log_s) / len(z)
        if case.loss == "binary_cross_entropy" and self.bug == "bce_from_probabilities":
            p = 1 / (1 + np.exp(-z))  # the probability first, then its logs: log(0) at saturation
            with np.errstate(all="ignore"):
                return zs, acts, -np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p))
        if case.loss == "binary_cross_entropy":  # logits: log(1 + e^z) − t·z, mean over entries
            return zs, acts, np.mean(np.logaddexp(0, z) - Y * z)
        loss = 0.5 * np.sum(r * r) if case.loss == "half_sse" else np.mean(r * r)
        return zs, acts, loss

    def step(self, case, params, X, Y, carried):
        bug, lr = self.bug, case.learning_rate
        zs, acts, loss = self.forward(case, params, X, Y)
        n = X.shape[0]
        r = acts[-1] - Y
        d = r if case.loss == "half_sse" else 2 * r / r.size
        if case.loss == "softmax_cross_entropy":
            e = np.exp(acts[-1] - acts[-1].max(axis=1, keepdims=True))
            d = (e / e.sum(axis=1, keepdims=True) - (0 if bug == "ce_missing_target" else Y)) / n
        if case.loss == "binary_cross_entropy" and bug == "bce_from_probabilities":
            p = 1 / (1 + np.exp(-acts[-1]))  # dE/dp·dp/dz through the probability: 0/0 at p = 1
            with np.errstate(all="ignore"):
                d = (p - Y) / (p * (1 - p)) * (p * (1 - p)) / r.size
        if case.loss == "binary_cross_entropy" and bug != "bce_from_probabilities":
            d = (1 / (1 + np.exp(-acts[-1])) - Y) / r.size
        if bug == "forgot_half":
            d = 2 * d
        if bug == "batch_mean_sum":
            d = d / n if case.loss == "half_sse" else d * n
        if bug == "mse_per_sample" and case.loss == "mse":
            d = 2 * r / n
        new = dict(params)
        grads = {}
        for layer in range(case.depth, 0, -1):
            act = case.activations[layer - 1]
            z, a = zs[layer - 1], acts[layer]
            if bug == "fprime_of_activation":  # σ′ evaluated at a = σ(z): σ(a)·(1 − σ(a))
                fprime = self.fprime(case, act)(a, self.f(case, act)(a))
            elif bug == "leaky_slope_positive" and act == "leaky_relu":
                fprime = np.where(z > 0, case.leaky_slope, 1.0)
            elif bug == "tanh_prime_of_z" and act == "tanh":
                fprime = 1 - z**2
            else:
                fprime = self.fprime(case, act)(z, a)
            delta = d if bug == "no_activation_derivative" else d * fprime
            gW = acts[layer - 1].T @ delta
            if bug == "transposed_gradient" and gW.shape[0] == gW.shape[1]:
                gW = gW.T
            grads[f"W{layer}"] = gW
            if f"b{layer}" in params:
                grads[f"b{layer}"] = delta[0] if bug == "bias_first_sample" else delta.sum(axis=0)
            W = params[f"W{layer}"]
            if bug == "new_output_weights":
                W = W - lr * gW  # updated before it is used to send δ back
            d = delta @ W.T
        grads["X"] = d
        if bug == "sign_flip":
            grads[f"W{case.depth}"] = -grads[f"W{case.depth}"]
        if bug == "layer_shift":
            shifted = dict(grads)
            for layer in range(1, case.depth):
                lo, hi = f"W{layer}", f"W{layer + 1}"
                if grads[lo].shape == grads[hi].shape:
                    shifted[hi] = grads[lo]
            grads = shifted
        if carried is not None:
            grads = {k: g + carried[k] for k, g in grads.items()}
        if case.optimizer.name != "sgd":
            return loss, {k: grads[k] for k in [*params, "X"]}, self.optimize(case, params, grads)
        step_lr = {"lr_twice": lr * lr, "lr_missing": 1.0}.get(bug, lr)
        for name in params:
            if name in case.frozen and bug != "frozen_updated":
                continue
            if bug == "never_updates_output" and name == f"W{case.depth}":
                continue
            sign = -1 if bug == "bias_sign_flip" and name.startswith("b") else 1
            new[name] = params[name] - sign * step_lr * grads[name]
        return loss, {k: grads[k] for k in [*params, "X"]}, new


for _bug in BUGS:
    globals()[_bug] = MutantBackend(_bug)
