"""scripts/gpu-check, the one-command GPU check, run here on the CPU (--device cpu) with the
smallest workload, the way it runs on a GPU machine: from a bare copy of the checkout's files,
nothing of it installed (the copy's own package is what runs). Every file it promises is
written, and each is what it says."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT


def bare_copy(folder: Path) -> Path:
    """The checkout's files that git tracks or does not ignore, in ``folder`` (what a device
    machine receives)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in files.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file() and not (ROOT / name).is_symlink():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


def test_gpu_check_runs_on_the_cpu_and_writes_its_json(tmp_path):
    copy = bare_copy(tmp_path / "checkout")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "GPU_CHECK_CASES": "1",
        "GPU_CHECK_BACKENDS": "numpy",
        "GPU_CHECK_LOW_BACKENDS": "numpy",  # n/a in a low precision, with its reason: fast
        "GPU_CHECK_PRODUCT_ENGINES": "",  # the products' own test: test_matmul_precision below
        "GPU_CHECK_BENCH_SECONDS": "0",
    }
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # its 6 processes compile the copy once, not each
    script = [str(copy / "scripts" / "gpu-check"), str(out), "--device", "cpu"]
    proc = subprocess.run(
        script, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert str(copy / "backprop_crosscheck") in (out / "environment.txt").read_text()
    tmp_path = out
    report = json.loads((tmp_path / "report.json").read_text())
    assert {r["case"] for r in report["runs"]} >= {"article", "kink"}
    assert json.loads((tmp_path / "sweep.json").read_text())["schema"].endswith("sweep/1")
    assert json.loads((tmp_path / "bench.json").read_text())["schema"].endswith("bench/1")
    summary = (tmp_path / "summary.txt").read_text()
    assert "sweep: exit 0" in summary and "bench: exit 0" in summary
    low = json.loads((tmp_path / "low.json").read_text())
    assert {r["dtype"] for r in low["runs"]} == {"bfloat16", "float16"}
    assert all(b["status"] == "skip" for r in low["runs"] for b in r["backends"])
    products = json.loads((tmp_path / "matmul-precision.json").read_text())
    assert products["device"] == "cpu" and "matmul-precision: exit 0" in summary


def test_matmul_precision_tells_the_accumulation_and_the_products_error():
    """scripts/matmul-precision's numbers on the CPU, from their definitions: float32 products
    ~1e-7 off (no TF32 on a CPU, whatever the setting), a low precision's within a few of its
    unit roundoffs, and its probe — [1024, 1 × 64, −1024] · ones — 64 exactly where products
    accumulate in float32 (torch's and XLA's CPU kernels)."""
    import runpy

    pytest.importorskip("torch", reason="pip install torch==2.13.0 (or: make test)")
    script = runpy.run_path(str(ROOT / "scripts" / "matmul-precision"))
    found = script["torch_numbers"]("cpu")
    assert found["float32 error, allow_tf32=True"] < 1e-5
    assert 2**-12 < found["bfloat16 error"] < 2**-6  # its output rounded: not float32's
    assert found["bfloat16 probe (float32 accumulation: 64)"] == 64.0
