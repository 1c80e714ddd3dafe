"""Mixed precision by hand: the reference's own scaled loop (reference/rules/loss_scaling.py
says what mixed precision and loss scaling are). Every step, in the article's manner:

    W_t = round_c(P_t)              the compute copies: the float32 masters P_t rounded to the
                                    compute precision c (bfloat16 or float16); X_c = round_c(X)
    E_t = loss(network(W_t, X_c), Y)
    S_t·dE/da_k, S_t·dE/dW_t        the scaled backward: every value of the chain S_t times
                                    larger; in c, one past c's largest value is inf
    g_t = dE/dW_t                   unscaled (S·dE/dW divided by S), cast to float32
    P_{t+1} = round_32(update(P_t, g_t))   the case's rule, in float32 — unless the step
                                    overflowed under dynamic scaling: then skipped
    S_{t+1} = GradScaler's rule     (loss_scaling.next_scale)

The forward and backward are computed exactly (float64) from the rounded copies; an engine
computing them in c lands within c's modelled tolerance of them (docs/tolerances.md). Whether a
step overflows is decided on the exact scaled values; where one is within rounding of c's
largest, no engine can be held to the decision (``scaling_problem``).
"""

import numpy as np
from backprop_crosscheck.reference.network import backward_pass, forward, inputs_of
from backprop_crosscheck.reference.network import train as network_train
from backprop_crosscheck.reference.precision import SIGNIFICAND_BITS, largest, representable
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.loss_scaling import next_scale
from backprop_crosscheck.reference.rules.optimizers import start, update
from backprop_crosscheck.reference.training import train_loop


def train(case, dtype=np.float64) -> Result:
    """Any case's reference run (the package's ``train``): a mixed-precision case's scaled loop,
    its masters float32 whatever ``dtype``; every other case's network.train in ``dtype``."""
    return network_train(case, dtype) if case.mixed is None else train_mixed(case)


def train_mixed(case) -> Result:
    """The case's steps under its mixed precision (``case.mixed``), recorded as every run is;
    with dynamic scaling, the loss scale before every step and after the last too."""
    one_step, masters, X, Y, state = _scaled_steps(case)
    compute = case.mixed.compute

    def final_loss(params):
        copies = {n: representable(p, compute) for n, p in params.items()}
        return forward(case, copies, X, Y).loss

    scaling = (lambda s: (s[1], s[3])) if case.mixed.dynamic else None
    with np.errstate(all="ignore"):
        return train_loop(
            one_step, masters, state, case.steps, final_loss, loss_dtype=np.float64, scaling=scaling
        )


def _scaled_steps(case):
    """(one_step, float32 masters, X_c, Y, the first state: the optimizer's, S, good steps,
    whether the last step was skipped)."""
    mp = case.mixed
    masters = {n: representable(p, "float32") for n, p in case.parameters().items()}
    X = representable(representable(inputs_of(case, np.float64), "float32"), mp.compute)
    Y = representable(case.targets, "float32")

    def one_step(params, state):
        optimizer, scale, good, _ = state
        copies = {n: representable(p, mp.compute) for n, p in params.items()}
        fwd = forward(case, copies, X, Y)
        chain = backward_pass(case, copies, fwd, Y)
        overflow = mp.dynamic and overflows(chain, scale, mp.compute)
        if not overflow:
            params, optimizer = update(case, params, chain.gradients, optimizer)
            params = {n: representable(p, "float32") for n, p in params.items()}
        scale, good = next_scale(mp, scale, good, overflow)
        return fwd.loss, chain.gradients, params, (optimizer, scale, good, overflow)

    return one_step, masters, X, Y, (start(case, masters), mp.loss_scale, 0, False)


def scaled_values(chain, scale: float):
    """(where, S·max|value|) for the values of the scaled backward held in the compute
    precision: each layer's dE/d(output) and each gradient."""
    for k, d in enumerate(chain.dE_doutputs):
        if d is not None and np.size(d):
            yield f"dE/d(layer {k}'s output)", scale * float(np.max(np.abs(d)))
    for name, g in chain.gradients.items():
        if np.size(g):
            yield f"dE/d{name}", scale * float(np.max(np.abs(g)))


def largest_scaled(chain, scale: float) -> tuple[str, float]:
    """(where, S·|value|) of the largest value of the scaled backward."""
    return max(scaled_values(chain, scale), key=lambda found: found[1], default=("", 0.0))


def overflows(chain, scale: float, compute: str) -> bool:
    """Whether the scaled backward holds a value that rounds to inf in c."""
    return largest_scaled(chain, scale)[1] >= rounds_to_inf(compute)


def rounds_to_inf(compute: str) -> float:
    """The least value c rounds to inf: its largest plus half a unit in its last place (float16:
    65504 + 16 = 65520; to nearest, a tie goes to the even significand, past the largest)."""
    p = SIGNIFICAND_BITS[compute]
    return largest(compute) * (2 - 2.0**-p) / (2 - 2.0 ** (1 - p))


def scaling_problem(case, band: float) -> str | None:
    """Why no engine can be held to this mixed-precision case, in words; None when it can: a
    static scale under which a step overflows (every value after it inf or NaN), or a step whose
    largest scaled value is within ``band`` (relative) of c's largest — overflowing or not is
    then rounding's choice. The steps followed are the reference's own."""
    mp, (one_step, params, X, Y, state) = case.mixed, _scaled_steps(case)
    top = rounds_to_inf(mp.compute)
    with np.errstate(all="ignore"):
        for t in range(case.steps):
            copies = {n: representable(p, mp.compute) for n, p in params.items()}
            chain = backward_pass(case, copies, forward(case, copies, X, Y), Y)
            scale = state[1]
            where, value = largest_scaled(chain, scale)
            if top * (1 - band) < value < top * (1 + band):
                return (
                    f"at step {t}, S·{where} = {value:.6g} (S = {scale:g}) is within rounding "
                    f"of {top:g}, where {mp.compute} overflows: whether the step overflows is "
                    "rounding's choice"
                )
            if value >= top and not mp.dynamic:
                return (
                    f"at step {t}, S·{where} = {value:.3g} overflows {mp.compute} (from {top:g} "
                    f"on): the static loss scale {scale:g} is too large (dynamic scaling skips "
                    "such a step)"
                )
            _, _, params, state = one_step(params, state)
    return None
