"""`autograd`: HIPS autograd (``autograd.value_and_grad``) — a third, NumPy-based reverse mode.

``autograd.numpy`` has no sigmoid or relu: the namespace's defaults write them with ``xp``."""

import numpy as np
from backprop_crosscheck.reference.optimizers import OPTIMIZERS

from backprop_crosscheck import Capabilities, Convention, FrameworkBackend, Result, SameAs


class AutogradBackend(FrameworkBackend):
    name, module, install_hint = "autograd", "autograd", "pip install autograd"
    capabilities = Capabilities(mode="reverse", optimizers=OPTIMIZERS)
    conventions = (
        Convention("momentum", "dampening", (SameAs("momentum"),), "autograd's sgd dampens by "
                   "its mass from the first step, v ← μ·v − (1 − μ)·g "
                   "(autograd/misc/optimizers.py)"),
        Convention("adam", "epsilon_placement", ("after_correction",), "autograd's adam adds "
                   "epsilon after the bias correction, m̂/(√v̂ + ε) (autograd/misc/optimizers.py)"),
    )  # fmt: skip

    def setup(self, dtype, device):
        import autograd
        import autograd.numpy as anp

        self.autograd, self.xp = autograd, anp

    @property
    def erf(self):
        """For gelu alone: autograd.scipy imports SciPy (~1.5 s), which no other case needs."""
        import autograd.scipy.special

        return autograd.scipy.special.erf

    def run(self, case, dtype, device="cpu"):
        if case.optimizer.name == "sgd":
            return super().run(case, dtype, device)
        return self.optimized(case, dtype)

    def optimized(self, case, dtype) -> Result:
        """autograd.misc.optimizers' own sgd (momentum as its ``mass``) or adam. They run the
        whole loop themselves, calling ``gradient(params, i)`` once a step: it records the
        step's parameters, loss and gradients (a frozen parameter's gradient given as 0, which
        leaves it where it is). Their velocity and moments are float64 (np.zeros), so the
        parameters they pass are cast to the run's dtype before each step's arithmetic."""
        from autograd.misc import optimizers

        params, X, Y = self.tensors(case, dtype, "cpu")
        seen = []  # (params, loss, gradients) of every step

        def gradient(p, i):
            p = {n: np.asarray(v, dtype=dtype) for n, v in p.items()}
            loss, grads = self.loss_and_grads(case, p, X, Y)
            seen.append((p, loss, grads))
            return {n: np.zeros_like(g) if n in case.frozen else g
                    for n, g in grads.items() if n in params}  # fmt: skip

        opt, lr, steps = case.optimizer, case.learning_rate, case.steps
        if opt.name == "momentum":
            final = optimizers.sgd(gradient, params, None, steps, lr, mass=opt.momentum)
        else:
            final = optimizers.adam(
                gradient, params, None, steps, lr, opt.beta1, opt.beta2, opt.epsilon
            )
        final = {n: np.asarray(v, dtype=dtype) for n, v in final.items()}
        losses = [loss for _, loss, _ in seen] + [self.loss(case, final, X, Y)]
        updated = seen[1][0] if steps > 1 else final
        return Result(np.array(losses, dtype=dtype), seen[0][2], updated, final)

    def tensor(self, array, dtype, device):
        return np.array(array, dtype=dtype)

    def loss_and_grads(self, case, params, X, Y):
        def loss(both):
            return self.loss(case, both[0], both[1], Y)

        value, (g_params, g_X) = self.autograd.value_and_grad(loss)((params, X))
        return value, {**g_params, "X": g_X}
