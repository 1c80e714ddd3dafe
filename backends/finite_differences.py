"""`fd`: central finite differences of the reference *loss* — a witness that shares no code
path with the hand-derived backward pass.

The differences are always taken in float64 (in float32 they would lose half the digits):
step h = ∛eps · max(1, |x|) ≈ 6.1e-6·max(1, |x|) balances truncation (~h²·f‴/6) against
rounding (~eps·|E|/h), leaving ~1e-10 relative error. In a float32 run the float64 gradient is
rounded to float32 and the update and the losses are computed in float32.

relu is not differentiable at 0: where x ± h would move a relu pre-activation across its kink,
the difference measures the kink, not the derivative, so the step shrinks tenfold (up to six
times) until both sides stay where they were. (Found by `crosscheck sweep`: random-66's
relu layers had |z| = 0.005 at a later step, and h moved it across.)
"""

import numpy as np

from backends.interface import Backend, Capabilities
from reference.hvp import hvp_by_differences
from reference.network import forward, loss_value
from reference.result import Result

STEP = np.finfo(np.float64).eps ** (1 / 3)


class FiniteDifferenceBackend(Backend):
    name = "fd"
    distribution = "numpy"
    install_hint = "pip install numpy"
    capabilities = Capabilities(
        mode="numeric",
        tolerance={"float64": (1e-6, 1e-7)},
        tolerance_reason="central differences: truncation ~h², rounding ~eps/h (h = ∛eps·|x|)",
        max_parameters=5_000,
        hvp="central differences of the hand-derived gradient along v",
        hvp_tolerance={"float64": (1e-6, 1e-7)},
    )

    def run(self, case, dtype, device="cpu"):
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

    def hvp(self, case, v, dtype, device="cpu"):
        return {n: h.astype(dtype) for n, h in hvp_by_differences(case, v).items()}

    def stepper(self, case, dtype, device="cpu"):
        dtype = np.dtype(dtype)
        state = {"params": case.parameters(dtype)}
        lr = dtype.type(case.learning_rate)

        def step():
            _, state["params"] = sgd(case, state["params"], lr)

        return step


def sgd(case, params, lr):
    """(finite-difference gradients rounded to the run's dtype, the updated parameters)."""
    grads = {n: g.astype(lr.dtype) for n, g in gradients(case, params).items()}
    return grads, {n: p if n in case.frozen else p - lr * grads[n] for n, p in params.items()}


def gradients(case, params) -> dict[str, np.ndarray]:
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
            for _ in range(MAX_SHRINK):
                up, up_sides = loss_at(x, index, old + h)
                down, down_sides = loss_at(x, index, old - h)
                if not kinks or (_same(up_sides, base) and _same(down_sides, base)):
                    break
                h /= 10  # ±h crossed a relu kink: the difference there is no derivative
            x[index] = old
            g[index] = (up - down) / (2 * h)
        grads[name] = g
    return grads


MAX_SHRINK = 6  # h down to 1e-5 of its first value; rounding then costs ~1e-7 relative


def relu_sides(case, fwd) -> list[np.ndarray]:
    """Which side of its kink each relu pre-activation is on."""
    return [z > 0 for z, act in zip(fwd.z, case.activations, strict=True) if act == "relu"]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
