"""Bounded work everywhere (issue #39): a small file that asks for an unbounded run — a padding
of thousands around a 1×1 image, blocks nested hundreds deep, a stride past any engine's
integers — is one line naming the field and the limit, exit 2, before anything runs; the
reference's own run keeps to --timeout; what a backend sends back is capped by the case's
shapes."""

import json
import re
import subprocess
import sys
import time

import pytest
from backprop_crosscheck.comparisons.isolate.wire import answer_limit
from backprop_crosscheck.reference.cases.file import load_case
from support.cli import run
from support.paths import ROOT, TESTS

HEAD = 'learning_rate = 0.1\nloss = "half_sse"\ntargets = [[0.5]]\n'
ONE_PIXEL = "inputs = [[[[0.5]]]]\n"


def conv(padding: int, steps: int = 1) -> str:
    """A 3×3 convolution of a 1×1 image padded by ``padding``, summed to one output."""
    return (
        HEAD + ONE_PIXEL + f"steps = {steps}\n"
        '[[stack]]\nkind = "conv2d"\nkernel = [[[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], '
        f"[0.7, 0.8, 0.9]]]]\npadding = {padding}\n"
        '[[stack]]\nkind = "avg_pool2d"\n'
        f"size = {2 * padding - 1}\n"
        '[[stack]]\nkind = "flatten"\n[[stack]]\nkind = "dense"\nW = [[1.0]]\n'
    )


def nested(depth: int) -> str:
    """Residual blocks nested ``depth`` deep around one relu, on two features."""
    text = "learning_rate = 0.1\ninputs = [[1.0, 2.0]]\ntargets = [[0.5, 0.1]]\n"
    for level in range(depth):
        text += f'[[stack{".block" * level}]]\nkind = "residual"\n'
    text += f'[[stack{".block" * depth}]]\nkind = "relu"\n'
    return text + '[[stack]]\nkind = "dense"\nW = [[0.1, 0.2], [0.3, 0.4]]\n'


EMBEDDING = (
    'learning_rate = 0.1\nloss = "half_sse"\ninputs = [[0, {index}]]\ntargets = [[0.5]]\n'
    '[[stack]]\nkind = "embedding"\ntable = [[0.1], [0.2]]\n'
    '[[stack]]\nkind = "flatten"\n[[stack]]\nkind = "dense"\nW = [[0.1], [0.2]]\n'
)

TOO_MUCH = {  # id: (case text, the field named, a phrase of the reason)
    "padding-2000-im2col": (conv(2000), "stack[0].kernel", "over the limit of 20,000,000"),
    "padding-8000": (conv(8000), "stack[0].padding", "entries, over the limit of 20,000,000"),
    "nested-250-deep": (
        nested(250),
        "stack[0].block[0].block",
        "over 64 layers (counting those inside residual",
    ),
    "stride-2-to-the-64": (
        HEAD
        + ONE_PIXEL
        + '[[stack]]\nkind = "max_pool2d"\nsize = 1\nstride = 18446744073709551616\n'
        '[[stack]]\nkind = "flatten"\n[[stack]]\nkind = "dense"\nW = [[1.0]]\n',
        "stack[0].stride",
        "must be a whole number from 1 to 2,147,483,647",
    ),
    "embedding-index-2-to-the-64": (
        EMBEDDING.format(index=2**64),
        "inputs[0][1]",
        "must be a token index (a whole number from 0 to 2,147,483,647)",
    ),
    "no-parameters": (
        "learning_rate = 0.1\ninputs = [[1.0, 2.0]]\ntargets = [[0.5, 0.1]]\n"
        '[[stack]]\nkind = "relu"\n',
        "stack",
        "has no parameters",
    ),
    "steps-times-work": (conv(400, steps=100_000), "steps", "multiply-adds a step is"),
}


# every case through the report; two of them through every other door that reads case files
DOORS = [(name, "report") for name in TOO_MUCH] + [
    (name, command)
    for name in ("padding-8000", "nested-250-deep")
    for command in ("explain", "check", "conformance")
]


@pytest.mark.parametrize("name, command", DOORS, ids=[f"{n}-{c}" for n, c in DOORS])
def test_a_case_that_asks_too_much_is_one_line_before_anything_runs(
    capsys, tmp_path, name, command
):
    text, field, phrase = TOO_MUCH[name]
    path = tmp_path / "big.toml"
    path.write_text(text)
    argv = {
        "report": ["report", str(path), "--backends", "numpy"],
        "explain": ["explain", str(path)],
        "check": [
            "check",
            str(ROOT / "examples" / "learner" / "article_backprop.py"),
            str(path),
        ],
        "conformance": ["conformance", "numpy", "--cases", "0", str(path)],
    }[command]
    start = time.monotonic()
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"{path}: {field}" in err and phrase in err, err
    assert time.monotonic() - start < 30  # refused from the file, not after the work


def test_the_limits_can_be_lifted_and_the_reference_then_keeps_to_timeout(capsys, tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(conv(400, steps=100_000))
    start = time.monotonic()
    code, out, err = run(
        capsys, "report", str(path), "--backends", "numpy", "--no-limits", "--timeout", "0.2"
    )
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "the reference did not finish within --timeout 0.2 s" in err
    assert time.monotonic() - start < 30


def test_a_backend_that_sends_back_more_than_the_case_holds_is_an_error(capsys):
    huge = f"{TESTS / 'corpus' / 'plugins' / 'hostile.py'}:HugeUnusedGradient"
    code, out, _ = run(capsys, "report", "--backends", f"numpy,{huge}", "--format", "json")
    rows = {r["backend"]: r for r in json.loads(out)["runs"][0]["backends"]}
    row = rows["HugeUnusedGradient"]
    assert code == 1 and row["status"] == "error" and rows["numpy"]["status"] == "pass"
    limit = re.search(r"its answer was over ([\d,]+) bytes", row["message"])
    assert limit and int(limit[1].replace(",", "")) == answer_limit(load_case("article")), row[
        "message"
    ]


def test_the_command_line_refuses_a_huge_padding_without_a_traceback(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(conv(8000))
    proc = subprocess.run(
        [sys.executable, "-m", "backprop_crosscheck", "report", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
