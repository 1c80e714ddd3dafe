"""`crosscheck bench`: it runs and reports; the arithmetic behind its columns is right.

No timing is asserted here (timed tests flake on shared machines): the targets and their
measured numbers are in BENCHMARKS.md.
"""

import json

import numpy as np
import pytest
from backprop_crosscheck.comparisons import bench
from backprop_crosscheck.comparisons.cli import main


def test_step_flops_counts_three_matmuls_per_layer():
    # article: one sample; layers 2→2 and 2→1: forward, dW and da each 2·1·(4 + 2) FLOPs
    assert bench.step_flops((2, 2, 1), 1) == 3 * 2 * (2 * 2 + 2 * 1)
    assert bench.step_flops((784, 1024, 1024, 10), 256) == 6 * 256 * (
        784 * 1024 + 1024 * 1024 + 1024 * 10
    )


def test_slope_is_one_when_time_grows_with_work():
    rows = [
        bench.Row("x", "float64", [n, n, 1], 1, median_s=1e-9 * bench.step_flops((n, n, 1), 1))
        for n in (8, 16, 32, 64)
    ]
    assert bench.slope(rows) == pytest.approx(1.0)
    flat = [bench.Row("x", "float64", r.layers, 1, median_s=1e-3) for r in rows]
    assert bench.slope(flat) == pytest.approx(0.0, abs=1e-9)


def test_bench_case_matches_its_ladder_entry():
    case = bench.bench_case((32, 32, 10), 32)
    assert case.layers == (32, 32, 10) and case.inputs.shape == (32, 32)
    assert case.activations == ("relu", "identity") and case.biases is not None


def test_bench_runs_and_reports_json(capsys):
    code = main(
        ["bench", "--quick", "--backends", "numpy,fd", "--dtype", "float64", "--format", "json"]
        + ["--time-per-size", "0"]  # the fewest repetitions: this checks the table, not speed
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["schema"] == "backprop-crosscheck/bench/1"
    assert doc["matmul_gflops"]["float64"] > 0
    numpy_rows = [r for r in doc["rows"] if r["backend"] == "numpy"]
    assert [r["layers"] for r in numpy_rows] == [list(size) for size, _ in bench.QUICK]
    assert all(r["vs_reference"] == 1.0 and r["median_ms"] > 0 for r in numpy_rows)
    fd_rows = [r for r in doc["rows"] if r["backend"] == "fd"]
    assert "impractical above 5,000 parameters" in fd_rows[-1]["skip"]


def test_bench_text_table(capsys):
    code = main(
        ["bench", "--quick", "--backends", "numpy", "--dtype", "float32", "--time-per-size", "0"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "GFLOP/s" in out and "2-2-1 ×1" in out and "slope" in out
    assert "NumPy's BLAS: " in out  # which kernel "of peak" is measured against


def test_bench_names_numpys_blas_and_its_kernel():
    """The library NumPy loaded (threadpoolctl) is the one numpy's own build reports."""
    pytest.importorskip("threadpoolctl", reason="pip install threadpoolctl (a core dependency)")
    info = bench.blas_info()
    built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    assert info["internal_api"] in built and info["version"] and info["architecture"]
    assert bench.blas_line(info).startswith(f"NumPy's BLAS: {info['internal_api']} ")


def test_the_conv_rung_is_a_conv_net_counted_as_three_convolutions():
    case = bench.bench_case(("conv", 3, 8, 4), 2)
    assert case.architecture == "conv2d, relu, max_pool2d, flatten, dense"
    assert case.inputs.shape == (2, 3, 8, 8) and case.parameters()["W5"].shape == (4 * 4 * 4, 10)
    # forward, dK, dX: each 2·B·side²·f·c·9 multiply-adds; the dense layer's three as above
    assert bench.step_flops(("conv", 3, 8, 4), 2) == 6 * 2 * (64 * 4 * 3 * 9 + 4 * 16 * 10)
    assert bench.size_label(("conv", 3, 8, 4), 2) == "conv 3×8×8→4 ×2"


def test_the_bench_workers_keep_freed_memory_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")  # the user's own setting wins
    env = bench.kept_memory()
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(1 << 30)
    assert env["MALLOC_MMAP_THRESHOLD_"] == "65536"
