"""A standalone script that reproduces a disagreement, for an upstream bug report: NumPy, the
standard library and the one framework, no harness import.

The script is made of the reference's own source — reference/rules/ (activations.py, losses.py,
optimizers.py, erf.py), layers.py, stack.py, cases/case.py, result.py, training.py and
network.py, copied as they are, less their imports of each other — so it computes every
activation, loss and optimizer the reference does, and cannot drift from it. Then the case (its
numbers written out), the framework's own activations, loss and gradients (``FRAMEWORKS``), and
a comparison of what the harness compares: the loss at every step, the first step's gradients
and updated parameters, the final parameters, with the harness's tolerance. The framework's
gradients are stepped by the case's rule as reference/rules/optimizers.py writes it, in the
run's dtype. Exit status 1 and one line per disagreeing tensor when they disagree.

Written for the built-in framework backends; a plugin's framework is not known to the harness,
so it gets the shrunk case file alone.
"""

import ast
import importlib
import inspect

from backprop_crosscheck.comparisons.sweep.repro_engines import engines
from backprop_crosscheck.reference import Case

# the reference's modules, in the order they need each other
REFERENCE = (
    "rules.erf",
    "rules.activations",
    "rules.losses",
    "rules.optimizers",
    "layers",
    "stack",
    "cases.case",
    "result",
    "training",
    "network",
)

TORCH = """
import torch

F = torch.nn.functional
ACT = {"identity": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
       "leaky_relu": lambda z: F.leaky_relu(z, CASE.leaky_slope), "softplus": F.softplus,
       "gelu": F.gelu, "gelu_tanh": lambda z: F.gelu(z, approximate="tanh")}
LOSS = {"half_sse": lambda p, y: 0.5 * ((p - y) ** 2).sum(),
        "mse": lambda p, y: ((p - y) ** 2).mean(),
        "softmax_cross_entropy": F.cross_entropy,  # class probabilities: one-hot rows
        "binary_cross_entropy": F.binary_cross_entropy_with_logits}


def framework_loss(p, a, y):
    for layer, act in enumerate(CASE.activations, start=1):
        a = ACT[act](a @ p[f"W{layer}"] + (p[f"b{layer}"] if f"b{layer}" in p else 0))
    return LOSS[CASE.loss](a, y)
"""

