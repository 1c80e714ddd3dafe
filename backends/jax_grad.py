"""`jax`: ``jax.value_and_grad`` under ``jax.jit``, on the CPU (or the GPU with --device cuda).

float64 needs JAX's x64 switch; it is turned on only inside ``run`` with the ``jax.enable_x64``
context manager, so it never leaks into code that did not ask for it.
"""

import numpy as np

from backends.interface import BackendUnavailable, Capabilities, FrameworkBackend


class JaxBackend(FrameworkBackend):
    name = "jax"
    module = "jax"
    install_hint = "pip install jax==0.10.2"
    capabilities = Capabilities(devices=("cpu", "cuda"), mode="reverse")

    def run(self, case, dtype, device="cpu"):
        import jax

        with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
            return super().run(case, dtype, device)

    def setup(self, dtype, device):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        platform = "gpu" if device == "cuda" else "cpu"
        try:
            self.device = jax.devices(platform)[0]
        except RuntimeError:
            raise BackendUnavailable(f"{self.name}: no {platform} device visible to JAX") from None
        self.acts = {
            "identity": lambda z: z,
            "sigmoid": jax.nn.sigmoid,
            "tanh": jnp.tanh,
            "relu": jax.nn.relu,
        }
        self._compiled = None

    def tensor(self, array, dtype, device):
        return self.jax.device_put(np.asarray(array, dtype=dtype), self.device)

    def to_numpy(self, value):
        return np.asarray(value)

    def activation(self, name):
        return self.acts[name]

    def total(self, x):
        return self.jnp.sum(x)

    def average(self, x):
        return self.jnp.mean(x)

    def gradient_function(self, case, Y):
        """(params, X) -> (loss, (dE/dparams, dE/dX)), compiled once per run."""
        return self.jax.jit(
            self.jax.value_and_grad(lambda p, X: self.loss(case, p, X, Y), argnums=(0, 1))
        )

    def loss_and_grads(self, case, params, X, Y):
        if self._compiled is None:
            self._compiled = self.gradient_function(case, Y)
        value, (g_params, g_X) = self._compiled(params, X)
        return value, {**g_params, "X": g_X}
