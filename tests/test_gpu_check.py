"""scripts/gpu-check, the one-command GPU check, run here on the CPU (--device cpu) with the
smallest workload: every file it promises is written, and each is what it says."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts" / "gpu-check"


def test_gpu_check_runs_on_the_cpu_and_writes_its_json(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_CASES": "1",
           "GPU_CHECK_BACKENDS": "numpy", "GPU_CHECK_BENCH_SECONDS": "0"}  # fmt: skip
    proc = subprocess.run([str(SCRIPT), str(tmp_path), "--device", "cpu"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert {r["case"] for r in report["runs"]} >= {"article", "kink"}
    assert json.loads((tmp_path / "sweep.json").read_text())["schema"].endswith("sweep/1")
    assert json.loads((tmp_path / "bench.json").read_text())["schema"].endswith("bench/1")
    summary = (tmp_path / "summary.txt").read_text()
    assert "sweep: exit 0" in summary and "bench: exit 0" in summary