FRAMEWORKS = {
    # name: (what the script imports, its framework_grads(params, X, Y) -> (loss, {dE/d…, "X"}))
    "torch": (
        "torch",
        TORCH
        + '''

def framework_grads(params, X, Y):
    """torch autograd: loss.backward(), then each tensor's .grad."""
    dtype = getattr(torch, DTYPE)
    p = {n: torch.tensor(v, dtype=dtype, requires_grad=True) for n, v in params.items()}
    x = torch.tensor(X, dtype=dtype, requires_grad=True)
    loss = framework_loss(p, x, torch.tensor(Y, dtype=dtype))
    loss.backward()
    grads = {n: t.grad.numpy() for n, t in p.items()}
    return loss.detach().numpy(), {**grads, "X": x.grad.numpy()}
''',
    ),
    "torch-func": (
        "torch",
        TORCH
        + '''

def framework_grads(params, X, Y):
    """torch.func.grad_and_value: the functional transform, no .backward()."""
    dtype = getattr(torch, DTYPE)
    p = {n: torch.tensor(v, dtype=dtype) for n, v in params.items()}
    x, y = torch.tensor(X, dtype=dtype), torch.tensor(Y, dtype=dtype)
    (gp, gx), value = torch.func.grad_and_value(framework_loss, argnums=(0, 1))(p, x, y)
    return value.numpy(), {**{n: g.numpy() for n, g in gp.items()}, "X": gx.numpy()}
''',
    ),
    "jax": (
        "jax",
        '''
import jax

jax.config.update("jax_enable_x64", DTYPE == "float64")
import jax.numpy as jnp  # noqa: E402

ACT = {"identity": lambda z: z, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
       "leaky_relu": lambda z: jax.nn.leaky_relu(z, CASE.leaky_slope), "softplus": jax.nn.softplus,
       "gelu": lambda z: jax.nn.gelu(z, approximate=False),
       "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True)}
LOSS = {"half_sse": lambda p, y: 0.5 * jnp.sum((p - y) ** 2),
        "mse": lambda p, y: jnp.mean((p - y) ** 2),
        "softmax_cross_entropy": lambda z, t: -jnp.mean(jnp.sum(t * jax.nn.log_softmax(z), -1)),
        "binary_cross_entropy": lambda z, t: -jnp.mean(t * jax.nn.log_sigmoid(z)
                                                       + (1 - t) * jax.nn.log_sigmoid(-z))}


def framework_loss(p, a, y):
    for layer, act in enumerate(CASE.activations, start=1):
        a = ACT[act](a @ p[f"W{layer}"] + (p[f"b{layer}"] if f"b{layer}" in p else 0))
    return LOSS[CASE.loss](a, y)


STEP = jax.jit(jax.value_and_grad(framework_loss, argnums=(0, 1)))  # reverse mode


def framework_grads(params, X, Y):
    """jax: the loss and its derivative, under jax.jit."""
    p = {n: jnp.asarray(v, dtype=DTYPE) for n, v in params.items()}
    with jax.default_matmul_precision("highest"):
        value, (gp, gx) = STEP(p, jnp.asarray(X, dtype=DTYPE), jnp.asarray(Y, dtype=DTYPE))
    return np.asarray(value), {**{n: np.asarray(g) for n, g in gp.items()}, "X": np.asarray(gx)}
''',
    ),
    "autograd": (
        "autograd",
        '''
import autograd
import autograd.numpy as anp
from autograd.scipy.special import erf

ACT = {"identity": lambda z: z, "sigmoid": lambda z: sigmoid(z, anp), "tanh": anp.tanh,
       "relu": lambda z: anp.maximum(z, 0),
       "leaky_relu": lambda z: anp.where(z > 0, z, CASE.leaky_slope * z),
       "softplus": lambda z: anp.logaddexp(0.0, z),
       "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2.0))),
       "gelu_tanh": lambda z: gelu_tanh(z, anp)}


def softmax_ce(z, t):
    m = anp.max(z, axis=-1, keepdims=True)
    lse = anp.log(anp.sum(anp.exp(z - m), axis=-1, keepdims=True)) + m
    return anp.mean(anp.sum(t * (lse - z), axis=-1))


LOSS = {"half_sse": lambda p, y: 0.5 * anp.sum((p - y) ** 2),
        "mse": lambda p, y: anp.mean((p - y) ** 2),
        "softmax_cross_entropy": softmax_ce,
        "binary_cross_entropy": lambda z, t: anp.mean(anp.logaddexp(0.0, z) - t * z)}


def framework_grads(params, X, Y):
    """HIPS autograd: autograd.value_and_grad."""
    y = np.asarray(Y, dtype=DTYPE)

    def loss(p, a):
        for layer, act in enumerate(CASE.activations, start=1):
            a = ACT[act](anp.dot(a, p[f"W{layer}"]) + (p[f"b{layer}"] if f"b{layer}" in p else 0))
        return LOSS[CASE.loss](a, y)

    p = {n: np.asarray(v, dtype=DTYPE) for n, v in params.items()}
    value, (gp, gx) = autograd.value_and_grad(loss, argnum=(0, 1))(p, np.asarray(X, dtype=DTYPE))
    return value, {**gp, "X": gx}
''',
    ),
}
FRAMEWORKS["jax-fwd"] = (
    "jax",
    FRAMEWORKS["jax"][1].replace(
        "STEP = jax.jit(jax.value_and_grad(framework_loss, argnums=(0, 1)))  # reverse mode",
        "STEP = jax.jit(lambda p, a, y: (framework_loss(p, a, y),\n"
        "                                jax.jacfwd(framework_loss, argnums=(0, 1))(p, a, y)))"
        "  # forward mode (jax.jacfwd), as the jax-fwd backend",
    ),
)
FRAMEWORKS.update(engines(TORCH))  # Keras, MLX, tinygrad, torch.compile (repro_engines.py)

HEAD = '''#!/usr/bin/env python3
"""{title}

Made by backprop-crosscheck from the case {case} (shrunk: {shape}). Needs numpy and {module}
only. The hand-derived reference below is the harness's own (reference/*.py, copied as they
are); {framework}'s own loss and gradients are held against it, stepped by the case's rule
({rule}), with the harness's tolerance (for Adam, without the allowance the harness adds where a
gradient is within its rounding of zero). Exit status 1 when they disagree.
"""

import sys

import numpy as np

DTYPE = {dtype!r}
RTOL, ATOL = {rtol!r}, {atol!r}
FRAMEWORK = {backend!r}
'''

