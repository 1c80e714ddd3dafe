"""`tinygrad`: ``loss.gradient(*params)`` and ``tinygrad.nn.optim``'s SGD and Adam, the network
in tinygrad's Tensor methods (tinygrad/ops.py).
tinygrad is lazy: the loss and gradients are realized before its optimizer assigns the new
parameters in place, else the recorded loss would be the next step's. Its CPU device compiles
with clang (``apt install clang``) or LLVM."""

import os
import shutil

import numpy as np
from backprop_crosscheck.backends.tinygrad.ops import (
    TINYGRAD_CONVENTIONS,
    TINYGRAD_LAYERS,
    TinyOps,
    tinygrad_attention,
)
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS

from backprop_crosscheck import Capabilities, FrameworkBackend


class TinygradBackend(FrameworkBackend):
    name, module = "tinygrad", "tinygrad"
    install_hint = "pip install tinygrad (and clang or LLVM for its CPU device)"
    capabilities = Capabilities(optimizers=OPTIMIZERS, weight_decay=("l2", "decoupled"))
    conventions = TINYGRAD_CONVENTIONS  # its optimizers' (tinygrad/ops.py)

    def skip_reason(self, dtype, device):
        if self.available() and not (shutil.which("clang") or os.environ.get("DEV")):
            return f"{self.name}: its CPU device compiles with clang: apt install clang (or DEV=…)"
        return super().skip_reason(dtype, device)

    def setup(self, dtype, device):
        from tinygrad import Tensor, dtypes

        self.Tensor, self.dtypes, self.xp = Tensor, dtypes, TinyOps(Tensor)
        self.nn, self.acts = self.xp, {"gelu": lambda z: z.gelu(approximate="none")}
        self.layer_ops = {**TINYGRAD_LAYERS, "attention": tinygrad_attention(self)}

    def tensor(self, array, dtype, device):
        return self.Tensor(np.asarray(array), dtype=getattr(self.dtypes, dtype)).realize()

    def to_numpy(self, value):
        return value.numpy()

    def loss_and_grads(self, case, params, X, Y):
        loss = self.loss(case, params, X, Y)
        grads = loss.gradient(*params.values(), X)
        self.Tensor.realize(loss, *grads)  # before any in-place step
        return loss, {**dict(zip(params, grads[:-1], strict=True)), "X": grads[-1]}

    def update(self, params, grads, lr, frozen):
        new = super().update(params, grads, lr, frozen)
        self.Tensor.realize(*new.values())  # each step's, not a graph growing step by step
        return new

    def optimizer(self, case):
        from tinygrad.helpers import Context
        from tinygrad.nn import optim

        opt = case.optimizer

        def init(params):
            trained, lr = list(params.values()), case.learning_rate
            if opt.name == "adam":
                return optim.AdamW(trained, lr, opt.beta1, opt.beta2, opt.epsilon, opt.weight_decay)
            return optim.SGD(trained, lr, opt.momentum * (opt.name == "momentum"), opt.weight_decay)

        def apply(params, grads, rule):
            for n, p in params.items():
                p.grad = grads[n]  # its optimizer reads .grad
            with Context(TRAINING=1):
                rule.step()
            return params, rule

        return init, apply
