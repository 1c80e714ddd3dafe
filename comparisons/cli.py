"""The `crosscheck` command (also `python -m comparisons`).

Exit status: 0 every comparison passed (skips allowed unless --require); 1 a comparison failed
or a backend errored; 2 bad usage or bad input — always one line on stderr, never a traceback.
"""

import argparse
import contextlib
import math
import sys
from pathlib import Path

from backprop_crosscheck.backends import UnknownBackend, backend_names, get_backend
from backprop_crosscheck.backends.interface import DTYPES
from backprop_crosscheck.comparisons.conformance import XfailError
from backprop_crosscheck.comparisons.learner_file import LearnerError
from backprop_crosscheck.comparisons.output_files import OutputError, check_target, write_text
from backprop_crosscheck.comparisons.pictures import PictureError
from backprop_crosscheck.reference import CaseError, builtin_case_names, load_case
from backprop_crosscheck.reference.case_file import DEFAULT_LIMITS, NO_LIMITS


class UsageError(Exception):
    """Bad usage or bad input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + exits; we want one line
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def whole_number_from(minimum: int):
    """An argparse type: a whole number ≥ ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number ≥ {minimum}, got {text!r}")
        return value

    return parse


positive_int, whole_number = whole_number_from(1), whole_number_from(0)


def seconds(text: str) -> float:
    value = tolerance_value(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def tolerance_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number ≥ 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text!r}")
    return value


IN_PROCESS = dict(
    action="store_true",
    help="run every backend in this process, one after another (for debuggers and profilers; "
    "gives up the isolation: a backend that exits or crashes ends the run); by default every "
    "plugin and framework runs in a worker process, side by side",
)


def add_isolation(command, timeout: float) -> None:
    """--timeout, --memory-limit and --in-process: what a backend is allowed."""
    command.add_argument(
        "--timeout", type=seconds, default=timeout, metavar="SECONDS",
        help=f"per backend and check; past it the backend is an error (default {timeout:g})",
    )  # fmt: skip
    command.add_argument(
        "--memory-limit", type=whole_number, default=None, metavar="MIB",
        help="memory cap of each worker process; past it the backend is an error "
        "(default: half of this machine's memory; 0: none)",
    )  # fmt: skip
    command.add_argument("--in-process", **IN_PROCESS)


NO_LIMITS_HELP = (
    "lift the limits on steps, widths and parameters of a case (for people who mean it)"
)


def build_parser() -> Parser:
    parser = Parser(prog="crosscheck", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_report(sub)
    explain = sub.add_parser("explain", help="the article's walk-through with a case's numbers")
    explain.add_argument("case", nargs="?", default="article", metavar="CASE")
    explain.add_argument("--diagram", metavar="FILE", help="draw the network (.svg or .png)")
    explain.add_argument("--no-limits", action="store_true", help=NO_LIMITS_HELP)
    sub.add_parser("list", help="built-in cases and backends (available? version? install hint)")
    add_sweep(sub)
    add_bench(sub)
    add_conformance(sub)
    add_check(sub)
    return parser


def add_report(sub) -> None:
    report = sub.add_parser("report", help="run backends on cases and compare with the reference")
    report.add_argument("cases", nargs="*", metavar="CASE", help="built-in name or .toml path")
    report.add_argument("--backends", help="comma-separated names (default: every backend)")
    report.add_argument("--dtype", choices=[*DTYPES, "all"], default="float64")
    report.add_argument("--steps", type=positive_int, help="override the case's SGD steps")
    report.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    report.add_argument("--rtol", type=tolerance_value, help="override the relative tolerance")
    report.add_argument("--atol", type=tolerance_value, help="override the absolute tolerance")
    report.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    report.add_argument("--output", metavar="FILE", help="write the report here (atomically)")
    report.add_argument("--require", action="store_true", help="a skipped backend is an error")
    report.add_argument("--no-limits", action="store_true", help=NO_LIMITS_HELP)
    add_isolation(report, timeout=600)
    report.add_argument("--plot", metavar="FILE", help="loss and error per step (.svg or .png)")
    report.add_argument(
        "--hvp",
        nargs="?",
        const=0,
        type=whole_number,
        metavar="SEED",
        help="add a Hessian-vector product check along a seeded direction (default seed 0)",
    )


def add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="seeded random cases through every backend")
    sweep.add_argument("--cases", type=positive_int, default=100, help="how many (default 100)")
    sweep.add_argument("--seed", type=whole_number, default=0, help="first case's seed (default 0)")
    sweep.add_argument("--backends", help="comma-separated names (default: every backend)")
    sweep.add_argument("--dtype", choices=[*DTYPES, "all"], default="all")
    sweep.add_argument("--rtol", type=tolerance_value, help="override the relative tolerance")
    sweep.add_argument("--atol", type=tolerance_value, help="override the absolute tolerance")
    sweep.add_argument(
        "--save-failures",
        metavar="DIR",
        default="crosscheck-failures",
        help="write each failing case here as a TOML file (default: crosscheck-failures/)",
    )
    add_isolation(sweep, timeout=120)


