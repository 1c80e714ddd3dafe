"""`torch`: PyTorch autograd — ``loss.backward()``, update under ``torch.no_grad()``."""

from backprop_crosscheck.reference.optimizers import OPTIMIZERS

from backprop_crosscheck import BackendUnavailable, Capabilities, FrameworkBackend


class TorchBackend(FrameworkBackend):
    name = "torch"
    module = "torch"
    install_hint = "pip install torch==2.13.0"
    capabilities = Capabilities(
        devices=("cpu", "cuda"),
        mode="reverse",
        hvp="double backward",
        jvp="forward_ad dual numbers",
        optimizers=OPTIMIZERS,  # momentum and Adam: torch.optim's own
    )

    def setup(self, dtype, device):
        import torch

        self.torch = self.xp = self.nn = torch  # torch.tanh, torch.sigmoid, torch.relu, torch.sum
        F = torch.nn.functional
        self.acts = {  # torch's own; F.softplus returns z itself above z = 20 (its threshold)
            "leaky_relu": F.leaky_relu,
            "softplus": F.softplus,
            "gelu": F.gelu,
            "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
        }
        self.losses = {  # class probabilities as targets: mean over samples; BCE: over entries
            "softmax_cross_entropy": F.cross_entropy,
            "binary_cross_entropy": F.binary_cross_entropy_with_logits,
        }
        if device == "cuda":
            if not torch.cuda.is_available():
                raise BackendUnavailable(f"{self.name}: no CUDA device (torch.cuda.is_available())")
            # no TF32: GPU matmuls must be as exact as the CPU's to be comparable
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

    def tensor(self, array, dtype, device):
        return self.torch.tensor(array, dtype=getattr(self.torch, dtype), device=device)

    def to_numpy(self, value):
        return value.detach().cpu().numpy()

    def loss_and_grads(self, case, params, X, Y):
        for t in [*params.values(), X]:
            t.requires_grad_(True)
        loss = self.loss(case, params, X, Y)
        for t in (t for pair in self.trace for t in pair):
            t.retain_grad()  # the chain's dE/dz (δ) and dE/da, for the diagnosis
        loss.backward()
        self.chain = {f"{k}{layer}": t.grad for layer, (z, a) in enumerate(self.trace, start=1)
                      for k, t in (("delta", z), ("dE/da", a))}  # fmt: skip
        grads = {n: p.grad.clone() for n, p in params.items()}
        grads["X"] = X.grad.clone()
        for t in [*params.values(), X]:
            t.grad = None  # cleared every step: .backward() accumulates
        return loss.detach(), grads

    def intermediates(self):
        return self.chain

    def update(self, params, grads, lr, frozen):
        with self.torch.no_grad():
            for n, p in params.items():
                if n not in frozen:
                    p.sub_(lr * grads[n])
        return params

    def optimizer(self, case):
        """torch.optim's own momentum and Adam: torch.optim.sgd.sgd and torch.optim.adam.adam,
        the functions SGD.step and Adam.step call (constructing the classes imports
        torch._dynamo, 2.4 s a process, for nothing here), on the parameters not frozen."""
        from torch.optim.adam import adam
        from torch.optim.sgd import sgd

        opt, torch, lr = case.optimizer, self.torch, case.learning_rate

        def init(params):
            trained = [p for n, p in params.items() if n not in case.frozen]
            if opt.name == "momentum":
                return {"buffers": [None] * len(trained)}  # SGD's: g itself on the first step
            zeros = [[torch.zeros_like(p) for p in trained] for _ in range(2)]
            return {"m": zeros[0], "v": zeros[1], "t": [torch.tensor(0.0) for _ in trained]}

        def apply(params, grads, state):
            names = [n for n in params if n not in case.frozen]
            trained, g = [params[n] for n in names], [grads[n] for n in names]
            with torch.no_grad():  # as Optimizer.step runs them
                if opt.name == "momentum":
                    sgd(trained, g, state["buffers"], weight_decay=0.0, momentum=opt.momentum,
                        lr=lr, dampening=opt.dampening, nesterov=False, maximize=False,
                        foreach=False)  # fmt: skip
                else:
                    adam(trained, g, state["m"], state["v"], [], state["t"], foreach=False,
                         amsgrad=False, beta1=opt.beta1, beta2=opt.beta2, lr=lr,
                         weight_decay=0.0, eps=opt.epsilon, maximize=False)  # fmt: skip
            return params, state

        return init, apply

    def convention(self, optimizer):
        if optimizer.name == "momentum" and optimizer.dampening != 0:
            return ("torch.optim.SGD does not dampen its first step (its buffer starts as g, "
                    "torch/optim/sgd.py): it runs momentum with dampening = 0 only")  # fmt: skip
        if optimizer.name == "adam" and optimizer.epsilon_placement != "after_correction":
            return ("torch.optim.Adam adds epsilon after the bias correction, m̂/(√v̂ + ε) "
                    "(torch/optim/adam.py): epsilon_placement = after_correction only")  # fmt: skip
        return None

    def untracked(self):
        return self.torch.no_grad()

    def forward_derivative(self, case, params, X, Y, tangents):
        """Dual numbers (torch.autograd.forward_ad): no torch.func, no torch._dynamo import."""
        ad = self.torch.autograd.forward_ad
        with ad.dual_level():
            duals = {n: ad.make_dual(p, tangents[n]) for n, p in params.items()}
            return ad.unpack_dual(self.loss(case, duals, X, Y)).tangent

    def hessian_vector(self, case, params, X, Y, tangents):
        """Double backward: H·v = ∇(∇E · v), the first gradient kept in the graph."""
        leaves = [p.requires_grad_(True) for p in params.values()]
        grads = self.torch.autograd.grad(self.loss(case, params, X, Y), leaves, create_graph=True)
        dot = sum((g * tangents[n]).sum() for g, n in zip(grads, params, strict=True))
        hv = self.torch.autograd.grad(dot, leaves, allow_unused=True)
        return {
            n: h.detach() if h is not None else self.torch.zeros_like(p)
            for (n, p), h in zip(params.items(), hv, strict=True)
        }
