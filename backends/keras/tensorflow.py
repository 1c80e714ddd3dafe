"""`keras-tensorflow`: Keras 3 on TensorFlow (backends/keras/backend.py): ``tf.GradientTape`` of
the loss keras.ops computes — the same optimizers as the `tensorflow` backend, keras.ops's
network instead of tf.nn's."""

from backprop_crosscheck.backends.keras.backend import KerasBackend


class KerasTensorFlowBackend(KerasBackend):
    name, requires = "keras-tensorflow", ("tensorflow",)
    install_hint = "pip install keras tensorflow-cpu"

    def loss_and_grads(self, case, params, X, Y):
        import tensorflow as tf

        sources = [*params.values(), X]
        with tf.GradientTape() as tape:
            tape.watch(sources)
            loss = self.loss(case, params, X, Y)
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, sources)]
        return loss, {**dict(zip(params, grads[:-1], strict=True)), "X": grads[-1]}
