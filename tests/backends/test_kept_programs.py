"""JAX's compiled programs kept from one process to the next (backends/jax/kept.py): a process
that loads them computes bitwise what plain ``jax.jit`` computes, and compiles nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    entries = sorted((tmp_path / "crosscheck-programs").iterdir())
    assert keeping["compiled"] == len(entries) > 0
    loading = run(tmp_path, keep=True)
    assert (
        loading["compiled"] == 0 and sorted((tmp_path / "crosscheck-programs").iterdir()) == entries
    )
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
