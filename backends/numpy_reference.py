"""`numpy`: the hand-derived reference of reference/, run in the requested dtype."""

import numpy as np

from backends.interface import Backend, Capabilities
from reference import train


class NumpyBackend(Backend):
    name = "numpy"
    distribution = "numpy"
    install_hint = "pip install numpy"
    capabilities = Capabilities(mode="by hand")

    def run(self, case, dtype, device="cpu"):
        return train(case, np.dtype(dtype))
