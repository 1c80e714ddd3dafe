"""`autograd`: HIPS autograd (``autograd.value_and_grad``) — a third, NumPy-based reverse mode.
``autograd.numpy`` has no sigmoid or relu: the namespace's defaults write them with ``xp``."""

import importlib.util

import numpy as np
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS
from backprop_crosscheck.reference.stack import walk

from backprop_crosscheck import Capabilities, Convention, FrameworkBackend, Result, SameAs


class AutogradBackend(FrameworkBackend):
    name, module, install_hint = "autograd", "autograd", "pip install autograd scipy"
    capabilities = Capabilities(mode="reverse", optimizers=OPTIMIZERS)
    conventions = (
        Convention(
            "momentum",
            "dampening",
            (SameAs("momentum"),),
            "autograd's sgd dampens by "
            "its mass from the first step, v ← μ·v − (1 − μ)·g "
            "(autograd/misc/optimizers.py)",
        ),
        Convention(
            "adam",
            "epsilon_placement",
            ("after_correction",),
            "autograd's adam adds "
            "epsilon after the bias correction, m̂/(√v̂ + ε) (autograd/misc/optimizers.py)",
        ),
    )

    def setup(self, dtype, device):
        import autograd
        import autograd.numpy as anp
        from autograd.tracer import getval  # the value without its trace: no gradient

        self.autograd, self.xp, self.detach = autograd, anp, getval

    def unsupported(self, case):  # gelu's erf is autograd.scipy's: SciPy, an n/a without it
        kinds = case.activations + tuple(layer.kind for layer in walk(case.stack))
        if "gelu" in kinds and importlib.util.find_spec("scipy") is None:
            return "autograd's erf is autograd.scipy's: gelu needs SciPy (pip install scipy)"
        return super().unsupported(case)

    @property
    def erf(self):  # for gelu alone: autograd.scipy imports SciPy (~1.5 s)
        import autograd.scipy.special

        return autograd.scipy.special.erf

    def run(self, case, dtype, device="cpu"):
        if case.optimizer.name == "sgd":
            return super().run(case, dtype, device)
        return self.optimized(case, dtype)

    def optimized(self, case, dtype) -> Result:
        """autograd.misc.optimizers' own sgd (``mass``: μ) or adam run the whole loop, calling
        ``gradient(params, i)`` once a step, which records the step (a frozen parameter's
        gradient as 0). Their state is float64: each step's parameters are cast to the run's."""
        from autograd.misc import optimizers

        params, X, Y = self.tensors(case, dtype, "cpu")
        seen = []  # (params, loss, gradients) of every step

        def gradient(p, i):
            p = {n: np.asarray(v, dtype=dtype) for n, v in p.items()}
            loss, grads = self.loss_and_grads(case, p, X, Y)
            seen.append((p, loss, grads))
            return {
                n: np.zeros_like(g) if n in case.frozen else g
                for n, g in grads.items()
                if n in params
            }

        opt, lr, steps = case.optimizer, case.learning_rate, case.steps
        rule, settings = {"momentum": (optimizers.sgd, {"mass": opt.momentum})}.get(
            opt.name, (optimizers.adam, {"b1": opt.beta1, "b2": opt.beta2, "eps": opt.epsilon})
        )
        final = rule(gradient, params, None, steps, lr, **settings)
        final = {n: np.asarray(v, dtype=dtype) for n, v in final.items()}
        losses = [loss for _, loss, _ in seen] + [self.loss(case, final, X, Y)]
        updated = seen[1][0] if steps > 1 else final
        return Result(np.array(losses, dtype=dtype), seen[0][2], updated, final)

    def tensor(self, array, dtype, device):
        return np.array(array, dtype=dtype)

    def loss_and_grads(self, case, params, X, Y):
        loss = lambda both: self.loss(case, *both, Y)  # noqa: E731 - (params, X) together
        value, (g_params, g_X) = self.autograd.value_and_grad(loss)((params, X))
        return value, {**g_params, "X": g_X}
