"""The rounding floor of a case at a precision: how far a correct computation in that precision
may land from the exact values where the case itself makes a value out of cancelling terms.

A fixed tolerance, atol + rtol·|value|, assumes every value is computed from terms of about its
own size. Two things break that. A normalization layer: x̂ = (x − μ)/√(σ² + ε) subtracts two
terms of size |x|, and divides what is left by as little as √ε — over a feature constant on the
batch, x − μ is exactly 0; any engine's mean, rounded, leaves ±ε·|x| there, which 1/√ε makes 300
times larger. And a long sum whose terms cancel: a weight's gradient sums one term per sample,
step and query (cross-attention from 124 queries onto 124 keys: ~15,000 terms), each rounded
once, so its error grows as √n·ε·(the terms' size) while the sum itself may be much smaller. No
engine is wrong there; the case decides nothing finer. This module measures it the way the
rounding acts: the reference's first step is taken again in float64 with every layer's input
and every layer's incoming gradient moved by one rounding of the run's precision — each entry
by ε·|x|·u — and each normalization's mean μ by ε·max|x|·u, the error a rounded mean makes (u
uniform in [−1, 1], fixed seeds) — and the largest change of each value over those runs, times a
safety factor, is its floor (on the first update too, through the learning rate). A value
computed from terms of its own size moves by about ε·|value|: far below rtol. A sum of n
independently rounded terms moves by about √n·ε·(their size): the accumulation length is in the
floor by construction. A mistake moves values by their own size, far past any floor.

Finite differences add their own error, measured the same way: the quotients with the
witness's step h against those with h/2, and the loss's rounding over h.
"""

import functools

import numpy as np
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.network import inputs_of, train_from
from backprop_crosscheck.reference.precision import LOW, representable, unit_roundoff
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import ROWS, run_backward, run_forward

RUNS = 4  # nudged runs: the floor is the largest change seen
SAFETY = 8.0  # a correct engine's own rounding may be a few of these nudges at once
# in a low precision every operation inside a layer rounds too (a layer norm's mean, variance,
# root and quotient), not only what enters and leaves it: √(their count) ≈ 2 more. Calibrated:
# with 8, attention cases whose layer norm cancels raised 1.4–1.8× alarms (docs/tolerances.md)
LOW_SAFETY = 16.0
NORMALIZATIONS = ("batch_norm", "layer_norm")  # where x − μ cancels


@functools.lru_cache(maxsize=16)
def rounding_floor(case: Case, dtype: str) -> dict:
    """{"loss": per step, "gradients"/"updated"/"final": {name: per entry}}: what one rounding
    in ``dtype`` of every layer's input and incoming gradient may move each value by. Measured on
    the first step; the later steps' losses and updates are given the same."""
    eps = 2 * unit_roundoff(dtype)  # the machine epsilon: float32's np.finfo(np.float32).eps
    low = dtype in LOW  # every value rounded: each layer's input and the output too
    safety = LOW_SAFETY if low else SAFETY
    base_loss, base = first_step(case, ROWS)
    loss, floor = 0.0, {n: np.zeros_like(g) for n, g in base.items()}
    for seed in range(RUNS):
        rows, rounded = rounded_rows(eps, seed, everywhere=low)
        run_loss, grads = first_step(case, rows, rounded if low else None)
        loss = max(loss, safety * abs(run_loss - base_loss))
        for n, g in grads.items():
            floor[n] = np.fmax(floor[n], safety * np.abs(g - base[n]))
    updated = {n: case.learning_rate * f for n, f in floor.items() if n != "X"}
    final = {n: case.steps * u for n, u in updated.items()}
    losses = np.full(case.steps + 1, loss)
    return {"loss": losses, "gradients": floor, "updated": updated, "final": final}


def at_its_layers(case: Case, dtype: str) -> dict:
    """The first step's gradients with every layer's input, what it keeps and its incoming
    gradient rounded to ``dtype`` (to nearest), the output too: a low precision's arithmetic at
    the layers' boundaries, each layer computed exactly between them — what an engine that
    computes in the precision lands near, and one that computes wider and casts does not."""
    rows, rounded = rounded_rows(0.0, 0, everywhere=True, to=dtype)
    return first_step(case, rows, rounded)[1]


