"""The `crosscheck` command (also `python -m backprop_crosscheck`); its grammar: cli_parser.py.

Exit status: 0 every comparison passed (skips allowed unless --require); 1 a comparison failed
or a backend errored; 2 bad usage or bad input — always one line on stderr, never a traceback.
"""

import contextlib
import os
import sys
from pathlib import Path

from backprop_crosscheck.backends import UnknownBackend, backend_names, get_backend
from backprop_crosscheck.backends.interface import DTYPES
from backprop_crosscheck.comparisons.cli.learner_file import LearnerError
from backprop_crosscheck.comparisons.cli.parser import UsageError, build_parser
from backprop_crosscheck.comparisons.kit.conformance import XfailError
from backprop_crosscheck.comparisons.report.output_files import (
    OutputError,
    check_target,
    write_text,
)
from backprop_crosscheck.comparisons.report.pictures import PictureError
from backprop_crosscheck.reference import CaseError, builtin_case_names, load_case
from backprop_crosscheck.reference.case_file import DEFAULT_LIMITS, NO_LIMITS


def main(argv: list[str] | None = None) -> int:
    jax_compilation_cache()
    args = None
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except CaseError as e:
        print(f"crosscheck: {e}", file=sys.stderr)
        return 2
    except (PictureError, OutputError, XfailError, LearnerError) as e:
        print(f"crosscheck {getattr(args, 'command', '')}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crosscheck: interrupted", file=sys.stderr)
        return 130


