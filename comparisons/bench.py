"""`crosscheck bench`: the time of one gradient-and-update step per backend, dtype and size.

Each backend is measured in a worker process of its own
(``python -m backprop_crosscheck.comparisons.bench``), so
its imports and its peak memory are its own. For every size the worker times the first step
(which includes JIT compilation: reported apart), warms up, then takes the median of repeated
steps. The parent measures this machine's matmul throughput in the same run, so GFLOP/s can
be read against what the hardware does.
"""

import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference import parse_case

# (layers, batch): from the article's 2-2-1 up to an MNIST-sized MLP; then a convolutional
# net, ("conv", channels, side, filters): conv 3×3 (padding 1) → relu → max-pool 2 → dense;
# then an LSTM, ("lstm", features, steps, hidden): read at its last step → dense; then
# multi-head self-attention, ("attention", steps, width, heads): projections → dense per step
LADDER = [
    ((2, 2, 1), 1),
    ((32, 32, 10), 32),
    ((128, 128, 10), 64),
    ((256, 256, 256, 10), 128),
    ((784, 512, 512, 10), 256),
    ((784, 1024, 1024, 10), 256),
    (("conv", 1, 28, 8), 64),  # MNIST-sized
    (("conv", 3, 32, 16), 32),  # CIFAR-sized
    (("lstm", 32, 64, 256), 16),  # 64 steps of a 256-unit LSTM: torch's fused kernel beside
    (("attention", 256, 64, 4), 4),  # 256 steps, width 64, 4 heads: torch's fused SDPA beside
]
QUICK = LADDER[:4]


def is_conv(layers) -> bool:
    return bool(layers) and layers[0] == "conv"


def is_lstm(layers) -> bool:
    return bool(layers) and layers[0] == "lstm"


def is_attention(layers) -> bool:
    return bool(layers) and layers[0] == "attention"


def size_label(layers, batch) -> str:
    if is_conv(layers):
        _, c, side, f = layers
        return f"conv {c}×{side}×{side}→{f} ×{batch}"
    if is_lstm(layers):
        _, features, steps, hidden = layers
        return f"lstm {features}→{hidden} ×{steps} steps ×{batch}"
    if is_attention(layers):
        _, steps, width, heads = layers
        return f"attention {heads} heads ×{width} ×{steps} steps ×{batch}"
    return f"{'-'.join(map(str, layers))} ×{batch}"


def attention_case(layers, batch, seed=0):
    """Multi-head self-attention (Wq, Wk, Wv, Wo, causal) over a sequence, a dense layer to 1
    at every step, mse."""
    _, steps, width, heads = layers
    rng = np.random.default_rng(seed)

    def glorot(m, n):
        return (rng.normal(size=(m, n)) / np.sqrt(m)).tolist()

    projections = {name: glorot(width, width) for name in ("Wq", "Wk", "Wv", "Wo")}
    stack = [
        {"kind": "attention", "heads": heads, "causal": True, **projections},
        {"kind": "merge_time"},
        {"kind": "dense", "W": glorot(width, 1)},
    ]
    data = {
        "name": f"bench-{size_label(layers, batch)}",
        "loss": "mse",
        "learning_rate": 1e-3,
        "inputs": rng.normal(size=(batch, steps, width)).tolist(),
        "targets": rng.normal(size=(batch * steps, 1)).tolist(),
        "stack": stack,
    }
    return parse_case(data, source="bench", name=data["name"])


def lstm_case(layers, batch, seed=0):
    """A sequence through an LSTM read at its last step, then a dense layer to 10, mse."""
    _, features, steps, hidden = layers
    rng = np.random.default_rng(seed)
    stack = [
        {
            "kind": "lstm",
            "outputs": "last",
            "Wx": (rng.normal(size=(features, 4 * hidden)) / np.sqrt(features)).tolist(),
            "Wh": (rng.normal(size=(hidden, 4 * hidden)) / np.sqrt(hidden)).tolist(),
            "b": [0.0] * (4 * hidden),
        },
        {"kind": "dense", "W": (rng.normal(size=(hidden, 10)) / np.sqrt(hidden)).tolist()},
    ]
    data = {
        "name": f"bench-{size_label(layers, batch)}",
        "loss": "mse",
        "learning_rate": 1e-3,
        "inputs": rng.normal(size=(batch, steps, features)).tolist(),
        "targets": rng.normal(size=(batch, 10)).tolist(),
        "stack": stack,
    }
    return parse_case(data, source="bench", name=data["name"])


