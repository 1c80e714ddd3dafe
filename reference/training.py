"""The training loop every route shares: the reference, finite differences, the mistakes, a
learner's function and every framework backend run their steps through ``train_loop``.

What a step is differs — the hand-derived backward pass, differences of the loss, one mistake,
a learner's function, an engine's autodiff and optimizer — so it is the loop's argument;
what is recorded of the steps does not, so it is written once: the loss before every step
and after the last, the first step's gradients and updated parameters, the final parameters.
"""

import numpy as np
from backprop_crosscheck.reference.result import Result


def as_is(value):
    return value


def train_loop(
    step,
    params: dict,
    state,
    steps: int,
    final_loss,
    keep=as_is,
    chain=None,
    loss_dtype=None,
    scaling=None,
) -> Result:
    """``steps`` calls of ``step(params, state) -> (loss, gradients, params, state)``, then
    ``final_loss(params)``. ``keep`` turns what is recorded into NumPy (an engine's tensors,
    copied: an in-place update must not rewrite it); ``chain()`` gives the first step's backward
    intermediates (None: none); ``loss_dtype`` the losses' dtype (None: as they come).
    ``scaling(state) -> (loss scale, whether the step just taken was skipped)``: a loss-scaled
    loop's (reference/rules/loss_scaling.py) — its scale is recorded before every step and after
    the last, and the first step taken, not skipped, gives the gradients and updated parameters
    (a skipped step's gradients are inf or NaN: nothing to hold them to) — NaN where every
    step was skipped."""
    losses, scales, first, updated, intermediates = [], [], None, {}, None
    for _ in range(steps):
        if scaling is not None:
            scales.append(float(scaling(state)[0]))
        loss, grads, params, state = step(params, state)
        losses.append(keep(loss))
        if first is None and not (scaling is not None and scaling(state)[1]):
            first, updated = recorded(grads, keep), recorded(params, keep)
            intermediates = None if chain is None else chain()
    if first is None and steps:  # every step skipped: no finite gradient to hold, NaN
        first = {n: np.full(np.shape(keep(g)), np.nan) for n, g in grads.items()}
        updated = recorded(params, keep)
    losses.append(keep(final_loss(params)))
    loss = np.array(losses, dtype=loss_dtype)
    scale = None if scaling is None else np.array([*scales, float(scaling(state)[0])])
    return Result(loss, first or {}, updated, recorded(params, keep), intermediates, scale)


def recorded(tensors: dict, keep=as_is) -> dict:
    return {name: keep(t) for name, t in tensors.items()}
