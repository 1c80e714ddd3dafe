"""`tensorflow`: TensorFlow's ``tf.GradientTape`` (package tensorflow-cpu), eager mode."""

import importlib.metadata

import numpy as np

from backprop_crosscheck import Capabilities, FrameworkBackend


class TensorFlowBackend(FrameworkBackend):
    name = "tensorflow"
    module = "tensorflow"
    distribution = "tensorflow-cpu"
    install_hint = "pip install tensorflow-cpu"
    capabilities = Capabilities(mode="reverse")

    def setup(self, dtype, device):
        import tensorflow as tf

        self.tf, self.xp, self.nn = tf, tf.math, tf.nn  # tf.math.tanh; tf.nn.sigmoid, tf.nn.relu
        self.acts = {
            "leaky_relu": lambda z, slope: tf.nn.leaky_relu(z, alpha=slope),
            "softplus": tf.nn.softplus,
            "gelu": lambda z: tf.nn.gelu(z, approximate=False),
            "gelu_tanh": lambda z: tf.nn.gelu(z, approximate=True),
        }
        self.losses = {
            "softmax_cross_entropy": lambda z, t: tf.reduce_mean(
                tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=z)
            ),
            "binary_cross_entropy": lambda z, t: tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z)
            ),
        }

    def version(self):
        try:
            return super().version() or importlib.metadata.version("tensorflow")
        except importlib.metadata.PackageNotFoundError:
            return None

    def tensor(self, array, dtype, device):
        return self.tf.constant(np.asarray(array, dtype=dtype))

    def to_numpy(self, value):
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

    def total(self, x):
        return self.tf.reduce_sum(x)

    def average(self, x):
        return self.tf.reduce_mean(x)

    def loss_and_grads(self, case, params, X, Y):
        sources = [*params.values(), X]
        with self.tf.GradientTape() as tape:
            tape.watch(sources)  # constants, so the tape must be told what to watch
            loss = self.loss(case, params, X, Y)
        grads = tape.gradient(loss, sources)
        return loss, {**dict(zip(params, grads[:-1], strict=True)), "X": grads[-1]}
