"""`torch-func`: PyTorch's functional transform ``torch.func.grad_and_value`` — a second,
independent PyTorch path (no ``.backward()``, no ``.grad`` fields)."""

from backends.interface import Capabilities
from backends.torch_autograd import TorchBackend


class TorchFuncBackend(TorchBackend):
    name = "torch-func"
    capabilities = Capabilities(devices=("cpu", "cuda"), mode="reverse", hvp="jvp of grad")

    def loss_and_grads(self, case, params, X, Y):
        def loss(params, X):
            return self.loss(case, params, X, Y)

        (g_params, g_X), value = self.torch.func.grad_and_value(loss, argnums=(0, 1))(params, X)
        return value, {**g_params, "X": g_X}

    def update(self, params, grads, lr, frozen):
        return {n: p if n in frozen else p - lr * grads[n] for n, p in params.items()}

    def hvp(self, case, v, dtype, device="cpu"):
        """Forward over reverse: H·v = jvp(grad E, (θ,), (v,))."""
        self.setup(dtype, device)
        params, X, Y = self.tensors(case, dtype, device)
        tangents = {n: self.tensor(v[n], dtype, device) for n in params}
        grad = self.torch.func.grad(lambda p: self.loss(case, p, X, Y))
        _, hv = self.torch.func.jvp(grad, (params,), (tangents,))
        return {n: self.numpy_copy(h) for n, h in hv.items()}
