"""How a mixed-precision run is judged (docs/tolerances.md#mixed-precision).

Its masters are float32 and so is their update: the parameters are held to float32's tolerance.
Its forward and backward are in the compute precision c: the loss and the gradients are held to
c's modelled tolerance (tolerance.modelled), and the update carries the gradients' allowance
into the parameters through the case's rule — two more trajectories of the rule's state, every
gradient at the low and at the high end of its allowance, the further of their updates from the
reference's added to each parameter's allowance (reference/conditioning.py does this for Adam
alone in the full precisions; here every rule). An engine whose update or masters are in c
moves a parameter by c's rounding of it — a weight of 0.5 by 2⁻⁹ in bfloat16 — far past a·(the
gradient's allowance): caught.

With dynamic scaling, the engine's overflow decisions are read off its loss scale (a step it
skipped multiplied S by backoff_factor < 1). An engine may decide a step otherwise than the
reference and be right — inside a layer's backward it may hold up to INSIDE times what the
layers' output gradients show, and keep some values in float32 — so where its decision is
admissible the reference follows it (reference/mixed.py), and every value and the scale after
each step are held to the rule on those decisions, exactly for the scale. Admissible: a skip
where some value of the reference's scaled backward is within INSIDE of c's overflow point; a
step taken anywhere — an engine may hold a gradient in float32 that c could not (torch's bias
gradients under autocast: 75,251 at S = 2¹⁴ on random-7.1), and one that took a step on an
inf or NaN is caught by the values it then holds. A skip where nothing comes near overflowing
is held to the reference's own decisions: a mismatch of "loss scale" at that step.
"""

import dataclasses
import functools

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import Mismatch
from backprop_crosscheck.comparisons.judge.tolerance import modelled
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.mixed import rounds_to_inf, train_mixed
from backprop_crosscheck.reference.network import backward, forward, inputs_of
from backprop_crosscheck.reference.precision import precision_problem, representable
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.optimizers import start, update

INSIDE = 4.0  # how many times a layer's output gradient its backward may hold inside it


@functools.lru_cache(maxsize=32)
def mixed_run(case: Case, overflowed: tuple | None = None):
    """reference/mixed.py's run (Result, its Steps), once per case and decisions."""
    return train_mixed(case, overflowed)


def mixed_problem(case: Case, reference, dtype: str) -> str | None:
    """Why no engine can be held to this mixed-precision run, in words (every backend n/a with
    it); None when one can: asked in another precision than its float32 masters', a value past
    the compute precision's range, a static scale that may overflow (within INSIDE of c's
    overflow point), or dynamic scaling that skips every step."""
    if dtype != "float32":
        return (
            f"a mixed-precision case keeps float32 master parameters: it runs in float32 "
            f"(--dtype float32), not {dtype}"
        )
    mp = case.mixed
    # the forward's values and the masters (their compute copies) in c's range; the gradients
    # are the scaling's business (they are unscaled in float32)
    bare = without_gradients(reference)
    overflow = precision_problem(case, bare, mp.compute, optimizer_state=False)
    if overflow:
        return overflow
    top, steps = rounds_to_inf(mp.compute), mixed_run(case)[1]
    for t, step in enumerate(steps):
        if not mp.dynamic and step.largest >= top / INSIDE:
            near = "past" if step.largest >= top else f"within {INSIDE:g}× of"
            return (
                f"at step {t}, S·{step.where} = {step.largest:.3g} with the static loss scale "
                f"{mp.loss_scale:.10g}: {near} where {mp.compute} overflows ({top:g}) — the "
                "scale is too large for this case (an engine's backward may hold more inside a "
                "layer; dynamic scaling skips such a step)"
            )
    if mp.dynamic and reference.scale[-1] < mp.loss_scale * mp.backoff_factor ** (len(steps) - 1):
        return (
            f"every one of its {case.steps} steps overflows {mp.compute} (the scale halved each "
            "time): no step is taken, no gradient is finite in any engine — give it more steps "
            "or a smaller initial loss_scale"
        )
    return None


def without_gradients(reference: Result) -> Result:
    """A mixed run's reference as reference_problem should see it: its gradients may hold inf
    (dE/dX past c's range) or NaN (every step skipped) by design."""
    return dataclasses.replace(reference, gradients={})


