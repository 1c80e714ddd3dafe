"""`numpy`: the hand-derived reference of reference/, run in the requested dtype."""

import numpy as np
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.hvp import hvp
from backprop_crosscheck.reference.network import step
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES, start
from backprop_crosscheck.reference.stack import KINDS

from backprop_crosscheck import Backend, Capabilities


class NumpyBackend(Backend):
    layer_kinds = KINDS  # reference/stack.py: every layer by hand
    name = "numpy"
    distribution = "numpy"
    install_hint = "pip install numpy"
    capabilities = Capabilities(
        mode="by hand",
        hvp="by hand (R-operator)",
        optimizers=OPTIMIZERS,
        weight_decay=WEIGHT_DECAY_MODES,
    )

    def run(self, case, dtype, device="cpu"):
        return train(case, np.dtype(dtype))

    def stepper(self, case, dtype, device="cpu"):
        params = case.parameters(np.dtype(dtype))
        state = {"params": params, "optimizer": start(case, params)}
        X, Y = case.inputs.astype(dtype), case.targets.astype(dtype)

        def one_step():
            loss, _, state["params"], state["optimizer"] = step(
                case, state["params"], X, Y, state["optimizer"]
            )
            return loss

        return one_step

    def hvp(self, case, v, dtype, device="cpu"):
        return hvp(case, v, dtype=np.dtype(dtype))
