"""docs/scoreboard.md, made from conformance runs' JSON (``crosscheck conformance … --format
json``), one run per engine's own virtual environment (scripts/scoreboard): one row per backend
and version, one column per check. An expected failure is a known divergence: its cell links
the backend's write-up in docs/divergences/, and each distinct reason is listed below the
table with how many checks it explains."""

from collections import Counter

from backprop_crosscheck.comparisons.kit.conformance import CHECKS, FAILING
from backprop_crosscheck.comparisons.kit.scoreboard import cell


def reason_of(message: str) -> str:
    """An expected failure's reason: its message up to the judged outcome (`reason — what`)."""
    return message.split(" — ")[0]


def verdict(results: list[dict]) -> str:
    statuses = Counter(r["status"] for r in results)
    if any(statuses[s] for s in FAILING):
        return "**FAIL**"
    if not statuses["pass"] + statuses["xfail"]:
        return "nothing checked"
    return f"PASS ({statuses['xfail']} known)" if statuses["xfail"] else "PASS"


def rows(runs: list[dict], written: set[str]) -> list[list[str]]:
    table = []
    for doc in runs:
        for backend, checks in doc["scoreboard"].items():
            mine = [r for r in doc["results"] if r["backend"] == backend]
            cells = [cell(Counter(checks.get(c, {}))) for c in CHECKS]
            if backend in written:  # every expected failure links its write-up
                cells = [
                    f"[{c}](divergences/{backend}.md)" if c.startswith("xfail") else c
                    for c in cells
                ]
            version = (doc.get("versions") or {}).get(backend) or "-"
            table.append([f"`{backend}`", version, *cells, verdict(mine)])
    return table


def known(runs: list[dict]) -> list[str]:
    """One line per backend and distinct reason of its expected failures, with their count."""
    lines = []
    for doc in runs:
        for backend in doc["scoreboard"]:
            reasons = Counter(
                reason_of(r["message"])
                for r in doc["results"]
                if r["backend"] == backend and r["status"] == "xfail"
            )
            lines += [
                f"- `{backend}` ({n} check{'s' * (n != 1)}): {why}" for why, n in reasons.items()
            ]
    return lines


def page(runs: list[dict], written: set[str], how: str) -> str:
    """The page: the table, what its cells mean, the known divergences, how it was made."""
    from tabulate import tabulate

    table = tabulate(
        rows(runs, written),
        headers=["backend", "version", *CHECKS, "verdict"],
        tablefmt="github",
        disable_numparse=True,
    )
    lines = [
        "# The conformance scoreboard",
        "",
        "Every built-in engine through `crosscheck conformance` (the default run: the "
        "built-in cases and 6 random ones, float64 and float32), each installed in a "
        "virtual environment of its own, with its known divergences "
        "(tests/known-divergences/). `✓ n`: passed on n case × dtype runs; `xfail k/n`: k "
        "known divergences, each written up in docs/divergences/ (the link); `✗ k/n`: k "
        "failed; `skip`: does not apply (the reasons: `crosscheck conformance NAME`).",
        "",
        table,
        "",
        "## Known divergences",
        "",
        *known(runs),
        "",
        how,
    ]
    return "\n".join(lines) + "\n"
