"""`jax`: ``jax.value_and_grad`` under ``jax.jit``, on the CPU (or the GPU with --device cuda).
float64 needs JAX's x64 switch: ``scope`` turns it on around this backend's own work alone
(``jax.enable_x64``), so it never leaks into code that did not ask for it."""

import contextlib
import warnings

import numpy as np
from backprop_crosscheck.backends.jax.kept import KeptProgram, built_in, folder_for
from backprop_crosscheck.backends.jax.layers import jax_attention, jax_layers
from backprop_crosscheck.backends.jax.optim import OPTAX_CONVENTIONS, optax_optimizer
from backprop_crosscheck.reference.precision import FULL, LOW
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES

from backprop_crosscheck import DTYPES, BackendUnavailable, Capabilities, FrameworkBackend


class JaxBackend(FrameworkBackend):
    name, module, install_hint = "jax", "jax", "pip install jax==0.10.2 optax==0.2.8"
    share_worker = True  # with jax-fwd: jax is imported and its programs cached once
    capabilities = Capabilities(
        dtypes=DTYPES,  # bfloat16 and float16 too
        devices=("cpu", "cuda"),
        hvp="jvp of grad",
        jvp="jax.jvp",
        optimizers=OPTIMIZERS,
        weight_decay=WEIGHT_DECAY_MODES,
        mixed=LOW,  # explicit casts (backends/mixed_precision.py)
    )
    conventions = OPTAX_CONVENTIONS  # optax's (backends/jax/optim.py)

    @contextlib.contextmanager
    def scope(self, dtype, device):
        import jax

        # "highest": float32 products in float32 on a GPU (no TF32); a low precision's are
        # the engine's own (XLA's CPU dot_general refuses HIGHEST for float16)
        precision = "highest" if dtype in FULL else None
        with (
            jax.enable_x64(dtype == "float64"),
            jax.default_matmul_precision(precision),
            warnings.catch_warnings(),
        ):
            # a corrupt persistent-cache entry is compiled afresh: the same program, no news
            warnings.filterwarnings("ignore", "Error reading persistent compilation cache")
            yield

    def setup(self, dtype, device):
        import jax
        import jax.numpy as jnp

        self.jax, self.xp, self.nn = jax, jnp, jax.nn
        self.jit, self.grad, self.jvp = jax.jit, jax.grad, jax.jvp  # H·v: jvp of grad
        nn = jax.nn  # its own (jax.nn.gelu's default is the tanh approximation)
        self.acts = {
            "leaky_relu": nn.leaky_relu,
            "softplus": nn.softplus,
            "gelu": lambda z: nn.gelu(z, approximate=False),
            "gelu_tanh": lambda z: nn.gelu(z, approximate=True),
        }
        self.losses = {
            "softmax_cross_entropy": lambda z, t: -jnp.mean(jnp.sum(t * nn.log_softmax(z), -1)),
            "binary_cross_entropy": lambda z, t: (
                -jnp.mean(t * nn.log_sigmoid(z) + (1 - t) * nn.log_sigmoid(-z))
            ),
        }
        self.layer_ops = {**jax_layers(jax), "attention": jax_attention(self)}
        self.detach = jax.lax.stop_gradient
        platform = "gpu" if device == "cuda" else "cpu"
        try:
            self.device = jax.devices(platform)[0]
        except RuntimeError:
            raise BackendUnavailable(f"{self.name}: no {platform} device visible to JAX") from None

    def tensor(self, array, dtype, device):
        return self.jax.device_put(np.asarray(array, dtype=dtype), self.device)

    def loss_and_grads(self, case, params, X, Y):
        loss = lambda p, X: self.loss(case, p, X, Y)  # noqa: E731
        value, (g_params, g_X) = self.value_and_grad(loss)(params, X)
        return value, {**g_params, "X": g_X}

    def value_and_grad(self, loss):  # (params, X) -> (loss, (dE/dparams, dE/dX))
        return self.jax.value_and_grad(loss, argnums=(0, 1))

    def program(self, key):
        """The built-ins' programs are kept beside JAX's persistent cache: a later process
        loads them, not traces them again. A subclass elsewhere (a plugin's), whose code the
        entries' names do not hash, gets plain ``jax.jit``."""
        folder = folder_for(self.jax) if built_in(type(self)) else None
        return KeptProgram(self.jax, key, folder) if folder else super().program(key)

    def optimizer(self, case):
        try:
            return optax_optimizer(self.jax, self.device, case, self.program)
        except ImportError:
            raise BackendUnavailable(f"{self.name}: no optax ({self.install_hint})") from None
