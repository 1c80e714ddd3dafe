"""The standalone reproducer's framework code (comparisons/sweep/repro_script.py) for the engines
built in beside torch, JAX and autograd: Keras 3 on each backend, MLX, tinygrad and
torch.compile. Each defines ``framework_grads(params, X, Y) -> (loss, {dE/d…, "X"})`` with the
engine's own functions, as its backend computes them (backends/keras/backend.py,
backends/mlx/backend.py, backends/tinygrad/backend.py, backends/torch/compile.py), so a script
shows the divergence the harness found."""

KERAS = """
import os

os.environ["KERAS_BACKEND"] = ENGINE = "{engine}"
{before}import keras  # noqa: E402

if keras.backend.backend() != ENGINE:  # imported for another backend before this script ran
    keras.config.set_backend(ENGINE)
from keras import ops  # noqa: E402

ACT = {{"identity": lambda z: z, "sigmoid": ops.sigmoid, "tanh": ops.tanh, "relu": ops.relu,
       "leaky_relu": lambda z: ops.leaky_relu(z, CASE.leaky_slope), "softplus": ops.softplus,
       "gelu": lambda z: ops.gelu(z, approximate=False),
       "gelu_tanh": lambda z: ops.gelu(z, approximate=True)}}
LOSS = {{"half_sse": lambda p, y: 0.5 * ops.sum((p - y) * (p - y)),
        "mse": lambda p, y: ops.mean((p - y) * (p - y)),
        "softmax_cross_entropy": lambda z, t: ops.mean(
            ops.categorical_crossentropy(t, z, from_logits=True)),
        "binary_cross_entropy": lambda z, t: ops.mean(
            ops.binary_crossentropy(t, z, from_logits=True))}}


def framework_loss(p, a, y):
    for layer, act in enumerate(CASE.activations, start=1):
        z = ops.matmul(a, p[f"W{{layer}}"])
        a = ACT[act](z + p[f"b{{layer}}"] if f"b{{layer}}" in p else z)
    return LOSS[CASE.loss](a, y)


def tensors(params, X, Y):
    as_tensor = lambda v: ops.convert_to_tensor(np.asarray(v), dtype=DTYPE)  # noqa: E731
    return {{n: as_tensor(v) for n, v in params.items()}}, as_tensor(X), as_tensor(Y)
"""

KERAS_GRADS = {
    "jax": '''

def framework_grads(params, X, Y):
    """keras.ops on JAX: jax.value_and_grad of the loss keras.ops computes."""
    p, x, y = tensors(params, X, Y)
    value, (gp, gx) = jax.value_and_grad(framework_loss, argnums=(0, 1))(p, x, y)
    return np.asarray(value), {**{n: np.asarray(g) for n, g in gp.items()}, "X": np.asarray(gx)}
''',
    "torch": '''

def framework_grads(params, X, Y):
    """keras.ops on torch: loss.backward() of the loss keras.ops computes."""
    p, x, y = tensors(params, X, Y)
    leaves = [t.requires_grad_(True) for t in [*p.values(), x]]
    loss = framework_loss(p, x, y)
    loss.backward()
    grads = {n: t.grad.numpy() for n, t in p.items()}
    return loss.detach().numpy(), {**grads, "X": leaves[-1].grad.numpy()}
''',
    "tensorflow": '''

def framework_grads(params, X, Y):
    """keras.ops on TensorFlow: tf.GradientTape of the loss keras.ops computes."""
    import tensorflow as tf

    p, x, y = tensors(params, X, Y)
    with tf.GradientTape() as tape:
        tape.watch([*p.values(), x])
        loss = framework_loss(p, x, y)
    gp, gx = tape.gradient(loss, (p, x))
    return loss.numpy(), {**{n: g.numpy() for n, g in gp.items()}, "X": gx.numpy()}
''',
}
JAX_X64 = 'import jax\n\njax.config.update("jax_enable_x64", DTYPE == "float64")\n'

DENSE_LOSS = """

def framework_loss(p, a, y):
    for layer, act in enumerate(CASE.activations, start=1):
        z = a @ p[f"W{layer}"]
        a = ACT[act](z + p[f"b{layer}"] if f"b{layer}" in p else z)
    return LOSS[CASE.loss](a, y)
"""  # the network and its loss, for engines whose arrays take @

