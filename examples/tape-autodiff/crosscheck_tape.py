"""The backprop-crosscheck adapter for tape_autodiff — the README's worked example.

FrameworkBackend runs the SGD loop and writes the network's loss once with the engine's own
operations (@, +, -, *, activation, sum/mean); an adapter says how to make tensors, which
functions are the activations (``self.acts``), and how the engine takes gradients.
"""

import numpy as np

from backends import Capabilities, FrameworkBackend


class TapeBackend(FrameworkBackend):
    name = "tape"
    module = "tape_autodiff"  # looked up (not imported) to decide "available"
    distribution = "tape-autodiff"  # whose version the report shows
    install_hint = "pip install -e examples/tape-autodiff"
    capabilities = Capabilities(dtypes=("float64", "float32"), devices=("cpu",), mode="reverse")

    def setup(self, dtype, device):
        import tape_autodiff  # the framework is imported when the backend runs, never before

        self.engine = e = tape_autodiff
        self.acts = {"identity": lambda z: z, "sigmoid": e.sigmoid, "tanh": e.tanh, "relu": e.relu}

    def tensor(self, array, dtype, device):
        return self.engine.Var(np.array(array, dtype=dtype))

    def to_numpy(self, value):
        return np.asarray(getattr(value, "value", value))

    def total(self, x):
        return x.sum()

    def average(self, x):
        return x.mean()

    def loss_and_grads(self, case, params, X, Y):
        leaves = {n: self.engine.Var(p.value) for n, p in params.items()}  # a fresh tape per step
        X_leaf = self.engine.Var(X.value)
        loss = self.loss(case, leaves, X_leaf, Y)
        loss.backward()
        return loss, {**{n: v.grad for n, v in leaves.items()}, "X": X_leaf.grad}

    def update(self, params, grads, lr, frozen):
        return {
            n: p if n in frozen else self.engine.Var(p.value - lr * grads[n])
            for n, p in params.items()
        }
