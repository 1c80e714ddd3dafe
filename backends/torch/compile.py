"""`torch-compile`: the torch network's loss under ``torch.compile`` — TorchDynamo's graph,
AOTAutograd's backward, Inductor's generated C++ kernels for both — differentiated by
``torch.autograd.grad``; another engine than eager autograd, with torch.optim's optimizers.
Static shapes (``dynamic=False``) and one whole graph (``fullgraph=True``): a graph break or a
recompile past the limit is an error, never a silent fall back to eager torch. Inductor needs a
C++ compiler (g++ or clang++)."""

import shutil

from backprop_crosscheck.backends.interface import COMPILED
from backprop_crosscheck.backends.torch.backend import TorchBackend
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES

from backprop_crosscheck import DTYPES, Capabilities


class TorchCompileBackend(TorchBackend):
    name, share_worker = "torch-compile", False  # dynamo's caches: a worker of its own
    on_request = True  # seconds of compiling per shape: run when named, not by every report
    install_hint = "pip install torch==2.13.0, and a C++ compiler for Inductor (apt install g++)"
    capabilities = Capabilities(
        dtypes=DTYPES,  # bfloat16 and float16 too
        devices=("cpu", "cuda"),
        optimizers=OPTIMIZERS,
        weight_decay=WEIGHT_DECAY_MODES,
    )
    compiled = ("loss",)  # the loss (and so its backward); the update is torch.optim's

    def skip_reason(self, dtype, device):
        if self.available() and not any(map(shutil.which, ("g++", "c++", "clang++"))):
            return f"{self.name}: no C++ compiler for Inductor; {self.install_hint}"
        return super().skip_reason(dtype, device)

    def scope(self, dtype, device):
        import torch._dynamo

        return torch._dynamo.config.patch(fail_on_recompile_limit_hit=True)

    def setup(self, dtype, device):
        super().setup(dtype, device)
        self.jit = lambda f: self.torch.compile(f, dynamic=False, fullgraph=True)
        self.torch._dynamo.reset()  # each run its own graphs: no guards piling up across cases
        for key in [k for k in COMPILED if k[0] is type(self)]:
            del COMPILED[key]

    def loss_and_grads(self, case, params, X, Y):
        leaves = [t.requires_grad_(True) for t in [*params.values(), X]]
        loss = self.compile("loss", case, lambda p, X, Y: self.loss(case, p, X, Y))(params, X, Y)
        grads = self.torch.autograd.grad(loss, leaves)
        return loss.detach(), {**dict(zip(params, grads[:-1], strict=True)), "X": grads[-1]}

    def intermediates(self):
        return None  # the compiled graph's intermediates are not tensors one can ask
