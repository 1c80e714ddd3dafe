"""The command line read once into a ``Plan``: what to run, on what, and where to write it.

``plan_of(args)`` does, in this order and nowhere else: checks every file and folder the user
named for writing (``--output``, ``--plot``, ``--ladder``, ``--diagram``, ``--html``,
``--save-failures``; an empty name too) and makes each absolute, so nothing a backend does
later (a ``chdir``) can send a report elsewhere; loads the cases; then, last, chooses the
backends — the first step that may import a plugin. The commands take the Plan and never read
the arguments again.
"""

import contextlib
import os
from dataclasses import dataclass, field

from backprop_crosscheck.backends import UnknownBackend
from backprop_crosscheck.comparisons.cli.parser import UsageError, dtype_list
from backprop_crosscheck.comparisons.isolate.declaring import (
    ISOLATED,
    Isolation,
    backends_named,
    default_backends,
)
from backprop_crosscheck.comparisons.report.output_files import check_folder, check_target
from backprop_crosscheck.comparisons.report.pictures import FORMATS as PICTURES
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.cases.file import DEFAULT_LIMITS, NO_LIMITS

TARGETS = {  # argument: (option, the endings it must have; None: a folder)
    "output": ("--output", ()),
    "plot": ("--plot", PICTURES),
    "ladder": ("--ladder", PICTURES),
    "diagram": ("--diagram", PICTURES),
    "html": ("--html", (".html", ".htm")),
    "save_failures": ("--save-failures", None),
}


@dataclass
class Plan:
    command: str
    cases: list = field(default_factory=list)  # loaded Cases (report, explain, check)
    backends: list = field(default_factory=list)  # chosen Backends, in the order asked
    dtypes: list = field(default_factory=lambda: ["float64"])
    device: str = "cpu"
    rtol: float | None = None
    atol: float | None = None
    require: bool = False
    hvp_seed: int | None = None
    timeout: float | None = None
    memory_mib: int = 0  # each worker's memory cap (0: none)
    in_process: bool = False
    format: str = "text"
    verbose: bool = False  # --verbose: where each erroring backend raised
    targets: dict = field(default_factory=dict)  # argument -> absolute path, checked
    specs: dict = field(default_factory=dict)  # backend name -> what loads it again elsewhere

    def target(self, name: str) -> str | None:
        return self.targets.get(name)

    def workers(self):
        """A context giving the worker processes, or None with --in-process."""
        from backprop_crosscheck.comparisons.isolate.workers import Workers

        if self.in_process:
            return contextlib.nullcontext()
        return Workers(memory_mib=self.memory_mib)


def plan_of(args) -> Plan:
    """Targets checked, cases loaded, backends chosen (see the module's order)."""
    plan = Plan(args.command)
    plan.targets = checked_targets(args)
    limits = NO_LIMITS if getattr(args, "no_limits", False) else DEFAULT_LIMITS
    specs = case_specs(args)
    plan.cases = [load_case(c, limits) for c in specs]
    if getattr(args, "steps", None):
        plan.cases = [c.replace(steps=args.steps) for c in plan.cases]
    dtype = getattr(args, "dtype", "float64")
    plan.dtypes = dtype_list(dtype) if isinstance(dtype, str) else dtype
    for name in ("device", "rtol", "atol", "require", "timeout", "in_process", "format", "verbose"):
        if hasattr(args, name):
            setattr(plan, name, getattr(args, name))
    plan.hvp_seed = getattr(args, "hvp", None)
    plan.memory_mib = memory_of(args)
    if args.command == "check":
        from backprop_crosscheck.backends.numpy.learner import LearnerBackend
        from backprop_crosscheck.backends.numpy.learner_file import check_file

        plan.backends = [LearnerBackend(args.file, check_file(args.file))]
    else:
        plan.backends = chosen_backends(backend_spec(args), args.command, isolation_of(plan))
        names = (backend_spec(args) or "").split(",") if backend_spec(args) else []
        plan.specs = {
            b.name: spec_of(n.strip()) for b, n in zip(plan.backends, names, strict=False)
        }
    if plan.backends and args.command not in ("conformance", "bench"):
        check_device(plan.backends, plan.device, args.command)
    return plan


