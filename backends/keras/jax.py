"""`keras-jax`: Keras 3 on JAX (backends/keras/backend.py): ``jax.value_and_grad`` of the loss
keras.ops computes, on the CPU; float64 inside JAX's x64 switch, as the `jax` backend."""

from backprop_crosscheck.backends.keras.backend import KerasBackend


class KerasJaxBackend(KerasBackend):
    name, requires, install_hint = "keras-jax", ("jax",), "pip install keras jax"

    def scope(self, dtype, device):  # JAX's x64 switch, around this backend's work alone
        import jax

        return jax.enable_x64(dtype == "float64")

    def loss_and_grads(self, case, params, X, Y):
        import jax

        loss = lambda p, X: self.loss(case, p, X, Y)  # noqa: E731
        value, (g_params, g_X) = jax.value_and_grad(loss, argnums=(0, 1))(params, X)
        return value, {**g_params, "X": g_X}
