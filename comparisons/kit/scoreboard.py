"""The conformance scoreboard: backend × check, in text, Markdown and JSON (like the ONNX
backend scoreboard), with every failure and every expected failure's reason below it."""

import json
from collections import Counter
from dataclasses import dataclass

from backprop_crosscheck.comparisons.kit.conformance import CHECKS, FAILING, STATUSES, Outcome

SCHEMA = "backprop-crosscheck/conformance/1"


@dataclass(frozen=True)
class Record:
    backend: str
    check: str
    case: str
    dtype: str
    outcome: Outcome

    @property
    def id(self) -> str:
        return f"{self.check}[{self.backend}-{self.case}-{self.dtype}]"


def passed(records: list[Record]) -> bool:
    """Nothing failing, and something actually checked of every backend asked for."""
    statuses = {r.outcome.status for r in records}
    return (
        not statuses & set(FAILING)
        and bool(statuses & {"pass", "xfail"})
        and not unchecked(records)
    )


def unchecked(records: list[Record]) -> list[str]:
    """The backends asked for of which nothing was checked (every record a skip)."""
    ran = {r.backend for r in records if r.outcome.status != "skip"}
    return sorted({r.backend for r in records} - ran)


def counts(records: list[Record]) -> dict[str, dict[str, Counter]]:
    table: dict[str, dict[str, Counter]] = {}
    for r in records:
        table.setdefault(r.backend, {c: Counter() for c in CHECKS})[r.check][r.outcome.status] += 1
    return table


def cell(tally: Counter) -> str:
    bad = sum(tally[s] for s in FAILING)
    ran = sum(tally[s] for s in ("pass", "fail", "error", "xfail", "xpass"))
    if bad:
        return f"✗ {bad}/{ran}"
    if tally["xfail"]:
        return f"xfail {tally['xfail']}/{ran}"
    return f"✓ {ran}" if ran else "skip"


def render(records: list[Record], fmt: str = "text", versions: dict | None = None) -> str:
    if fmt == "json":
        return scoreboard_json(records, versions or {})
    from tabulate import tabulate

    markdown = fmt == "markdown"
    table = counts(records)
    rows = [[backend, *(cell(table[backend][c]) for c in CHECKS)] for backend in table]
    style = "github" if markdown else "simple"
    lines = [tabulate(rows, headers=["backend", *CHECKS], tablefmt=style, disable_numparse=True)]
    lines.append("✓ n: passed on n case × dtype runs; ✗ k/n: k of n failed; skip: does not apply")
    for title, statuses in [("Failures", FAILING), ("Expected failures", ("xfail",))]:
        listed = [r for r in records if r.outcome.status in statuses]
        if listed:
            lines += ["", f"{'### ' if markdown else ''}{title}:"]
            lines += [f"- {r.id}: {r.outcome.status}: {r.outcome.message}" for r in listed]
    skipped = not_checked(records)
    if skipped:
        lines += ["", f"{'### ' if markdown else ''}Not checked:"]
        lines += [f"- {b} ({', '.join(checks)}): {why}" for b, why, checks in skipped]
    for backend in unchecked(records):
        lines += ["", f"{backend}: nothing was checked (every check skipped; the reasons above)"]
    total = Counter(r.outcome.status for r in records)
    summary = ", ".join(f"{total[s]} {s}" for s in STATUSES if total[s])
    verdict = "PASS" if passed(records) else "FAIL"
    lines += [
        "",
        f"{summary}",
        f"{'**' if markdown else ''}verdict: {verdict}{'**' if markdown else ''}",
    ]
    return "\n".join(lines) + "\n"


def not_checked(records: list[Record]) -> list[tuple[str, str, list[str]]]:
    """(backend, why, its checks skipped for that reason — "every check" when all were)."""
    by_reason: dict[tuple[str, str], set[str]] = {}
    for r in records:
        if r.outcome.status == "skip":
            by_reason.setdefault((r.backend, r.outcome.message), set()).add(r.check)
    every = {b: {r.check for r in records if r.backend == b} for b, _ in by_reason}
    return [
        (b, why, ["every check"] if checks == every[b] else [c for c in CHECKS if c in checks])
        for (b, why), checks in sorted(by_reason.items())
    ]


def scoreboard_json(records: list[Record], versions: dict) -> str:
    table = counts(records)
    doc = {
        "schema": SCHEMA,
        "verdict": "pass" if passed(records) else "fail",
        "versions": versions,  # backend: its framework's version (None: not installed)
        "checks": list(CHECKS),
        "scoreboard": {
            b: {c: dict(sorted(t.items())) for c, t in row.items()} for b, row in table.items()
        },
        "results": [
            {
                "id": r.id,
                "backend": r.backend,
                "check": r.check,
                "case": r.case,
                "dtype": r.dtype,
                "status": r.outcome.status,
                "message": r.outcome.message,
            }
            for r in records
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
