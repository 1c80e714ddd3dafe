"""The `crosscheck` command (also `python -m backprop_crosscheck`): each command takes the Plan
its arguments were read into once (plan.py; the grammar: parser.py).

Exit status: 0 every comparison passed (skips allowed unless --require); 1 a comparison failed
or a backend errored; 2 bad usage or bad input — always one line on stderr, never a traceback.
"""

import importlib.util
import os
import sys
from pathlib import Path

from backprop_crosscheck.backends import backend_names
from backprop_crosscheck.backends.numpy.learner_file import LearnerError
from backprop_crosscheck.comparisons.cli.parser import UsageError, build_parser
from backprop_crosscheck.comparisons.cli.plan import Plan, plan_of
from backprop_crosscheck.comparisons.isolate.declaring import backends_named
from backprop_crosscheck.comparisons.isolate.workers import stop_spares
from backprop_crosscheck.comparisons.kit.conformance import XfailError
from backprop_crosscheck.comparisons.report.output_files import OutputError, write_text
from backprop_crosscheck.comparisons.report.pictures import PictureError
from backprop_crosscheck.reference import CaseError, builtin_case_names, load_case


def main(argv: list[str] | None = None) -> int:
    jax_compilation_cache()
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list()
        return COMMANDS[args.command](plan_of(args), args)
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
    finally:
        stop_spares()  # the plugins' declaring workers that no run took


def jax_compilation_cache() -> None:
    """The command line's default for JAX's own persistent compilation cache: a folder in the
    user's cache, so that a second `crosscheck conformance jax` loads its ~64 XLA programs
    instead of compiling them (24.2 s → 7.1 s: BENCHMARKS.md). An explicit
    JAX_COMPILATION_CACHE_DIR wins (empty: off). Set before JAX is imported; worker processes
    inherit it. JAX keys an entry by the program and the jax/jaxlib versions: what loads is
    what a fresh compile would give."""
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory: no default cache
        return
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(base / "backprop-crosscheck" / "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def write_output(text: str, plan: Plan) -> None:
    output = plan.target("output")
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, "--output", text)


def run_all(plan: Plan, single: bool = False) -> list:
    """Every case × dtype of the plan through its backends, judged (comparisons.run)."""
    from backprop_crosscheck.comparisons.run import make_check, run_check

    # every reference first: a case it cannot compute is a bad-input error before any backend
    # runs, never one that throws away the runs already made
    options = {
        "device": plan.device,
        "rtol": plan.rtol,
        "atol": plan.atol,
        "require": plan.require,
        "hvp_seed": plan.hvp_seed,
        "timeout": plan.timeout,
    }
    checks = [make_check(c, d, **options) for c in plan.cases for d in plan.dtypes]
    with plan.workers() as workers:
        return [run_check(check, plan.backends, workers, single) for check in checks]


def render_runs(runs: list, plan: Plan) -> None:
    from backprop_crosscheck.comparisons.report.json_report import render_json
    from backprop_crosscheck.comparisons.report.text import render_markdown, render_text

    if plan.format == "json":
        write_output(render_json(runs), plan)
        return
    render = {"text": render_text, "markdown": render_markdown}[plan.format]
    write_output(render(runs, verbose=plan.verbose), plan)


def cmd_report(plan: Plan, args) -> int:
    from backprop_crosscheck.comparisons.report.pictures import ladder_plot, trajectory_plot
    from backprop_crosscheck.comparisons.run import verdict

    runs = run_all(plan)
    render_runs(runs, plan)
    passed, warnings = verdict(runs, [b.name for b in plan.backends] if args.backends else ())
    for warning in warnings:
        print(f"crosscheck report: warning: {warning}", file=sys.stderr)
    if plan.target("plot"):
        trajectory_plot(runs, plan.target("plot"))
    if plan.target("ladder"):
        ladder_plot(runs, plan.target("ladder"))
    return 0 if passed else 1


