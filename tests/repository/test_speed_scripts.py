"""scripts/sweep-speed cannot measure the wrong code (issue #38): a run that imported code from
outside its own tree, or that failed, is refused — never timed and compared. Each run here is a
stand-in tree whose ``python -m comparisons sweep`` does only what is tested (no real sweep)."""

import argparse
import importlib.util
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT

SCRIPT = runpy.run_path(str(ROOT / "scripts" / "sweep-speed"), run_name="sweep_speed")


def tree(tmp_path, main_py: str):
    """A git tree whose old-style entry point is ``main_py``."""
    (tmp_path / "comparisons").mkdir()
    (tmp_path / "comparisons" / "__init__.py").write_text("")
    (tmp_path / "comparisons" / "__main__.py").write_text(main_py)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def swept(tmp_path, main_py: str):
    args = argparse.Namespace(cases=1, backends="numpy", extra=[])
    return SCRIPT["sweep"](tree(tmp_path, main_py), sys.executable, args, "", tmp_path / "f")


def test_a_run_of_its_own_trees_code_is_timed(tmp_path):
    run = swept(tmp_path, "import sys\nsys.exit(1)  # a sweep that found disagreements\n")
    assert Path(run["code"]).is_relative_to(tmp_path.resolve()) and run["wall"] > 0


def test_a_run_that_imported_the_checkouts_code_is_refused(tmp_path):
    """What happened with 0222b9b: an old tree's run found the checkout's package instead."""
    stray = "import backprop_crosscheck.comparisons.cli  # the checkout's, not this tree's\n"
    with pytest.raises(SCRIPT["Refused"], match="imported code from outside its tree"):
        swept(tmp_path, stray)


@pytest.mark.parametrize(
    "main_py",
    ["raise RuntimeError('broken')\n", "import sys\nsys.exit(2)\n"],
    ids=["traceback", "exit-2"],
)
def test_a_run_that_failed_is_refused(tmp_path, main_py):
    with pytest.raises(SCRIPT["Refused"], match="failed"):
        swept(tmp_path, main_py)


def test_both_trees_run_from_bytecode(tmp_path):
    """With PYTHONDONTWRITEBYTECODE set, a fresh worktree compiled every module from source in
    each of a sweep's processes while the checkout read its suite's bytecode: each tree's
    modules are compiled before any run is timed."""
    old = tree(tmp_path, "print('swept')\n")
    SCRIPT["compiled"](old, sys.executable)
    for module in ("__init__.py", "__main__.py"):
        assert Path(importlib.util.cache_from_source(str(old / "comparisons" / module))).is_file()


def test_a_tree_with_uncommitted_changes_is_not_named_by_its_commit_alone(tmp_path):
    """A run of a checkout with edits not yet committed measured code no commit holds."""
    work = tree(tmp_path, "")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    commit = SCRIPT["commit_of"](work)
    assert "+" not in commit and commit != "?"
    (work / "comparisons" / "__main__.py").write_text("print('edited')\n")
    assert SCRIPT["commit_of"](work) == commit + "+uncommitted"
