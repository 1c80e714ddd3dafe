"""`tensorflow`: TensorFlow's ``tf.GradientTape`` (package tensorflow-cpu), eager mode."""

import importlib.metadata

import numpy as np
from backprop_crosscheck.reference.optimizers import OPTIMIZERS

from backprop_crosscheck import Capabilities, FrameworkBackend


class TensorFlowBackend(FrameworkBackend):
    name = "tensorflow"
    module = "tensorflow"
    distribution = "tensorflow-cpu"
    install_hint = "pip install tensorflow-cpu"
    capabilities = Capabilities(mode="reverse", optimizers=OPTIMIZERS)  # Keras's optimizers

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

    def optimizer(self, case):
        """keras.optimizers.SGD(momentum=μ) or keras.optimizers.Adam on tf.Variables of the
        parameters not frozen. The learning rate, μ and the betas are given as tensors of the
        run's dtype: given as Python floats, Keras holds them in float32 (the learning rate in
        a float32 variable, β and μ cast through float32), which puts a float64 run's first Adam
        step off by 6.4e-6 relative (docs/optimizers.md)."""
        import keras

        opt = case.optimizer

        def init(params):
            dtype = next(iter(params.values())).dtype

            def exact(x):
                return self.tf.constant(x, dtype)

            lr = exact(case.learning_rate)
            if opt.name == "momentum":
                optimizer = keras.optimizers.SGD(learning_rate=lambda: lr, momentum=opt.momentum)
                optimizer.momentum = exact(opt.momentum)  # validated as a float, then exact
                return optimizer
            return keras.optimizers.Adam(
                learning_rate=lambda: lr, beta_1=exact(opt.beta1), beta_2=exact(opt.beta2),
                epsilon=exact(opt.epsilon),
            )  # fmt: skip

        def apply(params, grads, optimizer):
            params = {n: p if n in case.frozen or isinstance(p, self.tf.Variable)
                      else self.tf.Variable(p) for n, p in params.items()}  # fmt: skip
            trained = [(grads[n], p) for n, p in params.items() if n not in case.frozen]
            optimizer.apply_gradients(trained)
            return params, optimizer

        return init, apply

    def convention(self, optimizer):
        if optimizer.name == "momentum" and optimizer.dampening != 0:
            return "Keras's SGD has no dampening (keras/src/optimizers/sgd.py): dampening = 0 only"
        if optimizer.name == "adam" and optimizer.epsilon_placement != "before_correction":
            return ("Keras's Adam adds epsilon before the bias correction, "
                    "√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + ε) (keras/src/optimizers/adam.py): "
                    "before_correction only")  # fmt: skip
        return None

    def loss_and_grads(self, case, params, X, Y):
        sources = [*params.values(), X]
        with self.tf.GradientTape() as tape:
            tape.watch(sources)  # constants, so the tape must be told what to watch
            loss = self.loss(case, params, X, Y)
        grads = tape.gradient(loss, sources)
        return loss, {**dict(zip(params, grads[:-1], strict=True)), "X": grads[-1]}
