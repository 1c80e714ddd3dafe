"""JAX's compiled programs kept from one process to the next (backends/jax/kept.py): a process
that loads them computes bitwise what plain ``jax.jit`` computes, and compiles nothing."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backprop_crosscheck.backends.jax import kept

ROOT = Path(__file__).resolve().parents[2]

# One process: the jax backend on a plain-SGD, an Adam (optax's state a tree of named tuples)
# and an embedding case (its indices baked in), both dtypes; prints every number as a float64
# list (exact for float32 too) and how many programs it compiled. KEEP=0: nothing kept
# (plain jax.jit, JAX's own persistent cache on).
SCRIPT = """
import json, os, sys
from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.backends.jax import backend as jax_backend, kept
from backprop_crosscheck.reference.cases.file import load_case

if os.environ["KEEP"] == "0":
    jax_backend.folder_for = lambda jax: None
compiled = []
plain_compile = kept.KeptProgram.compile_and_keep
kept.KeptProgram.compile_and_keep = lambda *a: compiled.append(1) or plain_compile(*a)
out = {}
for name in ("article", "adam", "embedding"):
    for dtype in ("float64", "float32"):
        r = get_backend("jax").run(load_case(name), dtype)
        tensors = {"loss": r.loss, **r.gradients, **{"new " + n: t for n, t in r.final.items()}}
        out[f"{name} {dtype}"] = {n: t.astype("float64").tolist() for n, t in tensors.items()}
print(json.dumps({"compiled": len(compiled), "numbers": out}))
"""


def run(cache: Path, keep: bool) -> dict:
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "KEEP": str(int(keep))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_kept_program_loads_and_computes_what_jit_computes(tmp_path):
    """The order that once broke it: JAX's own cache already holds the programs (an older
    harness compiled them), then a process keeps them, then another loads them. An executable
    JAX had loaded from its cache, serialized again, lost its kernels ("Function … not found"
    when run) — a kept program is compiled fresh, never taken from JAX's cache."""
    pytest.importorskip("jax", reason="jax is not installed: pip install jax (or make test)")
    plain = run(tmp_path, keep=False)
    assert not (tmp_path / "crosscheck-programs").exists() and any(tmp_path.iterdir())
    keeping = run(tmp_path, keep=True)
    [version] = (tmp_path / "crosscheck-programs").iterdir()  # this code's, and none other
    entries = sorted(version.iterdir())
    assert keeping["compiled"] == len(entries) > 0
    loading = run(tmp_path, keep=True)
    assert loading["compiled"] == 0 and sorted(version.iterdir()) == entries
    assert keeping["numbers"] == plain["numbers"] and loading["numbers"] == plain["numbers"]


def test_an_entry_name_holds_the_frozen_tensors_in_any_order():
    """A frozenset's order follows the string hash, which differs from process to process:
    the key is written with its sets sorted, so every process finds the same entry."""
    code = (
        "from backprop_crosscheck.backends.jax.kept import canonical; "
        "print(repr(canonical(('step', frozenset(f'W{i}' for i in range(30))))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**env, "PYTHONHASHSEED": seed},
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(keys) == 1 and "W29" in keys.pop()


def versions(programs: Path, ages: dict) -> None:
    """Version folders of one entry each, last used ``ages[name]`` hours ago."""
    for name, hours in ages.items():
        (programs / name).mkdir(parents=True)
        (programs / name / "entry.pickle").write_bytes(b"x")
        then = time.time() - 3600 * hours
        os.utime(programs / name, (then, then))


def test_only_the_most_recently_used_code_versions_keep_their_programs(tmp_path):
    """Every edit of backends/ or reference/ and every upgrade is a new version with programs of
    its own (~40 MB for a sweep's and the conformance suite's): the folder kept the old ones
    forever. A process's version is marked used and all but the three newest are removed, with
    the entries kept before there were version folders."""
    programs = tmp_path / "crosscheck-programs"
    versions(programs, {"v1": 50, "v2": 40, "v3": 30, "v4": 20})
    (programs / "before-versions.pickle").write_bytes(b"x")
    assert kept.claimed(programs / "v5") == programs / "v5"
    assert sorted(p.name for p in programs.iterdir()) == ["v3", "v4", "v5"]
    assert (programs / "v3" / "entry.pickle").exists()


def test_a_version_used_again_is_kept_over_newer_ones_left_alone(tmp_path):
    programs = tmp_path / "crosscheck-programs"
    versions(programs, {"old": 90, "b": 30, "c": 20, "d": 10})
    kept.claimed(programs / "old")  # an older install run again: used now
    assert sorted(p.name for p in programs.iterdir()) == ["c", "d", "old"]
