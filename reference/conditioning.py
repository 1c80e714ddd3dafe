"""How far Adam's trajectory may move when every gradient moves within its own tolerance.

SGD and momentum are linear in the gradient: a gradient off by its tolerance moves the update
by a·(that), which the parameters' own tolerance covers. Adam's step m̂/(√v̂ + ε) is not: it
normalizes the gradient, so where a gradient is near zero — within its own rounding of it, and
ε tiny — the step's size and even its sign are decided by rounding. A float32 engine, or finite
differences, cannot agree with the float64 reference there, and no fixed tolerance says by how
much they may differ. This module says it: the gradient's tolerance τ = atol + rtol·|g|,
carried through the rule. Two more trajectories of the moments are kept, one with every
gradient at the low end of its tolerance (g − τ), one at the high end (g + τ); each step, the
further of their steps from the reference's, times a, is added to the parameter's allowance.
At t = 1 that is exactly the range of a·g/(|g| + ε) over g ± τ; where |g| ≫ ε it is ≈ a·ε·τ/g²
— nothing — and it is large only where the step is truly undecided. The loss's allowance is
its first-order image, Σ |dE/dp|·that. The feedback of the moved parameters into later
gradients is measured: from the second step on, each gradient's τ also holds how far it moves
when every parameter is moved by its allowance so far, with fixed random signs and with their
opposites (the larger of the two moves) — in bfloat16 a
step decided by rounding moves a weight by a whole learning rate, and the next gradients with it.
"""

import functools

import numpy as np
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.network import backward, forward
from backprop_crosscheck.reference.rules.optimizers import adam_step
from backprop_crosscheck.reference.rules.optimizers import moments as adam_moments


@functools.lru_cache(maxsize=16)  # a report asks once per backend, the page once per number
def adam_allowance(case: Case, rtol: float, atol: float) -> dict | None:
    """{"updated": {name: extra}, "final": {name: extra}, "loss": extra per step}: how far
    each value may be from the reference's beyond the usual tolerance; None unless Adam."""
    opt = case.optimizer
    if opt.name != "adam":
        return None
    with np.errstate(all="ignore"):
        return _allowance(case, opt, rtol, atol)


def _allowance(case, opt, rtol, atol) -> dict:
    a = case.learning_rate
    params = case.parameters()
    X, Y = case.inputs, case.targets
    trained = [n for n in params if n not in case.frozen]
    # the moments (m, v) of the reference, and with every gradient at g − τ and at g + τ
    moments = {side: {n: (0.0, 0.0) for n in trained} for side in (0, -1, 1)}
    slack = {n: np.zeros_like(p) for n, p in params.items()}
    losses, updated = [], None
    for t in range(1, case.steps + 1):
        grads = backward(case, params, forward(case, params, X, Y), Y)
        losses.append(sum(float(np.sum(np.abs(grads[n]) * slack[n])) for n in params))
        feedback = {n: 0.0 for n in params}
        for side in (-1.0, 1.0) if t > 1 else ():  # one sign pattern and its opposite
            r = np.random.default_rng(t)
            moved = {
                n: p + side * slack[n] * r.choice((-1.0, 1.0), p.shape) for n, p in params.items()
            }
            fed = backward(case, moved, forward(case, moved, X, Y), Y)
            feedback = {n: np.fmax(feedback[n], np.abs(fed[n] - grads[n])) for n in params}
        for n in trained:
            g = grads[n] + (opt.weight_decay * params[n] if opt.weight_decay_mode == "l2" else 0)
            tau = atol + rtol * np.abs(g) + feedback[n]
            steps = {}
            for side in (0, -1, 1):
                m, v = moments[side][n]
                gs = g + side * tau
                m, v = moments[side][n] = adam_moments(opt, m, v, gs)
                steps[side] = adam_step(opt, m, v, t)
            off = np.maximum(np.abs(steps[-1] - steps[0]), np.abs(steps[1] - steps[0]))
            slack[n] = slack[n] + a * off
            decoupled = opt.weight_decay if opt.weight_decay_mode == "decoupled" else 0.0
            params[n] = params[n] - a * steps[0] - a * decoupled * params[n]
        if t == 1:
            updated = {n: s.copy() for n, s in slack.items()}
    grads = backward(case, params, forward(case, params, X, Y), Y)
    losses.append(sum(float(np.sum(np.abs(grads[n]) * slack[n])) for n in params))
    return {"updated": updated, "final": slack, "loss": np.array(losses)}
