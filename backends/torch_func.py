"""`torch-func`: PyTorch's functional transform ``torch.func.grad_and_value`` — a second,
independent PyTorch path (no ``.backward()``, no ``.grad`` fields)."""

from backprop_crosscheck.backends.torch_autograd import TorchBackend
from backprop_crosscheck.reference.optimizers import OPTIMIZERS

from backprop_crosscheck import Capabilities, FrameworkBackend


class TorchFuncBackend(TorchBackend):
    name = "torch-func"
    capabilities = Capabilities(
        devices=("cpu", "cuda"),
        mode="reverse",
        hvp="jvp of grad",
        jvp="torch.func.jvp",
        optimizers=OPTIMIZERS,  # torch.optim's own, as torch's
    )
    update = FrameworkBackend.update  # functional: new tensors, no in-place p.sub_
    intermediates = FrameworkBackend.intermediates  # no .grad fields to read the chain from

    def loss_and_grads(self, case, params, X, Y):
        def loss(params, X):
            return self.loss(case, params, X, Y)

        (g_params, g_X), value = self.torch.func.grad_and_value(loss, argnums=(0, 1))(params, X)
        return value, {**g_params, "X": g_X}

    def forward_derivative(self, case, params, X, Y, tangents):
        loss = lambda p: self.loss(case, p, X, Y)  # noqa: E731
        return self.torch.func.jvp(loss, (params,), (tangents,))[1]

    def hessian_vector(self, case, params, X, Y, tangents):
        """Forward over reverse: H·v = jvp(grad E, (θ,), (v,))."""
        grad = self.torch.func.grad(lambda p: self.loss(case, p, X, Y))
        return self.torch.func.jvp(grad, (params,), (tangents,))[1]
