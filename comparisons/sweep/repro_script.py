"""A standalone script that reproduces a disagreement, for an upstream bug report: NumPy and the
one framework, no harness import. It holds the case's numbers, a hand-written NumPy forward and
backward pass (float64, the reference's formulas), the framework's own loss and gradients, and
compares what the harness compares — the loss at every step, the first step's gradients and
updated parameters, the final parameters — with the harness's tolerance. Exit status 1 and one
line per disagreeing tensor when they disagree.

Written for the built-in framework backends (``FRAMEWORKS``); a plugin's framework is not
known to the harness, so it gets the shrunk case file alone.
"""

from backprop_crosscheck.reference import Case

TORCH = """
import torch

NNF = torch.nn.functional
ACT = {"identity": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
       "leaky_relu": lambda z: NNF.leaky_relu(z, LEAKY_SLOPE), "softplus": NNF.softplus,
       "gelu": NNF.gelu, "gelu_tanh": lambda z: NNF.gelu(z, approximate="tanh")}
"""  # both torch scripts' imports and activations

FRAMEWORKS = {
    # name: (what the script imports, def grads(params, X, Y) -> (loss, {name: dE/dname, "X"}))
    "torch": (
        "torch",
        TORCH
        + '''

def framework_grads(params, X, Y):
    """torch autograd: loss.backward(), then each tensor's .grad."""
    dtype = getattr(torch, DTYPE)
    p = {n: torch.tensor(v, dtype=dtype, requires_grad=True) for n, v in params.items()}
    x = torch.tensor(X, dtype=dtype, requires_grad=True)
    a = x
    for layer, act in enumerate(ACTIVATIONS, start=1):
        z = a @ p[f"W{layer}"] + (p[f"b{layer}"] if f"b{layer}" in p else 0)
        a = ACT[act](z)
    r = a - torch.tensor(Y, dtype=dtype)
    loss = 0.5 * (r * r).sum() if LOSS == "half_sse" else (r * r).mean()
    loss.backward()
    grads = {n: t.grad.numpy() for n, t in p.items()}
    return loss.item(), {**grads, "X": x.grad.numpy()}
''',
    ),
    "torch-func": (
        "torch",
        TORCH
        + '''

def framework_grads(params, X, Y):
    """torch.func.grad_and_value: the functional transform, no .backward()."""
    dtype = getattr(torch, DTYPE)
    y = torch.tensor(Y, dtype=dtype)

    def loss(p, a):
        for layer, act in enumerate(ACTIVATIONS, start=1):
            z = a @ p[f"W{layer}"] + (p[f"b{layer}"] if f"b{layer}" in p else 0)
            a = ACT[act](z)
        r = a - y
        return 0.5 * (r * r).sum() if LOSS == "half_sse" else (r * r).mean()

    p = {n: torch.tensor(v, dtype=dtype) for n, v in params.items()}
    x = torch.tensor(X, dtype=dtype)
    (gp, gx), value = torch.func.grad_and_value(loss, argnums=(0, 1))(p, x)
    return value.item(), {**{n: g.numpy() for n, g in gp.items()}, "X": gx.numpy()}
''',
    ),
    "jax": (
        "jax",
        '''
import jax

jax.config.update("jax_enable_x64", DTYPE == "float64")
import jax.numpy as jnp  # noqa: E402

ACT = {"identity": lambda z: z, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
       "leaky_relu": lambda z: jax.nn.leaky_relu(z, LEAKY_SLOPE), "softplus": jax.nn.softplus,
       "gelu": lambda z: jax.nn.gelu(z, approximate=False),
       "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True)}


def loss(p, a, y):
    for layer, act in enumerate(ACTIVATIONS, start=1):
        z = a @ p[f"W{layer}"] + (p[f"b{layer}"] if f"b{layer}" in p else 0)
        a = ACT[act](z)
    r = a - y
    return 0.5 * jnp.sum(r * r) if LOSS == "half_sse" else jnp.mean(r * r)


# the loss and its derivative with respect to (params, X), compiled once
STEP = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))  # reverse mode


def framework_grads(params, X, Y):
    """jax: the loss and its derivative, under jax.jit."""
    p = {n: jnp.asarray(v, dtype=DTYPE) for n, v in params.items()}
    with jax.default_matmul_precision("highest"):
        value, (gp, gx) = STEP(p, jnp.asarray(X, dtype=DTYPE), jnp.asarray(Y, dtype=DTYPE))
    return float(value), {**{n: np.asarray(g) for n, g in gp.items()}, "X": np.asarray(gx)}
''',
    ),
    "autograd": (
        "autograd",
        '''
import autograd
import autograd.numpy as anp
from autograd.scipy.special import erf

C = np.sqrt(2 / np.pi)
ACT = {"identity": lambda z: z, "sigmoid": lambda z: 0.5 * (1 + anp.tanh(0.5 * z)),
       "tanh": anp.tanh, "relu": lambda z: anp.maximum(z, 0),
       "leaky_relu": lambda z: anp.where(z > 0, z, LEAKY_SLOPE * z),
       "softplus": lambda z: anp.logaddexp(0.0, z),
       "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2.0))),
       "gelu_tanh": lambda z: 0.5 * z * (1 + anp.tanh(C * (z + 0.044715 * z**3)))}


def framework_grads(params, X, Y):
    """HIPS autograd: autograd.value_and_grad."""
    y = np.asarray(Y, dtype=DTYPE)

    def loss(p, a):
        for layer, act in enumerate(ACTIVATIONS, start=1):
            z = anp.dot(a, p[f"W{layer}"]) + (p[f"b{layer}"] if f"b{layer}" in p else 0)
            a = ACT[act](z)
        r = a - y
        return 0.5 * anp.sum(r * r) if LOSS == "half_sse" else anp.mean(r * r)

    p = {n: np.asarray(v, dtype=DTYPE) for n, v in params.items()}
    x = np.asarray(X, dtype=DTYPE)
    value, (gp, gx) = autograd.value_and_grad(loss, argnum=(0, 1))(p, x)
    return float(value), {**gp, "X": gx}
''',
    ),
}
FRAMEWORKS["jax-fwd"] = (
    "jax",
    FRAMEWORKS["jax"][1].replace(
        "STEP = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))  # reverse mode",
        "STEP = jax.jit(lambda p, a, y: (loss(p, a, y), jax.jacfwd(loss, argnums=(0, 1))(p, a, y)))"
        "  # forward mode (jax.jacfwd), as the jax-fwd backend",
    ),
)

