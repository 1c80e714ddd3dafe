"""Hostile and malformed input, through the CLI: exit status 2, one line on stderr naming the
file, the field or the flag, nothing on stdout, never a traceback.

The case files are kept in tests/corpus/ (one file per way to break a case); inputs that
cannot be files in a repository (a FIFO, /dev/zero, a file over the size limit, a name with a
newline) and bad flags are made here.
"""

import os
from pathlib import Path

import pytest
from support.cli import run
from support.paths import TESTS

CORPUS = TESTS / "corpus"

# corpus file -> what its one line must say
FILES = {
    "huge-int-learning-rate.toml": "learning_rate must be a finite number > 0",
    "huge-int-weight.toml": "weights[0][0][0] is 1000",
    "activation-list-of-lists.toml": "activation[0] ['relu'] is not one of",
    "activation-table.toml": "activation must be one name or a list of 2",
    "loss-list.toml": "loss ['mse'] is not one of",
    "deeply-nested-arrays.toml": "invalid TOML: nested too deeply",
    "deeply-nested-tables.toml": "invalid TOML: nested too deeply",
    "steps-10e20.toml": "steps is 100,000,000,000,000,000,000, over the limit of 100,000",
    "width-huge.toml": "layers[1] is 100,000,000 neurons, over the limit",
    "parameters-huge.toml": "layers ask for 900,090,000 parameters, over the limit",
    "field-with-newline.toml": "'bad\\nfield' is not a known field",
    "reference-overflows-weights.toml": "the reference cannot compute this case: it overflows",
    "reference-overflows-learning-rate.toml": "the reference cannot compute this case: it over",
    "not-utf8.toml": "cannot read: not UTF-8 text",
}


def special_inputs(tmp: Path) -> dict:
    """name -> (argv, phrase) for the inputs made at run time."""
    fifo = tmp / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp / "big.toml"
    with open(big, "wb") as f:
        f.truncate(40 * 2**20)
    newline = tmp / "new\nline.toml"
    newline.write_text("layers = 3\n")
    folder = tmp / "a-folder"
    folder.mkdir()
    a_file = tmp / "a-file"
    a_file.write_text("")
    return {
        "fifo": (["report", str(fifo)], "not a regular file"),
        "dev-zero": (["report", "/dev/zero"], "/dev/zero: not a regular file"),
        "folder-as-case": (["explain", str(folder)], "not a regular file"),
        "over-size": (["report", str(big)], "over the 32 MiB limit"),
        "path-with-newline": (["report", str(newline)], "new\\nline.toml"),
        "hvp-negative": (["report", "--hvp", "-1"], "--hvp: must be a whole number ≥ 0"),
        "sweep-seed-negative": (["sweep", "--seed", "-1"], "--seed: must be a whole number ≥ 0"),
        "timeout-zero": (["report", "--timeout", "0"], "--timeout: must be a number of seconds"),
        "memory-negative": (["report", "--memory-limit", "-1"], "--memory-limit"),
        "plot-no-folder": (["report", "--plot", "/no/such/dir/p.svg"], "--plot"),
        "plot-onto-folder": (["report", "--plot", str(tmp / "x.svg")], "is a folder"),
        "diagram-no-folder": (["explain", "--diagram", "/no/such/dir/d.png"], "no such folder"),
        "output-onto-folder": (["report", "--output", str(folder)], "--output"),
        "output-no-folder": (["report", "--output", "/no/such/dir/r.json"], "no such folder"),
        "bench-output": (["bench", "--output", "/no/such/dir/b.json"], "crosscheck bench:"),
        "sweep-cuda-numpy-only": (
            ["sweep", "--backends", "numpy,fd", "--device", "cuda"],
            "crosscheck sweep: --device cuda: no backend chosen can use it",
        ),
        "sweep-jobs-zero": (["sweep", "--jobs", "0"], "--jobs: must be a whole number ≥ 1"),
        "save-failures-onto-file": (
            ["sweep", "--cases", "1", "--save-failures", str(a_file)],
            "--save-failures",
        ),
        "save-failures-unwritable": (  # checked before the run, not at the first failure
            ["sweep", "--cases", "1", "--save-failures", str(a_file / "inside")],
            "cannot write files in",
        ),
        "report-output-empty": (["report", "--output", ""], "--output: an empty path"),
        "conformance-output-empty": (["conformance", "numpy", "--output", ""], "an empty path"),
        "bench-output-empty": (["bench", "--output", ""], "--output: an empty path"),
        "explain-html-empty": (["explain", "--html", ""], "--html: an empty path"),
    }


def assert_one_line_error(code, out, err, phrase):
    assert "Traceback" not in err
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert phrase in err, err


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("command", ["report", "explain"])
def test_corpus_case_file(capsys, name, command):
    path = CORPUS / name
    code, out, err = run(
        capsys, *[command, str(path), "--backends", "numpy"][: 2 + 2 * (command == "report")]
    )
    assert_one_line_error(code, out, err, FILES[name])
    assert err.startswith(f"crosscheck: {path}: ")


@pytest.mark.parametrize(
    "name",
    [
        "fifo",
        "dev-zero",
        "folder-as-case",
        "over-size",
        "path-with-newline",
        "hvp-negative",
        "sweep-seed-negative",
        "timeout-zero",
        "memory-negative",
        "plot-no-folder",
        "plot-onto-folder",
        "diagram-no-folder",
        "output-onto-folder",
        "output-no-folder",
        "bench-output",
        "save-failures-onto-file",
        "sweep-cuda-numpy-only",
        "sweep-jobs-zero",
        "save-failures-unwritable",
        "report-output-empty",
        "conformance-output-empty",
        "bench-output-empty",
        "explain-html-empty",
    ],
)
def test_special_input(capsys, tmp_path, name):
    (tmp_path / "x.svg").mkdir()
    argv, phrase = special_inputs(tmp_path)[name]
    assert_one_line_error(*run(capsys, *argv), phrase)


def test_no_limits_lets_a_big_case_through(capsys):
    """The limits are a guard against typos, not a ceiling: --no-limits lifts them (here the
    case then fails for the reason it really has: its weights do not fit its layers)."""
    code, _, err = run(capsys, "report", str(CORPUS / "width-huge.toml"), "--no-limits")
    assert code == 2 and "weights[0] has shape (1, 1) but layers say (2, 100000000)" in err
