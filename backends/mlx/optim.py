"""mlx.optimizers' own SGD and AdamW as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns, and the conventions they follow (mlx/optimizers/optimizers.py). SGD's momentum buffer
starts at zero and is dampened from the first step, as the reference's: every dampening runs.
The learning rate is an array of the run's dtype (a Python float would be kept in float32); the
betas are Python floats, as the API takes them."""

from backprop_crosscheck.backends.interface import Convention

MLX_CONVENTIONS = (
    Convention(
        "adam",
        "epsilon_placement",
        ("after_correction",),
        "mlx.optimizers.Adam"
        "(bias_correction=True) adds epsilon after it (mlx/optimizers/optimizers.py)",
    ),
    Convention(
        "momentum",
        "weight_decay_mode",
        ("l2",),
        "mlx.optimizers.SGD's weight_decay is L2 (mlx/optimizers/optimizers.py)",
    ),
    Convention(
        "adam",
        "weight_decay_mode",
        ("decoupled",),
        "mlx.optimizers' Adam has "
        "no weight decay, AdamW's is decoupled (mlx/optimizers/optimizers.py)",
    ),
)


def mlx_optimizer(mx, case):
    import mlx.optimizers as optim

    opt = case.optimizer

    def init(params):
        lr = mx.array(case.learning_rate, dtype=next(iter(params.values())).dtype)
        decay, betas = opt.weight_decay, [opt.beta1, opt.beta2]
        if opt.name == "adam":  # AdamW with λ = 0 is Adam
            rule = optim.AdamW(lr, betas, opt.epsilon, decay, bias_correction=True)
        else:
            rule = optim.SGD(lr, opt.momentum * (opt.name == "momentum"), decay, opt.dampening)
        rule.init(params)
        return rule

    return init, lambda params, grads, rule: (rule.apply_gradients(grads, params), rule)
