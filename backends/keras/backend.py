"""Keras 3, shared by the ``keras-jax``, ``keras-torch`` and ``keras-tensorflow`` adapters
(keras/jax.py, …): the network in ``keras.ops``, a layer stack in its ops (images transposed to
channels_last, which TensorFlow's CPU kernels require), trained by Keras's own optimizers
on ``keras.Variable``s, and the conventions they follow (keras/src/optimizers/sgd.py, adam.py).
Keras has no gradient API of its own: each adapter takes its backend's gradient of the loss
keras.ops computes there. ``KERAS_BACKEND`` is read at ``import keras``: each runs in a worker
process of its own (the default for a backend), and where one process runs two (the pytest
door), keras is reloaded for the other (``keras.config.set_backend``).
"""

import os
import sys

from backprop_crosscheck.backends.framework import FrameworkBackend
from backprop_crosscheck.backends.interface import Capabilities, Convention
from backprop_crosscheck.backends.keras.attention import keras_attention
from backprop_crosscheck.backends.keras.mixed import KerasMixed
from backprop_crosscheck.backends.keras.recurrent import KERAS_GATES, keras_recurrent
from backprop_crosscheck.reference.precision import LOW
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS

KERAS_CONVENTIONS = (
    Convention(
        "momentum",
        "dampening",
        (0.0,),
        "Keras's SGD has no dampening (keras/src/optimizers/sgd.py)",
    ),
    Convention(
        "adam",
        "epsilon_placement",
        ("before_correction",),
        "Keras's Adam adds "
        "epsilon before the bias correction, √(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + ε) "
        "(keras/src/optimizers/adam.py)",
    ),
)


