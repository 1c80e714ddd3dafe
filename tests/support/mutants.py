"""Deliberately wrong backprop engines: each one a bug people really make.

``MutantBackend(bug)`` is an independent, hand-written forward/backward/SGD loop (not the
reference's code) with one switch per bug. Each bug also says which tensors it really touches,
so a test can check that the report names one of them.
"""

import math

import numpy as np
from backprop_crosscheck.backends import Backend, Capabilities
from backprop_crosscheck.reference.mistakes import describe
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
    "softplus": (
        lambda z: np.log1p(np.exp(-abs(z))) + np.maximum(z, 0),
        lambda z, a: 1 / (1 + np.exp(-z)),
    ),
    "gelu": (_gelu, _gelu_prime),
    "gelu_tanh": (lambda z: 0.5 * z * (1 + np.tanh(C * (z + 0.044715 * z**3))), _gelu_tanh_prime),
}


def weights(case, *layers):
    return {f"W{layer}" for layer in layers}


def every_layer(c) -> set[str]:
    return {f"{k}{i}" for i in range(1, c.depth + 1) for k in "Wb"}


def every_parameter(c) -> set[str]:
    return set(c.parameter_names)


def trained_and_loss(c) -> set[str]:  # an update rule's bug shows most in the later losses
    return set(c.parameter_names) - c.frozen | {"loss"}


# bug -> the tensors it touches for a case (what it is: reference/mistakes.py's words)
TOUCHES = {
    "sign_flip": lambda c: weights(c, c.depth),
    "no_activation_derivative": lambda c: (
        {f"{k}{i + 1}" for i, a in enumerate(c.activations) if a != "identity" for k in "Wb"}
        | {f"{k}{i}" for i in range(1, c.depth) for k in "Wb"}
    ),
    "new_output_weights": lambda c: {f"{k}{i}" for i in range(1, c.depth) for k in "Wb"} | {"X"},
    "transposed_gradient": lambda c: {"W1", "W2", "W3"},
    "leaky_slope_positive": every_layer,
    "ce_missing_target": every_layer,
    "no_grad_clear": every_parameter,
    "forgot_half": every_parameter,
    "batch_mean_sum": every_parameter,
    "lr_twice": every_parameter,
    "lr_missing": every_parameter,
    "bias_first_sample": lambda c: {"b1", "b2", "b3"},
    "never_updates_output": lambda c: weights(c, c.depth),
    "float32_inside": every_parameter,
    "layer_shift": lambda c: weights(c, 2, 3),
    "frozen_updated": lambda c: set(c.frozen),
    "fprime_of_activation": every_layer,
    "tanh_prime_of_z": every_layer,
    "mse_per_sample": every_parameter,
    "bias_sign_flip": lambda c: {"b1", "b2", "b3"},
    "adam_no_bias_correction": trained_and_loss,
    "momentum_not_carried": trained_and_loss,
}
BUGS = {bug: (describe(bug), touches) for bug, touches in TOUCHES.items()}


# Mistakes nobody listed (not in reference/mistakes.py): what the diagnosis must find by the
# shape of the difference or a change to a formula (issue #28) — bug -> the words it must say
UNLISTED = {
    "z_for_a": "computed with z",  # dE/dW_l = z_{l−1}ᵀ·δ_l: the pre-activation for a
    "bias_mean": "the mean over samples",  # dE/db = mean of δ, where the sum belongs
    "bias_last_sample": "the last sample's alone",
    "propagate_dE_da": "computed with dE/da",  # dE/da_{l−1} = dE/da_l·Wᵀ: δ skipped below
    "lazy_loss": "one step later",  # the loss read after the update
    "in_place_gradient": "at the next step",  # gradients taken at the updated parameters
    "last_sample_X_dropped": "differs only in sample [3]",  # dE/dX of the last sample left 0
    "half_bias": "exactly ½",  # every bias gradient halved
    "sigmoid_prime_of_z": "fed its input z",  # σ′ written as a(1 − a), fed z: z(1 − z)
    "target_term_dropped": "target term dropped",  # Δ = prediction, the −Y forgotten
}


