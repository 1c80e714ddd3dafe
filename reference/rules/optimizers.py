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

Weight decay λ, any rule (0: none):
  weight_decay_mode = "l2"         g ← g + λ·p before the rule: ½λ‖p‖² added to the loss
                                   (torch's weight_decay in SGD and Adam, optax.add_decayed_weights
                                   first)
                    = "decoupled"  p* ← p* − a·λ·p after it, apart from the rule's moments
                                   (AdamW: torch.optim.AdamW, optax.adamw, Keras's weight_decay)
  For plain SGD the two are the same update; the gradients reported are the loss's alone.
"""

import math
from dataclasses import dataclass, fields

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")
LEARNING_RATE_ON = ("step", "velocity")
EPSILON_PLACEMENTS = ("after_correction", "before_correction", "inside_sqrt")
WEIGHT_DECAY_MODES = ("l2", "decoupled")
DECAY = ("weight_decay", "weight_decay_mode")  # every rule's, shown only when λ > 0
SETTINGS = {  # the case-file fields of each rule
    "sgd": DECAY,
    "momentum": ("momentum", "dampening", "learning_rate_on", *DECAY),
    "adam": ("beta1", "beta2", "epsilon", "epsilon_placement", *DECAY),
}


# Each rule's update of one parameter p, as text (read by explain, the page and the diagnosis);
# the symbols in braces are the case's settings (SYMBOLS: as letters; Optimizer.numbers).
FORMULAS = {
    ("sgd", None): "p* = p − {a}·dE/dp",
    ("momentum", "step"): "v = {μ}·v + {1−d}·dE/dp, p* = p − {a}·v",
    ("momentum", "velocity"): "v = {μ}·v − {a}·{1−d}·dE/dp, p* = p + v",
    ("adam", "after_correction"): "p* = p − {a}·m̂/(√v̂ + {ε})",
    ("adam", "before_correction"): "p* = p − {a}·√(1 − {β2}^t)/(1 − {β1}^t)·m/(√v + {ε})",
    ("adam", "inside_sqrt"): "p* = p − {a}·m̂/√(v̂ + {ε})",
}
ADAM_MOMENTS = (
    "m = {β1}·m + {1−β1}·g, v = {β2}·v + {1−β2}·g², m̂ = m/(1 − {β1}^t), v̂ = v/(1 − {β2}^t)"
)
SYMBOLS = {
    "a": "a",
    "μ": "μ",
    "1−d": "(1 − d)",
    "β1": "β1",
    "β2": "β2",
    "1−β1": "(1 − β1)",
    "1−β2": "(1 − β2)",
    "ε": "ε",
    "λ": "λ",
}


def written(text: str, values: dict, parameter: str = "p", ascii: bool = False) -> str:
    """A formula of FORMULAS with ``values`` for its symbols, about ``parameter``."""
    text = text.format(**values).replace("dE/dp", f"dE/d{parameter}")
    text = text.replace("p* = p ", f"{parameter}* = {parameter} ")
    return text.replace("−", "-") if ascii else text


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
    weight_decay: float = 0.0  # λ
    weight_decay_mode: str = "l2"

    def settings(self) -> dict:
        """The fields this rule reads, {"beta1": 0.9, …} (weight decay's only when λ > 0)."""
        shown = [n for n in SETTINGS[self.name] if self.weight_decay or n not in DECAY]
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in shown}

    def describe(self) -> str:
        """'adam (beta1 0.9, beta2 0.999, epsilon 1e-08, epsilon_placement after_correction)'."""
        settings = ", ".join(
            f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.settings().items()
        )
        return f"{self.name} ({settings})" if settings else self.name

    def formula(self, parameter: str = "p", show=None, learning_rate=None, ascii=False) -> str:
        """The update of ``parameter`` in one line, from the rule's row of ``FORMULAS``:
        'p* = p − a·dE/dp' for SGD; Adam's with its moments and bias corrections. ``show``
        (a number → text): the case's settings written in for the symbols, the learning rate
        too when given; ``ascii``: '-' for '−', as the command line prints numbers."""
        text = FORMULAS[self.variant()]
        if self.name == "adam":
            text = f"{ADAM_MOMENTS}, {text}"
        if self.weight_decay:
            text += (
                ", then p* − {a}·{λ}·p (decoupled weight decay)"
                if self.weight_decay_mode == "decoupled"
                else ", dE/dp + {λ}·p for dE/dp (L2 weight decay)"
            )
        values = SYMBOLS if show is None else self.numbers(show, learning_rate)
        return written(text, values, parameter, ascii)

    def variant(self) -> tuple[str, str | None]:
        return self.name, {
            "sgd": None,
            "momentum": self.learning_rate_on,
            "adam": self.epsilon_placement,
        }[self.name]

    def numbers(self, show, learning_rate=None) -> dict:
        """Each symbol of the formulas as ``show`` writes the case's number for it."""
        mu, d, b1, b2 = self.momentum, self.dampening, self.beta1, self.beta2
        values = {
            "μ": mu,
            "1−d": 1 - d,
            "β1": b1,
            "β2": b2,
            "1−β1": 1 - b1,
            "1−β2": 1 - b2,
            "ε": self.epsilon,
            "λ": self.weight_decay,
        }
        shown = {k: show(v) for k, v in values.items()}
        shown["a"] = SYMBOLS["a"] if learning_rate is None else show(learning_rate)
        return shown

    def structure(self) -> tuple:
        """What changes the arithmetic's shape, not its numbers (a compile key's part)."""
        decay = self.weight_decay_mode if self.weight_decay else None
        return (self.name, self.learning_rate_on, self.epsilon_placement, decay)


def start(case, params: dict) -> dict:
    """The rule's state before the first step: t = 0, and zeros for every slot it keeps
    (momentum: v; Adam: m and v), one per parameter."""
    slots = {"sgd": (), "momentum": ("v",), "adam": ("m", "v")}[case.optimizer.name]
    return {"t": 0, **{s: {n: np.zeros_like(p) for n, p in params.items()} for s in slots}}


def update(case, params: dict, grads: dict, state: dict) -> tuple[dict, dict]:
    """One update of every parameter that is not frozen: (new parameters, new state)."""
    opt, t, dtype = case.optimizer, state["t"] + 1, params_dtype(params)
    a = dtype.type(case.learning_rate)
    new, slots = {}, {s: dict(state[s]) for s in state if s != "t"}
    decay = dtype.type(opt.weight_decay)  # λ, in the run's dtype
    for name, p in params.items():
        g = grads[name]
        if opt.weight_decay and opt.weight_decay_mode == "l2":
            g = g + decay * p  # ½λ‖p‖² in the loss: its gradient λ·p added
        if name in case.frozen:
            new[name] = p
            continue
        if opt.name == "sgd":
            new[name] = p_minus_a_g(p, a, g)
        elif opt.name == "momentum":
            new[name], slots["v"][name] = momentum(opt, a, p, g, state["v"][name])
        else:
            m, v = state["m"][name], state["v"][name]
            new[name], slots["m"][name], slots["v"][name] = adam(opt, a, p, g, m, v, t)
        if opt.weight_decay and opt.weight_decay_mode == "decoupled":
            new[name] = new[name] - a * decay * p  # p shrunk apart from the rule (AdamW)
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
    m, v = moments(opt, m, v, g)
    return p - a * adam_step(opt, m, v, t), m, v  # p ← p − a·step


def moments(opt: Optimizer, m, v, g):
    """Adam's running means after one more gradient g: (m*, v*)."""
    m = opt.beta1 * m + (1 - opt.beta1) * g  # m ← β₁·m + (1 − β₁)·g
    v = opt.beta2 * v + (1 - opt.beta2) * g * g  # v ← β₂·v + (1 − β₂)·g²
    return m, v


def bias_corrections(opt: Optimizer, t: int) -> tuple[float, float]:
    """(1 − β₁ᵗ, 1 − β₂ᵗ): m̂ = m / the first, v̂ = v / the second (m and v start at 0)."""
    return 1 - opt.beta1**t, 1 - opt.beta2**t


def adam_step(opt: Optimizer, m, v, t: int, corrected: bool = True):
    """What a multiplies at step t, from the moments, where the case puts ε. ``corrected``
    False: the moments as they are, never divided by 1 − βᵗ (a classic mistake)."""
    c1, c2 = bias_corrections(opt, t) if corrected else (1.0, 1.0)
    if opt.epsilon_placement == "after_correction":
        return (m / c1) / (np.sqrt(v / c2) + opt.epsilon)  # m̂ / (√v̂ + ε)
    if opt.epsilon_placement == "before_correction":
        return math.sqrt(c2) / c1 * m / (np.sqrt(v) + opt.epsilon)  # √c2/c1 · m / (√v + ε)
    return (m / c1) / np.sqrt(v / c2 + opt.epsilon)  # m̂ / √(v̂ + ε)


def p_minus_a_g(p: np.ndarray, a, g: np.ndarray) -> np.ndarray:
    """p − a·g with one temporary, not two (it matters for the bench's largest networks)."""
    out = np.multiply(g, -a)  # −a·g, in a buffer of its own …
    out += p  # … then p added in place
    return out


def params_dtype(params: dict) -> np.dtype:
    return next(iter(params.values())).dtype
