"""optax's own momentum and Adam as the ``(init, apply)`` pair FrameworkBackend.optimizer
returns — shared by the jax and jax-fwd adapters (and any JAX engine's).

optax.sgd(momentum=μ) or optax.adam (epsilon inside the root: its eps_root), the
hyperparameters in the optimizer's state (optax.inject_hyperparams): traced, not compiled in,
so a shape family compiles once. The state is put on the device, as the steps' own output is:
one executable.
"""

from backprop_crosscheck.backends.framework import Program
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


INITS = {}  # optimizer structure, device and hyperparameter dtype -> its compiled init


def optax_optimizer(jax, device, case, program=None):
    """(init, apply) for the case's rule: its numbers injected into the optimizer's state
    (optax.inject_hyperparams), none baked into a compiled program that the next case of the
    same structure reuses (FrameworkBackend.compile's key). ``init`` is compiled too, once per
    structure, the numbers its arguments: run eagerly, its zeros_like and casts compiled one
    XLA program per operation and shape, 0.1–0.3 s a family (docs/benchmark-notes.md).
    ``program``: key -> the Program that compiles it (the backend's: kept between processes,
    backends/jax/kept.py); else ``jax.jit``'s.

    inject_hyperparams casts the numbers to the parameters' dtype (optax#1414): in bfloat16
    β2 = 0.999 is 1.0, and Adam's bias correction 1 − β2ᵗ divides by 0 (docs/divergences/jax.md).
    A plain ``optax.adam(…)`` — what a user writes — keeps them Python floats, its bias
    correction float32: a low-precision run injects them as float32 (``hyperparameter_dtype``)."""
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
    chosen = {}  # the hyperparameters' dtype, from the parameters' at init

    def init(params):
        chosen["dtype"] = dtype = hyperparameter_dtype(jax, params)
        key = ("optax init", opt.structure(), str(device), str(dtype))
        if key not in INITS:
            INITS[key] = program(key) if program else Program(jax.jit)
        compiled = INITS[key].bind(
            lambda params, n: transformation(optax, opt, n, dtype).init(params)
        )
        return jax.device_put(compiled(params, numbers), device)

    def apply(params, grads, state):
        tx = transformation(optax, opt, numbers, chosen["dtype"])
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return init, apply


def hyperparameter_dtype(jax, params):
    """float32 where the parameters are bfloat16 or float16; else None (theirs, optax's
    default: float64 in a float64 run)."""
    dtypes = {str(p.dtype) for p in jax.tree_util.tree_leaves(params)}
    return jax.numpy.float32 if dtypes & {"bfloat16", "float16"} else None


def transformation(optax, opt, n: dict, dtype=None):
    """The optax transformation of ``opt``'s structure with the numbers ``n`` (floats, or
    traced). Weight decay: L2 is optax.add_decayed_weights(λ) before the rule (λ·p added to
    the gradient); decoupled is optax.adamw for Adam, and add_decayed_weights after the
    momentum trace, before the learning rate, for SGD and momentum (what optax.adamw chains)."""

    def injected(factory):
        return optax.inject_hyperparams(factory, hyperparam_dtype=dtype)

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
