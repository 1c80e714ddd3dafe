"""`tensorflow`: TensorFlow's ``tf.GradientTape`` (package tensorflow-cpu), eager mode."""

from backprop_crosscheck.backends.keras.attention import keras_attention
from backprop_crosscheck.backends.keras.backend import KERAS_CONVENTIONS, keras_on
from backprop_crosscheck.backends.keras.recurrent import KERAS_GATES, keras_recurrent
from backprop_crosscheck.backends.tensorflow.layers import tensorflow_layers
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS

from backprop_crosscheck import Capabilities, FrameworkBackend


class TensorFlowBackend(FrameworkBackend):
    name, module, install_hint = "tensorflow", "tensorflow", "pip install tensorflow-cpu"
    distribution = ("tensorflow-cpu", "tensorflow")
    capabilities = Capabilities(mode="reverse", optimizers=OPTIMIZERS, weight_decay=("decoupled",))
    conventions = KERAS_CONVENTIONS  # Keras's optimizers (backends/keras/backend.py)

    def setup(self, dtype, device):
        import tensorflow as tf

        self.tf, self.xp, self.nn = tf, tf.math, tf.nn  # tf.math.tanh; tf.nn.sigmoid, tf.nn.relu
        self.layer_ops = tensorflow_layers(tf)  # tf.nn.conv2d, max_pool2d, moments, gather
        keras = keras_on("tensorflow")  # TensorFlow's recurrent layers are Keras's (tf.keras)
        self.layer_ops |= {kind: keras_recurrent(keras, kind) for kind in KERAS_GATES}
        self.layer_ops["attention"] = keras_attention(keras, self)
        self.detach = tf.stop_gradient
        nn = tf.nn
        self.acts = {
            "leaky_relu": lambda z, slope: nn.leaky_relu(z, alpha=slope),
            "softplus": nn.softplus,
            "gelu": lambda z: nn.gelu(z, approximate=False),
            "gelu_tanh": lambda z: nn.gelu(z, approximate=True),
        }
        self.losses = {  # on logits, mean over samples (softmax) or entries (sigmoid)
            "softmax_cross_entropy": lambda z, t: tf.reduce_mean(
                nn.softmax_cross_entropy_with_logits(labels=t, logits=z)
            ),
            "binary_cross_entropy": lambda z, t: tf.reduce_mean(
                nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z)
            ),
        }

    def tensor(self, array, dtype, device):
        return self.tf.constant(array, dtype=dtype)  # a NumPy array, cast to the run's dtype

    def total(self, x):
        return self.tf.reduce_sum(x)

    def average(self, x):
        return self.tf.reduce_mean(x)

    def optimizer(self, case):
        """Keras's SGD(momentum=μ) or Adam (weight_decay: decoupled, AdamW's) on tf.Variables; the
        rate, μ and the betas as tensors of the run's dtype (floats Keras keeps in float32)."""
        keras = keras_on("tensorflow")  # Keras's optimizers, on TensorFlow whatever ran before
        opt = case.optimizer

        def init(params):
            dtype = next(iter(params.values())).dtype
            momentum, decay = opt.momentum * (opt.name == "momentum"), opt.weight_decay or None
            lr, mu, b1, b2, eps = (
                self.tf.constant(x, dtype)
                for x in (case.learning_rate, momentum, opt.beta1, opt.beta2, opt.epsilon)
            )
            if opt.name == "adam":
                return keras.optimizers.Adam(
                    lambda: lr, beta_1=b1, beta_2=b2, epsilon=eps, weight_decay=decay
                )
            optimizer = keras.optimizers.SGD(lambda: lr, momentum=momentum, weight_decay=decay)
            optimizer.momentum = mu  # validated as a float, then exact
            return optimizer

        def apply(params, grads, optimizer):
            params = {
                n: p if isinstance(p, self.tf.Variable) else self.tf.Variable(p)
                for n, p in params.items()
            }
            optimizer.apply_gradients([(grads[n], p) for n, p in params.items()])
            return params, optimizer

        return init, apply

    def loss_and_grads(self, case, params, X, Y):
        sources = [*params.values(), X]
        with self.tf.GradientTape() as tape:
            tape.watch(sources)  # constants, so the tape must be told what to watch
            loss = self.loss(case, params, X, Y)
        # an embedding's gradient is IndexedSlices (sparse): dense, its repeated rows added
        grads = [self.tf.convert_to_tensor(g) for g in tape.gradient(loss, sources)]
        return loss, {**dict(zip(params, grads[:-1], strict=True)), "X": grads[-1]}
