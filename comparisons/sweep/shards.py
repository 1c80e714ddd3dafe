"""`crosscheck sweep`: many seeded random cases through every backend — verdict-quality numbers.

For each backend and dtype: how many cases passed and failed, and the worst honest error as a
fraction of its tolerance (the margin: 0.2 means the worst scalar used a fifth of what it was
allowed). Each failing case is written as a TOML case file that reproduces it.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from backprop_crosscheck.comparisons.report.output_files import OutputError, write_text
from backprop_crosscheck.comparisons.run import check_backends, make_check
from backprop_crosscheck.reference import CaseError
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.families.draw import (
    attention_family_case,
    family_case,
    sequence_family_case,
)

SHAPE = {"max_depth": 4, "max_width": 32, "max_batch": 16, "max_steps": 5}
FAMILY = 8  # cases per shape family: an engine that compiles (JAX) compiles once per family
BATCH = 32  # families whose checks the workers get at once, each going through them at its
# pace (a case is tallied as soon as every backend has answered it): more would only hold more
# references in memory; fewer made every worker wait for the slowest between batches


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep, carrying the tallies of what finished before it."""

    def __init__(self, tallies: dict):
        super().__init__()
        self.tallies = tallies


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
    failed_seeds: list[int] = field(default_factory=list)  # status fail (not error), in order
    skip_reason: str = ""  # the first skip's or n/a's reason: why it may have checked nothing


SEQUENCE_EVERY = 10  # families 7, 17, 27, … are sequence families (sequence-0, -1, -2, …)
# and families 2, 12, 22, … attention families (attention-0, -1, -2, …)