def rounded_rows(
    eps: float, seed: int, everywhere: bool = False, to: str | None = None
) -> tuple[dict, object]:
    """Every row with its incoming gradient (backward) moved by one rounding entry by entry, a
    normalization's input too and its mean by one rounding of the largest |x|; ``everywhere``
    (a low precision, where a rounding is as large as a cancelling difference: the output
    p − t of a loss near its target; x̂ of a batch norm over two samples, ±1 up to rounding),
    every row's input and what it keeps for its backward; ``to``: each rounded to nearest in
    that precision, not moved at random. (the rows, the rounding itself)"""
    rng = np.random.default_rng(seed)

    def rounded(a):
        a = np.asarray(a)
        if a.dtype.kind != "f":
            return a
        return representable(a, to) if to else a + eps * np.abs(a) * rng.uniform(-1, 1, a.shape)

    def kept(saved):  # what a layer keeps for its backward, as a low precision holds it
        if isinstance(saved, np.ndarray):
            return rounded(saved)
        if isinstance(saved, tuple) and hasattr(saved, "_fields"):
            return type(saved)(*map(kept, saved))
        if isinstance(saved, tuple | list):
            return type(saved)(map(kept, saved))
        if isinstance(saved, dict):
            return {k: kept(v) for k, v in saved.items()}
        return saved

    def row(kind, forward, backward):
        def nudged_forward(x, *args, **settings):
            if kind not in NORMALIZATIONS:  # a kink or a tie decided as the case decides it
                y, saved = forward(rounded(x) if everywhere else x, *args, **settings)
            else:
                settings["mean_error"] = eps * rng.uniform(-1, 1)  # what a rounded mean carries
                y, saved = forward(rounded(x), *args, **settings)
            return y, kept(saved) if everywhere else saved

        def nudged_backward(dy, *args):
            return backward(rounded(dy), *args)

        return nudged_forward, nudged_backward

    return {kind: row(kind, *pair) for kind, pair in ROWS.items()}, rounded


def first_step(case: Case, rows: dict, output=None) -> tuple[float, dict]:
    """The first step's loss and gradients of a layer stack, in float64, with these rows (and
    the network's output through ``output``, a rounding, where given)."""
    params, X, Y = case.parameters(), inputs_of(case, np.float64), case.targets
    with np.errstate(all="ignore"):
        a, saved = run_forward(case.stack, X, params, case.leaky_slope, rows)
        a[-1] = a[-1] if output is None else output(a[-1])
        dE_da = LOSSES[case.loss].gradient(a[-1], Y)
        dX, grads = run_backward(case.stack, dE_da, saved, params, case.leaky_slope, rows)
    grads = {**{n: grads[n] for n in params}, **({} if case.takes_indices else {"X": dX})}
    return float(LOSSES[case.loss].value(a[-1], Y)), grads


@functools.lru_cache(maxsize=16)
def differences_floor(case: Case) -> dict:
    """Central differences' own error, entry by entry, measured: the first step's quotients
    with the witness's step h against those with h/2 — truncation falls by 4, so the error of
    the h quotient is about 4/3 of their gap — plus the loss's rounding over h; times the safety
    factor, on the gradients, and through the learning rate on the updates."""
    from backprop_crosscheck.reference.finite_differences import (
        EPS,
        ROUNDING,
        STEP,
        OnKink,
        gradients,
    )

    params = case.parameters()
    try:
        full, half = gradients(case, params), gradients(case, params, scale=0.5)
    except OnKink:  # a kink: no quotient measures it, and the witness skips it
        return {}
    base = train_from(case, params, inputs_of(case, np.float64))
    loss = float(np.max(np.abs(base.loss)))
    tensors = {**params, **({} if case.takes_indices else {"X": case.inputs})}
    found = {}
    for name, x in tensors.items():
        rounding = ROUNDING * EPS * loss / (STEP * np.maximum(1.0, np.abs(x)))
        found[name] = SAFETY * (4 / 3 * np.abs(full[name] - half[name]) + rounding)
    updated = {n: case.learning_rate * g for n, g in found.items() if n != "X"}
    final = {n: case.steps * u for n, u in updated.items()}  # each step's quotients as far off
    return {"gradients": found, "updated": updated, "final": final}
