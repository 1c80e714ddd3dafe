"""`torch`: PyTorch autograd — ``loss.backward()``, update under ``torch.no_grad()``."""

import numpy as np

from backends.interface import BackendUnavailable, Capabilities, FrameworkBackend


class TorchBackend(FrameworkBackend):
    name = "torch"
    module = "torch"
    install_hint = "pip install torch==2.13.0"
    capabilities = Capabilities(devices=("cpu", "cuda"), mode="reverse", hvp="double backward")

    def setup(self, dtype, device):
        import torch

        self.torch = torch
        if device == "cuda":
            if not torch.cuda.is_available():
                raise BackendUnavailable(f"{self.name}: no CUDA device (torch.cuda.is_available())")
            # no TF32: GPU matmuls must be as exact as the CPU's to be comparable
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.acts = {
            "identity": lambda z: z,
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "relu": torch.relu,
        }

    def tensor(self, array, dtype, device):
        return self.torch.tensor(array, dtype=getattr(self.torch, dtype), device=device)

    def to_numpy(self, value):
        return value.detach().cpu().numpy()

    def total(self, x):
        return x.sum()

    def average(self, x):
        return x.mean()

    def loss_and_grads(self, case, params, X, Y):
        for t in [*params.values(), X]:
            t.requires_grad_(True)
        loss = self.loss(case, params, X, Y)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in params.items()}
        grads["X"] = X.grad.clone()
        for t in [*params.values(), X]:
            t.grad = None  # cleared every step: .backward() accumulates
        return loss.detach(), grads

    def update(self, params, grads, lr, frozen):
        with self.torch.no_grad():
            for n, p in params.items():
                if n not in frozen:
                    p.sub_(lr * grads[n])
        return params

    def hvp(self, case, v, dtype, device="cpu"):
        """Double backward: H·v = ∇(∇E · v), the first gradient kept in the graph."""
        self.setup(dtype, device)
        torch = self.torch
        params, X, Y = self.tensors(case, dtype, device)
        leaves = [p.requires_grad_(True) for p in params.values()]
        grads = torch.autograd.grad(self.loss(case, params, X, Y), leaves, create_graph=True)
        dot = sum(
            (g * self.tensor(v[n], dtype, device)).sum() for g, n in zip(grads, params, strict=True)
        )
        hv = torch.autograd.grad(dot, leaves, allow_unused=True)
        return {
            n: self.numpy_copy(h) if h is not None else np.zeros(p.shape, dtype)
            for (n, p), h in zip(params.items(), hv, strict=True)
        }
