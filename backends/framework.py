"""``FrameworkBackend``: a typical array framework's adapter, in three parts — the network
written with the engine's own operations (``EngineNetwork``), the derivatives an engine's
functional transforms give (``EngineDerivatives``), and the training loop's plumbing (the class
itself: tensors in and out, the SGD step or the framework's own optimizer with frozen
parameters kept out, compiling, the Result). An adapter declares; these plumb.
"""

import contextlib
from abc import abstractmethod

import numpy as np
from backprop_crosscheck.backends.engine_layers import EngineLayers, fallback, stack_key
from backprop_crosscheck.backends.interface import COMPILED, Backend
from backprop_crosscheck.backends.mixed_precision import MixedPrecisionLoop
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.activations import gelu_tanh, sigmoid
from backprop_crosscheck.reference.stack import KINDS
from backprop_crosscheck.reference.training import train_loop


class EngineNetwork(EngineLayers):
    """The network and its loss, written once with an engine's array namespace ``xp`` (and
    ``nn`` where sigmoid and relu live if not in ``xp``): its own functions where it has them
    (``acts``, ``losses``), else written with ``xp``."""

    xp = None  # the framework's array namespace, set by setup
    nn = None  # where sigmoid/relu live when not in xp (jax.nn, tf.nn)
    acts: dict = {}  # name -> function: overrides the namespace's activation
    losses: dict = {}  # name -> function(prediction, targets): the engine's own loss

    def total(self, x):
        return self.xp.sum(x)

    def average(self, x):
        return self.xp.mean(x)

    def activation(self, name: str):
        """The framework's own function where it has one (torch.relu, jax.nn.sigmoid; an
        adapter puts the rest in ``self.acts``), else the function written with ``xp``
        (relu′(0) = 0, as torch and JAX define it). leaky_relu's takes (z, negative_slope);
        gelu is the exact erf form (``self.erf`` where ``xp`` has no erf), gelu_tanh the tanh
        approximation."""
        if name in self.acts:
            return self.acts[name]
        xp, nn = self.xp, self.nn or self.xp
        if name == "identity":
            return lambda z: z
        if name == "tanh":
            return xp.tanh
        if name == "sigmoid":
            return getattr(nn, "sigmoid", None) or (lambda z: sigmoid(z, xp))
        if name == "relu":
            return getattr(nn, "relu", None) or (lambda z: z * (z > 0))
        if name == "leaky_relu":
            return lambda z, slope: xp.where(z > 0, z, slope * z)
        if name == "softplus":
            return lambda z: xp.logaddexp(0.0, z)
        if name == "gelu":
            erf = getattr(self, "erf", None) or xp.erf
            return lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2.0)))
        if name == "gelu_tanh":
            return lambda z: gelu_tanh(z, xp)
        raise KeyError(f"{self.name}: no activation {name!r}")

    def loss(self, case: Case, params: dict, X, Y):
        """The network's loss, its layers written with the framework's own operations
        (engine_layers.py); each layer's output is left in ``self.outputs`` for an engine that
        can report the backward chain."""
        params, X = self.mixed_inputs(params, X)  # a mixed-precision step's casts, if any
        prediction = self.mixed_output(self.stack_output(case, params, X))
        with fallback(self, case.loss in self.losses, f"the loss {case.loss}", "losses"):
            return self.mixed_loss(self.criterion(case.loss)(prediction, Y))

    def criterion(self, name: str):
        """The loss ``name`` as a function of (prediction, targets): the engine's own from
        ``self.losses``, else written with ``xp``. The cross-entropy losses take logits:
        softmax_cross_entropy = mean over samples of logsumexp(z) − Σ t·z, binary_cross_entropy
        = mean over entries of log(1 + e^z) − t·z (logaddexp: stable at saturation)."""
        if name in self.losses:
            return self.losses[name]
        xp = self.xp
        if name == "half_sse":
            return lambda p, t: 0.5 * self.total((p - t) * (p - t))
        if name == "mse":
            return lambda p, t: self.average((p - t) * (p - t))
        if name == "softmax_cross_entropy":

            def softmax_cross_entropy(z, t):
                m = xp.max(z, axis=-1, keepdims=True)
                lse = xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True)) + m
                return self.average(xp.sum(t * (lse - z), axis=-1))

            return softmax_cross_entropy
        if name == "binary_cross_entropy":
            return lambda z, t: self.average(xp.logaddexp(0.0, z) - t * z)
        raise KeyError(f"{self.name}: no loss {name!r}")


