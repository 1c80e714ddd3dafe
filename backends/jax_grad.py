"""`jax`: ``jax.value_and_grad`` under ``jax.jit``, on the CPU (or the GPU with --device cuda).
float64 needs JAX's x64 switch: ``scope`` turns it on around this backend's own work alone
(``jax.enable_x64``), so it never leaks into code that did not ask for it."""

import contextlib

import numpy as np

from backprop_crosscheck import BackendUnavailable, Capabilities, FrameworkBackend

COMPILED = {}  # see JaxBackend.compile


class JaxBackend(FrameworkBackend):
    name = "jax"
    module = "jax"
    install_hint = "pip install jax==0.10.2"
    capabilities = Capabilities(devices=("cpu", "cuda"), hvp="jvp of grad", jvp="jax.jvp")

    @contextlib.contextmanager
    def scope(self, dtype, device):
        import jax

        with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
            yield

    def setup(self, dtype, device):
        import jax
        import jax.numpy as jnp

        self.jax, self.xp, self.nn = jax, jnp, jax.nn
        self.acts = {  # jax.nn's own (jax.nn.gelu's default is the tanh approximation)
            "leaky_relu": jax.nn.leaky_relu,
            "softplus": jax.nn.softplus,
            "gelu": lambda z: jax.nn.gelu(z, approximate=False),
            "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True),
        }
        log_sigmoid, log_softmax = jax.nn.log_sigmoid, jax.nn.log_softmax
        self.losses = {
            "softmax_cross_entropy": lambda z, t: -jnp.mean(jnp.sum(t * log_softmax(z), axis=-1)),
            "binary_cross_entropy": lambda z, t: (
                -jnp.mean(t * log_sigmoid(z) + (1 - t) * log_sigmoid(-z))
            ),
        }
        platform = "gpu" if device == "cuda" else "cpu"
        try:
            self.device = jax.devices(platform)[0]
        except RuntimeError:
            raise BackendUnavailable(f"{self.name}: no {platform} device visible to JAX") from None

    def tensor(self, array, dtype, device):
        return self.jax.device_put(np.asarray(array, dtype=dtype), self.device)

    def to_numpy(self, value):
        return np.asarray(value)

    def gradient_function(self, case, Y):  # (params, X) -> (loss, (dE/dparams, dE/dX))
        return self.jax.value_and_grad(lambda p, X: self.loss(case, p, X, Y), argnums=(0, 1))

    def differentiate(self, f):  # the first derivative the H·v is taken of
        return self.jax.grad(f)

    def loss_and_grads(self, case, params, X, Y):
        value, (g_params, g_X) = self.gradient_function(case, Y)(params, X)
        return value, {**g_params, "X": g_X}

    def step(self, case, params, X, Y, lr=None):
        """Loss, gradients and update fused into one jitted step, as a JAX user writes it."""
        lr = np.asarray(case.learning_rate, dtype=np.asarray(X).dtype)  # traced, not baked in
        return super().step(case, params, X, Y, lr)

    def compile(self, what, case, function):
        """jax.jit, kept per purpose and architecture: a shape family compiles once."""
        key = (type(self), what, case.activations, case.loss, case.frozen, case.biases is None,
               case.leaky_slope)  # fmt: skip
        if key not in COMPILED:
            COMPILED[key] = self.jax.jit(function)
        return COMPILED[key]

    def final_loss(self, case, params, X, Y):
        return self.step(case, params, X, Y)[0]  # the step's loss: no second compile

    def forward_derivative(self, case, params, X, Y, tangents):
        return self.jax.jvp(lambda p: self.loss(case, p, X, Y), (params,), (tangents,))[1]

    def hessian_vector(self, case, params, X, Y, tangents):
        """Forward over the first derivative: H·v = jvp(∇E, (θ,), (v,))."""
        grad = self.differentiate(lambda p: self.loss(case, p, X, Y))
        return self.jax.jvp(grad, (params,), (tangents,))[1]
