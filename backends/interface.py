"""The one adapter interface every backend implements.

A backend runs a Case for a dtype and a device and returns a ``reference.Result`` of NumPy
arrays. It imports its framework inside ``run`` (never at module import), and performs the SGD
update itself, in its own tensors and dtype, so that the update is checked too.
"""

import functools
import importlib.util
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.precision import DTYPES, FULL  # noqa: F401 - DTYPES: theirs
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS
from backprop_crosscheck.reference.stack import walk

# DTYPES (reference/precision.py): every precision a run may ask for; an engine declares those
# it has (Capabilities.dtypes): FULL — float64 and float32 — unless it says more
COMPILED = {}  # FrameworkBackend.compile's programs, per engine, purpose and architecture


@functools.cache
def installed_version(distribution: str) -> str | None:
    """Read once per process: the metadata lookup costs ~3 ms, and a sweep asks per run."""
    import importlib.metadata  # here: 15 ms of every worker's start otherwise

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def printable(name: str) -> str:
    """A name as a terminal may show it: control characters (newlines, ANSI escapes) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(name))


# The adapter API's version (docs/adapters.md). A change that would break an adapter written
# against it comes first as a DeprecationWarning for a release (the old module paths:
# backprop_crosscheck/moved.py), then with a new version here.
API_VERSION = "2"


class BackendUnavailable(RuntimeError):
    """Raised by ``run`` when this backend cannot run here (no GPU, …): reported as a skip."""


class Unsupported(RuntimeError):
    """Raised by ``run`` when this backend cannot run this case — a layer kind, an activation or
    a loss its engine cannot express: reported n/a with the reason (what to declare or
    implement), never an error. The framework base raises it where the harness's own code,
    written with the adapter's ``xp``, meets a namespace that lacks what it needs."""


@dataclass(frozen=True)
class Capabilities:
    dtypes: tuple[str, ...] = FULL
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
    # The update rules its own optimizer runs (reference/rules/optimizers.py): plain SGD unless it
    # declares more; a momentum or Adam case is n/a for a backend without them.
    optimizers: tuple[str, ...] = ("sgd",)
    # The weight decay its optimizers apply (reference/rules/optimizers.py): "l2" (λ·p added to the
    # gradient), "decoupled" (AdamW's); a case with another is n/a for it.
    weight_decay: tuple[str, ...] = ()
    # The layer kinds of a layer-stack case (reference/stack.py) it runs; None: its class's
    # (every kind for a FrameworkBackend — its engine's own ops, else written with its array
    # namespace — none for a plain Backend, which runs dense networks only).
    layers: tuple[str, ...] | None = None
    # The compute precisions of a mixed-precision case (reference/rules/loss_scaling.py) it runs:
    # float32 masters, the network in bfloat16 or float16; a mixed case is n/a for the others.
    mixed: tuple[str, ...] = ()


@dataclass(frozen=True)
class SameAs:
    """A convention's allowed value that is another setting's: autograd's dampening = momentum."""

    setting: str


@dataclass(frozen=True)
class Convention:
    """One convention of a framework's own optimizer: for the rule ``rule``, the case's
    ``setting`` must be one of ``allowed`` (a value, or SameAs another setting), because
    ``why`` — with the upstream source that says so. A case outside it is n/a for the backend
    (docs/optimizers.md; its table is made from these)."""

    rule: str  # momentum | adam
    setting: str  # an Optimizer field: dampening, epsilon_placement, …
    allowed: tuple
    why: str

    def refuses(self, optimizer) -> str | None:
        if optimizer.name != self.rule:
            return None
        if self.setting == "weight_decay_mode" and not optimizer.weight_decay:
            return None  # no decay: its mode means nothing
        value = getattr(optimizer, self.setting)
        ok = [getattr(optimizer, a.setting) if isinstance(a, SameAs) else a for a in self.allowed]
        if value in ok:
            return None
        return f"{self.why}: it runs {self.rule} with {self.setting} = {self.follows()} only"

    def follows(self) -> str:
        return " or ".join(
            a.setting if isinstance(a, SameAs) else f"{a:g}" if isinstance(a, float) else str(a)
            for a in self.allowed
        )


