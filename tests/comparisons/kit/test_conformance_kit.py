"""`crosscheck conformance`: the scoreboard, expected failures (strict), backends named by
file or module, bad input; and the one distinctive import beside a dummy `backends` package."""

import json
import subprocess
import sys

import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.kit.suites import MIXED, NOT_CONFORMANCE
from backprop_crosscheck.comparisons.sweep.shards import sweep_case
from backprop_crosscheck.reference import builtin_case_names
from support.paths import ROOT, TESTS

FAKES = TESTS / "support" / "fake_backends.py"


# the dense networks alone (--suite 1: article, batch, adam among them), where the layer stacks,
# sequences and attention of the newest suite would only add time to what a test looks at
DENSE_ONLY = ("--suite", "1")


def conformance(capsys, *argv):
    code = main(["conformance", *argv, "--cases", "3", "--in-process", "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def test_a_correct_backend_scores_every_check(capsys):
    code, doc, _ = conformance(capsys, "numpy")
    assert code == 0 and doc["verdict"] == "pass"
    board = doc["scoreboard"]["numpy"]
    built_in = [c for c in builtin_case_names() if c not in NOT_CONFORMANCE]  # float32's drifts
    plain = [c for c in built_in if c not in MIXED]  # numpy has no mixed precision: n/a
    runs = 2 * (len(plain) + 3 + 1 + 1)  # + 3 random, 1 sequence, 1 attention, × 2 dtypes
    assert board["gradients"] == {"pass": runs, "skip": 2 * len(MIXED)}
    kinks = {r["id"] for r in doc["results"] if r["check"] == "relu-kink"}
    assert {"relu-kink[numpy-kink-float64]", "relu-kink[numpy-kink-float32]"} <= kinks
    assert board["forward-reverse"] == {"skip": runs}  # numpy declares no forward mode


def test_a_backend_named_by_its_file(capsys):
    code, doc, _ = conformance(capsys, f"{FAKES}:OffW3", *DENSE_ONLY)
    assert code == 1
    failed = {r["id"] for r in doc["results"] if r["status"] == "fail"}
    assert "gradients[OffW3-article-float64]" in failed


def test_expected_failures_are_reported_with_their_reason_and_strictly(capsys, tmp_path):
    xfail = tmp_path / "xfail.toml"
    xfail.write_text(
        '[[xfail]]\ncheck = "gradients[OffW3-article-*]"\nreason = "w3 is off by design"\n'
        '[[xfail]]\ncheck = "loss[OffW3-article-*]"\nreason = "we thought the loss was off"\n'
    )
    code, doc, _ = conformance(capsys, f"{FAKES}:OffW3", *DENSE_ONLY, "--xfail", str(xfail))
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["gradients[OffW3-article-float64]"]["status"] == "xfail"
    assert "w3 is off by design" in by_id["gradients[OffW3-article-float64]"]["message"]
    assert by_id["loss[OffW3-article-float64]"]["status"] == "xpass"  # strict: it passed
    assert code == 1


def test_expected_failures_come_from_several_files_one_a_backend(capsys, tmp_path):
    """--xfail repeats: each engine's known divergences in a file of its own, all applied."""
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text('[[xfail]]\ncheck = "gradients[OffW3-article-*]"\nreason = "w3 (a.toml)"\n')
    second.write_text('[[xfail]]\ncheck = "gradients[OffW3-batch-*]"\nreason = "w3 (b.toml)"\n')
    code, doc, _ = conformance(
        capsys, f"{FAKES}:OffW3", *DENSE_ONLY, "--xfail", str(first), "--xfail", str(second)
    )
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["gradients[OffW3-article-float64]"]["message"].startswith("w3 (a.toml)")
    assert by_id["gradients[OffW3-batch-float64]"]["message"].startswith("w3 (b.toml)")
    assert by_id["gradients[OffW3-article-float64]"]["status"] == "xfail"
    assert doc["versions"] == {"OffW3": None}  # a file's class: no distribution to name


def test_text_scoreboard_lists_failures_and_what_was_not_checked(capsys):
    assert main(["conformance", f"{FAKES}:OffW3", "--cases", "0", "--in-process"]) == 1
    out = capsys.readouterr().out
    assert "✗ " in out and "Failures:" in out and "Not checked:" in out
    assert "OffW3 (hvp, hvp-symmetry): OffW3 does not compute" in out
    # one root cause (w3 off by 1e-3, found first in dE/dW1) once, not once per case and dtype
    (grouped,) = [line for line in out.splitlines() if line.startswith("- OffW3: fail on ")]
    assert "(gradients[OffW3-" in grouped and "one cause; the first:" in grouped
    assert not any(line.startswith("- gradients[OffW3-") for line in out.splitlines())


def test_a_check_a_backend_does_not_declare_is_a_skip_even_when_its_run_raised(capsys):
    """Issue #40, point 7: a backend whose run raises is an error on every check of the run —
    but forward mode and H·v, which it does not declare, are skips with that reason."""
    code = main(["conformance", f"{FAKES}:Raising", "--cases", "0", "--in-process"])
    out = capsys.readouterr().out
    assert code == 1
    assert "- Raising (forward-reverse): Raising declares no forward mode" in out
    assert "- Raising (hvp, hvp-symmetry): Raising does not compute" in out
    (line,) = [line for line in out.splitlines() if line.startswith("- Raising: error on ")]
    assert "engine exploded" in line


BAD = {
    "unknown-backend": (["nosuchbackend"], "unknown backend 'nosuchbackend'"),
    "bad-spec": (["::"], "expected path/to/file.py:ClassName or module:ClassName"),
    "missing-file": (["nofile.py:X"], "no such file nofile.py"),
    "no-such-class": ([f"{FAKES}:Nope"], "defines no Nope"),
    "not-a-backend": (["json:JSONDecoder"], "JSONDecoder is not a backprop_crosscheck.Backend"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_backend_is_one_line(capsys, name):
    argv, phrase = BAD[name]
    code = main(["conformance", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and phrase in err


XFAIL_FILES = {
    "syntax": ("[[xfail]\n", "invalid TOML"),
    "not-a-table": ('xfail = "all"\n', "expected only [[xfail]] tables"),
    "other-key": ('[[skip]]\ncheck = "x"\nreason = "y"\n', "expected only [[xfail]] tables"),
    "no-reason": ('[[xfail]]\ncheck = "gradients[*]"\n', "xfail[0] must have reason"),
    "check-and-checks": (
        '[[xfail]]\ncheck = "x"\nchecks = ["y"]\nreason = "z"\n',
        "one of check = ",
    ),
    "empty-reason": ('[[xfail]]\ncheck = "x"\nreason = " "\n', "xfail[0]: every check and"),
    "empty-checks": ('[[xfail]]\nchecks = []\nreason = "z"\n', "non-empty list"),
    "checks-not-a-list": ('[[xfail]]\nchecks = "x"\nreason = "z"\n', "non-empty list"),
    "a-check-not-text": ('[[xfail]]\nchecks = ["x", 3]\nreason = "z"\n', "every check and"),
}


@pytest.mark.parametrize("name", XFAIL_FILES)
def test_malformed_expected_failure_file_is_one_line(capsys, tmp_path, name):
    text, phrase = XFAIL_FILES[name]
    path = tmp_path / "xfail.toml"
    path.write_text(text)
    code = main(["conformance", "numpy", "--xfail", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert phrase in err and str(path) in err


def test_a_dummy_backends_package_beside_it_changes_nothing(tmp_path):
    """An installed copy owns no generic top-level name: packages called backends, reference
    and comparisons elsewhere on the path are never imported."""
    for name in ("backends", "reference", "comparisons"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the dummy {name}')\n")
    cmd = [
        sys.executable,
        "-m",
        "backprop_crosscheck",
        "report",
        "--backends",
        "numpy,fd,tape",
        "--format",
        "json",
    ]
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["runs"][0]["backends"]
    assert [r["status"] for r in rows] == ["pass"] * len(rows)


def test_report_and_sweep_take_a_backend_by_its_file_too(capsys, tmp_path):
    spec = f"{FAKES}:OffW3"
    assert main(["report", "--backends", f"numpy,{spec}", "--format", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)["runs"][0]["backends"]
    assert rows[1]["backend"] == "OffW3" and "worst w3" in rows[1]["message"]
    argv = ["sweep", "--cases", "1", "--dtype", "float64", "--backends", f"numpy,{spec}"]
    assert main([*argv, "--save-failures", str(tmp_path)]) == 1
    network = sweep_case(0).architecture
    assert f"random-0.0 ({network}) OffW3 float64:" in capsys.readouterr().out


def test_expected_failure_patterns_match_without_backtracking_and_stale_ones_are_named(
    capsys, tmp_path
):
    """A pattern built to make a backtracking matcher take minutes (``*?*?…!``), a large file
    of entries, and an entry that matches nothing: the run takes its usual time, the
    pathological pattern matches nothing, and the stale entries are each named once."""
    entries = ['[[xfail]]\ncheck = "' + "*?" * 37 + '!"\nreason = "pathological"\n']
    entries += [
        f'[[xfail]]\ncheck = "gradients[nope-{i}-float64]"\nreason = "stale"\n'
        for i in range(20_000)
    ]
    path = tmp_path / "xfail.toml"
    path.write_text("".join(entries))
    assert path.stat().st_size > 1_000_000
    code = main(
        ["conformance", "numpy", "--cases", "0", "--dtype", "float64", "--xfail", str(path)]
    )
    err = capsys.readouterr().err
    assert code == 0
    warned = [line for line in err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "warning: 20,001 expected failures of" in warned[0]
    assert "'gradients[nope-3-float64]' and 19,996 more" in warned[0]


def test_an_expected_failure_of_a_dtype_not_run_is_not_stale(capsys, tmp_path):
    """One file of known divergences serves every --dtype (tests/known-divergences/jax.toml has
    bfloat16 entries): a float64 run does not call those stale — a typo in its own dtype still
    is, and so is an entry for a case nothing ran."""
    path = tmp_path / "xfail.toml"
    path.write_text(
        "".join(
            f'[[xfail]]\ncheck = "{check}"\nreason = "r"\n'
            for check in (
                "loss[numpy-article-bfloat16]",
                "loss[numpy-*-float16]",
                "loss[numpy-nosuch-float64]",
                "loss[numpy-article-float46]",
            )
        )
    )
    argv = ["numpy", "--cases", "0", "--dtype", "float64", "--xfail", str(path)]
    assert main(["conformance", *argv]) == 0
    (warned,) = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert "2 expected failures" in warned and "bfloat16" not in warned
    assert "'loss[numpy-nosuch-float64]'" in warned and "float46" in warned


def test_conformance_takes_case_files_and_names_them_by_their_name(capsys):
    """`--cases N FILE …`: the file's case is run with every check, its ids by its name."""
    momentum = TESTS / "cases" / "momentum.toml"
    code = main(
        [
            "conformance",
            "numpy",
            "--cases",
            "0",
            str(momentum),
            "--dtype",
            "float64",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    ids = {r["id"] for r in doc["results"]}
    assert code == 0 and "gradients[numpy-momentum_xor-float64]" in ids
    assert not any("/" in i for i in ids)


def test_a_case_file_named_like_a_built_in_has_an_id_of_its_own(capsys, tmp_path):
    """Issue #39: a copy of the article (file and `name` both 'article') shares no check id with
    the built-in, so an expected failure of the built-in's cannot hide the file's own."""
    copy = tmp_path / "article.toml"
    copy.write_text((ROOT / "reference" / "cases" / "article.toml").read_text())
    xfail = tmp_path / "xfail.toml"
    xfail.write_text('[[xfail]]\ncheck = "gradients[OffW3-article-*]"\nreason = "by design"\n')
    code = main(
        [
            "conformance",
            f"{FAKES}:OffW3",
            "--cases",
            "0",
            str(copy),
            "--dtype",
            "float64",
            "--xfail",
            str(xfail),
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    status = {r["id"]: r["status"] for r in doc["results"] if r["check"] == "gradients"}
    assert status["gradients[OffW3-article-float64]"] == "xfail"
    assert status[f"gradients[OffW3-{copy.as_posix()}-float64]"] == "fail"
    assert code == 1 and doc["verdict"] == "fail"
    code = main(["report", str(copy), "--backends", "numpy", "--format", "json"])
    assert json.loads(capsys.readouterr().out)["runs"][0]["case"] == copy.as_posix()


def test_one_reason_may_list_the_checks_it_explains(tmp_path):
    """Issue #34: a known-divergences file groups its checks by reason; each check is still
    one expected failure of its own (strict: each that passes is an xpass)."""
    from backprop_crosscheck.comparisons.kit.conformance import _xfail_entries

    grouped, single = tmp_path / "grouped.toml", tmp_path / "single.toml"
    grouped.write_text('[[xfail]]\nreason = "why"\nchecks = ["loss[e-*]", "final[e-a-?]"]\n')
    single.write_text(
        '[[xfail]]\ncheck = "loss[e-*]"\nreason = "why"\n\n'
        '[[xfail]]\ncheck = "final[e-a-?]"\nreason = "why"\n'
    )
    assert (
        _xfail_entries(str(grouped))
        == _xfail_entries(str(single))
        == [
            ("loss[e-*]", "why", None),
            ("final[e-a-?]", "why", None),
        ]
    )


def test_an_expected_failure_may_name_its_cause_and_holds_only_where_the_case_has_it():
    """Issue #40, point 5: an entry for gradients[e-*-float64] when the case has a layer norm
    holds for every such case — a random one too — and for no other."""
    from backprop_crosscheck.comparisons.kit.conformance import Expected, case_named

    xfail = Expected([("gradients[e-*-float64]", "its layer norm", {"kinds": ["layer_norm"]})])
    assert xfail.reason("gradients[e-norm-float64]", case_named("norm")) == "its layer norm"
    assert xfail.reason("gradients[e-conv-float64]", case_named("conv")) is None
    assert xfail.reason("gradients[e-norm-float64]") is None  # no case: no cause to see
    with_norm = next(
        n
        for n in (f"random-{f}.0" for f in range(4, 200, 5))
        if any(layer.kind == "layer_norm" for layer in case_named(n).stack)
    )
    assert xfail.reason(f"gradients[e-{with_norm}-float64]", case_named(with_norm))
    setting = Expected([("loss[e-*]", "ε inside", {"epsilon_placement": "inside_sqrt"})])
    assert setting.reason("loss[e-adam_inside_sqrt-float64]", case_named("adam_inside_sqrt"))
    assert setting.reason("loss[e-adam-float64]", case_named("adam")) is None


def test_the_kit_applies_a_cause_to_a_run(capsys, tmp_path):
    path = tmp_path / "cause.toml"
    path.write_text(
        '[[xfail]]\nreason = "w3 (adam only)"\nchecks = ["gradients[OffW3-*]"]\n'
        'when = { optimizers = ["adam"] }\n'
    )
    code, doc, _ = conformance(
        capsys, f"{FAKES}:OffW3", *DENSE_ONLY, "--dtype", "float64", "--xfail", str(path)
    )
    by_id = {r["id"]: r["status"] for r in doc["results"]}
    assert by_id["gradients[OffW3-adam-float64]"] == "xfail"
    assert by_id["gradients[OffW3-article-float64]"] == "fail" and code == 1


@pytest.mark.parametrize(
    "when, phrase",
    [("when = 3", "must be a table"), ('when = { colour = "red" }', "known: "),
     ('when = { kinds = "conv2d" }', "kinds must be a list")],
    ids=["not-a-table", "unknown-cause", "kinds-not-a-list"],
)  # fmt: skip
def test_a_bad_cause_is_one_line(capsys, tmp_path, when, phrase):
    path = tmp_path / "xfail.toml"
    path.write_text(f'[[xfail]]\ncheck = "x"\nreason = "y"\n{when}\n')
    code = main(["conformance", "numpy", "--xfail", str(path)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and phrase in err and "xfail[0].when" in err


def test_dtypes_side_by_side_give_the_records_of_one_lane(capsys, monkeypatch):
    """With two cores, `crosscheck conformance` asks a backend's float64 and float32 in two
    lanes of workers at once (comparisons/kit/conformance_run.py); what it reports — every
    record, in order — is what one lane gives: a plugin in its workers beside the reference's
    own numpy, which runs here, and a plugin whose worker exits, its error in both."""
    from backprop_crosscheck.comparisons.kit import conformance_run

    argv = ["tape", "numpy", f"{FAKES}:Exits", *DENSE_ONLY, "--cases", "1", "--format", "json"]
    boards = {}
    for cores in (1, 2):
        monkeypatch.setattr(conformance_run.os, "cpu_count", lambda cores=cores: cores)
        code = main(["conformance", *argv])
        boards[cores] = (code, capsys.readouterr().out)
    assert boards[1] == boards[2]
    board = json.loads(boards[2][1])["scoreboard"]
    assert board["tape"]["loss"]["pass"] > 0 and board["numpy"]["loss"]["pass"] > 0
    assert board["Exits"]["loss"]["error"] > 0 and "pass" not in board["Exits"]["loss"]
