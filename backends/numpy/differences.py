"""`fd`: central finite differences of the reference *loss* (reference/finite_differences.py) —
a witness that shares no code path with the hand-derived backward pass."""

import numpy as np
from backprop_crosscheck.reference.finite_differences import (
    OnKink,
    descend,
    hvp_by_differences,
    train_by_differences,
)
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES, start
from backprop_crosscheck.reference.stack import KINDS, truncated

from backprop_crosscheck import Backend, BackendUnavailable, Capabilities


class FiniteDifferenceBackend(Backend):
    layer_kinds = KINDS  # reference/stack.py: every layer by hand
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
        optimizers=OPTIMIZERS,  # the reference's rules, applied to its numeric gradients
        weight_decay=WEIGHT_DECAY_MODES,
    )

    def unsupported(self, case):
        cut = truncated(case.stack)
        if cut:
            return (
                f"fd: {cut[0]} truncates backpropagation through time (truncate = k): its "
                "gradients are the truncated ones, which no difference of the loss measures "
                "(the engines are held to the reference's)"
            )
        return super().unsupported(case)

    def run(self, case, dtype, device="cpu"):
        try:
            return train_by_differences(case, dtype)
        except OnKink as e:  # a max-pool tie: a convention, which no difference measures
            raise BackendUnavailable(f"fd: {e}") from None

    def hvp(self, case, v, dtype, device="cpu"):
        return {n: h.astype(dtype) for n, h in hvp_by_differences(case, v).items()}

    def stepper(self, case, dtype, device="cpu"):
        params = case.parameters(np.dtype(dtype))
        state = {"params": params, "optimizer": start(case, params)}

        def step():
            _, state["params"], state["optimizer"] = descend(
                case, state["params"], state["optimizer"]
            )

        return step
