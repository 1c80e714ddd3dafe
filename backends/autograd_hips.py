"""`autograd`: HIPS autograd (``autograd.value_and_grad``) — a third, NumPy-based reverse mode.

``autograd.numpy`` has no sigmoid or relu: the namespace's defaults write them with ``xp``."""

import numpy as np

from backprop_crosscheck import Capabilities, FrameworkBackend


class AutogradBackend(FrameworkBackend):
    name = "autograd"
    module = "autograd"
    install_hint = "pip install autograd"
    capabilities = Capabilities(mode="reverse")

    def setup(self, dtype, device):
        import autograd
        import autograd.numpy as anp

        self.autograd, self.xp = autograd, anp

    @property
    def erf(self):
        """For gelu alone: autograd.scipy imports SciPy (~1.5 s), which no other case needs."""
        import autograd.scipy.special

        return autograd.scipy.special.erf

    def tensor(self, array, dtype, device):
        return np.array(array, dtype=dtype)

    def to_numpy(self, value):
        return np.asarray(value)

    def loss_and_grads(self, case, params, X, Y):
        def loss(both):
            return self.loss(case, both[0], both[1], Y)

        value, (g_params, g_X) = self.autograd.value_and_grad(loss)((params, X))
        return value, {**g_params, "X": g_X}