MLX = (
    """
import mlx.core as mx
import mlx.nn as nn

mx.set_default_device(mx.cpu)  # float64: the CPU only
ACT = {"identity": lambda z: z, "sigmoid": nn.sigmoid, "tanh": mx.tanh, "relu": nn.relu,
       "leaky_relu": lambda z: nn.leaky_relu(z, CASE.leaky_slope), "softplus": nn.softplus,
       "gelu": nn.gelu, "gelu_tanh": nn.gelu_approx}
LOSS = {"half_sse": lambda p, y: 0.5 * mx.sum((p - y) * (p - y)),
        "mse": lambda p, y: mx.mean((p - y) * (p - y)),
        "softmax_cross_entropy": lambda z, t: nn.losses.cross_entropy(z, t, reduction="mean"),
        "binary_cross_entropy": nn.losses.binary_cross_entropy}

"""
    + DENSE_LOSS
    + '''


def framework_grads(params, X, Y):
    """mlx: mx.value_and_grad, every array made in DTYPE (MLX's default is float32)."""
    as_array = lambda v: mx.array(np.asarray(v), dtype=getattr(mx, DTYPE))  # noqa: E731
    p = {n: as_array(v) for n, v in params.items()}
    value, (gp, gx) = mx.value_and_grad(framework_loss, argnums=(0, 1))(p, as_array(X),
                                                                         as_array(Y))
    return np.array(value), {**{n: np.array(g) for n, g in gp.items()}, "X": np.array(gx)}
'''
)

TINYGRAD = (
    """
from tinygrad import Tensor, dtypes


def softmax_cross_entropy(z, t):  # as the harness writes it with tinygrad's methods
    lse = (z - z.max(axis=-1, keepdim=True)).exp().sum(axis=-1, keepdim=True).log()
    return (t * (lse + z.max(axis=-1, keepdim=True) - z)).sum(axis=-1).mean()


ACT = {"identity": lambda z: z, "sigmoid": Tensor.sigmoid, "tanh": Tensor.tanh,
       "relu": Tensor.relu, "leaky_relu": lambda z: z.leaky_relu(CASE.leaky_slope),
       "softplus": lambda z: z.logaddexp(0.0), "gelu": lambda z: z.gelu(approximate="none"),
       "gelu_tanh": lambda z: z.gelu(approximate="tanh")}
LOSS = {"half_sse": lambda p, y: 0.5 * ((p - y) * (p - y)).sum(),
        "mse": lambda p, y: ((p - y) * (p - y)).mean(),
        "softmax_cross_entropy": softmax_cross_entropy,
        "binary_cross_entropy": lambda z, t: (z.logaddexp(0.0) - t * z).mean()}

"""
    + DENSE_LOSS
    + '''


def framework_grads(params, X, Y):
    """tinygrad: loss.gradient(*params, X), realized."""
    as_tensor = lambda v: Tensor(np.asarray(v), dtype=getattr(dtypes, DTYPE))  # noqa: E731
    p, x = {n: as_tensor(v) for n, v in params.items()}, as_tensor(X)
    loss = framework_loss(p, x, as_tensor(Y))
    grads = loss.gradient(*p.values(), x)
    return loss.numpy(), {**{n: g.numpy() for n, g in zip(p, grads)}, "X": grads[-1].numpy()}
'''
)

TORCH_COMPILE = '''

COMPILED = torch.compile(framework_loss, dynamic=False, fullgraph=True)  # Inductor's kernels


def framework_grads(params, X, Y):
    """torch.compile: the loss's compiled forward and backward, torch.autograd.grad."""
    dtype = getattr(torch, DTYPE)
    p = {n: torch.tensor(v, dtype=dtype, requires_grad=True) for n, v in params.items()}
    x = torch.tensor(X, dtype=dtype, requires_grad=True)
    loss = COMPILED(p, x, torch.tensor(Y, dtype=dtype))
    grads = torch.autograd.grad(loss, [*p.values(), x])
    return loss.detach().numpy(), {**{n: g.numpy() for n, g in zip(p, grads)},
                                   "X": grads[-1].numpy()}
'''


def engines(torch_code: str) -> dict:
    """FRAMEWORKS' entries for these engines: {backend: (the imports it needs, its code)}."""
    keras = {}
    for engine, grads in KERAS_GRADS.items():
        before = JAX_X64 if engine == "jax" else ""
        keras[f"keras-{engine}"] = (
            f"keras and {engine}",
            KERAS.format(engine=engine, before=before) + grads,
        )
    return {
        **keras,
        "mlx": ("mlx", MLX),
        "tinygrad": ("tinygrad", TINYGRAD),
        "torch-compile": ("torch", torch_code + TORCH_COMPILE),
    }
