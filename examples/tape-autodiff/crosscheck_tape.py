"""The backprop-crosscheck adapter for tape_autodiff — the worked example of docs/adapters.md.

FrameworkBackend runs the SGD loop and writes the network's loss once with the engine's own
operations (@, +, -, *, sum/mean, the activations), all found in the engine's namespace
``self.xp``; an adapter says how to make tensors and how the engine takes gradients.
"""

import numpy as np

from backprop_crosscheck import Capabilities, FrameworkBackend


class TapeBackend(FrameworkBackend):
    name = "tape"
    module = "tape_autodiff"  # looked up (not imported) to decide "available"
    distribution = "tape-autodiff"  # whose version the report shows
    install_hint = "pip install -e examples/tape-autodiff"
    capabilities = Capabilities(
        dtypes=("float64", "float32"),
        devices=("cpu",),
        mode="reverse",
        activations=("identity", "sigmoid", "tanh", "relu"),  # what the engine has
        losses=("half_sse", "mse"),
        layers=("dense", "flatten", "residual"),  # of a layer stack: what its ops can write
    )

    def setup(self, dtype, device):
        import tape_autodiff  # the framework is imported when the backend runs, never before

        self.xp = tape_autodiff  # its sum, mean, tanh, sigmoid, relu

    def tensor(self, array, dtype, device):
        return self.xp.Var(np.array(array, dtype=dtype))

    def to_numpy(self, value):
        return np.asarray(getattr(value, "value", value))

    def loss_and_grads(self, case, params, X, Y):
        leaves = {n: self.xp.Var(p.value) for n, p in params.items()}  # a fresh tape per step
        X_leaf = self.xp.Var(X.value)
        loss = self.loss(case, leaves, X_leaf, Y)
        loss.backward()
        return loss, {**{n: v.grad for n, v in leaves.items()}, "X": X_leaf.grad}

    def update(self, params, grads, lr, frozen):
        return {
            n: p if n in frozen else self.xp.Var(p.value - lr * grads[n]) for n, p in params.items()
        }
