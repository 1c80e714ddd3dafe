"""`paddle`: PaddlePaddle's dynamic graph — ``loss.backward()`` (H·v: double backward with
``paddle.grad(create_graph=True)``), the network in ``paddle`` and ``paddle.nn.functional``, and
``paddle.optimizer``'s own SGD, Momentum, Adam and AdamW: object-style optimizers, which hold
their state and read ``.grad`` (the worked object-style example of docs/adapters.md)."""

import contextlib

import numpy as np
from backprop_crosscheck.backends.paddle.derivatives import double_backward
from backprop_crosscheck.backends.paddle.layers import paddle_layers
from backprop_crosscheck.backends.paddle.optim import PADDLE_CONVENTIONS, paddle_optimizer
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS

from backprop_crosscheck import BackendUnavailable, Capabilities, FrameworkBackend


class PaddleBackend(FrameworkBackend):
    name, module, distribution = "paddle", "paddle", "paddlepaddle"
    install_hint = "pip install paddlepaddle==3.3.1"
    capabilities = Capabilities(
        hvp="double backward (paddle.grad, create_graph=True)",
        optimizers=OPTIMIZERS,
        weight_decay=("l2", "decoupled"),
    )
    conventions = PADDLE_CONVENTIONS  # paddle.optimizer's (backends/paddle/optim.py)

    @contextlib.contextmanager
    def scope(self, dtype, device):
        import paddle

        before = paddle.get_device()
        paddle.set_device("cpu")
        try:
            yield
        finally:
            paddle.set_device(before)

    def setup(self, dtype, device):
        if device != "cpu":
            raise BackendUnavailable(f"{self.name}: the CPU only (a CUDA build is another wheel)")
        import paddle

        F = paddle.nn.functional
        self.paddle, self.xp, self.nn = paddle, paddle, F  # F.relu, F.sigmoid, F.softmax
        self.acts = {
            "leaky_relu": F.leaky_relu,
            "softplus": F.softplus,
            "gelu": F.gelu,
            "gelu_tanh": lambda z: F.gelu(z, approximate=True),
        }
        self.losses = {  # on logits; soft labels: one-hot rows as probabilities
            "softmax_cross_entropy": lambda z, t: F.cross_entropy(
                z, t, soft_label=True, reduction="mean"
            ),
            "binary_cross_entropy": F.binary_cross_entropy_with_logits,
        }
        self.layer_ops = paddle_layers(paddle)

    def tensor(self, array, dtype, device):
        return self.paddle.to_tensor(np.asarray(array, dtype=dtype), dtype=dtype)

    def to_numpy(self, value):
        return value.detach().numpy()

    def total(self, x):
        return x.sum()

    def average(self, x):
        return x.mean()

    def swapaxes(self, t, a, b):
        perm = list(range(t.ndim))
        perm[a], perm[b] = perm[b], perm[a]
        return t.transpose(perm)

    def loss_and_grads(self, case, params, X, Y):
        leaves = [*params.values(), X]
        for t in leaves:  # .backward() accumulates: every step starts from none
            t.stop_gradient = False
            t.clear_gradient(set_to_zero=False)
        loss = self.loss(case, params, X, Y)
        loss.backward()
        found = {**params, "X": X}
        grads = {n: self._grad(t) for n, t in found.items()}
        return loss.detach(), grads

    def _grad(self, t):
        """dE/dt as a new tensor (the optimizer steps with ``.grad`` itself); 0 where the loss
        does not reach t."""
        return self.paddle.zeros_like(t) if t.grad is None else t.grad.clone()

    def update(self, params, grads, lr, frozen):
        with self.paddle.no_grad():
            return {n: p if n in frozen else p - lr * grads[n] for n, p in params.items()}

    def optimizer(self, case):
        return paddle_optimizer(self.paddle, case)

    def untracked(self):
        return self.paddle.no_grad()

    def hessian_vector(self, case, params, X, Y, tangents):
        return double_backward(self, case, params, X, Y, tangents)
