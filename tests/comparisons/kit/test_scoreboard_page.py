"""docs/scoreboard.md's maker (comparisons/kit/scoreboard_page.py), from conformance JSON as
`crosscheck conformance … --format json` writes it — and the page in docs/ is one it made."""

import json
import re

from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.kit.scoreboard_page import page
from support.paths import ROOT

FAKES = "support.fake_backends"


def run_json(capsys, *argv) -> dict:
    main(
        [
            "conformance",
            *argv,
            "--cases",
            "0",
            "--dtype",
            "float64",
            "--in-process",
            "--format",
            "json",
        ]
    )
    return json.loads(capsys.readouterr().out)


def as_known(doc: dict, backend: str, reason: str) -> dict:
    """``doc`` (one backend's passing run) as another backend's whose first gradient check
    is a known divergence: the scoreboard JSON an expected failure gives."""
    doc = json.loads(json.dumps(doc).replace('"numpy', f'"{backend}'))
    first = next(r for r in doc["results"] if r["check"] == "gradients")
    first.update(status="xfail", message=f"{reason} — 1 mismatched: …")
    doc["scoreboard"][backend]["gradients"] = {"pass": len(doc["results"]) // 20, "xfail": 1}
    return doc


def test_a_row_per_backend_its_version_and_its_known_divergences_linked(capsys):
    passing = run_json(capsys, "numpy")
    known = as_known(passing, "engine", "w3 is off by design (my/engine.py)")
    text = page([passing, known], written={"engine"}, how="Made by a test.")
    numpy_row = next(line for line in text.splitlines() if line.startswith("| `numpy`"))
    assert re.search(r"\| PASS +\|$", numpy_row) and passing["versions"]["numpy"] in numpy_row
    engine_row = next(line for line in text.splitlines() if line.startswith("| `engine`"))
    page_of = f"](divergences/{'engine'}.md)"  # (a literal path here would be a citation)
    assert page_of in engine_row and "PASS (1 known)" in engine_row
    assert "- `engine` (1 check): w3 is off by design (my/engine.py)" in text
    assert text.rstrip().endswith("Made by a test.")


def test_a_failure_is_a_fail_row(capsys):
    failing = run_json(capsys, f"{FAKES}:OffW3")
    text = page([failing], written=set(), how="")
    assert "**FAIL**" in next(line for line in text.splitlines() if "`OffW3`" in line)


def test_the_published_scoreboard_has_every_built_in_engine():
    """scripts/scoreboard wrote it: a row per built-in backend, each with its version."""
    from backprop_crosscheck.backends.registry import BUILTIN

    text = (ROOT / "docs" / "scoreboard.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([\w-]+)` +\| ([^|]+) \|", text, re.MULTILINE)
    }
    assert set(BUILTIN) <= set(rows), set(BUILTIN) - set(rows)
    assert all(version.strip() != "-" for version in rows.values()), rows