def sweep_case(seed: int):
    """Seed s is member s mod 8 of shape family F = s div 8: random-F.M, or for every tenth
    family (F mod 10 = 7) sequence-(F div 10).M, for another tenth (F mod 10 = 2)
    attention-(F div 10).M."""
    family, member = divmod(seed, FAMILY)
    if family % SEQUENCE_EVERY == 7:
        return sequence_family_case(family // SEQUENCE_EVERY, member)
    if family % SEQUENCE_EVERY == 2:
        return attention_family_case(family // SEQUENCE_EVERY, member)
    return family_case(family, member, **SHAPE)


@dataclass(frozen=True)
class SweepPlan:
    """One sweep, as every shard of it needs to know it."""

    backends: list
    dtypes: list
    rtol: float | None = None
    atol: float | None = None
    save_to: Path | None = None
    timeout: float | None = None
    memory_mib: int = 0
    in_process: bool = False
    device: str = "cpu"


def workers_for(plan: SweepPlan):
    """The plan's worker processes (a context manager), or none for --in-process."""
    import contextlib

    from backprop_crosscheck.comparisons.isolate.workers import Workers, one_thread_each

    if plan.in_process:
        return contextlib.nullcontext()
    # fd in workers too: its differences are the sweep's heaviest NumPy work, and there they
    # run beside the frameworks instead of between this process's judging — in two, dealt
    # alternate checks, so that the sweep's last seconds are not fd's alone on one core (100
    # cases, warm: 17.7 -> 15.6 s on 2 cores, docs/benchmark-notes.md). jax and jax-fwd (one
    # worker's) in two as well, alternate checks being the two dtypes: each lane compiles its
    # dtype's programs, where one worker was a cold sweep's last ~20 s alone on the machine
    # (cold 1.15x faster, warm the same: docs/benchmark-notes.md, session 22)
    lanes = {"fd": 2, "jax": 2, "jax-fwd": 2} if (os.cpu_count() or 1) > 1 else {}
    return Workers(plan.memory_mib, one_thread_each(), here=("numpy",), lanes=lanes)


def run_shard(plan: SweepPlan, seed: int, n: int, progress=None) -> dict:
    """Seeds seed … seed+n−1, with the plan's own worker processes (in a shard's process)."""
    with workers_for(plan) as workers:
        return sweep(plan, n, seed, progress, workers)


def shards(n: int, seed: int, jobs: int) -> list[tuple[int, int]]:
    """(first seed, count) of each shard: contiguous, in order, cut only where a shape family
    ends (so no family compiles in two shards), as even as whole families allow."""
    families = list(range(seed // FAMILY, (seed + n - 1) // FAMILY + 1))
    per = -(-len(families) // jobs)
    out = []
    for k in range(0, len(families), per):
        first = max(seed, families[k] * FAMILY)
        end = min(seed + n, (families[min(k + per, len(families)) - 1] + 1) * FAMILY)
        out.append((first, end - first))
    return out


def merge(parts: list[dict]) -> dict:
    """Shard tallies added up in seed order: the serial run's tallies exactly."""
    total = {key: Tally() for key in parts[0]}
    for part in parts:
        for key, t in part.items():
            m = total[key]
            m.cases, m.passed, m.failed = (
                m.cases + t.cases,
                m.passed + t.passed,
                m.failed + t.failed,
            )
            m.errors, m.skipped = m.errors + t.errors, m.skipped + t.skipped
            if t.worst_ratio > m.worst_ratio:
                m.worst_ratio, m.worst_where = t.worst_ratio, t.worst_where
            m.failures += t.failures
            m.failed_seeds += t.failed_seeds
            m.skip_reason = m.skip_reason or t.skip_reason
    return total


def sweep(plan: SweepPlan, n: int, seed: int, progress=None, workers=None) -> dict:
    """Run cases seed … seed+n−1; returns {(backend, dtype): Tally}. With ``workers`` (a
    comparisons.workers.Workers) each framework runs in its own process, side by side, working
    through a whole shape family's checks at its own pace."""
    tallies = {(b.name, d): Tally() for b in plan.backends for d in plan.dtypes}
    try:
        _sweep_batches(plan, tallies, n, seed, progress, workers)
    except KeyboardInterrupt:
        raise Interrupted(tallies) from None  # the cases counted so far: each one finished
    return tallies


def start_workers(plan: SweepPlan, workers) -> None:
    """Every worker the sweep's checks will go to (each lane of a backend's), started before it
    draws its cases and computes their references: the workers start Python, NumPy and the
    harness meanwhile, on the core this process leaves idle."""
    from backprop_crosscheck.comparisons.isolate.workers import dealt

    for b in plan.backends:
        group, lanes = workers.group(b), workers.lanes.get(b.name, 1)
        if group and any(b.skip_reason(d, plan.device) is None for d in plan.dtypes):
            for k in range(lanes):
                workers.start(dealt(group, lanes, k))


def _sweep_batches(plan: SweepPlan, tallies: dict, n: int, seed: int, progress, workers) -> None:
    backends, dtypes, done = plan.backends, plan.dtypes, 0
    if workers is not None:
        start_workers(plan, workers)
    options = {"device": plan.device, "rtol": plan.rtol, "atol": plan.atol}
    for batch in family_seeds(seed, n):
        cases = [sweep_case(s) for s in batch]
        checks, beyond = [], {}
        for case in cases:
            try:
                checks += [make_check(case, d, **options, timeout=plan.timeout) for d in dtypes]
            except CaseError as e:  # the reference itself overflows: nothing to judge against
                beyond[case.name] = str(e)
        answers = check_backends(backends, checks, workers)
        for case_seed, case in zip(batch, cases, strict=True):
            if case.name in beyond:
                for t in tallies.values():
                    t.cases, t.skipped = t.cases + 1, t.skipped + 1
            else:
                per_dtype = {d: next(answers) for d in dtypes}
                for k, backend in enumerate(backends):
                    for dtype in dtypes:
                        comparison = per_dtype[dtype][k][0]
                        tally(tallies[(backend.name, dtype)], comparison, case, case_seed, dtype)
                        if comparison.status in ("fail", "error") and plan.save_to is not None:
                            save_failure(
                                plan.save_to, case, backend.name, dtype, comparison.message
                            )
            done += 1
            if progress:
                progress.update(done, case.name)


def family_seeds(seed: int, n: int) -> list[list[int]]:
    """Seeds seed … seed+n−1 in batches of whole shape families (BATCH of them), in order."""
    groups: dict[int, list[int]] = {}
    for s in range(seed, seed + n):
        groups.setdefault(s // (FAMILY * BATCH), []).append(s)
    return list(groups.values())


def tally(t: Tally, c, case, case_seed: int, dtype: str) -> None:
    """Count one backend's comparison on one case and dtype."""
    t.cases += 1
    if c.status in ("skip", "unsupported"):  # unsupported: a case beyond the backend (n/a)
        t.skipped += 1
        t.skip_reason = t.skip_reason or c.message
        return
    if c.agreement is not None and c.agreement.worst_ratio > t.worst_ratio:
        t.worst_ratio = c.agreement.worst_ratio
        t.worst_where = f"{case.name} {c.agreement.worst_quantity} {c.agreement.worst}"
    if c.status == "pass":
        t.passed += 1
        return
    if c.status == "fail":
        t.failed += 1
        t.failed_seeds.append(case_seed)
    else:
        t.errors += 1
    why = f" — {c.diagnosis.verdict()}" if c.diagnosis is not None else ""
    t.failures.append(f"{case.name} ({case.architecture}) {c.backend} {dtype}: {c.message}{why}")


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


def render_sweep(
    tallies, n, seed, folder, fmt: str = "text", shrunk=(), interrupted: bool = False
) -> tuple[str, int]:
    """The table (or the JSON document), and how many runs failed or errored. ``shrunk``:
    comparisons.shrink.shrink_failures' records; ``interrupted``: Ctrl-C, the table holds what
    finished before it."""
    bad = [f for t in tallies.values() for f in t.failures]
    if fmt == "json":
        return sweep_json(tallies, n, seed, folder, bad, shrunk, interrupted), len(bad)
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
    if interrupted:
        done = max((t.cases for t in tallies.values()), default=0)
        lines.append(f"interrupted: the {done} of {n} cases that finished before Ctrl-C")
    lines += [f"  {line}" for line in bad[:20]]
    if bad:
        lines.append(f"{len(bad)} failing runs; their cases are in {folder}/")
    for r in shrunk:
        script = f" and {Path(r['script']).name}" if r["script"] else ""
        lines.append(
            f"shrunk {r['case']} ({r['backend']} {r['dtype']}, still failing {r['fails']}) to "
            f"{_network(r)}, {plural(r['samples'], 'sample')}, "
            f"{plural(r['training_steps'], 'step')}: {Path(r['file']).name}{script}"
        )
    return "\n".join(lines) + "\n", len(bad)


def _network(record: dict) -> str:
    """A shrunk case's network in words: a dense one's layers and activations, a stack's kinds."""
    if record["layers"]:
        return f"layers {record['layers']}, {'/'.join(record['activations'])}"
    return record["architecture"]


def sweep_json(tallies, n, seed, folder, bad, shrunk=(), interrupted=False) -> str:
    """For collecting sweeps across machines: schema backprop-crosscheck/sweep/1."""
    import json

    rows = [
        {
            "backend": b,
            "dtype": d,
            "cases": t.cases,
            "pass": t.passed,
            "fail": t.failed,
            "error": t.errors,
            "skip": t.skipped,
            "worst_fraction_of_tolerance": t.worst_ratio,
            "worst_at": t.worst_where,
        }
        for (b, d), t in tallies.items()
    ]
    doc = {
        "schema": "backprop-crosscheck/sweep/1",
        "cases": n,
        "seeds": [seed, seed + n - 1],
        "rows": rows,
        "failures": bad,
        "saved_to": str(folder),
        "shrunk": list(shrunk),
        "interrupted": interrupted,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
