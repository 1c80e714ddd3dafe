"""optax's own momentum and Adam as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns — shared by the jax and jax-fwd adapters (and any JAX engine's).

optax.sgd(momentum=μ) or optax.adam (epsilon inside the root: its eps_root), the
hyperparameters in the optimizer's state (optax.inject_hyperparams): traced, not compiled in,
so a shape family compiles once. The state is put on the device, as the steps' own output is:
one executable.
"""

from backprop_crosscheck.backends.interface import Convention

OPTAX_CONVENTIONS = (
    Convention("momentum", "dampening", (0.0,),
               "optax.sgd's momentum (optax.trace) has no dampening"),
    Convention("adam", "epsilon_placement", ("after_correction", "inside_sqrt"),
               "optax.adam adds epsilon after the bias correction (eps) or inside the root "
               "(eps_root), never before the correction (optax/_src/transform.py)"),
)  # fmt: skip


def optax_optimizer(jax, device, case):
    """Weight decay: L2 is optax.add_decayed_weights(λ) before the rule (λ·p added to the
    gradient); decoupled is optax.adamw for Adam, and add_decayed_weights after the momentum
    trace, before the learning rate, for SGD and momentum (what optax.adamw chains)."""
    import optax

    opt, lr, injected = case.optimizer, case.learning_rate, optax.inject_hyperparams
    # every number injected (in the optimizer's state), none baked into a compiled program that
    # the next case of the same structure reuses (FrameworkBackend.compile's key)
    decay = injected(optax.add_decayed_weights)(opt.weight_decay) if opt.weight_decay else None
    momentum = opt.momentum if opt.name == "momentum" else None
    if opt.name != "adam" and decay is not None and opt.weight_decay_mode == "decoupled":
        tx = optax.chain(injected(optax.trace)(momentum or 0.0), decay,
                         injected(optax.scale)(-lr))  # fmt: skip
        decay = None
    elif opt.name != "adam":
        tx = injected(optax.sgd)(learning_rate=lr, momentum=momentum)
    else:
        inside = opt.epsilon_placement == "inside_sqrt"
        eps = {"eps": 0.0 if inside else opt.epsilon, "eps_root": opt.epsilon if inside else 0.0}
        if decay is not None and opt.weight_decay_mode == "decoupled":
            tx = injected(optax.adamw)(learning_rate=lr, b1=opt.beta1, b2=opt.beta2,
                                       weight_decay=opt.weight_decay, **eps)  # fmt: skip
            decay = None
        else:
            tx = injected(optax.adam)(learning_rate=lr, b1=opt.beta1, b2=opt.beta2, **eps)
    if decay is not None:  # L2: λ·p added to the gradient before the rule
        tx = optax.chain(decay, tx)

    def apply(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return lambda params: jax.device_put(tx.init(params), device), apply
