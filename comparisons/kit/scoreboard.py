"""The conformance scoreboard: backend × check, in text, Markdown and JSON (like the ONNX
backend scoreboard), with every failure and every expected failure's reason below it."""

import json
import re
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
            lines += by_cause(listed)
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


def cause_of(message: str) -> str:
    """What a failure says of its cause, its numbers left out: the diagnosis's first finding
    (where it first went wrong), else the whole message — an error's text is its cause."""
    diagnosis = message.partition(" — diagnosis: ")[2]
    if not diagnosis:
        return message
    finding = re.sub(r"\[[^\]]*\]", "[…]", diagnosis.partition(" — ")[0])
    return re.sub(r"-?\d[\d.e+-]*", "#", finding)


def by_cause(listed: list[Record], shown: int = 4) -> list[str]:
    """A line per backend and cause — the diagnosis a failure names, else its message — with
    the checks it accounts for: a root cause once, not once per check, case and dtype."""
    groups: dict[tuple, list[Record]] = {}
    for r in listed:
        groups.setdefault((r.backend, r.outcome.status, cause_of(r.outcome.message)), []).append(r)
    lines = []
    for (backend, status, _), found in groups.items():
        first = found[0]
        if len(found) == 1:
            lines.append(f"- {first.id}: {status}: {first.outcome.message}")
            continue
        more = f" and {len(found) - shown} more" if len(found) > shown else ""
        ids = ", ".join(r.id for r in found[:shown]) + more
        lines.append(
            f"- {backend}: {status} on {len(found)} checks ({ids}), one cause; the first: "
            f"{first.outcome.message}"
        )
    return lines


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
