"""`torch-func`: PyTorch's functional transform ``torch.func.grad_and_value`` — a second,
independent PyTorch path (no ``.backward()``, no ``.grad`` fields)."""

from backprop_crosscheck.backends.torch.backend import TorchBackend
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES

from backprop_crosscheck import DTYPES, Capabilities, FrameworkBackend


class TorchFuncBackend(TorchBackend):
    name = "torch-func"
    capabilities = Capabilities(
        dtypes=DTYPES,  # bfloat16 and float16 too
        devices=("cpu", "cuda"),
        mode="reverse",
        hvp="jvp of grad",
        jvp="torch.func.jvp",
        optimizers=OPTIMIZERS,  # torch.optim's own, as torch's
        weight_decay=WEIGHT_DECAY_MODES,
    )
    update = FrameworkBackend.update  # functional: new tensors, no in-place p.sub_
    intermediates = FrameworkBackend.intermediates  # no .grad fields to read the chain from

    # H·v and forward mode by torch.func's transforms (the base class's jvp of grad)
    def forward_derivative(self, case, params, X, Y, tangents):
        with self.forward_mode():
            return FrameworkBackend.forward_derivative(self, case, params, X, Y, tangents)

    def hessian_vector(self, case, params, X, Y, tangents):
        with self.forward_mode():
            return FrameworkBackend.hessian_vector(self, case, params, X, Y, tangents)

    def setup(self, dtype, device):
        super().setup(dtype, device)
        self.grad, self.jvp = self.torch.func.grad, self.torch.func.jvp

    def loss_and_grads(self, case, params, X, Y):
        def loss(params, X):
            return self.loss(case, params, X, Y)

        (g_params, g_X), value = self.torch.func.grad_and_value(loss, argnums=(0, 1))(params, X)
        return value, {**g_params, "X": g_X}
