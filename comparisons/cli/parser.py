"""The `crosscheck` command line's grammar: subcommands, options, and the argument types that
turn a bad value into one line (exit status 2) instead of argparse's usage dump."""

import argparse
import math

from backprop_crosscheck.backends.interface import DTYPES, FULL
from backprop_crosscheck.comparisons.kit.suites import LATEST, SUITES

DESCRIPTION = "Cross-check hand-derived backpropagation against autodiff engines."


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


def case_count(text: str) -> int | str:
    """How many random cases the conformance kit runs: 0 to 10,000 (each is every check) — or
    a case file (.toml) to run as well."""
    if text.lower().endswith(".toml"):
        return text
    value = whole_number(text)
    if value > 10_000:
        raise argparse.ArgumentTypeError(f"must be at most 10,000, got {text!r}")
    return value


DTYPE_HELP = (
    "a precision (float64, float32, bfloat16, float16), several comma-separated, or all "
    "(float64 and float32; the low precisions are asked by name)"
)


def dtype_list(text: str) -> list[str]:
    """``float32``, ``float32,bfloat16`` or ``all`` (float64 and float32) → the dtypes, in order."""
    if text == "all":
        return list(FULL)
    names = [n.strip() for n in text.split(",")]
    unknown = [n for n in names if n not in DTYPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown dtype {unknown[0]!r} (choose from {', '.join(DTYPES)}, or all)"
        )
    return list(dict.fromkeys(names))


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
        "--timeout",
        type=seconds,
        default=timeout,
        metavar="SECONDS",
        help=f"per backend and check; past it the backend is an error (default {timeout:g})",
    )
    command.add_argument(
        "--memory-limit",
        type=whole_number,
        default=None,
        metavar="MIB",
        help="memory cap of each worker process; past it the backend is an error "
        "(default: half of this machine's memory; 0: none)",
    )
    command.add_argument("--in-process", **IN_PROCESS)


VERBOSE_HELP = "show where each erroring backend raised (its traceback's last frames)"
NO_LIMITS_HELP = (
    "lift the limits on steps, widths and parameters of a case (for people who mean it)"
)


def build_parser() -> Parser:
    parser = Parser(prog="crosscheck", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_report(sub)
    explain = sub.add_parser("explain", help="the article's walk-through with a case's numbers")
    explain.add_argument("case", nargs="?", default="article", metavar="CASE")
    explain.add_argument("--diagram", metavar="FILE", help="draw the network (.svg or .png)")
    explain.add_argument(
        "--html",
        metavar="FILE",
        help="write the walk-through as one interactive page (every step; nothing fetched)",
    )
    explain.add_argument(
        "--backends",
        help="comma-separated names: their values beside the reference's on the page "
        "(and a verdict per backend after the text)",
    )
    explain.add_argument("--dtype", choices=DTYPES, default="float64", help="the backends' dtype")
    explain.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    explain.add_argument("--no-limits", action="store_true", help=NO_LIMITS_HELP)
    add_isolation(explain, timeout=120)
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
    report.add_argument("--dtype", type=dtype_list, default="float64", help=DTYPE_HELP)
    report.add_argument("--steps", type=positive_int, help="override the case's SGD steps")
    report.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    report.add_argument("--rtol", type=tolerance_value, help="override the relative tolerance")
    report.add_argument("--atol", type=tolerance_value, help="override the absolute tolerance")
    report.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    report.add_argument("--output", metavar="FILE", help="write the report here (atomically)")
    report.add_argument("--require", action="store_true", help="a skipped backend is an error")
    report.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    report.add_argument("--no-limits", action="store_true", help=NO_LIMITS_HELP)
    add_isolation(report, timeout=600)
    report.add_argument("--plot", metavar="FILE", help="loss and error per step (.svg or .png)")
    report.add_argument(
        "--ladder",
        metavar="FILE",
        help="the precision ladder: each engine's errors in each --dtype (.svg or .png)",
    )
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
    sweep.add_argument("--dtype", type=dtype_list, default="all", help=DTYPE_HELP)
    sweep.add_argument("--rtol", type=tolerance_value, help="override the relative tolerance")
    sweep.add_argument("--atol", type=tolerance_value, help="override the absolute tolerance")
    sweep.add_argument(
        "--save-failures",
        metavar="DIR",
        default="crosscheck-failures",
        help="write each failing case here as a TOML file (default: crosscheck-failures/)",
    )
    sweep.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="shards of seeds run side by side (default: one per 4 cores here; with --dask, "
        "the cluster's threads)",
    )
    sweep.add_argument(
        "--shrink",
        type=whole_number,
        default=1,
        metavar="N",
        help="shrink the first N failing cases of each backend and dtype to a minimal case "
        "saved beside the original, with a standalone script (default 1; 0: none)",
    )
    sweep.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the shards as tasks on this Dask scheduler (e.g. tcp://host:8786)",
    )
    sweep.add_argument("--format", choices=["text", "json"], default="text")
    sweep.add_argument("--output", metavar="FILE", help="write the table here (atomically)")
    sweep.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    add_isolation(sweep, timeout=120)


def add_check(sub) -> None:
    check = sub.add_parser("check", help="your own backprop function against the reference")
    check.add_argument(
        "file", metavar="FILE", help="a .py file defining backprop(case, params, X, Y)"
    )
    check.add_argument("cases", nargs="*", metavar="CASE", help="built-in name or .toml path")
    check.add_argument("--dtype", type=dtype_list, default="float64", help=DTYPE_HELP)
    check.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    check.add_argument("--output", metavar="FILE", help="write the report here (atomically)")
    check.add_argument("--no-limits", action="store_true", help=NO_LIMITS_HELP)
    check.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
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
        type=case_count,
        nargs="+",
        default=[6],
        metavar="N|FILE",
        help="random cases besides the built-in ones (default 6), and case files (.toml) to "
        "run as well",
    )
    kit.add_argument(
        "--seed", type=whole_number, default=0, help="the first random shape family (default 0)"
    )
    kit.add_argument(
        "--suite",
        choices=list(SUITES),
        default=LATEST,
        metavar="VERSION",
        help=f"the pinned suite of cases to run: {', '.join(SUITES)} (default {LATEST}, the "
        "newest; docs/conformance.md lists what each adds)",
    )
    kit.add_argument("--dtype", type=dtype_list, default="all", help=DTYPE_HELP)
    kit.add_argument(
        "--xfail",
        metavar="FILE",
        action="append",
        default=[],
        help="expected failures ([[xfail]] check/reason; repeatable)",
    )
    kit.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    kit.add_argument("--output", metavar="FILE", help="write the scoreboard here (atomically)")
    add_isolation(kit, timeout=120)


def add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="speed of one gradient-and-update step per backend")
    bench.add_argument("--backends", help="comma-separated names (default: every backend)")
    bench.add_argument("--dtype", type=dtype_list, default="all", help=DTYPE_HELP)
    bench.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    bench.add_argument("--quick", action="store_true", help="the small half of the ladder")
    bench.add_argument(
        "--peers",
        action="store_true",
        help="the harness's verdict beside torch.autograd.gradcheck on a hand-written backward "
        "with each listed mistake, every built-in case (needs torch)",
    )
    bench.add_argument(
        "--time-per-size",
        type=tolerance_value,
        default=0.5,
        metavar="SECONDS",
        help="how long to repeat the step at each size (default 0.5; at least 5 repetitions)",
    )
    bench.add_argument("--format", choices=["text", "json"], default="text")
    bench.add_argument("--output", metavar="FILE", help="write the table here (atomically)")