def add_check(sub) -> None:
    check = sub.add_parser("check", help="your own backprop function against the reference")
    check.add_argument(
        "file", metavar="FILE", help="a .py file defining backprop(case, params, X, Y)"
    )
    check.add_argument("cases", nargs="*", metavar="CASE", help="built-in name or .toml path")
    check.add_argument("--dtype", choices=[*DTYPES, "all"], default="float64")
    check.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    check.add_argument("--output", metavar="FILE", help="write the report here (atomically)")
    check.add_argument("--no-limits", action="store_true", help=NO_LIMITS_HELP)
    add_isolation(check, timeout=120)


def add_conformance(sub) -> None:
    kit = sub.add_parser("conformance", help="every check of the conformance kit on backends")
    kit.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="a backend: registered name, path/to/file.py:Class or module:Class",
    )
    kit.add_argument(
        "--cases",
        type=whole_number,
        default=6,
        help="random cases besides the built-in ones (default 6)",
    )
    kit.add_argument(
        "--seed", type=whole_number, default=0, help="the first random shape family (default 0)"
    )
    kit.add_argument("--dtype", choices=[*DTYPES, "all"], default="all")
    kit.add_argument("--xfail", metavar="FILE", help="expected failures ([[xfail]] check/reason)")
    kit.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    kit.add_argument("--output", metavar="FILE", help="write the scoreboard here (atomically)")
    add_isolation(kit, timeout=120)  # fmt: skip


def add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="speed of one gradient-and-update step per backend")
    bench.add_argument("--backends", help="comma-separated names (default: every backend)")
    bench.add_argument("--dtype", choices=[*DTYPES, "all"], default="all")
    bench.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    bench.add_argument("--quick", action="store_true", help="the small half of the ladder")
    bench.add_argument(
        "--time-per-size",
        type=tolerance_value,
        default=0.5,
        metavar="SECONDS",
        help="how long to repeat the step at each size (default 0.5; at least 5 repetitions)",
    )
    bench.add_argument("--format", choices=["text", "json"], default="text")
    bench.add_argument("--output", metavar="FILE", help="write the table here (atomically)")


def main(argv: list[str] | None = None) -> int:
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


def write_output(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, "--output", text)


def backend_workers(args):
    """A context giving the worker processes, or None with --in-process."""
    from backprop_crosscheck.comparisons.guard import default_memory_mib
    from backprop_crosscheck.comparisons.workers import Workers

    if args.in_process:
        return contextlib.nullcontext()
    limit = default_memory_mib() if args.memory_limit is None else args.memory_limit
    return Workers(memory_mib=limit)


def load_cases(specs: list[str], args):
    limits = NO_LIMITS if args.no_limits else DEFAULT_LIMITS
    return [load_case(c, limits) for c in specs]


def cmd_report(args) -> int:
    from backprop_crosscheck.comparisons.pictures import check_target as check_picture
    from backprop_crosscheck.comparisons.pictures import trajectory_plot
    from backprop_crosscheck.comparisons.report_json import render_json
    from backprop_crosscheck.comparisons.report_text import render_markdown, render_text
    from backprop_crosscheck.comparisons.runner import run_case, verdict

    if args.output:
        check_target(args.output, "--output")
    if args.plot:
        check_picture(args.plot, "--plot")
    cases = load_cases(args.cases or ["article"], args)
    if args.steps:
        cases = [c.replace(steps=args.steps) for c in cases]
    backends = chosen_backends(args.backends)
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
    from backprop_crosscheck.comparisons.explain import explain
    from backprop_crosscheck.comparisons.pictures import check_target, diagram

    if args.diagram:
        check_target(args.diagram, "--diagram")
    (case,) = load_cases([args.case], args)
    sys.stdout.write(explain(case))
    if args.diagram:
        diagram(case, args.diagram)
    return 0


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
    from backprop_crosscheck.comparisons.progress import Progress
    from backprop_crosscheck.comparisons.sweep import render_sweep, sweep

    folder = Path(args.save_failures)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"crosscheck sweep: --save-failures {folder}: is a file, not a folder")
    backends = chosen_backends(args.backends, "sweep")
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    progress = Progress(args.cases)
    tolerance = (args.rtol, args.atol)
    with backend_workers(args) as workers:
        tallies = sweep(
            args.cases, args.seed, backends, dtypes, *tolerance, folder, progress, workers,
            args.timeout,
        )  # fmt: skip
    text, failed = render_sweep(tallies, args.cases, args.seed, folder)
    sys.stdout.write(text)
    return 1 if failed else 0


def cmd_bench(args) -> int:
    from backprop_crosscheck.comparisons import bench
    from backprop_crosscheck.comparisons.progress import Progress

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
    from backprop_crosscheck.comparisons.learner_file import check_file
    from backprop_crosscheck.comparisons.report_json import render_json
    from backprop_crosscheck.comparisons.report_text import render_markdown, render_text
    from backprop_crosscheck.comparisons.runner import run_case, verdict

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
    from backprop_crosscheck.comparisons.conformance import case_names, load_xfail
    from backprop_crosscheck.comparisons.conformance_run import run_conformance
    from backprop_crosscheck.comparisons.guard import default_memory_mib
    from backprop_crosscheck.comparisons.progress import Progress
    from backprop_crosscheck.comparisons.scoreboard import passed, render

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