class Program:
    """One compiled program and the closure it traces. A program kept for an architecture is
    traced again when its arguments' shapes or dtypes change (a float32 run after a float64 one):
    that trace must read the calling run's state (its backend instance, ``self.indices``, its
    dtype), not the state of the run that first compiled it, so every call binds its own closure
    and the compiled function calls whichever was bound last."""

    def __init__(self, jit):
        self.function = None
        self.compiled = jit(lambda *args: self.function(*args))

    def bind(self, function):
        self.function = function
        return self.compiled


class EngineDerivatives:
    """Compiling (an engine with a ``jit``), and forward mode and H·v at the initial
    parameters. An engine with functional transforms sets ``grad`` and ``jvp`` in setup
    (jax.grad and jax.jvp, torch.func's) and gets both; one without overrides
    ``forward_derivative`` / ``hessian_vector`` (torch: dual numbers, double backward)."""

    jit = None  # an engine that compiles: its compiler (jax.jit), set in setup

    def compile(self, what: str, case: Case, function):
        """``function`` compiled by ``self.jit``, kept per purpose and architecture so that a
        shape family compiles once (an engine without ``jit`` runs it as it is). ``what``: step,
        optimize, loss, jvp or hvp; data, parameters and the learning rate are its arguments."""
        if not self.compiles(what):
            return function
        key = (type(self), what, self.placed, case.loss, case.leaky_slope, stack_key(case))
        if what in ("step", "optimize"):  # the loss, its JVP and H·v know nothing of updates
            key += (case.frozen, case.optimizer.structure())
        if key not in COMPILED:
            COMPILED[key] = self.program(key)
        return COMPILED[key].bind(function)

    def program(self, key: tuple) -> Program:
        """A new program for ``key`` (compile's: engine, purpose, dtype and device,
        architecture): ``self.jit``'s. JAX's keeps its executables on disk
        (backends/jax/kept.py)."""
        return Program(self.jit)

    compiled = ("step", "optimize", "loss", "jvp", "hvp")  # what ``jit`` compiles

    def compiles(self, what: str) -> bool:
        return self.jit is not None and what in self.compiled

    # The functional transforms of an engine that has them (jax.grad and jax.jvp, torch.func's):
    # set in setup, they give forward_derivative and hessian_vector below.
    grad = None  # f -> ∇f
    jvp = None  # (f, primals, tangents) -> (f(primals), f'(primals)·tangents)

    def forward_derivative(self, case: Case, params: dict, X, Y, tangents: dict):
        """dE/dθ·v by forward mode, in this engine's tensors (declare ``Capabilities.jvp``)."""
        if self.jvp is None:
            raise NotImplementedError(f"{self.name} has no forward mode")
        return self.jvp(lambda p: self.loss(case, p, X, Y), (params,), (tangents,))[1]

    def hessian_vector(self, case: Case, params: dict, X, Y, tangents: dict) -> dict:
        """H·v in this engine's tensors, for backends whose capabilities declare ``hvp``: by
        default forward over the first derivative, H·v = jvp(∇E, (θ,), (v,))."""
        if self.grad is None or self.jvp is None:
            raise NotImplementedError(f"{self.name} does not compute Hessian-vector products")
        first = self.grad(lambda p: self.loss(case, p, X, Y))
        return self.jvp(first, (params,), (tangents,))[1]

    def hvp(self, case: Case, v: dict, dtype: str, device: str = "cpu") -> dict:
        def hv(params, tangents, X, Y):
            return self.hessian_vector(case, params, X, Y, tangents)

        return self.numpy_copies(self._along(case, v, dtype, device, "hvp", hv))

    def loss_value(self, case: Case, dtype: str, device: str = "cpu"):
        with self.scope(dtype, device):
            params, X, Y = self.tensors(case, dtype, device)
            with self.untracked():
                loss = self.compile("loss", case, lambda p, X, Y: self.loss(case, p, X, Y))
                return self.numpy_copy(loss(params, X, Y))

    def directional_derivative(self, case: Case, v: dict, dtype: str, device: str = "cpu"):
        def jvp(params, tangents, X, Y):
            return self.forward_derivative(case, params, X, Y, tangents)

        return self.numpy_copy(self._along(case, v, dtype, device, "jvp", jvp))

    def _along(self, case, v, dtype, device, what, function):
        """``function(params, tangents, X, Y)`` at the initial parameters, compiled."""
        with self.scope(dtype, device):
            params, X, Y = self.tensors(case, dtype, device)
            tangents = {n: self.tensor(v[n], dtype, device) for n in params}
            return self.compile(what, case, function)(params, tangents, X, Y)


