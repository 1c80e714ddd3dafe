"""`autograd`: HIPS autograd (``autograd.value_and_grad``) — a third, NumPy-based reverse mode."""

import numpy as np

from backends.interface import Capabilities, FrameworkBackend


class AutogradBackend(FrameworkBackend):
    name = "autograd"
    module = "autograd"
    install_hint = "pip install autograd"
    capabilities = Capabilities(mode="reverse")

    def setup(self, dtype, device):
        import autograd
        import autograd.numpy as anp

        self.autograd, self.anp = autograd, anp
        self.acts = {
            "identity": lambda z: z,
            "sigmoid": lambda z: 0.5 * (anp.tanh(0.5 * z) + 1),
            "tanh": anp.tanh,
            "relu": lambda z: z * (z > 0),  # d/dz = 1 where z > 0, 0 at the kink
        }

    def tensor(self, array, dtype, device):
        return np.array(array, dtype=dtype)

    def to_numpy(self, value):
        return np.asarray(value)

    def total(self, x):
        return self.anp.sum(x)

    def average(self, x):
        return self.anp.mean(x)

    def loss_and_grads(self, case, params, X, Y):
        def loss(both):
            return self.loss(case, both[0], both[1], Y)

        value, (g_params, g_X) = self.autograd.value_and_grad(loss)((params, X))
        return value, {**g_params, "X": g_X}
