"""torch.optim's own momentum and Adam as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns — shared by the torch and torch-func adapters (and any torch engine's).

They are torch.optim.sgd.sgd and torch.optim.adam.adam, the functions ``SGD.step`` and
``Adam.step`` call: constructing the classes imports torch._dynamo (a second a process:
BENCHMARKS.md) for nothing here. The base class runs ``apply`` under torch.no_grad(), as
``step()`` does.
"""


def torch_optimizer(torch, case):
    from torch.optim.adam import adam
    from torch.optim.sgd import sgd

    opt = case.optimizer
    common = {"lr": case.learning_rate, "weight_decay": 0.0, "maximize": False, "foreach": False}

    def init(params):
        if opt.name == "momentum":
            return [None] * len(params)  # SGD's buffers: g itself on the first step
        zeros = [[torch.zeros_like(p) for p in params.values()] for _ in ("m", "v")]
        return (*zeros, [torch.tensor(0.0) for _ in params])  # m, v and the step count t

    def apply(params, grads, state):
        p, g = list(params.values()), list(grads.values())
        if opt.name == "momentum":
            sgd(p, g, state, momentum=opt.momentum, dampening=opt.dampening, nesterov=False,
                **common)  # fmt: skip
        else:
            m, v, t = state
            adam(p, g, m, v, [], t, amsgrad=False, beta1=opt.beta1, beta2=opt.beta2,
                 eps=opt.epsilon, **common)  # fmt: skip
        return params, state

    return init, apply
