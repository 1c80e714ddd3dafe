"""`crosscheck sweep`: many seeded random cases through every backend — verdict-quality numbers.

For each backend and dtype: how many cases passed and failed, and the worst honest error as a
fraction of its tolerance (the margin: 0.2 means the worst scalar used a fifth of what it was
allowed). Each failing case is written as a TOML case file that reproduces it.
"""

from dataclasses import dataclass, field
from pathlib import Path

from backprop_crosscheck.comparisons.judge import Check
from backprop_crosscheck.comparisons.output_files import OutputError, write_text
from backprop_crosscheck.comparisons.runner import check_backends
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.case_file import dump_case
from backprop_crosscheck.reference.random_cases import random_case

SHAPE = {"max_depth": 4, "max_width": 32, "max_batch": 16, "max_steps": 5}


@dataclass
class Tally:
    cases: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    worst_ratio: float = 0.0
    worst_where: str = ""
    failures: list[str] = field(default_factory=list)


def sweep_case(seed: int):
    return random_case(seed, **SHAPE)


def sweep(
    n, seed, backends, dtypes, rtol=None, atol=None, save_to=None, progress=None, workers=None,
    timeout=None,
):  # fmt: skip
    """Run cases seed … seed+n−1; returns {(backend, dtype): Tally}. With ``workers`` (a
    comparisons.workers.Workers) each framework runs in its own process, side by side."""
    tallies = {(b.name, d): Tally() for b in backends for d in dtypes}
    for i in range(n):
        case = sweep_case(seed + i)
        reference = train(case)
        checks = {
            d: check_backends(
                backends, Check(case, reference, d, "cpu", rtol, atol, timeout=timeout), workers
            )
            for d in dtypes
        }
        for k, backend in enumerate(backends):
            for dtype in dtypes:
                c = checks[dtype][k][0]
                t = tallies[(backend.name, dtype)]
                t.cases += 1
                if c.status == "skip":
                    t.skipped += 1
                    continue
                if c.agreement is not None and c.agreement.worst_ratio > t.worst_ratio:
                    t.worst_ratio = c.agreement.worst_ratio
                    t.worst_where = f"{case.name} {c.agreement.worst_quantity} {c.agreement.worst}"
                if c.status == "pass":
                    t.passed += 1
                    continue
                if c.status == "fail":
                    t.failed += 1
                else:
                    t.errors += 1
                why = f" — {c.diagnosis.verdict()}" if c.diagnosis is not None else ""
                t.failures.append(f"{case.name} {backend.name} {dtype}: {c.message}{why}")
                if save_to is not None:
                    save_failure(save_to, case, backend.name, dtype, c.message)
        if progress:
            progress.update(i + 1, case.name)
    return tallies


def save_failure(folder: Path, case, backend: str, dtype: str, message: str) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--save-failures {folder}: {e.strerror or e}") from None
    path = folder / f"{case.name}-{backend}-{dtype}.toml"
    header = (
        f"# crosscheck sweep failure: backend {backend}, dtype {dtype}\n"
        f"# {message}\n"
        f"# reproduce: crosscheck report {path} --backends {backend} --dtype {dtype}\n"
    )
    write_text(str(path), "--save-failures", header + dump_case(case))
    return path


def render_sweep(tallies, n, seed, folder) -> tuple[str, int]:
    """The table, and how many runs failed or errored."""
    from tabulate import tabulate

    rows = [
        [b, d, t.cases, t.passed, t.failed, t.errors, t.skipped, f"{t.worst_ratio:.3g}"]
        + [t.worst_where]
        for (b, d), t in tallies.items()
    ]
    headers = ["backend", "dtype", "cases", "pass", "fail", "error", "skip", "worst/tol"]
    lines = [
        f"sweep: {n} random cases, seeds {seed}..{seed + n - 1}",
        tabulate(rows, headers=[*headers, "worst at"], disable_numparse=True),
        "worst/tol: the largest |backend - reference| / (atol + rtol·|reference|); < 1 passes",
    ]
    bad = [f for t in tallies.values() for f in t.failures]
    lines += [f"  {line}" for line in bad[:20]]
    if bad:
        lines.append(f"{len(bad)} failing runs; their cases are in {folder}/")
    return "\n".join(lines) + "\n", len(bad)