class Backend(ABC):
    name: str = ""
    module: str | None = None  # the import it needs (None: NumPy only)
    requires: tuple[str, ...] = ()  # further imports it needs (keras-jax: jax)
    distribution: str | tuple[str, ...] | None = None  # the PyPI distribution(s) of its version
    install_hint: str = ""
    capabilities: Capabilities = Capabilities()
    conventions: tuple[Convention, ...] = ()  # its own optimizer's, where frameworks differ
    layer_kinds: tuple[str, ...] = ()  # a layer stack's kinds, unless its capabilities say
    # may it share a worker process with the other backends of its module? (built-ins whose
    # framework configures nothing process-wide); else it gets a worker of its own
    share_worker: bool = False
    # run only when named (--backends, conformance NAME), never by a run that names none: a
    # backend too slow for every report and sweep (torch-compile compiles each shape, seconds each)
    on_request: bool = False
    # the function whose answer this backend ships (a learner's ``backprop``): an error in the
    # answer names it; "" for an engine, whose answer is its own
    answering_function: str = ""

    def available(self) -> bool:
        """Whether the framework is installed; looks without importing it."""
        return self.missing() is None

    def missing(self) -> str | None:
        """The first import this backend needs that is not installed (looked up, not imported)."""
        needed = ([self.module] if self.module else []) + list(self.requires)
        return next((m for m in needed if not installed(m, tuple(sys.path))), None)

    def version(self) -> str | None:
        """The version of ``distribution`` — the first of them installed, when it names
        several (tensorflow-cpu or tensorflow) — else of the distribution named like
        ``module``; None when none is known."""
        names = self.distribution or self.module
        names = (names,) if isinstance(names, str) else names or ()
        return next(filter(None, map(installed_version, names)), None)

    def skip_reason(self, dtype: str, device: str) -> str | None:
        """Why this backend cannot run this combination, or None when it can try."""
        if not self.available():
            what = self.missing() or self.module or "its framework"
            return f"{self.name}: {what} is not installed; install it with: {self.install_hint}"
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
        used = [layer.kind for layer in walk(case.stack)]
        if not case.dense:  # a dense network is what every backend runs
            kinds = self.layer_kinds if caps.layers is None else caps.layers
            missing = sorted({k for k in used if k not in ACTIVATIONS} - set(kinds))
            if missing:
                runs = f"it runs {', '.join(kinds)}" if kinds else "it runs dense networks only"
                return f"{self.name} has no {', '.join(missing)} layer ({runs})"
        if case.mixed is not None and case.mixed.compute not in caps.mixed:
            runs = f"it runs {', '.join(caps.mixed)} only" if caps.mixed else "none declared"
            return f"{self.name} has no mixed precision in {case.mixed.compute} ({runs})"
        asked = (
            (caps.activations, case.activations + tuple(k for k in used if k in ACTIVATIONS)),
            (caps.losses, (case.loss,)),
            (caps.optimizers, (case.optimizer.name,)),
        )
        for known, wanted in asked:
            missing = [] if known is None else sorted(set(wanted) - set(known))
            if missing:
                return f"{self.name} has no {', '.join(missing)} (it runs {', '.join(known)})"
        opt = case.optimizer
        if opt.weight_decay and opt.weight_decay_mode not in caps.weight_decay:
            has = f"it has {', '.join(caps.weight_decay)} only" if caps.weight_decay else "none"
            return f"{self.name} has no {opt.weight_decay_mode} weight decay ({has})"
        return self.convention(case.optimizer)

    def convention(self, optimizer) -> str | None:
        """Why this backend's own optimizer cannot follow the case's convention (where Adam's
        epsilon sits, momentum's dampening), or None: a documented divergence, reported n/a,
        never a loosened tolerance (docs/optimizers.md). Declared in ``conventions``."""
        return next(filter(None, (c.refuses(optimizer) for c in self.conventions)), None)

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


@functools.cache
def installed(module: str, path: tuple) -> bool:
    """Whether ``module`` can be imported from ``path`` (sys.path), looked up once: a sweep
    asks for every backend at every check, and a module that is not installed is searched for
    along the whole path each time (1.2 s of a 100-case sweep's coordinating process). A folder
    of that name without ``__init__.py`` — a download, a checkout beside the working directory —
    is a namespace package to Python, not the framework: it counts only when an installed
    distribution provides it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is not None:
        return spec is not None
    from importlib.metadata import packages_distributions  # here: not in every worker's start

    return module.partition(".")[0] in packages_distributions()
