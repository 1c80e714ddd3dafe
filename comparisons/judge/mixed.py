"""How a mixed-precision run is judged (docs/tolerances.md#mixed-precision).

Its masters are float32 and so is their update: the parameters are held to float32's tolerance.
Its forward and backward are in the compute precision c: the loss and the gradients are held to
c's modelled tolerance (tolerance.modelled), and the update carries the gradients' allowance
into the parameters through the case's rule — two more trajectories of the rule's state, every
gradient at the low and at the high end of its allowance, the further of their updates from the
reference's added to each parameter's allowance (reference/conditioning.py does this for Adam
alone in the full precisions; here every rule). An engine whose update or masters are in c
moves a parameter by c's rounding of it — a weight of 0.5 by 2⁻⁹ in bfloat16 — far past a·(the
gradient's allowance): caught. With dynamic scaling, the loss scale before every step is held
to the reference's exactly: the rule decides it, rounding does not (GradScaler's scales are the
initial one times powers of its factors).
"""

import functools

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import Mismatch
from backprop_crosscheck.comparisons.judge.tolerance import LAMBDA, modelled
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.mixed import scaling_problem
from backprop_crosscheck.reference.network import backward, forward, inputs_of
from backprop_crosscheck.reference.precision import precision_problem, representable
from backprop_crosscheck.reference.rules.optimizers import start, update


def mixed_problem(case: Case, reference, dtype: str) -> str | None:
    """Why no engine can be held to this mixed-precision run, in words (every backend n/a with
    it); None when one can: asked in another precision than its float32 masters', a value past
    the compute precision's range, a step whose overflow is rounding's choice or a static scale
    that overflows (reference/mixed.py)."""
    if dtype != "float32":
        return (
            f"a mixed-precision case keeps float32 master parameters: it runs in float32 "
            f"(--dtype float32), not {dtype}"
        )
    compute = case.mixed.compute
    band = modelled(compute, case).rtol / LAMBDA  # u·K: one value's rounding, not the worst
    overflow = precision_problem(case, reference, compute, optimizer_state=False)
    return overflow or scaling_problem(case, band)


@functools.lru_cache(maxsize=16)
def mixed_allowance(case: Case, loss: tuple) -> dict:
    """{"loss": per step, "gradients"/"updated"/"final": {name: per entry}}: what c's rounding
    of the forward and backward may move each value by, beyond float32's tolerance. ``loss``:
    the reference's losses (a tuple: the cache's key)."""
    tol = modelled(case.mixed.compute, case)
    with np.errstate(all="ignore"):
        updated, final, grads = _through_the_rule(case, tol.rtol, tol.atol)
    return {
        "loss": tol.atol + tol.rtol * np.abs(np.array(loss)),
        "gradients": {n: tol.atol + tol.rtol * np.abs(g) for n, g in grads.items()},
        "updated": updated,
        "final": final,
    }


def _through_the_rule(case: Case, rtol: float, atol: float):
    """The parameters' allowance after the first update and the last, and the first step's
    gradients: the case's rule run three times a step, from the reference's parameters, with
    every gradient g, g − τ and g + τ (τ = atol + rtol·|g|)."""
    compute = case.mixed.compute
    params = {n: representable(p, "float32") for n, p in case.parameters().items()}
    X = representable(inputs_of(case, np.float64), compute)
    Y = case.targets
    states = {side: start(case, params) for side in (0, -1, 1)}
    slack = {n: np.zeros_like(p) for n, p in params.items()}
    updated, first = None, None
    for _ in range(case.steps):
        copies = {n: representable(p, compute) for n, p in params.items()}
        grads = backward(case, copies, forward(case, copies, X, Y), Y)
        first = grads if first is None else first
        tau = {n: atol + rtol * np.abs(g) for n, g in grads.items()}
        moved = {}
        for side in (0, -1, 1):
            nudged = {n: g + side * tau[n] for n, g in grads.items()}
            moved[side], states[side] = update(case, params, nudged, states[side])
        for n in params:
            off = np.maximum(np.abs(moved[-1][n] - moved[0][n]), np.abs(moved[1][n] - moved[0][n]))
            slack[n] = slack[n] + off
        params = moved[0]
        updated = {n: s.copy() for n, s in slack.items()} if updated is None else updated
    return updated, slack, first


def scale_mismatches(reference_scale, scale) -> list[Mismatch]:
    """A dynamic run's loss scale before every step and after the last against the reference's,
    exactly: one Mismatch per step where they differ (a missing or misshapen record: every step)."""
    want = np.asarray(reference_scale, dtype=np.float64)
    got = None if scale is None else np.asarray(scale, dtype=np.float64).ravel()
    if got is None or got.shape != want.shape:
        got = np.full(want.shape, np.nan)
    return [
        Mismatch("loss", "scale", f"loss scale[step {t}]", float(g), float(w), 0.0)
        for t, (g, w) in enumerate(zip(got, want, strict=True))
        if not g == w
    ]