CASE = """

# ---- the case ------------------------------------------------------------------------------
CASE = Case(
    name={name!r}, loss={loss!r},
    learning_rate={learning_rate!r}, steps={steps!r}, leaky_slope={leaky_slope!r},
    inputs=np.array({inputs!r}), targets=np.array({targets!r}),
    stack=dense_chain(
        weights=({weights}),
        biases={biases},
        activations={activations!r},
    ),
    frozen=frozenset({frozen!r}),
    optimizer=Optimizer(**{optimizer!r}),
)
"""

MAIN = '''

# ---- the comparison ------------------------------------------------------------------------
def framework_train() -> Result:
    """The case's steps with the framework's loss and gradients, in DTYPE."""
    params = CASE.parameters(DTYPE)
    X, Y = CASE.inputs.astype(DTYPE), CASE.targets.astype(DTYPE)

    def one_step(params, state):
        loss, grads = framework_grads(params, X, Y)
        grads = {n: np.asarray(g, dtype=DTYPE) for n, g in grads.items()}
        return loss, grads, *update(CASE, params, grads, state)

    return train_loop(one_step, params, start(CASE, params), CASE.steps,
                      lambda p: framework_grads(p, X, Y)[0], keep=np.asarray, loss_dtype=DTYPE)


def main():
    want, got = train(CASE), framework_train()
    bad = 0
    for quantity in ("loss", "gradients", "updated", "final"):
        tensors = {"loss": want.loss} if quantity == "loss" else getattr(want, quantity)
        theirs = {"loss": got.loss} if quantity == "loss" else getattr(got, quantity)
        for name, expected in tensors.items():
            actual = np.asarray(theirs[name], dtype=np.float64)
            off = ~np.isclose(actual, expected, rtol=RTOL, atol=ATOL)
            if off.any():
                i = np.unravel_index(np.argmax(np.abs(actual - expected) * off), off.shape)
                print(f"{quantity} {name}: {off.sum()}/{off.size} disagree; at {list(map(int, i))} "
                      f"{FRAMEWORK} {actual[i]:.10g} vs numpy {expected[i]:.10g} "
                      f"(off by {abs(actual[i] - expected[i]):.3g}, "
                      f"allowed {ATOL + RTOL * abs(expected[i]):.3g})")
                bad += 1
    verdict = "disagrees" if bad else "agrees"
    print(f"{FRAMEWORK} {DTYPE}: {verdict} with the NumPy reference")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def reference_source() -> str:
    """reference/'s modules as they are, less their imports of each other (the script holds
    them all) — each under a line naming its file."""
    parts = []
    for name in REFERENCE:
        source = inspect.getsource(importlib.import_module(f"backprop_crosscheck.reference.{name}"))
        lines = source.splitlines()
        for node in ast.parse(source).body:
            if isinstance(node, ast.ImportFrom) and node.module.startswith("backprop_crosscheck"):
                gone = range(node.lineno - 1, node.end_lineno)
                lines[gone.start : gone.stop] = [""] * len(gone)
        rule = f"# ---- reference/{name.replace('.', '/')}.py "
        parts.append(rule + "-" * (96 - len(rule)) + "\n" + "\n".join(lines).strip() + "\n")
    return "\n\n".join(parts)


def repro_script(case: Case, backend: str, dtype: str, rtol: float, atol: float) -> str | None:
    """The script's text; None where the backend's framework is not one the harness knows."""
    if backend not in FRAMEWORKS:
        return None
    module, framework = FRAMEWORKS[backend]
    head = HEAD.format(
        title=f"{backend} vs the hand-derived NumPy reference, {dtype}: a reproducer.",
        case=case.name,
        module=module,
        framework=backend,
        dtype=dtype,
        rtol=rtol,
        atol=atol,
        shape=f"layers {list(case.layers)}, {case.inputs.shape[0]} samples, {case.steps} steps",
        rule=case.optimizer.describe(),
        backend=backend,
    )
    numbers = CASE.format(
        name=case.name,
        activations=tuple(case.activations),
        loss=case.loss,
        learning_rate=case.learning_rate,
        steps=case.steps,
        leaky_slope=case.leaky_slope,
        inputs=case.inputs.tolist(),
        targets=case.targets.tolist(),
        weights="".join(f"np.array({w.tolist()!r}), " for w in case.weights),
        biases="None"
        if case.biases is None
        else "(" + "".join(f"np.array({b.tolist()!r}), " for b in case.biases) + ")",
        frozen=sorted(case.frozen),
        optimizer={"name": case.optimizer.name, **case.optimizer.settings()},
    )
    return head + "\n\n" + reference_source() + numbers + framework + MAIN