HEAD = '''#!/usr/bin/env python3
"""{title}

Made by backprop-crosscheck from the case {case} (shrunk: {shape}). Needs numpy and {module}
only. Compares {framework}'s loss and gradients with a hand-written NumPy backward pass (float64),
as the harness does, with the harness's tolerance; exit status 1 when they disagree.
"""

import math
import sys

import numpy as np

DTYPE = {dtype!r}
RTOL, ATOL = {rtol!r}, {atol!r}
ACTIVATIONS = {activations!r}
LEAKY_SLOPE = {leaky_slope!r}  # leaky_relu's slope for z < 0
LOSS = {loss!r}  # half_sse: ½·Σ(p − y)²; mse: mean (p − y)²
LEARNING_RATE = {learning_rate!r}
STEPS = {steps!r}
FROZEN = {frozen!r}
X = np.array({inputs!r})
Y = np.array({targets!r})
PARAMS = {{
{params}
}}
'''

NUMPY = '''

# ---- the reference: forward and backward by hand, float64 ----------------------------------
def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def Phi(z):  # Φ(z) = ½·(1 + erf(z/√2)), and its density φ = Φ′
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def phi(z):
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def gelu_tanh_prime(z, a):  # u = √(2/π)(z + k·z³): f = ½·z·(1 + tanh u)
    c, k = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(c * (z + k * z**3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * k * z * z)


F = {"identity": lambda z: z, "sigmoid": sigmoid, "tanh": np.tanh,
     "relu": lambda z: np.maximum(z, 0),
     "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
     "softplus": lambda z: np.logaddexp(0.0, z), "gelu": lambda z: z * Phi(z),
     "gelu_tanh": lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))}
F_PRIME = {"identity": lambda z, a: np.ones_like(z), "sigmoid": lambda z, a: a * (1 - a),
           "tanh": lambda z, a: 1 - a * a, "relu": lambda z, a: (z > 0).astype(z.dtype),
           "leaky_relu": lambda z, a: np.where(z > 0, 1.0, LEAKY_SLOPE),
           "softplus": lambda z, a: sigmoid(z), "gelu": lambda z, a: Phi(z) + z * phi(z),
           "gelu_tanh": gelu_tanh_prime}


def numpy_grads(params, X, Y):
    zs, acts = [], [X]
    for layer, act in enumerate(ACTIVATIONS, start=1):
        z = acts[-1] @ params[f"W{layer}"] + params.get(f"b{layer}", 0)
        zs.append(z)
        acts.append(F[act](z))
    r = acts[-1] - Y
    loss = 0.5 * np.sum(r * r) if LOSS == "half_sse" else np.mean(r * r)
    dE_da = r if LOSS == "half_sse" else 2 * r / r.size  # dE/dprediction
    grads = {}
    for layer in range(len(ACTIVATIONS), 0, -1):
        delta = dE_da * F_PRIME[ACTIVATIONS[layer - 1]](zs[layer - 1], acts[layer])  # dE/dz
        grads[f"W{layer}"] = acts[layer - 1].T @ delta  # dE/dW = a_prevᵀ · δ
        if f"b{layer}" in params:
            grads[f"b{layer}"] = delta.sum(axis=0)  # dE/db = Σ δ
        dE_da = delta @ params[f"W{layer}"].T  # dE/da_prev = δ · Wᵀ
    return loss, {**grads, "X": dE_da}


def train(grads_of, dtype):
    """Losses at every step (and after the last), first gradients, first update, final."""
    params = {n: v.astype(dtype) for n, v in PARAMS.items()}
    x, y = X.astype(dtype), Y.astype(dtype)
    lr = np.dtype(dtype).type(LEARNING_RATE)
    losses, first, updated = [], None, None
    for step in range(STEPS):
        loss, grads = grads_of(params, x, y)
        grads = {n: np.asarray(g, dtype=dtype) for n, g in grads.items()}
        params = {n: p if n in FROZEN else p - lr * grads[n] for n, p in params.items()}
        losses.append(loss)
        if step == 0:
            first, updated = grads, params
    losses.append(grads_of(params, x, y)[0])
    return {"loss": {"loss": np.array(losses)}, "gradients": first, "updated": updated,
            "final": params}


def main():
    want, got = train(numpy_grads, np.float64), train(framework_grads, DTYPE)
    bad = 0
    for quantity, tensors in want.items():
        for name, expected in tensors.items():
            actual = np.asarray(got[quantity][name], dtype=np.float64)
            off = ~np.isclose(actual, expected, rtol=RTOL, atol=ATOL)
            if off.any():
                i = np.unravel_index(np.argmax(np.abs(actual - expected) * off), off.shape)
                where = list(map(int, i))
                print(f"{quantity} {name}: {off.sum()}/{off.size} disagree; at {where} "
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


def repro_script(case: Case, backend: str, dtype: str, rtol: float, atol: float) -> str | None:
    """The script's text; None where the backend's framework is not one the harness knows, or
    the case's loss or optimizer not one the scripts write (the .min.toml then stands alone)."""
    if backend not in FRAMEWORKS or case.loss not in ("half_sse", "mse"):
        return None
    if case.optimizer.name != "sgd":  # the scripts write plain SGD's loop
        return None
    module, framework = FRAMEWORKS[backend]
    params = case.parameters()
    head = HEAD.format(
        title=f"{backend} vs a hand-derived NumPy backward pass, {dtype}: a reproducer.",
        case=case.name,
        shape=f"layers {list(case.layers)}, {case.inputs.shape[0]} samples, {case.steps} steps",
        module=module,
        framework=backend,
        dtype=dtype,
        rtol=rtol,
        atol=atol,
        activations=list(case.activations),
        leaky_slope=case.leaky_slope,
        loss=case.loss,
        learning_rate=case.learning_rate,
        steps=case.steps,
        frozen=sorted(case.frozen),
        inputs=case.inputs.tolist(),
        targets=case.targets.tolist(),
        params="\n".join(f"    {n!r}: np.array({v.tolist()!r})," for n, v in params.items()),
    )
    return head + f"FRAMEWORK = {backend!r}\n" + framework + NUMPY
