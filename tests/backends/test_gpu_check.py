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
        "GPU_CHECK_BENCH_SECONDS": "0",
    }
    env.pop("PYTHONPATH", None)
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
