"""`torch-func`: PyTorch's functional transform ``torch.func.grad_and_value`` — a second,
independent PyTorch path (no ``.backward()``, no ``.grad`` fields)."""

from backends.torch_autograd import TorchBackend


class TorchFuncBackend(TorchBackend):
    name = "torch-func"

    def loss_and_grads(self, case, params, X, Y):
        def loss(params, X):
            return self.loss(case, params, X, Y)

        (g_params, g_X), value = self.torch.func.grad_and_value(loss, argnums=(0, 1))(params, X)
        return value, {**g_params, "X": g_X}

    def update(self, params, grads, lr, frozen):
        return {n: p if n in frozen else p - lr * grads[n] for n, p in params.items()}
