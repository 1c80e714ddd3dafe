"""`torch`: PyTorch autograd — ``loss.backward()``, the update in place under no_grad()."""

import contextlib

from backprop_crosscheck.backends.torch.amp import TorchAmp
from backprop_crosscheck.backends.torch.layers import (
    beyond_torch,
    torch_attention,
    torch_layers,
    torch_numpy,
)
from backprop_crosscheck.backends.torch.optim import TORCH_CONVENTIONS, torch_optimizer
from backprop_crosscheck.reference.cases.names import chain_names
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES

from backprop_crosscheck import (
    DTYPES,
    LOW,
    BackendUnavailable,
    Capabilities,
    FrameworkBackend,
    Unsupported,
)


class TorchBackend(TorchAmp, FrameworkBackend):
    name, module, install_hint = "torch", "torch", "pip install torch==2.13.0"
    share_worker = True  # with torch-func: torch is imported once
    capabilities = Capabilities(
        dtypes=DTYPES,  # bfloat16 and float16 too
        devices=("cpu", "cuda"),
        hvp="double backward",
        jvp="forward_ad dual numbers",
        optimizers=OPTIMIZERS,
        weight_decay=WEIGHT_DECAY_MODES,
        mixed=LOW,  # torch.autocast and GradScaler's kernels (backends/torch/amp.py)
    )
    conventions = TORCH_CONVENTIONS  # torch.optim's (backends/torch/optim.py)

    def setup(self, dtype, device):
        import torch

        self.torch = self.xp = self.nn = torch  # torch.tanh, torch.sigmoid, torch.relu, torch.sum
        F = torch.nn.functional  # F.softplus: z past 20
        self.layer_ops = {**torch_layers(torch), "attention": torch_attention(self)}
        self.acts = {
            "leaky_relu": F.leaky_relu,
            "softplus": F.softplus,
            "gelu": F.gelu,
            "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
        }
        self.losses = {
            "softmax_cross_entropy": F.cross_entropy,  # one-hot rows as probabilities
            "binary_cross_entropy": F.binary_cross_entropy_with_logits,
        }
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(f"{self.name}: no CUDA device (torch.cuda.is_available())")
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # exact

    def unsupported(self, case):
        return beyond_torch(case) or super().unsupported(case)

    def tensor(self, array, dtype, device):
        return self.torch.tensor(array, dtype=getattr(self.torch, dtype), device=device)

    def to_numpy(self, value):
        return torch_numpy(self.torch, value)

    def loss_and_grads(self, case, params, X, Y):
        leaves = [t.requires_grad_(True) for t in [*params.values(), X]]
        loss = self.loss(case, params, X, Y)
        for t in self.outputs:
            t.retain_grad()  # dE/d(each layer's output): the chain, for the diagnosis
        loss.backward()
        names = chain_names(case)
        self.chain = {name: t.grad for name, t in zip(names, self.outputs, strict=True)}
        grads = {**{n: p.grad.clone() for n, p in params.items()}, "X": X.grad.clone()}
        for t in leaves:
            t.grad = None  # cleared every step: .backward() accumulates
        return loss.detach(), grads

    def update(self, params, grads, lr, frozen):
        with self.torch.no_grad():  # in place, as a torch training loop does
            return {n: p if n in frozen else p.sub_(lr * grads[n]) for n, p in params.items()}

    def optimizer(self, case):
        return torch_optimizer(self.torch, case)

    def untracked(self):
        return self.torch.no_grad()

    @contextlib.contextmanager
    def forward_mode(self):
        """An op without a forward-mode derivative, or whose backward has no derivative, is
        beyond torch's forward mode or double backward: n/a with torch's own words — float32
        nn.LSTM on the CPU runs oneDNN's kernel, scaled_dot_product_attention its fused CPU
        kernel (docs/divergences/torch.md)."""
        try:
            yield
        except (NotImplementedError, RuntimeError) as e:
            if "forward AD" not in str(e) and "is not implemented" not in str(e):
                raise
            raise Unsupported(f"{self.name}: {str(e).splitlines()[0]}") from None

    def forward_derivative(self, case, params, X, Y, tangents):
        """Dual numbers (torch.autograd.forward_ad): no torch.func, no torch._dynamo import."""
        ad = self.torch.autograd.forward_ad
        with self.forward_mode(), ad.dual_level():
            duals = {n: ad.make_dual(p, tangents[n]) for n, p in params.items()}
            return ad.unpack_dual(self.loss(case, duals, X, Y)).tangent

    def hessian_vector(self, case, params, X, Y, tangents):
        """Double backward: H·v = ∇(∇E · v), the first gradient kept in the graph. A kernel
        whose backward torch cannot differentiate (scaled_dot_product_attention's fused CPU
        kernel, docs/divergences/torch.md) makes it n/a, with torch's words."""
        leaves = [p.requires_grad_(True) for p in params.values()]
        grads = self.torch.autograd.grad(self.loss(case, params, X, Y), leaves, create_graph=True)
        dot = sum((g * tangents[n]).sum() for g, n in zip(grads, params, strict=True))
        with self.forward_mode():  # a kernel whose backward has no derivative: n/a
            hv = self.torch.autograd.grad(dot, leaves, materialize_grads=True)  # 0, never None
        return {n: h.detach() for n, h in zip(params, hv, strict=True)}
