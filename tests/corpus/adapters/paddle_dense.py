"""A PaddlePaddle adapter written for dense networks from Paddle's docs alone, as an engine
author first writes one: ``paddle`` as the namespace, ``paddle.grad`` for the gradients,
nothing declared of layers, losses or optimizers. Every case it cannot run — a layer the
harness writes with ``xp`` where Paddle spells an argument otherwise (``keepdim``), a kind
Paddle's namespace lacks — must be a clean n/a, and every dense SGD case must still pass."""

import numpy as np

from backprop_crosscheck import FrameworkBackend


class PaddleDense(FrameworkBackend):
    name = "paddle-dense"

    def setup(self, dtype, device):
        import paddle

        self.paddle = self.xp = paddle
        self.nn = paddle.nn.functional  # relu, sigmoid

    def tensor(self, array, dtype, device):
        return self.paddle.to_tensor(np.asarray(array, dtype=dtype), dtype=dtype)

    def to_numpy(self, value):
        return value.numpy()

    def loss_and_grads(self, case, params, X, Y):
        leaves = [*params.values(), X]
        for t in leaves:
            t.stop_gradient = False
        loss = self.loss(case, params, X, Y)
        found = self.paddle.grad([loss], leaves, allow_unused=True)
        return loss, dict(zip([*params, "X"], found, strict=True))
