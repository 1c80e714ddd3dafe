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
    capabilities = Capabilities(devices=("cpu", "cuda"), mode="reverse", hvp="jvp of grad")

    def run(self, case, dtype, device="cpu"):
        import jax

        with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
            return super().run(case, dtype, device)

    def differentiate(self, f):
        """The first derivative the H·v is taken of (reverse mode here)."""
        return self.jax.grad(f)

    def hvp(self, case, v, dtype, device="cpu"):
        """Forward over the first derivative: H·v = jvp(∇E, (θ,), (v,)), jitted."""
        import jax

        with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
            self.setup(dtype, device)
            params, X, Y = self.tensors(case, dtype, device)
            tangents = {n: self.tensor(v[n], dtype, device) for n in params}
            grad = self.differentiate(lambda p: self.loss(case, p, X, Y))
            hv = jax.jit(lambda p, t: jax.jvp(grad, (p,), (t,))[1])(params, tangents)
            return {n: self.numpy_copy(h) for n, h in hv.items()}

    def stepper(self, case, dtype, device="cpu"):
        import jax

        def scoped(dtype=dtype):
            return jax.enable_x64(dtype == "float64")

        with scoped():
            inner = super().stepper(case, dtype, device)

        def step():
            with scoped():
                return inner()

        return step

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
        self._step = None

    def tensor(self, array, dtype, device):
        return self.jax.device_put(np.asarray(array, dtype=dtype), self.device)

    def to_numpy(self, value):
        return np.asarray(value)

    def total(self, x):
        return self.jnp.sum(x)

    def average(self, x):
        return self.jnp.mean(x)

    def gradient_function(self, case, Y):
        """(params, X) -> (loss, (dE/dparams, dE/dX))."""
        return self.jax.value_and_grad(lambda p, X: self.loss(case, p, X, Y), argnums=(0, 1))

    def compiled_step(self, case, Y):
        """One XLA compile per run: loss, gradients and the SGD update fused into one jitted
        step, as a JAX user writes it (compiling is ~0.1 s; op-by-op would compile every
        primitive for every new shape)."""
        if self._step is None:
            grad = self.gradient_function(case, Y)
            sgd = super().update

            def step(params, X):
                value, (g_params, g_X) = grad(params, X)
                return (
                    value,
                    {**g_params, "X": g_X},
                    sgd(params, g_params, case.learning_rate, case.frozen),
                )

            self._step = self.jax.jit(step)
        return self._step

    def loss_and_grads(self, case, params, X, Y):
        value, grads, self._updated = self.compiled_step(case, Y)(params, X)
        return value, grads

    def update(self, params, grads, lr, frozen):
        return self._updated  # computed by the same compiled step, in JAX arrays and dtype

    def final_loss(self, case, params, X, Y):
        return self.compiled_step(case, Y)(params, X)[0]  # the step's loss, no second compile
