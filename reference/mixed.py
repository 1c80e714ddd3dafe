"""Mixed precision by hand: the reference's own scaled loop (reference/rules/loss_scaling.py
says what mixed precision and loss scaling are). Every step, in the article's manner:

    W_t = round_c(P_t)              the compute copies: the float32 masters P_t rounded to the
                                    compute precision c (bfloat16 or float16); X_c = round_c(X)
    E_t = loss(network(W_t, X_c), Y)
    S_t·dE/da_k, S_t·dE/dW_t        the scaled backward: every value of the chain S_t times
                                    larger; in c, one that reaches c's overflow point is inf
    g_t = dE/dW_t                   unscaled (S·dE/dW divided by S), cast to float32
    P_{t+1} = round_32(update(P_t, g_t))   the case's rule, in float32 — unless the step
                                    overflowed under dynamic scaling: then skipped
    S_{t+1} = GradScaler's rule     (loss_scaling.next_scale)

The forward and backward are computed exactly (float64) from the rounded copies; an engine
computing them in c lands within c's modelled tolerance of them (docs/tolerances.md).

Whether a step overflows is the one thing an engine may decide otherwise and be right: its
backward holds values inside a layer that the layers' outputs do not show (JAX's exact gelu,
0.5·x·erfc(−x/√2), carries the incoming gradient times erfc ≤ 2 before halving it), and keeps
some in float32 (torch.autocast's float32 ops: on the CPU, the losses). So the reference
decides by its own values — a step overflows when one of its layers' output gradients or its
parameters' gradients, times S, reaches c's overflow point — and can follow an engine's
decisions instead (``overflowed``), where they are admissible (comparisons/judge/mixed.py):
``Step`` records what each step's decision rests on.
"""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.network import backward_pass, forward, inputs_of
from backprop_crosscheck.reference.network import train as network_train
from backprop_crosscheck.reference.precision import SIGNIFICAND_BITS, largest, representable
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.loss_scaling import next_scale
from backprop_crosscheck.reference.rules.optimizers import start, update
from backprop_crosscheck.reference.training import train_loop


class Step(NamedTuple):
    """What one step's overflow decision rests on: its scale S, the largest scaled value of its
    backward (where, S·max|value|), the largest of its parameters' gradients, times S."""

    scale: float
    where: str
    largest: float
    parameters: float


def train(case, dtype=np.float64) -> Result:
    """Any case's reference run (the package's ``train``): a mixed-precision case's scaled loop,
    its masters float32 whatever ``dtype``; every other case's network.train in ``dtype``."""
    return network_train(case, dtype) if case.mixed is None else train_mixed(case)[0]


def train_mixed(case, overflowed=None) -> tuple[Result, list[Step]]:
    """The case's steps under its mixed precision (``case.mixed``), recorded as every run is —
    with dynamic scaling, the loss scale before every step and after the last too — and what
    each step's overflow decision rested on. ``overflowed``: a decision per step to follow (an
    engine's) in place of the reference's own."""
    one_step, masters, X, Y, state, steps = _scaled_steps(case, overflowed)
    compute = case.mixed.compute

    def final_loss(params):
        copies = {n: representable(p, compute) for n, p in params.items()}
        return forward(case, copies, X, Y).loss

    scaling = (lambda s: (s[1], s[3])) if case.mixed.dynamic else None
    with np.errstate(all="ignore"):
        result = train_loop(
            one_step, masters, state, case.steps, final_loss, loss_dtype=np.float64, scaling=scaling
        )
    return result, steps


def _scaled_steps(case, overflowed=None):
    """(one_step, float32 masters, X_c, Y, the first state — the optimizer's, S, good steps,
    whether the last step was skipped —, the list each step's Step is appended to)."""
    mp, steps = case.mixed, []
    masters = {n: representable(p, "float32") for n, p in case.parameters().items()}
    X = representable(representable(inputs_of(case, np.float64), "float32"), mp.compute)
    Y = representable(case.targets, "float32")
    top = rounds_to_inf(mp.compute)

    def one_step(params, state):
        optimizer, scale, good, _ = state
        copies = {n: representable(p, mp.compute) for n, p in params.items()}
        fwd = forward(case, copies, X, Y)
        chain = backward_pass(case, copies, fwd, Y)
        where, value = max(scaled_values(chain, scale), key=lambda found: found[1])
        trained = [float(np.abs(g).max()) for n, g in chain.gradients.items() if n != "X"]
        steps.append(Step(scale, where, value, scale * max(trained, default=0.0)))
        own = value >= top
        overflow = mp.dynamic and (own if overflowed is None else bool(overflowed[len(steps) - 1]))
        if not overflow:
            params, optimizer = update(case, params, chain.gradients, optimizer)
            params = {n: representable(p, "float32") for n, p in params.items()}
        scale, good = next_scale(mp, scale, good, overflow)
        return fwd.loss, chain.gradients, params, (optimizer, scale, good, overflow)

    first = (start(case, masters), mp.loss_scale, 0, False)
    return one_step, masters, X, Y, first, steps


def scaled_values(chain, scale: float):
    """(where, S·max|value|) for the values of the scaled backward held in the compute
    precision: each layer's dE/d(output) above the inputs and each parameter's gradient — what
    GradScaler's check sees (the parameters' gradients), and what reaches them. dE/dX is left
    out: no parameter's gradient depends on it."""
    for k, d in enumerate(chain.dE_doutputs[1:], start=1):
        if d is not None and np.size(d):
            yield f"dE/d(layer {k}'s output)", scale * float(np.max(np.abs(d)))
    for name, g in chain.gradients.items():
        if name != "X" and np.size(g):
            yield f"dE/d{name}", scale * float(np.max(np.abs(g)))


def rounds_to_inf(compute: str) -> float:
    """The least value c rounds to inf: its largest plus half a unit in its last place (float16:
    65504 + 16 = 65520; to nearest, a tie goes to the even significand, past the largest)."""
    p = SIGNIFICAND_BITS[compute]
    return largest(compute) * (2 - 2.0**-p) / (2 - 2.0 ** (1 - p))
