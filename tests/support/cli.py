"""The command line, run in this process as a user runs it: ``run(capsys, "report", …)``."""

import json


def run(capsys, *argv) -> tuple[int, str, str]:
    """`crosscheck ARGV` in this process: (exit status, stdout, stderr)."""
    from backprop_crosscheck.comparisons.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_json(capsys, *argv) -> tuple[int, dict]:
    """`crosscheck report --format json ARGV`: (exit status, the parsed report)."""
    code, out, _ = run(capsys, "report", "--format", "json", *argv)
    return code, json.loads(out)