def keras_on(engine: str):
    """keras, on ``engine`` (jax, torch, tensorflow): imported for it, or reloaded for it where
    this process imported it for another (``keras.config.set_backend``)."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = engine
    import keras

    if keras.backend.backend() != engine:
        keras.config.set_backend(engine)
        import keras
    return keras


def keras_layers(ops) -> dict:
    nhwc, nchw = (0, 2, 3, 1), (0, 3, 1, 2)  # channels_last: what every backend runs on a CPU

    def conv2d(x, p, layer):
        pad, s = layer.settings["padding"], layer.settings["stride"]
        x = ops.pad(ops.transpose(x, nhwc), [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        y = ops.transpose(ops.conv(x, ops.transpose(p["kernel"], (2, 3, 1, 0)), s), nchw)
        return y + ops.reshape(p["bias"], (1, -1, 1, 1)) if "bias" in p else y

    def pool(op):
        def pooled(x, p, layer):
            k, s = layer.settings["size"], layer.settings["stride"]
            return ops.transpose(op(ops.transpose(x, nhwc), k, s), nchw)

        return pooled

    def batch_norm(x, p, layer):  # the batch's statistics, the biased variance (ops.moments)
        mean, var = ops.moments(x, [0] if len(x.shape) == 2 else [0, 2, 3])
        return ops.batch_normalization(
            x, mean, var, 1, p["beta"], p["gamma"], layer.settings["eps"]
        )

    return {
        "conv2d": conv2d,
        "max_pool2d": pool(ops.max_pool),
        "avg_pool2d": pool(ops.average_pool),
        "batch_norm": batch_norm,
        "layer_norm": lambda x, p, layer: ops.layer_normalization(
            x, p["gamma"], p["beta"], -1, epsilon=layer.settings["eps"]
        ),
        "embedding": lambda x, p, layer: ops.take(p["table"], x, axis=0),
    }


def keras_optimizer(keras, case, mixed=None):
    """Keras's SGD(momentum=μ) or Adam (weight_decay: decoupled, AdamW's) as FrameworkBackend's
    ``(init, apply)``: the parameters are assigned to ``keras.Variable``s of the run's dtype,
    stepped by ``apply_gradients``, and read back. The rate, μ and the betas are given as
    tensors of the run's dtype: Python floats Keras would keep in float32. ``mixed``: a
    mixed-precision case's loss scaling (backends/keras/mixed.py) — its gradients arrive
    scaled."""
    opt, ops = case.optimizer, keras.ops
    static = mixed.loss_scale if mixed is not None and not mixed.dynamic else None
    # as Keras's JAX trainer calls it (keras-core#851: its ops.cond has to be stateless there)
    stateless = mixed is not None and mixed.dynamic and keras.backend.backend() == "jax"

    def init(params):
        dtype = keras.backend.standardize_dtype(next(iter(params.values())).dtype)
        variables = {n: keras.Variable(p, dtype=dtype, name=n) for n, p in params.items()}
        momentum, decay = opt.momentum * (opt.name == "momentum"), opt.weight_decay or None
        lr, mu, b1, b2, eps = (
            ops.convert_to_tensor(x, dtype)
            for x in (case.learning_rate, momentum, opt.beta1, opt.beta2, opt.epsilon)
        )
        scaled = {"loss_scale_factor": static} if static not in (None, 1.0) else {}
        if opt.name == "adam":
            optimizer = keras.optimizers.Adam(
                lambda: lr, beta_1=b1, beta_2=b2, epsilon=eps, weight_decay=decay, **scaled
            )
        else:
            optimizer = keras.optimizers.SGD(
                lambda: lr, momentum=momentum, weight_decay=decay, **scaled
            )
            if not stateless:  # (a tensor there is traced in its ops.cond: a float32 run's μ)
                optimizer.momentum = mu  # validated as a float, then exact
        if mixed is not None and mixed.dynamic:
            optimizer = keras.optimizers.LossScaleOptimizer(
                optimizer,
                initial_scale=mixed.loss_scale,
                dynamic_growth_steps=mixed.growth_interval,
            )
        optimizer.build(list(variables.values()))
        return optimizer, variables

    def apply(params, grads, state):
        optimizer, variables = state
        for n, v in variables.items():
            v.assign(params[n])
        if stateless:  # LossScaleOptimizer on JAX: its ops.cond must be stateless there
            ours = list(variables.values())
            new, kept = optimizer.stateless_apply(
                [v.value for v in optimizer.variables],
                [grads[n] for n in variables],
                [v.value for v in ours],
            )
            for v, value in zip([*ours, *optimizer.variables], [*new, *kept], strict=True):
                v.assign(value)
        else:
            optimizer.apply_gradients([(grads[n], v) for n, v in variables.items()])
        return {n: ops.copy(v.value) for n, v in variables.items()}, state

    return init, apply


class KerasBackend(KerasMixed, FrameworkBackend):
    module = distribution = "keras"
    capabilities = Capabilities(optimizers=OPTIMIZERS, weight_decay=("decoupled",), mixed=LOW)
    conventions, own_sgd = KERAS_CONVENTIONS, True

    def unsupported(self, case):
        return self.scaling_refused(case) or super().unsupported(case)

    def setup(self, dtype, device):
        self.keras = keras = keras_on(self.requires[0])
        ops = keras.ops
        self.xp = self.nn = ops  # ops.tanh, ops.sigmoid, ops.relu, ops.sum, ops.mean, …
        self.matmul = ops.matmul  # not the backend's own @
        self.detach = ops.stop_gradient  # truncated BPTT: the state held
        self.layer_ops = {  # ops.conv, max_pool, moments, take; SimpleRNN, LSTM, GRU
            **keras_layers(ops),
            **{kind: keras_recurrent(keras, kind) for kind in KERAS_GATES},
            "attention": keras_attention(keras, self),
        }
        self.acts = {
            "leaky_relu": ops.leaky_relu,
            "softplus": ops.softplus,
            "gelu": lambda z: ops.gelu(z, approximate=False),
            "gelu_tanh": lambda z: ops.gelu(z, approximate=True),
        }
        self.losses = {  # on logits, mean over samples (softmax) or entries (sigmoid)
            "softmax_cross_entropy": lambda z, t: ops.mean(
                ops.categorical_crossentropy(t, z, from_logits=True)
            ),
            "binary_cross_entropy": lambda z, t: ops.mean(
                ops.binary_crossentropy(t, z, from_logits=True)
            ),
        }

    def tensor(self, array, dtype, device):
        return self.keras.ops.convert_to_tensor(array, dtype=dtype)

    def to_numpy(self, value):
        return self.keras.ops.convert_to_numpy(value)

    def optimizer(self, case, mixed=None):
        return keras_optimizer(self.keras, case, mixed)
