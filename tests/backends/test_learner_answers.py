"""What a learner's function returns crosses the wire as it gave it (issue #41): a loss that is
complex, text, many numbers or an object is that learner's ERROR, naming the function and the
field, through `crosscheck check` and through the pytest door alike — never cast to a float in
the worker first (a complex loss's imaginary part was dropped there, and the check PASSed)."""

import json
from pathlib import Path

import numpy as np
import pytest
from backprop_crosscheck.comparisons.cli import main
from support.paths import ROOT

ARTICLE = ROOT / "examples" / "learner" / "article_backprop.py"

# the article's correct backprop with its loss returned as …
LOSSES = {
    "complex": ("np.complex128(error + 1e6j)", "its loss is complex (complex128)"),
    "text": ("str(error)", "its loss is a ndarray of text"),
    "list-of-numbers": ("[error, error]", "its loss has shape (2, 2), not (2,)"),
    "two-element-array": ("np.array([error, 2 * error])", "its loss has shape (2, 2), not (2,)"),
    "a-dict": ("{'loss': error}", "its loss is a ndarray of Python objects"),
    "nothing": ("None", "its loss is a ndarray of Python objects"),
}


def learner_file(folder: Path, loss: str, name: str = "mine") -> Path:
    text = ARTICLE.read_text().replace('"loss": error,', f'"loss": {loss},')
    assert f'"loss": {loss},' in text  # the example still returns its loss where we replace it
    path = folder / f"{name}.py"
    path.write_text("import numpy as np\n" + text)
    return path


def checked(capsys, path: Path, *options: str):
    code = main(["check", str(path), "--format", "json", *options])
    out, _ = capsys.readouterr()
    (row,) = json.loads(out)["runs"][0]["backends"]
    return code, row


@pytest.mark.parametrize("shape", LOSSES)
def test_a_loss_that_is_not_one_real_number_is_the_learners_error(capsys, tmp_path, shape):
    loss, phrase = LOSSES[shape]
    # across the wire for one of them (as `check` runs), in this process for the rest: the
    # parent's checks are the same either way
    isolation = () if shape == "complex" else ("--in-process",)
    code, row = checked(capsys, learner_file(tmp_path, loss), *isolation)
    assert code == 1 and row["status"] == "error", row
    assert row["message"].startswith("backprop returned a malformed result: ")
    assert phrase in row["message"], row["message"]


@pytest.mark.parametrize(
    "loss",
    ["error", "np.float64(error)", "np.array([[error]])"],
    ids=["python-float", "numpy-float64", "one-by-one-array"],
)
def test_one_real_number_in_any_shape_of_one_passes(capsys, tmp_path, loss):
    code, row = checked(capsys, learner_file(tmp_path, loss), "--in-process")
    assert code == 0 and row["status"] == "pass", row


def test_a_complex_loss_reaches_the_parent_complex(tmp_path):
    """The worker's side alone: the Result keeps the learner's complex loss (nothing casts it)."""
    from backprop_crosscheck.backends.numpy.learner import LearnerBackend
    from backprop_crosscheck.reference import load_case

    result = LearnerBackend(str(learner_file(tmp_path, LOSSES["complex"][0]))).run(
        load_case("article"), "float32"
    )
    assert result.loss.dtype == np.complex128 and np.all(result.loss.imag == 1e6)


class Outcomes:
    """A pytest plugin that keeps each test's outcome and message (the run below is in-process)."""

    def __init__(self):
        self.found = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            self.found[report.nodeid.rpartition("::")[2]] = (report.outcome, str(report.longrepr))


def test_the_pytest_door_takes_a_learner_file_and_holds_it_to_the_same_rule(tmp_path):
    shapes = ("complex", "text", "list-of-numbers")
    paths = [learner_file(tmp_path, LOSSES[s][0], s.replace("-", "_")) for s in shapes]
    argv = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(tmp_path)]
    argv += ["-k", "test_gradients and -article-float64", "--crosscheck-cases", "0"]
    argv += ["--crosscheck-backend", str(ARTICLE), *(f"--crosscheck-backend={p}" for p in paths)]
    outcomes = Outcomes()
    assert pytest.main([*argv, str(tmp_path)], plugins=[outcomes]) == 1  # some failed
    found = outcomes.found
    assert found["test_gradients[article_backprop-article-float64]"][0] == "passed", found
    for shape in shapes:
        outcome, text = found[f"test_gradients[{shape.replace('-', '_')}-article-float64]"]
        assert outcome == "failed" and "Traceback" not in text
        assert "error: backprop returned a malformed result: " + LOSSES[shape][1] in text, text