def conv_case(layers, batch, seed=0):
    """CIFAR-sized images through conv 3×3 (padding 1) → relu → max-pool 2 → flatten → dense
    to 10, mse."""
    _, c, side, f = layers
    rng = np.random.default_rng(seed)
    flat = f * (side // 2) ** 2
    stack = [
        {
            "kind": "conv2d",
            "padding": 1,
            "bias": [0.0] * f,
            "kernel": (rng.normal(size=(f, c, 3, 3)) / np.sqrt(9 * c)).tolist(),
        },
        {"kind": "relu"},
        {"kind": "max_pool2d", "size": 2, "stride": 2},
        {"kind": "flatten"},
        {
            "kind": "dense",
            "W": (rng.normal(size=(flat, 10)) / np.sqrt(flat)).tolist(),
            "b": [0.0] * 10,
        },
    ]
    data = {
        "name": f"bench-{size_label(layers, batch)}",
        "loss": "mse",
        "learning_rate": 1e-3,
        "inputs": rng.normal(size=(batch, c, side, side)).tolist(),
        "targets": rng.normal(size=(batch, 10)).tolist(),
        "stack": stack,
    }
    return parse_case(data, source="bench", name=data["name"])


def bench_case(layers, batch, seed=0):
    """relu hidden layers, identity output, biases, mse: a typical MLP step (or conv_case)."""
    if is_conv(layers):
        return conv_case(layers, batch, seed)
    if is_lstm(layers):
        return lstm_case(layers, batch, seed)
    if is_attention(layers):
        return attention_case(layers, batch, seed)
    rng = np.random.default_rng(seed)
    data = {
        "name": f"bench-{'-'.join(map(str, layers))}-b{batch}",
        "layers": list(layers),
        "activation": ["relu"] * (len(layers) - 2) + ["identity"],
        "loss": "mse",
        "learning_rate": 1e-3,
        "inputs": rng.normal(size=(batch, layers[0])).tolist(),
        "targets": rng.normal(size=(batch, layers[-1])).tolist(),
        "weights": [
            (rng.normal(size=(m, n)) / np.sqrt(m)).tolist()
            for m, n in zip(layers, layers[1:], strict=False)
        ],
        "biases": [np.zeros(n).tolist() for n in layers[1:]],
    }
    return parse_case(data, source="bench", name=data["name"])


def step_flops(layers, batch) -> float:
    """Matmul FLOPs of one step: forward a·W, backward aᵀ·δ and δ·Wᵀ — 3 products of 2·B·m·n
    (a convolution: the same three, of 2·B·side²·f·c·9; an LSTM: of 2·B·(F + H)·4H a step;
    attention: its four projections' 2·B·T·d² and Q·Kᵀ's and P·V's 2·B·T²·d each)."""
    if is_attention(layers):
        _, steps, width, heads = layers
        return 6.0 * batch * (4 * steps * width * width + 2 * steps * steps * width + steps * width)
    if is_lstm(layers):
        _, features, steps, hidden = layers
        return 6.0 * batch * (steps * (features + hidden) * 4 * hidden + hidden * 10)
    if is_conv(layers):
        _, c, side, f = layers
        return 6.0 * batch * (side * side * f * c * 9 + f * (side // 2) ** 2 * 10)
    return 6.0 * batch * sum(m * n for m, n in zip(layers, layers[1:], strict=False))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(step, budget_s: float = 0.5, min_reps: int = 5, max_reps: int = 200):
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(2):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (
        time.perf_counter() - start < budget_s and len(times) < max_reps
    ):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times)), len(times)


def worker(spec: str, dtypes: list[str], ladder, device: str, budget_s: float, name="") -> None:
    """Runs in its own process; prints one JSON line per (dtype, size)."""
    from backprop_crosscheck.backends import BackendUnavailable, get_backend

    backend = get_backend(spec)
    backend_name = name or backend.name
    for dtype in dtypes:
        for layers, batch in ladder:
            row = {"backend": backend_name, "dtype": dtype, "layers": list(layers), "batch": batch}
            case = bench_case(layers, batch)
            reason = backend.skip_reason(dtype, device)
            limit = backend.capabilities.max_parameters
            if reason is None and limit is not None and case.parameter_count > limit:
                reason = f"{backend_name}: impractical above {limit:,} parameters"
            try:
                step = None if reason else backend.stepper(case, dtype, device)
                if step is None and not reason:
                    reason = f"{backend_name}: no stepper to time"
            except BackendUnavailable as e:
                reason = str(e)
            if reason:
                print(json.dumps({**row, "skip": reason}), flush=True)
                continue
            first, median, reps = time_steps(step, budget_s)
            row.update(first_s=first, median_s=median, reps=reps, peak_rss_mib=peak_rss_mib())
            print(json.dumps(row), flush=True)


def matmul_gflops(dtype: str, n: int = 1024, reps: int = 5) -> float:
    """This machine's NumPy matmul throughput: the yardstick for GFLOP/s."""
    a = np.random.default_rng(0).normal(size=(n, n)).astype(dtype)
    a @ a
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def blas_info() -> dict:
    """Which BLAS NumPy calls in this process (threadpoolctl): its library, version, the kernel
    it chose for this CPU and its threads — what "of peak" is measured against. OpenBLAS picks
    its kernel at load time, and OPENBLAS_CORETYPE overrides the choice (a slower one on some
    machines): the figure only means something with the kernel named."""
    import os

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"library": "unknown (pip install threadpoolctl to name it)"}
    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not found:
        return {"library": "none found"}
    info = {k: found[0].get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
    info["library"] = os.path.basename(found[0].get("filepath") or "?")
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    return info


def blas_line(info: dict) -> str:
    if "internal_api" not in info:
        return f"NumPy's BLAS: {info['library']}"
    line = (
        f"NumPy's BLAS: {info['internal_api']} {info['version']} ({info['library']}), "
        f"kernel {info['architecture']}, {info['num_threads']} threads"
    )
    forced = info.get("OPENBLAS_CORETYPE")
    return line + (f" (OPENBLAS_CORETYPE={forced} chose it)" if forced else "")


@dataclass
class Row:
    backend: str
    dtype: str
    layers: list
    batch: int
    skip: str | None = None
    first_s: float = 0.0
    median_s: float = 0.0
    reps: int = 0
    peak_rss_mib: float = 0.0


def run_bench(backends, dtypes, ladder, device: str, budget_s: float = 0.5, progress=None):
    """``backends``: names, or (name, what loads it: a registered name, path.py:Class or
    module:Class) pairs; each is timed in a process of its own."""
    rows = []
    for i, chosen in enumerate(backends):
        name, spec = chosen if isinstance(chosen, tuple) else (chosen, chosen)
        cmd = [
            sys.executable,
            "-m",
            "backprop_crosscheck.comparisons.bench",
            spec,
            ",".join(dtypes),
            device,
            json.dumps(ladder),
            str(budget_s),
            name,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=kept_memory())
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        rows += [Row(**json.loads(line)) for line in lines]
        if proc.returncode != 0:
            error = (proc.stderr.strip().splitlines() or ["crashed"])[-1]
            rows.append(Row(name, ",".join(dtypes), [], 0, skip=f"{name}: worker failed: {error}"))
        if progress:
            progress.update(i + 1, name)
    return rows


def kept_memory() -> dict:
    """The workers' environment: glibc's malloc told to keep what a step frees (blocks under
    32 MiB from its heap, the heap never trimmed), as torch's and XLA's caching allocators keep
    theirs. Under glibc's defaults every step's megabyte temporaries go back to the kernel and
    are faulted in again the next step — a third of the reference's float64 step at
    784-1024-1024-10 ×256 (docs/benchmark-notes.md). Variables the user set win."""
    import os

    keep = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
    return {**keep, **os.environ}


def slope(rows: list[Row]) -> float | None:
    """d log(time) / d log(FLOPs) over the upper half of the ladder: ~1 when the step is
    compute-bound (cost grows with the work), ~0 when per-call overhead dominates."""
    pts = [
        (math.log(step_flops(r.layers, r.batch)), math.log(r.median_s))
        for r in rows
        if not r.skip and not is_conv(r.layers) and not is_lstm(r.layers)
    ]
    pts = pts[len(pts) // 2 :]
    if len(pts) < 2:
        return None
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def summarize(rows: list[Row], yardstick: dict[str, float]) -> list[dict]:
    """One record per row, with the ratio to the reference and GFLOP/s added."""
    ref = {(r.dtype, tuple(r.layers), r.batch): r.median_s for r in rows if r.backend == "numpy"}
    out = []
    for r in rows:
        rec = {"backend": r.backend, "dtype": r.dtype, "layers": r.layers, "batch": r.batch}
        if r.skip:
            out.append({**rec, "skip": r.skip})
            continue
        gflops = step_flops(r.layers, r.batch) / r.median_s / 1e9
        base = ref.get((r.dtype, tuple(r.layers), r.batch))
        out.append(
            {
                **rec,
                "median_ms": r.median_s * 1e3,
                "first_ms": r.first_s * 1e3,
                "reps": r.reps,
                "vs_reference": r.median_s / base if base else None,
                "gflops": gflops,
                "of_matmul_peak": gflops / yardstick[r.dtype],
                "peak_rss_mib": r.peak_rss_mib,
            }
        )
    return out


def render(records, yardstick, slopes, fmt="text", blas=None) -> str:
    from tabulate import tabulate

    blas = blas_info() if blas is None else blas
    if fmt == "json":
        doc = {
            "schema": "backprop-crosscheck/bench/1",
            "matmul_gflops": yardstick,
            "blas": blas,
            "slopes": slopes,
            "rows": records,
        }
        return json.dumps(doc, indent=2) + "\n"
    table = []
    for r in records:
        size = size_label(r["layers"], r["batch"])
        if "skip" in r:
            table.append([r["backend"], r["dtype"], size, "skip", "", "", "", "", r["skip"]])
            continue
        table.append(
            [
                r["backend"],
                r["dtype"],
                size,
                f"{r['median_ms']:.3f}",
                f"{r['first_ms']:.1f}",
                f"{r['vs_reference']:.2f}×" if r["vs_reference"] else "-",
                f"{r['gflops']:.2f}",
                f"{100 * r['of_matmul_peak']:.0f}%",
                f"{r['peak_rss_mib']:.0f}",
            ]
        )
    headers = [
        "backend",
        "dtype",
        "size",
        "step ms",
        "first ms",
        "vs numpy",
        "GFLOP/s",
        "of peak",
        "peak RSS MiB*",
    ]
    lines = [
        "matmul peak here (NumPy, 1024³): "
        + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in yardstick.items()),
        blas_line(blas),
        tabulate(table, headers=headers, disable_numparse=True),
        "step ms: median of one gradient-and-update step after warm-up; first ms: the first"
        " step (JIT compile included); *peak RSS of the backend's worker process so far",
        "slope d log(time)/d log(FLOPs), upper half of the ladder"
        " (1 = compute-bound, 0 = overhead-bound):",
    ]
    lines += [f"  {k}: {v:.2f}" for k, v in slopes.items() if v is not None]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    spec, dtypes, device, ladder, budget_s, *name = argv
    ladder = [tuple(x) for x in json.loads(ladder)]
    worker(spec, dtypes.split(","), ladder, device, float(budget_s), *name)


if __name__ == "__main__":
    main(sys.argv[1:])
