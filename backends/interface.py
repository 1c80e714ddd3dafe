"""The one adapter interface every backend implements.

A backend runs a Case for a dtype and a device and returns a ``reference.Result`` of NumPy
arrays. It imports its framework inside ``run`` (never at module import), and performs the SGD
update itself, in its own tensors and dtype, so that the update is checked too.
"""

import contextlib
import functools
import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from backprop_crosscheck.reference.activations import gelu_tanh, sigmoid
from backprop_crosscheck.reference.case import Case
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.training import train_loop

DTYPES = ("float64", "float32")


@functools.cache
def installed_version(distribution: str) -> str | None:
    """Read once per process: the metadata lookup costs ~3 ms, and a sweep asks per run."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class BackendUnavailable(RuntimeError):
    """Raised by ``run`` when this backend cannot run here (no GPU, …): reported as a skip."""


@dataclass(frozen=True)
class Capabilities:
    dtypes: tuple[str, ...] = DTYPES
    devices: tuple[str, ...] = ("cpu",)
    mode: str = "reverse"  # how gradients are computed: reverse | forward | numeric | by hand
    # A looser tolerance this backend needs, per dtype, as (rtol, atol) — and why. The looser of
    # this and the default wins. Keep it rare: every entry is a known divergence with a reason.
    tolerance: dict[str, tuple[float, float]] = field(default_factory=dict)
    tolerance_reason: str = ""
    # Above this many parameters the method is impractical (finite differences: two forward
    # passes per parameter; forward mode: one JVP each): `crosscheck bench` skips it there.
    max_parameters: int | None = None
    # Hessian-vector products: how this backend computes H·v ("double backward", …), or None
    # when it does not; with a looser second-order floor per dtype if it needs one.
    hvp: str | None = None
    hvp_tolerance: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Forward mode: how this backend computes a directional derivative dE/dθ·v ("jvp"), or
    # None; the conformance kit holds it against the backend's own reverse-mode gradient.
    jvp: str | None = None
    # Whether run() returns dE/dX under "X" (a learner's own function may not): not compared
    # when False.
    input_gradient: bool = True
    # The activations it can run (None: every one the harness knows); a case with another is
    # "unsupported" for it (reported n/a, like a skip), not an error.
    activations: tuple[str, ...] | None = None
    losses: tuple[str, ...] | None = None  # the same for losses
    # The update rules its own optimizer runs (reference/optimizers.py): plain SGD unless it
    # declares more; a momentum or Adam case is n/a for a backend without them.
    optimizers: tuple[str, ...] = ("sgd",)


class Backend(ABC):
    name: str = ""
    module: str | None = None  # the import it needs (None: NumPy only)
    distribution: str | None = None  # the PyPI distribution whose version is reported
    install_hint: str = ""
    capabilities: Capabilities = Capabilities()

    def available(self) -> bool:
        """Whether the framework is installed; looks without importing it."""
        return self.module is None or importlib.util.find_spec(self.module) is not None

    def version(self) -> str | None:
        """The version of ``distribution`` (else of the distribution named like ``module``);
        None when neither is known."""
        dist = self.distribution or self.module
        return None if dist is None else installed_version(dist)

    def skip_reason(self, dtype: str, device: str) -> str | None:
        """Why this backend cannot run this combination, or None when it can try."""
        if not self.available():
            return (
                f"{self.name}: {self.module} is not installed; install it with: {self.install_hint}"
            )
        caps = self.capabilities
        if dtype not in caps.dtypes:
            return f"{self.name}: {dtype} is not supported (only {', '.join(caps.dtypes)})"
        if device not in caps.devices:
            return f"{self.name}: device {device} is not supported (only {', '.join(caps.devices)})"
        return None

    def unsupported(self, case: Case) -> str | None:
        """Why this backend cannot run this case at all (an activation or optimizer it lacks,
        an optimizer convention its framework does not follow), or None."""
        caps = self.capabilities
        asked = (
            (caps.activations, case.activations),
            (caps.losses, (case.loss,)),
            (caps.optimizers, (case.optimizer.name,)),
        )
        for known, wanted in asked:
            missing = [] if known is None else sorted(set(wanted) - set(known))
            if missing:
                return f"{self.name} has no {', '.join(missing)} (it runs {', '.join(known)})"
        return self.convention(case.optimizer)

    def convention(self, optimizer) -> str | None:
        """Why this backend's own optimizer cannot follow the case's convention (where Adam's
        epsilon sits, momentum's dampening), or None: a documented divergence, reported n/a,
        never a loosened tolerance (docs/optimizers.md)."""
        return None

    @abstractmethod
    def run(self, case: Case, dtype: str, device: str = "cpu") -> Result:
        """Run ``case.steps`` steps of the case's optimizer; raise BackendUnavailable when it
        cannot run here."""

    def hvp(self, case: Case, v: dict, dtype: str, device: str = "cpu") -> dict:
        """H·v of the loss at the case's initial parameters, for every parameter, as NumPy.
        Only backends whose capabilities declare ``hvp`` implement it."""
        raise NotImplementedError(f"{self.name} does not compute Hessian-vector products")

    def loss_value(self, case: Case, dtype: str, device: str = "cpu"):
        """The loss at the initial parameters computed without gradient tracking (no tape, no
        graph), as a NumPy scalar; None when this backend cannot say."""
        return None

    def directional_derivative(self, case: Case, v: dict, dtype: str, device: str = "cpu"):
        """Forward mode: dE/dθ·v at the initial parameters, for backends whose capabilities
        declare ``jvp``."""
        raise NotImplementedError(f"{self.name} has no forward mode")

    def stepper(self, case: Case, dtype: str, device: str = "cpu"):
        """For `crosscheck bench`: a function doing one gradient-and-update step per call and
        returning only when the work is done; None when this backend cannot be timed so."""
        return None


class FrameworkBackend(Backend):
    """A typical array framework: say how to make tensors and take gradients; the loop is here.

    An adapter's ``setup`` imports its framework and sets ``self.xp``, its array namespace
    (``torch``, ``jax.numpy``, ``autograd.numpy``), and ``self.nn`` where sigmoid and relu live if
    not in ``xp`` (``jax.nn``). From them come ``total``/``average`` (``xp.sum``/``xp.mean``) and
    the activations (an adapter may still set ``self.acts`` or override ``activation``). It
    implements ``tensor``, ``to_numpy`` and ``loss_and_grads``; ``update`` may be overridden for
    in-place engines, ``step`` for engines that compile the whole step, ``scope`` for a
    dtype/device context (JAX's x64 switch), ``hessian_vector`` to declare H·v, ``optimizer``
    for the framework's own momentum and Adam.
    """

    xp = None  # the framework's array namespace, set by setup
    nn = None  # where sigmoid/relu live when not in xp (jax.nn, tf.nn)
    acts: dict = {}  # name -> function: overrides the namespace's activation
    losses: dict = {}  # name -> function(prediction, targets): the engine's own loss

    def setup(self, dtype: str, device: str) -> None:
        """Import the framework and prepare dtype/device; raise BackendUnavailable if needed."""

    def scope(self, dtype: str, device: str):
        """A context every run, step and H·v of this backend runs inside."""
        return contextlib.nullcontext()

    @abstractmethod
    def tensor(self, array: np.ndarray, dtype: str, device: str): ...

    @abstractmethod
    def to_numpy(self, value) -> np.ndarray: ...

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

    @abstractmethod
    def loss_and_grads(self, case: Case, params: dict, X, Y) -> tuple[object, dict]:
        """(loss, {name: dE/dname} for every parameter and "X")."""

    def loss(self, case: Case, params: dict, X, Y):
        """The network's loss, written once with the framework's own operations; each layer's
        (z, a) is left in ``self.trace`` for an engine that can report the backward chain."""
        a, self.trace = X, []
        for layer, act in enumerate(case.activations, start=1):
            z = a @ params[f"W{layer}"]
            if f"b{layer}" in params:
                z = z + params[f"b{layer}"]
            f = self.activation(act)
            a = f(z, case.leaky_slope) if act == "leaky_relu" else f(z)
            self.trace.append((z, a))
        return self.criterion(case.loss)(a, Y)

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

    def update(self, params: dict, grads: dict, lr: float, frozen) -> dict:
        return {n: p if n in frozen else p - lr * grads[n] for n, p in params.items()}

    def intermediates(self) -> dict | None:
        """The last step's backward chain, {"dE/da2": …, "delta2": …, …} in this engine's
        tensors, for the diagnosis (Result.intermediates); None when it cannot say."""
        return None

    def compile(self, what: str, case: Case, function):
        """An engine that compiles (JAX) returns ``function`` compiled, kept per architecture
        so that a shape family compiles once; the others run it as it is. ``what``: step,
        loss, jvp or hvp; data, parameters and the learning rate are its arguments."""
        return function

    def optimizer(self, case: Case):
        """The framework's own optimizer for the case's momentum or Adam (torch.optim's adam, an
        optax transformation), as two functions: ``init(params) -> state`` and
        ``apply(params, grads, state) -> (params, state)``, frozen parameters left as they
        are. The loop carries the state from step to step. Plain SGD never comes here (``step``
        and ``update``). Declare the rules in ``Capabilities.optimizers``."""
        raise NotImplementedError(f"{self.name} has no optimizer {case.optimizer.name}")

    def stepping(self, case: Case, params: dict):
        """``(params, X, Y) -> (loss, grads, params)``, one step per call: ``step`` for plain
        SGD; with the framework's own optimizer, its state carried from one call to the next."""
        if case.optimizer.name == "sgd":
            return lambda params, X, Y: self.step(case, params, X, Y)
        init, apply = self.optimizer(case)
        state = [init(params)]

        def optimize(params, state, X, Y):
            loss, grads = self.loss_and_grads(case, params, X, Y)
            return loss, grads, *apply(params, grads, state)

        def one_step(params, X, Y):
            loss, grads, params, state[0] = self.compile("optimize", case, optimize)(
                params, state[0], X, Y
            )
            return loss, grads, params

        return one_step

    def step(self, case: Case, params: dict, X, Y, lr=None) -> tuple[object, dict, dict]:
        """One SGD step: (the loss, dE/d every parameter and "X", the updated parameters)."""

        def step(params, X, Y, lr):
            loss, grads = self.loss_and_grads(case, params, X, Y)
            return loss, grads, self.update(params, grads, lr, case.frozen)

        lr = case.learning_rate if lr is None else lr
        return self.compile("step", case, step)(params, X, Y, lr)

    def final_loss(self, case: Case, params: dict, X, Y):
        """The loss after the last step (a hook for engines that compile it)."""
        return self.loss(case, params, X, Y)

    def untracked(self):
        """A context in which the engine records no gradient tape (torch.no_grad())."""
        return contextlib.nullcontext()

    def forward_derivative(self, case: Case, params: dict, X, Y, tangents: dict):
        """dE/dθ·v by forward mode, in this engine's tensors (declare ``Capabilities.jvp``)."""
        raise NotImplementedError(f"{self.name} has no forward mode")

    def hessian_vector(self, case: Case, params: dict, X, Y, tangents: dict) -> dict:
        """H·v in this engine's tensors, for backends whose capabilities declare ``hvp``."""
        raise NotImplementedError(f"{self.name} does not compute Hessian-vector products")

    def numpy_copy(self, value) -> np.ndarray:
        # a copy: in-place engines (torch's p.sub_) would otherwise rewrite what was recorded
        return np.array(self.to_numpy(value), copy=True)

    def numpy_copies(self, tensors: dict) -> dict[str, np.ndarray]:
        return {n: self.numpy_copy(t) for n, t in tensors.items()}

    def tensors(self, case: Case, dtype: str, device: str):
        """Inside the scope: set up, then the case's parameters, inputs and targets as this
        engine's tensors."""
        self.setup(dtype, device)
        params = {n: self.tensor(p, dtype, device) for n, p in case.parameters().items()}
        X, Y = self.tensor(case.inputs, dtype, device), self.tensor(case.targets, dtype, device)
        return params, X, Y

    def run(self, case: Case, dtype: str, device: str = "cpu") -> Result:
        with self.scope(dtype, device):
            params, X, Y = self.tensors(case, dtype, device)
            step = self.stepping(case, params)

            def one_step(params, state):
                return *step(params, X, Y), state

            def chain():
                found = self.intermediates()
                return None if found is None else self.numpy_copies(found)

            return train_loop(one_step, params, None, case.steps,
                              lambda params: self.final_loss(case, params, X, Y),
                              keep=self.numpy_copy, chain=chain)  # fmt: skip

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
