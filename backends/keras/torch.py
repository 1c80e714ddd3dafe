"""`keras-torch`: Keras 3 on PyTorch (backends/keras/backend.py): torch autograd's
``loss.backward()`` of the loss keras.ops computes."""

from backprop_crosscheck.backends.keras.backend import KerasBackend


class KerasTorchBackend(KerasBackend):
    name, requires, install_hint = "keras-torch", ("torch",), "pip install keras torch==2.13.0"

    def loss_and_grads(self, case, params, X, Y):
        leaves = [t.detach().requires_grad_(True) for t in [*params.values(), X]]
        loss = self.loss(case, dict(zip(params, leaves, strict=False)), leaves[-1], Y)
        loss.backward()
        grads = [t.grad for t in leaves]
        return loss.detach(), {**dict(zip(params, grads, strict=False)), "X": grads[-1]}

    def untracked(self):
        import torch

        return torch.no_grad()