def jax_compilation_cache() -> None:
    """The command line's default for JAX's own persistent compilation cache: a folder in the
    user's cache, so that a second `crosscheck conformance jax` loads its ~64 XLA programs
    instead of compiling them (25 s → 8 s here). An explicit JAX_COMPILATION_CACHE_DIR wins
    (empty: off). Set before JAX is imported; worker processes inherit it. JAX keys an entry by
    the program and the jax/jaxlib versions: what loads is what a fresh compile would give."""
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory: no default cache
        return
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(base / "backprop-crosscheck" / "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def chosen_backends(spec: str | None, command: str = "report"):
    if spec is None:
        return [get_backend(n) for n in backend_names()]
    names = [n.strip() for n in spec.split(",")]
    if not all(names):
        raise UsageError(f"crosscheck {command}: --backends {spec!r} has an empty name")
    if len(set(names)) != len(names):
        raise UsageError(f"crosscheck {command}: --backends {spec!r} names a backend twice")
    try:
        return [get_backend(n) for n in names]
    except UnknownBackend as e:
        raise UsageError(f"crosscheck {command}: --backends: {e}") from None


def check_device(backends, device: str, command: str) -> None:
    """Bad usage when no chosen backend can run on the device at all (a run would compare
    nothing); one that merely finds no GPU at run time is that backend's skip."""
    if not any(device in b.capabilities.devices for b in backends):
        names = ", ".join(b.name for b in backends)
        raise UsageError(f"crosscheck {command}: --device {device}: no backend chosen can use it "
                         f"({names}; see crosscheck list)")  # fmt: skip


def write_output(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, "--output", text)


def backend_workers(args):
    """A context giving the worker processes, or None with --in-process."""
    from backprop_crosscheck.comparisons.isolate.guard import default_memory_mib
    from backprop_crosscheck.comparisons.isolate.workers import Workers

    if args.in_process:
        return contextlib.nullcontext()
    limit = default_memory_mib() if args.memory_limit is None else args.memory_limit
    return Workers(memory_mib=limit)


def load_cases(specs: list[str], args):
    limits = NO_LIMITS if args.no_limits else DEFAULT_LIMITS
    return [load_case(c, limits) for c in specs]


def cmd_report(args) -> int:
    from backprop_crosscheck.comparisons.report.json_report import render_json
    from backprop_crosscheck.comparisons.report.pictures import check_target as check_picture
    from backprop_crosscheck.comparisons.report.pictures import trajectory_plot
    from backprop_crosscheck.comparisons.report.text import render_markdown, render_text
    from backprop_crosscheck.comparisons.run import run_case, verdict

    if args.output:
        check_target(args.output, "--output")
    if args.plot:
        check_picture(args.plot, "--plot")
    cases = load_cases(args.cases or ["article"], args)
    if args.steps:
        cases = [c.replace(steps=args.steps) for c in cases]
    backends = chosen_backends(args.backends)
    check_device(backends, args.device, "report")
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    options = (args.device, args.rtol, args.atol, args.require, args.hvp)
    with backend_workers(args) as workers:
        runs = [
            run_case(c, backends, d, *options, workers, timeout=args.timeout)
            for c in cases
            for d in dtypes
        ]
    render = {"text": render_text, "markdown": render_markdown, "json": render_json}[args.format]
    write_output(render(runs), args.output)
    passed, warnings = verdict(runs)
    for warning in warnings:
        print(f"crosscheck report: warning: {warning}", file=sys.stderr)
    if args.plot:
        trajectory_plot(runs, args.plot)
    return 0 if passed else 1


def cmd_explain(args) -> int:
    from backprop_crosscheck.comparisons.explain.walkthrough import explain
    from backprop_crosscheck.comparisons.report.pictures import check_target as check_picture
    from backprop_crosscheck.comparisons.report.pictures import diagram

    if args.diagram:
        check_picture(args.diagram, "--diagram")
    if args.html:
        check_target(args.html, "--html", (".html", ".htm"))
    (case,) = load_cases([args.case], args)
    run = None
    if args.backends is not None:
        run = explain_run(case, args)
    sys.stdout.write(explain(case))
    if run is not None:
        sys.stdout.write(backend_verdicts(run))
    if args.diagram:
        diagram(case, args.diagram)
    if args.html:
        from backprop_crosscheck.comparisons.explain.page import page

        write_text(args.html, "--html", page(case, run))
    return 0 if run is None or run.passed else 1


def explain_run(case, args):
    """The chosen backends on the case, judged as `report` judges them."""
    from backprop_crosscheck.comparisons.run import run_case

    backends = chosen_backends(args.backends, "explain")
    check_device(backends, args.device, "explain")
    with backend_workers(args) as workers:
        return run_case(case, backends, args.dtype, args.device, workers=workers,
                        timeout=args.timeout)  # fmt: skip


def backend_verdicts(run) -> str:
    lines = ["", f"Backends ({run.dtype}, against the reference above)"]
    for c in run.comparisons:
        line = f"  {c.backend}: {c.status.upper()}" + (f" — {c.message}" if c.message else "")
        if c.diagnosis is not None:
            line += f"; why: {c.diagnosis.summary()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def cmd_list(args) -> int:
    from tabulate import tabulate

    rows = []
    for name in builtin_case_names():
        case = load_case(name)
        rows.append([name, "-".join(map(str, case.layers)), case.steps, case.description])
    print("Built-in cases (or pass a path to a .toml case file)")
    print(tabulate(rows, headers=["case", "layers", "steps", "description"]))
    print()
    rows, reasons = [], []
    for name in backend_names():
        b = get_backend(name)
        ok = b.available()
        caps = b.capabilities
        rows.append(
            [
                name,
                "yes" if ok else "no",
                b.version() or "-",
                caps.mode,
                ",".join(caps.dtypes),
                ",".join(caps.devices),
                "" if ok else b.install_hint,
            ]
        )
        if caps.tolerance_reason:
            floors = ", ".join(f"{d} rtol {r:g} atol {a:g}" for d, (r, a) in caps.tolerance.items())
            reasons.append(f"  {name}: {floors}, because {caps.tolerance_reason}")
    print("Backends")
    headers = ["backend", "available", "version", "gradients", "dtypes", "devices", "install"]
    print(tabulate(rows, headers=headers))
    if reasons:
        print("Looser tolerances (each a known divergence with its reason):")
        print("\n".join(reasons))
    return 0


def cmd_sweep(args) -> int:
    from backprop_crosscheck.comparisons.isolate.guard import default_memory_mib
    from backprop_crosscheck.comparisons.report.progress import Progress
    from backprop_crosscheck.comparisons.sweep.jobs import ClusterError, run_sweep
    from backprop_crosscheck.comparisons.sweep.shards import Plan, render_sweep
    from backprop_crosscheck.comparisons.sweep.shrink import shrink_failures

    folder = Path(args.save_failures)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"crosscheck sweep: --save-failures {folder}: is a file, not a folder")
    if args.output:
        check_target(args.output, "--output")
    backends = chosen_backends(args.backends, "sweep")
    check_device(backends, args.device, "sweep")
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    memory = default_memory_mib() if args.memory_limit is None else args.memory_limit
    plan = Plan(backends, dtypes, args.rtol, args.atol, folder, args.timeout, memory,
                args.in_process, args.device)  # fmt: skip
    try:
        tallies = run_sweep(plan, args.cases, args.seed, args.jobs, Progress(args.cases), args.dask)
    except ClusterError as e:
        raise UsageError(f"crosscheck sweep: {e}") from None
    shrunk = shrink_failures(plan, tallies, args.shrink)
    text, failed = render_sweep(tallies, args.cases, args.seed, folder, args.format, shrunk)
    write_output(text, args.output)
    if not any(t.passed + t.failed for t in tallies.values()):
        nothing = "crosscheck sweep: nothing was compared: every run skipped or errored"
        print(nothing, file=sys.stderr)
        return 1
    return 1 if failed else 0


