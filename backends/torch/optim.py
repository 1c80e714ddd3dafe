"""torch.optim's own momentum and Adam as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns — shared by the torch and torch-func adapters (and any torch engine's).

They are torch.optim.sgd.sgd and torch.optim.adam.adam, the functions ``SGD.step`` and
``Adam.step`` call: constructing the classes imports torch._dynamo (a second a process:
BENCHMARKS.md) for nothing here. The base class runs ``apply`` under torch.no_grad(), as
``step()`` does.
"""

from backprop_crosscheck.backends.interface import Convention

TORCH_CONVENTIONS = (
    Convention(
        "momentum",
        "dampening",
        (0.0,),
        "torch.optim.SGD does not dampen its first "
        "step: its buffer starts as g (torch/optim/sgd.py)",
    ),
    Convention(
        "adam",
        "epsilon_placement",
        ("after_correction",),
        "torch.optim.Adam adds epsilon after the bias correction, m̂/(√v̂ + ε) (torch/optim/adam.py)",
    ),
    Convention(
        "momentum",
        "weight_decay_mode",
        ("l2",),
        "torch.optim.SGD's weight_decay is "
        "L2 (λ·p added to the gradient); torch has no decoupled SGD (torch/optim/sgd.py)",
    ),
)


def torch_optimizer(torch, case):
    from torch.optim.adam import adam
    from torch.optim.sgd import sgd

    opt = case.optimizer
    common = {
        "lr": case.learning_rate,
        "weight_decay": opt.weight_decay,
        "maximize": False,
        "foreach": False,
    }

    def init(params):
        if opt.name != "adam":
            return [None] * len(params)  # SGD's buffers: g itself on the first step
        zeros = [[torch.zeros_like(p) for p in params.values()] for _ in ("m", "v")]
        return (*zeros, [torch.tensor(0.0) for _ in params])  # m, v and the step count t

    def apply(params, grads, state):
        p, g = list(params.values()), list(grads.values())
        if opt.name != "adam":  # weight decay λ·p added to g (plain SGD: the same as decoupled)
            momentum = opt.momentum if opt.name == "momentum" else 0.0
            sgd(p, g, state, momentum=momentum, dampening=opt.dampening, nesterov=False, **common)
        else:  # decoupled: AdamW's p·(1 − a·λ) (torch/optim/adam.py, decoupled_weight_decay)
            m, v, t = state
            adam(
                p,
                g,
                m,
                v,
                [],
                t,
                amsgrad=False,
                beta1=opt.beta1,
                beta2=opt.beta2,
                eps=opt.epsilon,
                decoupled_weight_decay=opt.weight_decay_mode == "decoupled",
                **common,
            )
        return params, state

    return init, apply