class FrameworkBackend(MixedPrecisionLoop, EngineNetwork, EngineDerivatives, Backend):
    """A typical array framework: say how to make tensors and take gradients; the loop is here.

    An adapter's ``setup`` imports its framework and sets ``xp`` (and ``nn``, ``acts``,
    ``losses``: EngineNetwork), ``jit`` if it compiles, ``grad``/``jvp`` if it has functional
    transforms. It implements ``tensor`` and ``loss_and_grads``, declares ``conventions`` and
    may give ``optimizer`` (its own momentum and Adam), ``update`` (in place), ``scope`` (a
    dtype/device context: JAX's x64 switch) and ``untracked`` (no tape: torch.no_grad)."""

    layer_kinds = KINDS  # every layer: the engine's own op (layer_ops) or written with xp
    own_sgd = False  # plain SGD by the framework's own optimizer too (Keras's), not p − a·g

    def setup(self, dtype: str, device: str) -> None:
        """Import the framework and prepare dtype/device; raise BackendUnavailable if needed."""

    def scope(self, dtype: str, device: str):
        """A context every run, step and H·v of this backend runs inside."""
        return contextlib.nullcontext()

    @abstractmethod
    def tensor(self, array: np.ndarray, dtype: str, device: str): ...

    def to_numpy(self, value) -> np.ndarray:
        """A tensor as NumPy (through ``__array__``: JAX, TensorFlow, autograd)."""
        return np.asarray(value)

    @abstractmethod
    def loss_and_grads(self, case: Case, params: dict, X, Y) -> tuple[object, dict]:
        """(loss, {name: dE/dname} for every parameter and "X")."""

    def update(self, params: dict, grads: dict, lr: float, frozen) -> dict:
        return {n: p if n in frozen else p - lr * grads[n] for n, p in params.items()}

    def intermediates(self) -> dict | None:
        """The last step's backward chain, {"dE/da2": …, "delta2": …, …} in this engine's
        tensors, for the diagnosis (Result.intermediates); None when it cannot say. An adapter
        that keeps it in ``self.chain`` as it takes its gradients (torch) need not say more."""
        return getattr(self, "chain", None) or None

    def optimizer(self, case: Case):
        """The framework's own optimizer for the case's momentum or Adam (torch.optim's adam, an
        optax transformation), as two functions: ``init(params) -> state`` and
        ``apply(params, grads, state) -> (params, state)``. They see the trained parameters
        alone (the frozen ones are kept out, and put back, here); the loop carries the state.
        Plain SGD never comes here (``step`` and ``update``). Declare the rules in
        ``Capabilities.optimizers``, the conventions it follows in ``conventions``."""
        raise NotImplementedError(f"{self.name} has no optimizer {case.optimizer.name}")

    def stepping(self, case: Case, params: dict):
        """``(params, X, Y) -> (loss, grads, params)``, one step per call: ``step`` for plain
        SGD; with the framework's own optimizer, its state carried from one call to the next."""
        plain = case.optimizer.name == "sgd" and not case.optimizer.weight_decay
        if plain and not self.own_sgd:
            return lambda params, X, Y: self.step(case, params, X, Y)
        init, apply = self.optimizer(case)
        trained = [n for n in params if n not in case.frozen]
        state = [init({n: params[n] for n in trained})]

        def optimize(params, state, X, Y):
            loss, grads = self.loss_and_grads(case, params, X, Y)
            with self.untracked():  # torch.optim's functions run under no_grad, as step() does
                new, state = apply(
                    {n: params[n] for n in trained}, {n: grads[n] for n in trained}, state
                )
            return loss, grads, {**params, **new}, state

        def one_step(params, X, Y):
            loss, grads, params, state[0] = self.compile("optimize", case, optimize)(
                params, state[0], X, Y
            )
            return loss, grads, params

        return one_step

    def updating(self, case: Case, params: dict):
        """``(params, grads) -> params``: the case's update alone, after gradients computed
        apart (a mixed-precision step's): ``update`` for plain SGD, else the framework's own
        optimizer, its state carried from one call to the next, the frozen parameters kept out."""
        if case.optimizer.name == "sgd" and not case.optimizer.weight_decay and not self.own_sgd:
            return lambda params, grads: self.update(params, grads, case.learning_rate, case.frozen)
        init, apply = self.optimizer(case)
        trained = [n for n in params if n not in case.frozen]
        state = [init({n: params[n] for n in trained})]

        def update(params, grads):
            with self.untracked():
                mine = {n: params[n] for n in trained}
                new, state[0] = apply(mine, {n: grads[n] for n in trained}, state[0])
            return {**params, **new}

        return update

    def step(self, case: Case, params: dict, X, Y) -> tuple[object, dict, dict]:
        """One SGD step: (the loss, dE/d every parameter and "X", the updated parameters) — one
        program for an engine that compiles, the learning rate an argument (not baked in)."""

        def step(params, X, Y, lr):
            loss, grads = self.loss_and_grads(case, params, X, Y)
            return loss, grads, self.update(params, grads, lr, case.frozen)

        lr = case.learning_rate
        if self.compiles("step"):
            lr = np.asarray(lr, dtype=np.asarray(X).dtype)
        return self.compile("step", case, step)(params, X, Y, lr)

    def final_loss(self, case: Case, params: dict, X, Y, stepping=None):
        """The loss after the last step. Where the engine compiles its steps, from the step's
        own program run once more (``stepping``; its update is thrown away): no second program
        to compile. Else the loss alone (compiled as loss_value compiles it)."""
        if stepping is not None and self.compiles("step") and self.compiles("optimize"):
            return stepping(params, X, Y)[0]
        return self.compile("loss", case, lambda p, X, Y: self.loss(case, p, X, Y))(params, X, Y)

    def untracked(self):
        """A context in which the engine records no gradient tape (torch.no_grad())."""
        return contextlib.nullcontext()

    def numpy_copy(self, value) -> np.ndarray:
        # a copy: in-place engines (torch's p.sub_) would otherwise rewrite what was recorded
        return np.array(self.to_numpy(value), copy=True)

    def numpy_copies(self, tensors: dict) -> dict[str, np.ndarray]:
        return {n: self.numpy_copy(t) for n, t in tensors.items()}

    def tensors(self, case: Case, dtype: str, device: str):
        """Inside the scope: set up, then the case's parameters, inputs and targets as this
        engine's tensors."""
        self.setup(dtype, device)
        self.placed = (dtype, device)
        params = {n: self.tensor(p, dtype, device) for n, p in case.parameters().items()}
        X, Y = case.inputs, self.tensor(case.targets, dtype, device)
        if case.takes_indices:  # the indices aside; X a placeholder (EngineLayers.stack_output)
            self.indices, X = self.index_tensor(X, device), np.zeros(())
        return params, self.tensor(X, dtype, device), Y

    def run(self, case: Case, dtype: str, device: str = "cpu") -> Result:
        with self.scope(dtype, device):
            params, X, Y = self.tensors(case, dtype, device)
            if case.mixed is not None:  # float32 masters, a lower compute precision
                return self.mixed_run(case, params, X, Y)
            step = self.stepping(case, params)

            def one_step(params, state):
                loss, grads, params = step(params, X, Y)
                if case.takes_indices:  # no dE/dX for token indices
                    grads = {n: g for n, g in grads.items() if n != "X"}
                return loss, grads, params, state

            def chain():
                found = self.intermediates()
                return None if found is None else self.numpy_copies(found)

            return train_loop(
                one_step,
                params,
                None,
                case.steps,
                lambda params: self.final_loss(case, params, X, Y, step),
                keep=self.numpy_copy,
                chain=chain,
            )

    def stepper(self, case: Case, dtype: str, device: str = "cpu"):
        with self.scope(dtype, device):
            params, X, Y = self.tensors(case, dtype, device)
            step = self.stepping(case, params)
        state = {"params": params}

        def one_step():
            with self.scope(dtype, device):
                loss, _, state["params"] = step(state["params"], X, Y)
                return self.to_numpy(loss)  # copying the loss to the host waits for the device

        return one_step
