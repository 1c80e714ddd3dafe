"""optax's own momentum and Adam as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns — shared by the jax and jax-fwd adapters (and any JAX engine's).

optax.sgd(momentum=μ) or optax.adam (epsilon inside the root: its eps_root), the
hyperparameters in the optimizer's state (optax.inject_hyperparams): traced, not compiled in,
so a shape family compiles once. The state is put on the device, as the steps' own output is:
one executable.
"""


def optax_optimizer(jax, device, case):
    import optax

    opt, lr = case.optimizer, case.learning_rate
    if opt.name == "momentum":
        tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=opt.momentum)
    else:
        inside = opt.epsilon_placement == "inside_sqrt"
        tx = optax.inject_hyperparams(optax.adam)(
            learning_rate=lr, b1=opt.beta1, b2=opt.beta2,
            eps=0.0 if inside else opt.epsilon, eps_root=opt.epsilon if inside else 0.0,
        )  # fmt: skip

    def apply(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return lambda params: jax.device_put(tx.init(params), device), apply
