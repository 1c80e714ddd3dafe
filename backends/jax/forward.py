"""`jax-fwd`: forward-mode gradients with ``jax.jacfwd`` — a different algorithm from the
reverse mode of every other framework backend (one JVP per input scalar)."""

from backprop_crosscheck.backends.jax.backend import JaxBackend
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS, WEIGHT_DECAY_MODES

from backprop_crosscheck import DTYPES, Capabilities


class JaxForwardBackend(JaxBackend):
    name = "jax-fwd"
    capabilities = Capabilities(
        dtypes=DTYPES,  # bfloat16 and float16 too
        devices=("cpu", "cuda"),
        mode="forward",
        max_parameters=5_000,
        hvp="forward over forward (jvp of jacfwd)",
        jvp="jax.jvp",
        optimizers=OPTIMIZERS,  # optax's own, as jax's
        weight_decay=WEIGHT_DECAY_MODES,
    )

    def value_and_grad(self, loss):
        jac = self.jax.jacfwd(loss, argnums=(0, 1))
        return lambda p, X: (loss(p, X), jac(p, X))

    def setup(self, dtype, device):
        super().setup(dtype, device)
        self.grad = self.jax.jacfwd  # H·v: forward over forward
