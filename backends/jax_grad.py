"""`jax`: ``jax.value_and_grad`` under ``jax.jit``, on the CPU (or the GPU with --device cuda).
float64 needs JAX's x64 switch: ``scope`` turns it on around this backend's own work alone
(``jax.enable_x64``), so it never leaks into code that did not ask for it."""

import contextlib

import numpy as np
from backprop_crosscheck.reference.optimizers import OPTIMIZERS

from backprop_crosscheck import BackendUnavailable, Capabilities, FrameworkBackend

COMPILED = {}  # see JaxBackend.compile


class JaxBackend(FrameworkBackend):
    name = "jax"
    module = "jax"
    install_hint = "pip install jax==0.10.2 optax==0.2.8"
    capabilities = Capabilities(
        devices=("cpu", "cuda"),
        hvp="jvp of grad",
        jvp="jax.jvp",
        optimizers=OPTIMIZERS,  # momentum and Adam: optax's own
    )

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
        key = (type(self), what, case.activations, case.loss, case.biases is None,
               case.leaky_slope)  # fmt: skip
        if what in ("step", "optimize"):  # the loss, its JVP and H·v know nothing of updates
            key += (case.frozen, case.optimizer.structure())
        if key not in COMPILED:
            COMPILED[key] = self.jax.jit(function)
        return COMPILED[key]

    def optimizer(self, case):
        """optax.sgd(momentum=μ) or optax.adam (epsilon inside the root: its eps_root), the
        hyperparameters in the optimizer's state (optax.inject_hyperparams): traced, not
        compiled in, so a shape family compiles once."""
        try:
            import optax
        except ImportError:
            hint = self.install_hint
            raise BackendUnavailable(f"{self.name}: optax is not installed ({hint})") from None
        opt, lr = case.optimizer, case.learning_rate
        if opt.name == "momentum":
            tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=opt.momentum)
        else:
            inside = opt.epsilon_placement == "inside_sqrt"
            tx = optax.inject_hyperparams(optax.adam)(
                learning_rate=lr, b1=opt.beta1, b2=opt.beta2,
                eps=0.0 if inside else opt.epsilon, eps_root=opt.epsilon if inside else 0.0,
            )  # fmt: skip

        def trained(tensors, params):
            return {n: tensors[n] for n in params if n not in case.frozen}

        def apply(params, grads, state):
            updates, state = tx.update(trained(grads, params), state, trained(params, params))
            return {**params, **optax.apply_updates(trained(params, params), updates)}, state

        def init(params):  # on the device, as the steps' own output is: one executable
            return self.jax.device_put(tx.init(trained(params, params)), self.device)

        return init, apply

    def convention(self, optimizer):
        if optimizer.name == "momentum" and optimizer.dampening != 0:
            return "optax.sgd's momentum (optax.trace) has no dampening: dampening = 0 only"
        if optimizer.name == "adam" and optimizer.epsilon_placement == "before_correction":
            return ("optax.adam adds epsilon after the bias correction (eps) or inside the root "
                    "(eps_root), never before the correction")  # fmt: skip
        return None

    def final_loss(self, case, params, X, Y):
        """Plain SGD: the compiled step's loss (no second compile). With optax the step is
        another function: the loss alone, compiled as loss_value compiles it."""
        if case.optimizer.name == "sgd":
            return self.step(case, params, X, Y)[0]
        return self.compile("loss", case, lambda p, X, Y: self.loss(case, p, X, Y))(params, X, Y)

    def forward_derivative(self, case, params, X, Y, tangents):
        return self.jax.jvp(lambda p: self.loss(case, p, X, Y), (params,), (tangents,))[1]

    def hessian_vector(self, case, params, X, Y, tangents):
        """Forward over the first derivative: H·v = jvp(∇E, (θ,), (v,))."""
        grad = self.differentiate(lambda p: self.loss(case, p, X, Y))
        return self.jax.jvp(grad, (params,), (tangents,))[1]
