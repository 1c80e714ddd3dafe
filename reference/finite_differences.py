"""Finite differences of the reference *loss*, first and second order: witnesses that share no
code path with the hand-derived backward pass (only the forward pass).

First order: central differences, always in float64 (in float32 they would lose half the
digits): step h = ∛eps · max(1, |x|) ≈ 6.1e-6·max(1, |x|) balances truncation (~h²·f‴/6)
against rounding (~eps·|E|/h), leaving ~1e-10 relative error. A float32 run rounds the float64
gradient to float32 and computes the update and the losses in float32.

relu is not differentiable at 0: where x ± h would move a relu pre-activation across its kink,
the difference measures the kink, not the derivative, so the step shrinks tenfold (up to six
times) until both sides stay where they were. A pre-activation exactly on the kink (the
built-in case ``kink``) stays there however small the step: there the one-sided difference on
the side where nothing crosses gives relu′(0) = 0, the convention of torch, JAX and the
reference. (Found by `crosscheck sweep`: random-66's relu
layers had |z| = 0.005 at a later step, and h moved it across.)

Second order: central differences of the hand-derived gradient along v.
"""

import numpy as np

from backprop_crosscheck.reference.case import Case
from backprop_crosscheck.reference.network import backward, forward, loss_value
from backprop_crosscheck.reference.result import Result

STEP = np.finfo(np.float64).eps ** (1 / 3)
MAX_SHRINK = 6  # h down to 1e-5 of its first value; rounding then costs ~1e-7 relative


def gradients(case: Case, params: dict) -> dict[str, np.ndarray]:
    """dE/d(every parameter and X) by central differences, in float64."""
    params = {n: p.astype(np.float64) for n, p in params.items()}
    X, Y = case.inputs.astype(np.float64), case.targets.copy()
    kinks = "relu" in case.activations
    base = relu_sides(case, forward(case, params, X, Y)) if kinks else None

    def loss_at(x, index, value):
        x[index] = value
        fwd = forward(case, params, X, Y)
        return fwd.loss, (relu_sides(case, fwd) if kinks else None)

    grads = {}
    for name, x in [*params.items(), ("X", X)]:
        g = np.empty_like(x)
        for index in np.ndindex(x.shape):
            old = x[index]
            h = STEP * max(1.0, abs(old))
            for attempt in range(MAX_SHRINK):
                if attempt:
                    h /= 10  # ±h crossed a relu kink: the difference there is no derivative
                up, up_sides = loss_at(x, index, old + h)
                down, down_sides = loss_at(x, index, old - h)
                if not kinks or (_same(up_sides, base) and _same(down_sides, base)):
                    break
            x[index] = old
            g[index] = (up - down) / (2 * h)
            if kinks and not (_same(up_sides, base) and _same(down_sides, base)):
                # a pre-activation sits on a relu kink (z = 0 exactly): by convention
                # relu′(0) = 0, the one-sided difference on the side where nothing crosses
                # (second order: (−3E(x) + 4E(x ± h) − E(x ± 2h)) / ±2h, at the full step)
                h = STEP * max(1.0, abs(old))
                for sign in [
                    s for s, sides in ((-1, down_sides), (1, up_sides)) if _same(sides, base)
                ]:
                    centre, _ = loss_at(x, index, old)
                    near, near_sides = loss_at(x, index, old + sign * h)
                    far, far_sides = loss_at(x, index, old + 2 * sign * h)
                    if _same(near_sides, base) and _same(far_sides, base):
                        g[index] = (-3 * centre + 4 * near - far) / (2 * sign * h)
                        break
                x[index] = old
        grads[name] = g
    return grads


def relu_sides(case: Case, fwd) -> list[np.ndarray]:
    """Which side of its kink each relu pre-activation is on."""
    return [z > 0 for z, act in zip(fwd.z, case.activations, strict=True) if act == "relu"]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def sgd(case: Case, params: dict, lr) -> tuple[dict, dict]:
    """(finite-difference gradients rounded to the run's dtype, the updated parameters)."""
    grads = {n: g.astype(lr.dtype) for n, g in gradients(case, params).items()}
    return grads, {n: p if n in case.frozen else p - lr * grads[n] for n, p in params.items()}


def train_by_differences(case: Case, dtype=np.float64) -> Result:
    """``case.steps`` SGD steps on finite-difference gradients, in ``dtype``."""
    dtype = np.dtype(dtype)
    params = case.parameters(dtype)
    X, Y = case.inputs.astype(dtype), case.targets.astype(dtype)
    lr = dtype.type(case.learning_rate)
    losses, first_grads, updated = [], {}, {}
    for step in range(case.steps):
        losses.append(loss_value(case, params, X, Y))
        grads, params = sgd(case, params, lr)
        if step == 0:
            first_grads, updated = grads, params
    losses.append(loss_value(case, params, X, Y))
    return Result(np.array(losses, dtype=dtype), first_grads, updated, params)


def hvp_by_differences(case: Case, v: dict, step: float | None = None) -> dict[str, np.ndarray]:
    """H·v as central differences of the hand-derived gradient along v:
    (∇E(θ + h·v) − ∇E(θ − h·v)) / 2h, with h = ∛eps / max(1, ‖v‖∞) · max(1, ‖θ‖∞).

    Error bound: truncation h²/6·|∂³E[v,v,v]| plus rounding ~eps·|∇E|/h — about 1e-10
    relative for the random cases here (the fd backend's second-order floor covers it)."""
    params = case.parameters()
    if step is None:
        scale = max(1.0, max(np.abs(p).max() for p in params.values()))
        vmax = max(1.0, max(np.abs(d).max() for d in v.values()))
        step = STEP * scale / vmax

    kinks = "relu" in case.activations

    def grad_at(t):
        """∇E(θ + t·v), and which side of its kink each relu pre-activation is on there."""
        shifted = {n: p + t * v[n] for n, p in params.items()}
        fwd = forward(case, shifted, case.inputs, case.targets)
        return backward(case, shifted, fwd, case.targets), relu_sides(case, fwd) if kinks else []

    (centre, base), (up, up_sides), (down, down_sides) = (grad_at(t) for t in (0, step, -step))
    crossed = [s for s, sides in ((1, up_sides), (-1, down_sides)) if not _same(sides, base)]
    if crossed and len(crossed) < 2:
        # a relu pre-activation on its kink (z = 0): the gradient jumps there; by the
        # convention relu′(0) = relu″(0) = 0, differentiate on the side where nothing crosses
        side = -crossed[0]
        near, far = (up if side == 1 else down), grad_at(2 * side * step)[0]
        return {n: (-3 * centre[n] + 4 * near[n] - far[n]) / (2 * side * step) for n in params}
    return {n: (up[n] - down[n]) / (2 * step) for n in params}