def input_gradient_held(case: Case, reference: Result, got: Result) -> Result:
    """``got`` with the entries of dE/dX it holds as ±inf where the reference's S·|dE/dX|
    reaches within INSIDE of c's overflow point set to the reference's (not judged): no step is
    skipped for dE/dX — GradScaler looks at the parameters' gradients — and an engine holding
    it in c overflows there, one holding it in float32 (torch's attention) does not."""
    want, have = reference.gradients.get("X"), got.gradients.get("X")
    if want is None or have is None or np.shape(want) != np.shape(have):
        return got
    mp, taken = case.mixed, [0]
    if reference.scale is not None:
        taken = [t for t, skipped in enumerate(decisions(reference.scale)) if not skipped] or [0]
    scale = reference.scale[taken[0]] if reference.scale is not None else mp.loss_scale
    have = np.asarray(have, dtype=np.float64)
    held = np.isinf(have) & (scale * np.abs(want) >= rounds_to_inf(mp.compute) / INSIDE)
    if not held.any():
        return got
    return dataclasses.replace(got, gradients={**got.gradients, "X": np.where(held, want, have)})


def decisions(scale) -> tuple[bool, ...]:
    """Each step's overflow decision, read off the scale before every step and after the last:
    a skipped step multiplied it by backoff_factor < 1; a step taken kept or grew it."""
    return tuple(bool(after < before) for before, after in zip(scale[:-1], scale[1:], strict=True))


def held_reference(case: Case, reference: Result, scale) -> tuple[Result, list[Mismatch]]:
    """(the reference a dynamic loss-scaled run is held to, its scale's mismatches): the
    reference's own, or the one that follows the engine's decisions where they are admissible
    (the module's docstring)."""
    want = reference.scale
    got = None if scale is None else np.asarray(scale, dtype=np.float64).ravel()
    if got is None or got.shape != want.shape or not np.all(np.isfinite(got)):
        return reference, scale_mismatches(want, scale)
    theirs = decisions(got)
    if theirs == decisions(want):
        return reference, scale_mismatches(want, got)
    followed, steps = mixed_run(case, theirs)
    top = rounds_to_inf(case.mixed.compute)
    for skipped, step in zip(theirs, steps, strict=True):
        if skipped and step.largest < top / INSIDE:
            return reference, scale_mismatches(want, got)  # not the engine's to decide
    return followed, scale_mismatches(followed.scale, got)


@functools.lru_cache(maxsize=16)
def mixed_allowance(case: Case, reference: Result) -> dict:
    """{"loss": per step, "gradients"/"updated"/"final": {name: per entry}}: what c's rounding
    of the forward and backward may move each value by, beyond float32's tolerance."""
    tol = modelled(case.mixed.compute, case)
    skipped = decisions(reference.scale) if reference.scale is not None else None
    with np.errstate(all="ignore"):
        updated, final, moved = _through_the_rule(case, tol.rtol, tol.atol, skipped)
    grads = {n: np.nan_to_num(np.abs(g), nan=0.0) for n, g in reference.gradients.items()}
    return {
        "loss": tol.atol + tol.rtol * np.abs(np.asarray(reference.loss)) + moved,
        "gradients": {n: tol.atol + tol.rtol * g for n, g in grads.items()},
        "updated": updated,
        "final": final,
    }


def _through_the_rule(case: Case, rtol: float, atol: float, skipped=None):
    """The parameters' allowance after the first update and the last, and the loss's before
    every step and after the last from them (its first-order image, Σ|dE/dp|·allowance): the
    case's rule run three times a step taken (``skipped``: the steps not taken), from the
    reference's parameters, with every gradient g, g − τ and g + τ (τ = atol + rtol·|g|)."""
    compute = case.mixed.compute
    params = {n: representable(p, "float32") for n, p in case.parameters().items()}
    X, Y = representable(inputs_of(case, np.float64), compute), case.targets
    states = {side: start(case, params) for side in (0, -1, 1)}
    slack = {n: np.zeros_like(p) for n, p in params.items()}
    updated, moved = None, []

    def gradients(params):
        copies = {n: representable(p, compute) for n, p in params.items()}
        return backward(case, copies, forward(case, copies, X, Y), Y)

    for t in range(case.steps):
        grads = gradients(params)
        moved.append(sum(float(np.sum(np.abs(grads[n]) * slack[n])) for n in params))
        if skipped is not None and skipped[t]:
            continue
        sides = {}
        for side in (0, -1, 1):
            nudged = {n: g + side * (atol + rtol * np.abs(g)) for n, g in grads.items()}
            sides[side], states[side] = update(case, params, nudged, states[side])
        for n in params:
            off = np.maximum(np.abs(sides[-1][n] - sides[0][n]), np.abs(sides[1][n] - sides[0][n]))
            slack[n] = slack[n] + off
        params = sides[0]
        updated = {n: s.copy() for n, s in slack.items()} if updated is None else updated
    grads = gradients(params)
    moved.append(sum(float(np.sum(np.abs(grads[n]) * slack[n])) for n in params))
    return (updated if updated is not None else slack), slack, np.array(moved)


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
