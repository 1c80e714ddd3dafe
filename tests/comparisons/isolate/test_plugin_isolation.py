"""No plugin code where the verdict is computed (issue #39): a plugin's module is imported, and
what it declares read, only in its worker; the parent judges from one validated snapshot. Each
test is a route by which a plugin made wrong numbers PASS when the parent imported it."""

import contextlib
import functools
import io
import json
import sys

import numpy as np
import pytest
from backprop_crosscheck.comparisons.cli import main
from support.cli import run
from support.paths import TESTS

# one xdist worker for the tests that share the report (one run of each plugin, not two)
pytestmark = pytest.mark.xdist_group("plugin-isolation")
PLUGINS = TESTS / "corpus" / "plugins"
HOSTILE, PATCHES = PLUGINS / "hostile.py", PLUGINS / "patches_numpy.py"


RAISING = {
    "RaisesInVersion": "raised PluginBroken: version() raised RuntimeError: no version today",
    "RaisesInAvailable": "raised PluginBroken: available() raised RuntimeError: cannot tell",
    "RaisesInSkipReason": "raised PluginBroken: skip_reason() raised RuntimeError: cannot say",
    "RaisesInUnsupported": "could not say whether it runs this case: RuntimeError: cannot judge",
}
HOSTILE_ONES = ["PatchesInVersion", "Wrong", "LyingTolerance", *RAISING]


@functools.cache
def shared_report() -> tuple[int, dict, str]:
    """One report with every hostile plugin of these tests beside numpy (the tests share it):
    (exit status, {backend: its JSON row}, stderr)."""
    specs = [f"{PATCHES}:WrongAndPatches", *(f"{HOSTILE}:{c}" for c in HOSTILE_ONES)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["report", "--backends", ",".join(["numpy", *specs]), "--format", "json"])
    found = {r["backend"]: r for r in json.loads(out.getvalue())["runs"][0]["backends"]}
    return code, found, err.getvalue()


def test_a_plugin_that_patches_numpy_as_it_is_imported_fails_and_patches_nothing_here():
    code, found, _ = shared_report()
    assert code == 1 and found["WrongAndPatches"]["status"] == "fail"
    assert found["Wrong"]["status"] == "fail" and found["numpy"]["status"] == "pass"
    assert "crosscheck_adapter_patches_numpy" not in sys.modules  # never imported here
    assert np.isclose.__name__ == "isclose"  # NumPy's own, in the process that judged


def test_a_plugin_whose_version_patches_numpy_cannot_make_the_next_one_pass():
    _, found, _ = shared_report()  # Wrong and the others after it, each failing as it should
    assert found["PatchesInVersion"]["status"] == "pass" and found["PatchesInVersion"]["version"]
    assert found["Wrong"]["status"] == "fail" and found["LyingTolerance"]["status"] == "fail"


def test_a_tolerance_that_lies_about_its_entries_is_read_as_what_it_lists():
    _, found, _ = shared_report()
    assert found["LyingTolerance"]["status"] == "fail"
    assert found["LyingTolerance"]["tolerance"] == found["numpy"]["tolerance"]  # the default


def test_a_plugin_whose_declarations_raise_is_its_own_error_and_the_report_is_whole():
    code, found, err = shared_report()
    assert code == 1 and "Traceback" not in err
    assert found["numpy"]["status"] == "pass" and found["Wrong"]["status"] == "fail"
    for cls, phrase in RAISING.items():
        assert found[cls]["status"] == "error" and phrase in found[cls]["message"], found[cls]


def test_capabilities_that_change_once_validated_are_refused_not_obeyed(capsys):
    """Read once for the snapshot the parent judges from: the later, infinite tolerance is
    what the snapshot holds, and it is refused in one line before anything runs."""
    code, out, err = run(capsys, "report", "--backends", f"numpy,{HOSTILE}:ShiftingCapabilities")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "refused: Capabilities.tolerance['float64'] = (inf, inf)" in err


def test_conformance_and_list_read_a_plugin_in_its_worker_too(capsys):
    code, out, _ = run(
        capsys, "conformance", f"{PATCHES}:WrongAndPatches", "--cases", "0", "--format", "json"
    )
    assert code == 1 and "crosscheck_adapter_patches_numpy" not in sys.modules
    failed = [r for r in json.loads(out)["results"] if r["status"] == "fail"]
    assert failed and all(r["check"] == "gradients" for r in failed), out[:2000]


def test_a_sweeps_shards_judge_from_the_declaration_too(capsys, tmp_path):
    """`sweep --jobs 2`: each shard is a process that judges; the plugin travels to it as its
    declaration and is imported only in the shard's worker for it (its 8 SGD cases PASSed
    when the shard imported it)."""
    code, out, _ = run(
        capsys,
        "sweep",
        "--cases",
        "16",
        "--jobs",
        "2",
        "--dtype",
        "float64",
        "--backends",
        f"numpy,{PATCHES}:WrongAndPatches",
        "--save-failures",
        str(tmp_path),
        "--shrink",
        "0",
        "--format",
        "json",
    )
    rows = {r["backend"]: r for r in json.loads(out)["rows"]}
    assert (
        code == 1 and rows["WrongAndPatches"]["fail"] == 8 and rows["WrongAndPatches"]["pass"] == 0
    )
