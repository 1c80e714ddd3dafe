"""`jax`: ``jax.value_and_grad`` under ``jax.jit``, on the CPU (or the GPU with --device cuda).

float64 needs JAX's x64 switch; ``scope`` turns it on only around this backend's own work (the
``jax.enable_x64`` context manager), so it never leaks into code that did not ask for it.
"""

import contextlib

import numpy as np

from backends.interface import BackendUnavailable, Capabilities, FrameworkBackend


class JaxBackend(FrameworkBackend):
    name = "jax"
    module = "jax"
    install_hint = "pip install jax==0.10.2"
    capabilities = Capabilities(devices=("cpu", "cuda"), mode="reverse", hvp="jvp of grad")

    def scope(self, dtype, device):
        import jax

        stack = contextlib.ExitStack()
        stack.enter_context(jax.enable_x64(dtype == "float64"))
        stack.enter_context(jax.default_matmul_precision("highest"))
        return stack

    def setup(self, dtype, device):
        import jax
        import jax.numpy as jnp

        self.jax, self.xp, self.nn = jax, jnp, jax.nn
        platform = "gpu" if device == "cuda" else "cpu"
        try:
            self.device = jax.devices(platform)[0]
        except RuntimeError:
            raise BackendUnavailable(f"{self.name}: no {platform} device visible to JAX") from None
        self._step = None

    def tensor(self, array, dtype, device):
        return self.jax.device_put(np.asarray(array, dtype=dtype), self.device)

    def to_numpy(self, value):
        return np.asarray(value)

    def gradient_function(self, case, Y):
        """(params, X) -> (loss, (dE/dparams, dE/dX))."""
        return self.jax.value_and_grad(lambda p, X: self.loss(case, p, X, Y), argnums=(0, 1))

    def differentiate(self, f):
        """The first derivative the H·v is taken of (reverse mode here)."""
        return self.jax.grad(f)

    def loss_and_grads(self, case, params, X, Y):
        value, (g_params, g_X) = self.gradient_function(case, Y)(params, X)
        return value, {**g_params, "X": g_X}

    def step(self, case, params, X, Y):
        """Loss, gradients and the SGD update fused into one jitted step, compiled once per
        run, as a JAX user writes it (op-by-op would compile every primitive per shape)."""
        if self._step is None:
            generic = super().step
            self._step = self.jax.jit(lambda p, X: generic(case, p, X, Y))
        return self._step(params, X)

    def final_loss(self, case, params, X, Y):
        return self.step(case, params, X, Y)[0]  # the step's loss: no second compile

    def hessian_vector(self, case, params, X, Y, tangents):
        """Forward over the first derivative: H·v = jvp(∇E, (θ,), (v,)), jitted."""
        jax, grad = self.jax, self.differentiate(lambda p: self.loss(case, p, X, Y))
        return jax.jit(lambda p, t: jax.jvp(grad, (p,), (t,))[1])(params, tangents)