def cmd_bench(args) -> int:
    from backprop_crosscheck.comparisons import bench
    from backprop_crosscheck.comparisons.report.progress import Progress

    if args.output:
        check_target(args.output, "--output")
    names = [b.name for b in chosen_backends(args.backends, "bench")]
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    ladder = bench.QUICK if args.quick else bench.LADDER
    yardstick = {d: bench.matmul_gflops(d) for d in dtypes}
    progress = Progress(len(names), "bench", "backends")
    rows = bench.run_bench(names, dtypes, ladder, args.device, args.time_per_size, progress)
    slopes = {
        f"{name} {d}": bench.slope([r for r in rows if (r.backend, r.dtype) == (name, d)])
        for name in names
        for d in dtypes
    }
    records = bench.summarize(rows, yardstick)
    write_output(bench.render(records, yardstick, slopes, args.format), args.output)
    return 0


def cmd_check(args) -> int:
    from backprop_crosscheck.backends.learner import LearnerBackend
    from backprop_crosscheck.comparisons.cli.learner_file import check_file
    from backprop_crosscheck.comparisons.report.json_report import render_json
    from backprop_crosscheck.comparisons.report.text import render_markdown, render_text
    from backprop_crosscheck.comparisons.run import run_case, verdict

    check_file(args.file)
    if args.output:
        check_target(args.output, "--output")
    cases = load_cases(args.cases or ["article"], args)
    learner = LearnerBackend(args.file)
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    with backend_workers(args) as workers:
        runs = [run_case(c, [learner], d, workers=workers, timeout=args.timeout, single=True)
                for c in cases for d in dtypes]  # fmt: skip
    render = {"text": render_text, "markdown": render_markdown, "json": render_json}[args.format]
    write_output(render(runs), args.output)
    return 0 if verdict(runs)[0] else 1


def cmd_conformance(args) -> int:
    from backprop_crosscheck.comparisons.isolate.guard import default_memory_mib
    from backprop_crosscheck.comparisons.kit.conformance import case_names, load_xfail
    from backprop_crosscheck.comparisons.kit.conformance_run import run_conformance
    from backprop_crosscheck.comparisons.kit.scoreboard import passed, render
    from backprop_crosscheck.comparisons.report.progress import Progress

    if args.output:
        check_target(args.output, "--output")
    xfail = load_xfail(args.xfail) if args.xfail else []
    backends = chosen_backends(",".join(args.names), "conformance")
    cases = case_names(args.cases, args.seed)
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    progress = Progress(len(backends) * len(cases) * len(dtypes), "conformance", "runs")
    memory = default_memory_mib() if args.memory_limit is None else args.memory_limit
    records = run_conformance(backends, cases, dtypes, xfail, args.timeout, memory,
                              args.in_process, progress)  # fmt: skip
    write_output(render(records, args.format), args.output)
    return 0 if passed(records) else 1


COMMANDS = {
    "report": cmd_report,
    "explain": cmd_explain,
    "list": cmd_list,
    "sweep": cmd_sweep,
    "bench": cmd_bench,
    "conformance": cmd_conformance,
    "check": cmd_check,
}
