"""optax's own momentum and Adam as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns — shared by the jax and jax-fwd adapters (and any JAX engine's).

optax.sgd(momentum=μ) or optax.adam (epsilon inside the root: its eps_root), the
hyperparameters in the optimizer's state (optax.inject_hyperparams): traced, not compiled in,
so a shape family compiles once. The state is put on the device, as the steps' own output is:
one executable.
"""

from backprop_crosscheck.backends.interface import Convention

OPTAX_CONVENTIONS = (
    Convention(
        "momentum", "dampening", (0.0,), "optax.sgd's momentum (optax.trace) has no dampening"
    ),
    Convention(
        "adam",
        "epsilon_placement",
        ("after_correction", "inside_sqrt"),
        "optax.adam adds epsilon after the bias correction (eps) or inside the root "
        "(eps_root), never before the correction (optax/_src/transform.py)",
    ),
)


def optax_optimizer(jax, device, case):
    """(init, apply) for the case's rule: its numbers injected into the optimizer's state
    (optax.inject_hyperparams), none baked into a compiled program that the next case of the
    same structure reuses (FrameworkBackend.compile's key). ``init`` is compiled too, once per
    structure, the numbers its arguments: run eagerly, its zeros_like and casts compiled one
    XLA program per operation and shape, 0.1–0.3 s a family (docs/benchmark-notes.md)."""
    import optax

    opt = case.optimizer
    numbers = {
        "lr": case.learning_rate,
        "momentum": opt.momentum,
        "beta1": opt.beta1,
        "beta2": opt.beta2,
        "epsilon": opt.epsilon,
        "decay": opt.weight_decay,
    }
    tx = transformation(optax, opt, numbers)
    key = (opt.structure(), str(device))
    if key not in INITS:
        INITS[key] = jax.jit(lambda params, n: transformation(optax, opt, n).init(params))

    def apply(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return lambda params: jax.device_put(INITS[key](params, numbers), device), apply


INITS = {}  # optimizer structure and device -> its compiled init(params, numbers)


def transformation(optax, opt, n: dict):
    """The optax transformation of ``opt``'s structure with the numbers ``n`` (floats, or
    traced). Weight decay: L2 is optax.add_decayed_weights(λ) before the rule (λ·p added to
    the gradient); decoupled is optax.adamw for Adam, and add_decayed_weights after the
    momentum trace, before the learning rate, for SGD and momentum (what optax.adamw chains)."""
    injected = optax.inject_hyperparams
    decay = injected(optax.add_decayed_weights)(n["decay"]) if opt.weight_decay else None
    momentum = n["momentum"] if opt.name == "momentum" else None
    if opt.name != "adam" and decay is not None and opt.weight_decay_mode == "decoupled":
        mu = 0.0 if momentum is None else momentum
        return optax.chain(injected(optax.trace)(mu), decay, injected(optax.scale)(-n["lr"]))
    if opt.name != "adam":
        tx = injected(optax.sgd)(learning_rate=n["lr"], momentum=momentum)
    elif decay is not None and opt.weight_decay_mode == "decoupled":
        return injected(optax.adamw)(
            learning_rate=n["lr"],
            b1=n["beta1"],
            b2=n["beta2"],
            weight_decay=n["decay"],
            **_eps(opt, n),
        )
    else:
        tx = injected(optax.adam)(
            learning_rate=n["lr"], b1=n["beta1"], b2=n["beta2"], **_eps(opt, n)
        )
    return tx if decay is None else optax.chain(decay, tx)  # L2: λ·p added before the rule


def _eps(opt, n: dict) -> dict:
    """optax.adam's eps (after the bias correction) or eps_root (inside the root)."""
    inside = opt.epsilon_placement == "inside_sqrt"
    return {"eps": 0.0 if inside else n["epsilon"], "eps_root": n["epsilon"] if inside else 0.0}