def checked_targets(args) -> dict:
    targets = {}
    for name, (option, endings) in TARGETS.items():
        path = getattr(args, name, None)
        if path is None:
            continue
        if endings is None:
            check_folder(path, option)
        else:
            check_target(path, option, endings)
        targets[name] = path if path.startswith("/dev/") else os.path.abspath(path)
    return targets


def case_specs(args) -> list[str]:
    if args.command == "explain":
        return [args.case]
    if args.command in ("report", "check"):
        return args.cases or ["article"]
    return []


def backend_spec(args) -> str | None:
    """The --backends text (conformance: its names), None for every backend, "" for none."""
    if args.command == "conformance":
        return ",".join(args.names)
    if args.command in ("check", "list") or (args.command == "explain" and args.backends is None):
        return ""
    return args.backends


def spec_of(name: str) -> str:
    """What loads a backend again in another process: a path made absolute."""
    where, colon, cls = name.rpartition(":")
    return f"{os.path.abspath(where)}:{cls}" if colon and where.endswith(".py") else name


def memory_of(args) -> int:
    from backprop_crosscheck.comparisons.isolate.guard import default_memory_mib

    limit = getattr(args, "memory_limit", None)
    return default_memory_mib() if limit is None else limit


LOAD_TIMEOUT_S = 60  # a plugin's import and construction, at most


def isolation_of(plan: "Plan"):
    """How the plan's plugins are declared: in workers like those its run uses (a sweep's run
    one thread each), or — with --in-process — in place."""
    from backprop_crosscheck.comparisons.isolate.workers import one_thread_each

    if plan.in_process:
        return None
    return Isolation(plan.memory_mib, one_thread_each() if plan.command == "sweep" else None)


def chosen_backends(spec: str | None, command: str = "report", isolation=ISOLATED) -> list:
    """The backends named (all, for None), each loaded under the fences it later runs under:
    what its module prints is kept off stdout and stderr, it has LOAD_TIMEOUT_S, and whatever
    it raises — SystemExit too — is one line (comparisons.isolate.guard)."""
    from backprop_crosscheck.comparisons.isolate.guard import TimedOut, captured_output, time_limit

    try:
        with captured_output(), time_limit(LOAD_TIMEOUT_S):
            return _chosen(spec, command, isolation)
    except TimedOut:
        raise UsageError(
            f"crosscheck {command}: loading the backends took over {LOAD_TIMEOUT_S} s"
        ) from None


def _chosen(spec: str | None, command: str, isolation) -> list:
    if spec == "":
        return []
    if spec is None:
        return default_backends(isolation)
    names = [n.strip() for n in spec.split(",")]
    asked = "NAME" if command == "conformance" else f"--backends {spec!r}"
    if not all(names):
        raise UsageError(f"crosscheck {command}: {asked} has an empty name")
    if len(set(names)) != len(names):
        raise UsageError(f"crosscheck {command}: {asked} names a backend twice")
    try:
        chosen = backends_named(names, isolation)
    except UnknownBackend as e:
        raise UsageError(f"crosscheck {command}: {asked.split()[0]}: {e}") from None
    if len({b.name for b in chosen}) != len(chosen):
        twice = sorted({b.name for b in chosen if [c.name for c in chosen].count(b.name) > 1})
        raise UsageError(f"crosscheck {command}: two backends are named {twice[0]!r}")
    return chosen


def check_device(backends, device: str, command: str) -> None:
    """Bad usage when no chosen backend can run on the device at all (a run would compare
    nothing); one that merely finds no GPU at run time is that backend's skip."""
    if not any(device in b.capabilities.devices for b in backends):
        names = ", ".join(b.name for b in backends)
        raise UsageError(
            f"crosscheck {command}: --device {device}: no backend chosen can use it "
            f"({names}; see crosscheck list)"
        )
