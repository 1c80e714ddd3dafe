"""The update rules, by hand: the article's plain SGD, momentum and Adam (NumPy only).

g is dE/dp of the step; a the learning rate. Where frameworks differ by convention, the
case states the convention (its optimizer fields) and these rules follow it; docs/optimizers.md
names each framework's default, with its source.

SGD (the article)              p ← p − a·g

Momentum (heavy ball), v₀ = 0, μ the momentum, d the dampening:
  learning_rate_on = "step"      v ← μ·v + (1 − d)·g        p ← p − a·v   (torch, optax, autograd)
  learning_rate_on = "velocity"  v ← μ·v − a·(1 − d)·g      p ← p + v     (Keras)
  With a constant learning rate the two are the same trajectory; they differ in rounding only.

Adam (Kingma & Ba 2015, Algorithm 1), m₀ = v₀ = 0, t = 1, 2, …:
  m ← β₁·m + (1 − β₁)·g            the running mean of g
  v ← β₂·v + (1 − β₂)·g²           the running mean of g²
  m̂ = m / (1 − β₁ᵗ)   v̂ = v / (1 − β₂ᵗ)   the bias corrections (m and v start at 0)
  epsilon_placement = "after_correction"   p ← p − a·m̂ / (√v̂ + ε)                  (torch, optax)
                      "before_correction"  p ← p − a·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m / (√v + ε) (Keras)
                      "inside_sqrt"        p ← p − a·m̂ / √(v̂ + ε)                   (optax eps_root)
"""

import math
from dataclasses import dataclass, fields

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")
LEARNING_RATE_ON = ("step", "velocity")
EPSILON_PLACEMENTS = ("after_correction", "before_correction", "inside_sqrt")
SETTINGS = {  # the case-file fields of each rule
    "sgd": (),
    "momentum": ("momentum", "dampening", "learning_rate_on"),
    "adam": ("beta1", "beta2", "epsilon", "epsilon_placement"),
}


@dataclass(frozen=True)
class Optimizer:
    """The case's update rule and its settings (the defaults are torch's and optax's)."""

    name: str = "sgd"
    momentum: float = 0.9  # μ
    dampening: float = 0.0  # d
    learning_rate_on: str = "step"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    epsilon_placement: str = "after_correction"

    def settings(self) -> dict:
        """The fields this rule reads, {"beta1": 0.9, …}."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name in SETTINGS[self.name]
        }

    def describe(self) -> str:
        """'adam (beta1 0.9, beta2 0.999, epsilon 1e-08, epsilon_placement after_correction)'."""
        settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in self.settings().items())  # fmt: skip
        return f"{self.name} ({settings})" if settings else self.name

    def formula(self) -> str:
        """The update of a parameter p, in one line: 'p − a·dE/dp' for SGD."""
        if self.name == "sgd":
            return "p − a·dE/dp"
        if self.name == "momentum":
            if self.learning_rate_on == "step":
                return "p − a·v, v = μ·v + (1 − d)·dE/dp"
            return "p + v, v = μ·v − a·(1 − d)·dE/dp"
        return {
            "after_correction": "p − a·m̂/(√v̂ + ε)",
            "before_correction": "p − a·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + ε)",
            "inside_sqrt": "p − a·m̂/√(v̂ + ε)",
        }[self.epsilon_placement]

    def structure(self) -> tuple:
        """What changes the arithmetic's shape, not its numbers (a compile key's part)."""
        return (self.name, self.learning_rate_on, self.epsilon_placement)


def start(case, params: dict) -> dict:
    """The rule's state before the first step: t = 0, and zeros for every slot it keeps
    (momentum: v; Adam: m and v), one per parameter."""
    slots = {"sgd": (), "momentum": ("v",), "adam": ("m", "v")}[case.optimizer.name]
    return {"t": 0, **{s: {n: np.zeros_like(p) for n, p in params.items()} for s in slots}}


def update(case, params: dict, grads: dict, state: dict) -> tuple[dict, dict]:
    """One update of every parameter that is not frozen: (new parameters, new state)."""
    opt, t = case.optimizer, state["t"] + 1
    a = params_dtype(params).type(case.learning_rate)
    new, slots = {}, {s: dict(state[s]) for s in state if s != "t"}
    for name, p in params.items():
        if name in case.frozen:
            new[name] = p
        elif opt.name == "sgd":
            new[name] = p_minus_a_g(p, a, grads[name])
        elif opt.name == "momentum":
            new[name], slots["v"][name] = momentum(opt, a, p, grads[name], state["v"][name])
        else:
            m, v = state["m"][name], state["v"][name]
            new[name], slots["m"][name], slots["v"][name] = adam(opt, a, p, grads[name], m, v, t)
    return new, {"t": t, **slots}


def momentum(opt: Optimizer, a, p, g, v):
    """(p*, v*): one momentum step of one parameter."""
    mu, d = opt.momentum, opt.dampening
    if opt.learning_rate_on == "step":
        v = mu * v + (1 - d) * g  # v ← μ·v + (1 − d)·g
        return p - a * v, v  # p ← p − a·v
    v = mu * v - a * (1 - d) * g  # v ← μ·v − a·(1 − d)·g
    return p + v, v  # p ← p + v


def adam(opt: Optimizer, a, p, g, m, v, t: int):
    """(p*, m*, v*): Adam's step t (from 1) of one parameter."""
    b1, b2 = opt.beta1, opt.beta2
    m = b1 * m + (1 - b1) * g  # m ← β₁·m + (1 − β₁)·g
    v = b2 * v + (1 - b2) * g * g  # v ← β₂·v + (1 − β₂)·g²
    return p - a * adam_step(opt, m, v, t), m, v  # p ← p − a·step


def adam_step(opt: Optimizer, m, v, t: int):
    """What a multiplies at step t, from the moments, where the case puts ε."""
    c1, c2 = 1 - opt.beta1**t, 1 - opt.beta2**t  # bias corrections: m̂ = m/c1, v̂ = v/c2
    if opt.epsilon_placement == "after_correction":
        return (m / c1) / (np.sqrt(v / c2) + opt.epsilon)  # m̂ / (√v̂ + ε)
    if opt.epsilon_placement == "before_correction":
        return math.sqrt(c2) / c1 * m / (np.sqrt(v) + opt.epsilon)  # √c2/c1 · m / (√v + ε)
    return (m / c1) / np.sqrt(v / c2 + opt.epsilon)  # m̂ / √(v̂ + ε)


def sgd_step(case, params: dict, grads: dict) -> dict[str, np.ndarray]:
    """p* = p − a·dE/dp for every parameter that is not frozen (the article's update)."""
    a = params_dtype(params).type(case.learning_rate)
    return {
        name: p if name in case.frozen else p_minus_a_g(p, a, grads[name])
        for name, p in params.items()
    }


def p_minus_a_g(p: np.ndarray, a, g: np.ndarray) -> np.ndarray:
    """p − a·g with one temporary, not two (it matters for the bench's largest networks)."""
    out = np.multiply(g, -a)  # −a·g, in a buffer of its own …
    out += p  # … then p added in place
    return out


def params_dtype(params: dict) -> np.dtype:
    return next(iter(params.values())).dtype