def cmd_explain(plan: Plan, args) -> int:
    from backprop_crosscheck.comparisons.explain.walkthrough import explain
    from backprop_crosscheck.comparisons.report.pictures import diagram

    (case,) = plan.cases
    run = run_all(plan)[0] if plan.backends else None
    sys.stdout.write(explain(case))
    if run is not None:
        sys.stdout.write(backend_verdicts(run))
    if plan.target("diagram"):
        diagram(case, plan.target("diagram"))
    if plan.target("html"):
        from backprop_crosscheck.comparisons.explain.page import page

        write_text(plan.target("html"), "--html", page(case, run))
    return 0 if run is None or run.passed else 1


def backend_verdicts(run) -> str:
    lines = ["", f"Backends ({run.dtype}, against the reference above)"]
    for c in run.comparisons:
        line = f"  {c.backend}: {c.status.upper()}" + (f" — {c.message}" if c.message else "")
        if c.diagnosis is not None:
            line += f"; why: {c.diagnosis.summary()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def cmd_list() -> int:
    from tabulate import tabulate

    rows = []
    for name in builtin_case_names():
        case = load_case(name)
        rows.append([name, case.architecture, case.steps, case.description])
    print("Built-in cases (or pass a path to a .toml case file)")
    print(tabulate(rows, headers=["case", "layers", "steps", "description"]))
    print()
    rows, reasons = [], []
    names = backend_names()  # a plugin as it declares itself, read in its worker
    for name, b in zip(names, backends_named(names), strict=True):
        ok, caps = b.available(), b.capabilities
        rows.append(
            [
                name,
                "yes" if ok else "no",
                b.version() or "-",
                caps.mode,
                ",".join(caps.dtypes),
                ",".join(caps.devices),
                b.install_hint if not ok else "runs when named" if b.on_request else "",
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


def cmd_sweep(plan: Plan, args) -> int:
    from backprop_crosscheck.comparisons.report.progress import Progress
    from backprop_crosscheck.comparisons.sweep.jobs import ClusterError, run_sweep
    from backprop_crosscheck.comparisons.sweep.shards import (
        Interrupted,
        SweepPlan,
        render_sweep,
        workers_for,
    )
    from backprop_crosscheck.comparisons.sweep.shrink import shrink_failures

    folder = Path(plan.target("save_failures"))
    sweep = SweepPlan(
        plan.backends,
        plan.dtypes,
        plan.rtol,
        plan.atol,
        folder,
        plan.timeout,
        plan.memory_mib,
        plan.in_process,
        plan.device,
    )
    with workers_for(sweep) as workers:  # a one-shard sweep's, then its shrinking's
        try:
            progress = Progress(args.cases)
            tallies = run_sweep(
                sweep, args.cases, args.seed, args.jobs, progress, args.dask, workers
            )
        except ClusterError as e:
            raise UsageError(f"crosscheck sweep: {e}") from None
        except Interrupted as stop:  # what finished is kept: its table, its failure files
            text, _ = render_sweep(
                stop.tallies, args.cases, args.seed, folder, plan.format, interrupted=True
            )
            write_output(text, plan)
            raise KeyboardInterrupt from None
        shrunk = shrink_failures(sweep, tallies, args.shrink, workers)
    text, failed = render_sweep(tallies, args.cases, args.seed, folder, plan.format, shrunk)
    write_output(text, plan)
    for name in [b.name for b in plan.backends] if args.backends else ():
        mine = [t for (backend, _), t in tallies.items() if backend == name]
        if mine and not any(t.passed + t.failed + t.errors for t in mine):
            why = next((t.skip_reason for t in mine if t.skip_reason), "every case was skipped")
            print(
                f"crosscheck sweep: warning: {name} was asked for and checked nothing: {why}",
                file=sys.stderr,
            )
    if not any(t.passed + t.failed for t in tallies.values()):
        nothing = "crosscheck sweep: nothing was compared: every run skipped or errored"
        print(nothing, file=sys.stderr)
        return 1
    return 1 if failed else 0


def cmd_bench(plan: Plan, args) -> int:
    from backprop_crosscheck.comparisons import bench
    from backprop_crosscheck.comparisons.report.progress import Progress

    if args.peers:
        return bench_peers(plan)
    names = [b.name for b in plan.backends]
    chosen = [(name, plan.specs.get(name, name)) for name in names]
    ladder = bench.QUICK if args.quick else bench.LADDER
    yardstick = {d: bench.matmul_gflops(d) for d in plan.dtypes}
    progress = Progress(len(names), "bench", "backends")
    rows = bench.run_bench(chosen, plan.dtypes, ladder, plan.device, args.time_per_size, progress)
    slopes = {
        f"{name} {d}": bench.slope([r for r in rows if (r.backend, r.dtype) == (name, d)])
        for name in names
        for d in plan.dtypes
    }
    records = bench.summarize(rows, yardstick)
    write_output(bench.render(records, yardstick, slopes, plan.format), plan)
    if not any(r.median_s for r in rows):
        print("crosscheck bench: nothing was measured: every backend skipped", file=sys.stderr)
        return 1
    return 0


def bench_peers(plan: Plan) -> int:
    """`crosscheck bench --peers`: comparisons/peers.py's table."""
    from backprop_crosscheck.comparisons import peers
    from backprop_crosscheck.comparisons.report.progress import Progress

    if importlib.util.find_spec("torch") is None:
        print("crosscheck bench --peers: needs torch: pip install torch==2.13.0", file=sys.stderr)
        return 2
    cases = peers.peer_cases()
    progress = Progress(len(cases), "bench --peers", "cases")
    rows = peers.peer_rows(cases, progress.update)
    write_output(peers.render(rows, plan.format), plan)
    return 0


def cmd_check(plan: Plan, args) -> int:
    from backprop_crosscheck.comparisons.run import verdict

    runs = run_all(plan, single=True)
    render_runs(runs, plan)
    return 0 if verdict(runs)[0] else 1


def cmd_conformance(plan: Plan, args) -> int:
    from backprop_crosscheck.comparisons.kit.conformance import case_names, load_xfail
    from backprop_crosscheck.comparisons.kit.conformance_run import run_conformance
    from backprop_crosscheck.comparisons.kit.scoreboard import passed, render
    from backprop_crosscheck.comparisons.report.progress import Progress

    xfail = load_xfail(*args.xfail)
    counts = [c for c in args.cases if isinstance(c, int)]
    if len(counts) > 1:
        raise UsageError("crosscheck conformance: --cases: one number of random cases, at most")
    files = [c for c in args.cases if isinstance(c, str)]
    for path in files:  # a bad case file is one line, exit 2, before anything runs
        load_case(path)
    cases = case_names(counts[0] if counts else 0, args.seed, args.suite) + files
    progress = Progress(len(plan.backends) * len(cases) * len(plan.dtypes), "conformance", "runs")
    records = run_conformance(
        plan.backends,
        cases,
        plan.dtypes,
        xfail,
        plan.timeout,
        plan.memory_mib,
        plan.in_process,
        progress,
    )
    versions = {b.name: b.version() for b in plan.backends}
    write_output(render(records, plan.format, versions), plan)
    stale = xfail.unmatched(plan.dtypes)
    if stale:
        shown = ", ".join(map(repr, stale[:5])) + (
            f" and {len(stale) - 5:,} more" if stale[5:] else ""
        )
        print(
            f"crosscheck conformance: warning: {len(stale):,} expected failures of "
            f"{', '.join(args.xfail)} matched no check: {shown}",
            file=sys.stderr,
        )
    return 0 if passed(records) else 1


COMMANDS = {
    "report": cmd_report,
    "explain": cmd_explain,
    "sweep": cmd_sweep,
    "bench": cmd_bench,
    "conformance": cmd_conformance,
    "check": cmd_check,
}