class HandWritten:
    """The mutants' forward pass and gradients, written from the formulas again (not the
    reference's code), each with its switches for the bugs."""

    act = ACT  # (f, f′) per activation: a subclass may get one wrong

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

    def output_gradient(self, case, prediction, Y):
        """dE/dprediction as each loss defines it, with the loss-level bugs."""
        bug, count, n = self.bug, prediction.size, len(prediction)
        if case.loss == "softmax_cross_entropy":
            e = np.exp(prediction - prediction.max(axis=1, keepdims=True))
            d = (e / e.sum(axis=1, keepdims=True) - (0 if bug == "ce_missing_target" else Y)) / n
        elif case.loss == "binary_cross_entropy" and bug == "bce_from_probabilities":
            p = 1 / (1 + np.exp(-prediction))  # through the probability: 0/0 at p = 1
            with np.errstate(all="ignore"):
                d = (p - Y) / (p * (1 - p)) * (p * (1 - p)) / count
        elif case.loss == "binary_cross_entropy":
            d = (1 / (1 + np.exp(-prediction)) - Y) / count
        else:
            target = 0 if bug == "target_term_dropped" else Y
            d = (prediction - target) * (1.0 if case.loss == "half_sse" else 2.0 / count)
        if bug == "forgot_half":
            d = d * 2
        if bug == "batch_mean_sum":
            d = d / n if case.loss == "half_sse" else d * n
        if bug == "mse_per_sample" and case.loss == "mse":
            d = 2 * (prediction - Y) / n
        return d

    def local_slope(self, case, act, z, a):
        """da/dz of one layer, with the activation-level bugs."""
        if self.bug == "fprime_of_activation":  # σ′ evaluated at a = σ(z): σ(a)·(1 − σ(a))
            return self.fprime(case, act)(a, self.f(case, act)(a))
        if self.bug == "leaky_slope_positive" and act == "leaky_relu":
            return np.where(z > 0, case.leaky_slope, 1.0)
        if self.bug == "tanh_prime_of_z" and act == "tanh":
            return 1 - z**2
        if self.bug == "sigmoid_prime_of_z" and act == "sigmoid":
            return z * (1 - z)
        if self.bug == "no_activation_derivative":
            return 1.0
        return self.fprime(case, act)(z, a)

    def gradients(self, case, params, zs, acts, d):
        """From the top layer down, each weight's and bias's gradient and the input's."""
        bug, out = self.bug, {}
        for k in reversed(range(case.depth)):  # k: the layer's index from 0
            w, b = (f"{kind}{k + 1}" for kind in "Wb")
            delta = d * self.local_slope(case, case.activations[k], zs[k], acts[k + 1])
            below = zs[k - 1] if bug == "z_for_a" and k > 0 else acts[k]
            weight_grad = np.einsum("si,sj->ij", below, delta)
            if bug == "transposed_gradient" and weight_grad.shape == weight_grad.shape[::-1]:
                weight_grad = np.transpose(weight_grad)
            out[w] = weight_grad
            if b in params:
                out[b] = {
                    "bias_first_sample": delta[:1].sum(0),
                    "bias_mean": delta.mean(0),
                    "bias_last_sample": delta[-1:].sum(0),
                    "half_bias": np.sum(delta, 0) / 2,
                }.get(bug, np.sum(delta, 0))
            back = params[w]
            if bug == "new_output_weights":
                back = back - case.learning_rate * weight_grad  # updated before δ goes through it
            d = np.einsum("sj,ij->si", d if bug == "propagate_dE_da" else delta, back)
        out["X"] = d
        if bug == "last_sample_X_dropped":
            out["X"] = np.concatenate([d[:-1], np.zeros_like(d[-1:])])
        top = f"W{case.depth}"
        if bug == "sign_flip":
            out[top] = -1.0 * out[top]
        if bug == "layer_shift":  # each weight gradient reported one layer up, where it fits
            original = dict(out)
            names = [f"W{i}" for i in range(1, case.depth + 1)]
            for lower, upper in zip(names, names[1:], strict=False):
                if np.shape(original[lower]) == np.shape(original[upper]):
                    out[upper] = original[lower]
        return out


class MutantBackend(HandWritten, Backend):
    capabilities = Capabilities(optimizers=("sgd", "momentum", "adam"))

    def __init__(self, bug: str):
        self.bug = bug
        self.name = f"mutant-{bug}"

    def run(self, case, dtype, device="cpu"):
        precision = np.dtype(dtype)
        inner = np.float32 if self.bug == "float32_inside" else precision
        theta = {k: np.array(v, dtype=inner) for k, v in case.parameters().items()}
        inputs, wanted = np.asarray(case.inputs, inner), np.asarray(case.targets, inner)
        trajectory, kept, leftover = [], [], None
        self.slots = {}  # momentum's velocity, Adam's moments and step count
        for _ in range(case.steps):
            if self.bug == "momentum_not_carried":
                self.slots = {}
            value, g, new = self.step(case, theta, inputs, wanted, leftover)
            if self.bug == "lazy_loss":  # the loss read after the (in-place) update
                value = self.forward(case, new, inputs, wanted)[2]
            if self.bug == "in_place_gradient":  # differentiated after the update
                g = {**g, **self.step(case, new, inputs, wanted, None)[1]}
            theta = new
            leftover = g if self.bug == "no_grad_clear" else None
            trajectory.append(value)
            kept.append((g, dict(theta)))
        trajectory.append(self.forward(case, theta, inputs, wanted)[2])

        def as_run(tensors):
            return {k: np.asarray(v, dtype=precision) for k, v in tensors.items()}

        g0, theta1 = kept[0]
        loss = np.array(trajectory, dtype=precision)
        return Result(loss, as_run(g0), as_run(theta1), as_run(theta))

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

    def step(self, case, params, X, Y, carried):
        bug, lr = self.bug, case.learning_rate
        zs, acts, loss = self.forward(case, params, X, Y)
        grads = self.gradients(case, params, zs, acts, self.output_gradient(case, acts[-1], Y))
        if carried is not None:
            grads = {k: g + carried[k] for k, g in grads.items()}
        grads = {k: grads[k] for k in [*params, "X"]}
        if case.optimizer.name != "sgd":
            return loss, grads, self.optimize(case, params, grads)
        step_lr = {"lr_twice": lr * lr, "lr_missing": 1.0}.get(bug, lr)
        new = dict(params)
        for name in params:
            if name in case.frozen and bug != "frozen_updated":
                continue
            if bug == "never_updates_output" and name == f"W{case.depth}":
                continue
            sign = -1 if bug == "bias_sign_flip" and name.startswith("b") else 1
            new[name] = params[name] - sign * step_lr * grads[name]
        return loss, grads, new


for _bug in BUGS:
    globals()[_bug] = MutantBackend(_bug)
