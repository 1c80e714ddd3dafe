"""`crosscheck sweep`: statistics, exit status, and reproducible failure files."""

import json

import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.sweep.shards import FAMILY, sweep_case
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.layers import RECURRENT
from backprop_crosscheck.reference.layers.attention import ALIGNS, MASK_TYPES, allowed_keys
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import KINDS, walk


@pytest.fixture
def offw3(register):
    register({"offw3": "support.fake_backends:OffW3"})


def test_sweep_passes_and_prints_the_margin(capsys, tmp_path):
    # seeds 23..25: small networks, so fd's two forward passes per parameter stay cheap
    argv = ["sweep", "--cases", "3", "--seed", "23", "--backends", "numpy,fd"]
    code = main([*argv, "--save-failures", str(tmp_path / "f")])
    out = capsys.readouterr().out
    assert code == 0
    assert "seeds 23..25" in out and "worst/tol" in out
    assert out.count(" 3 ") >= 4  # 3 cases for each backend × dtype row
    assert not (tmp_path / "f").exists()


def test_sweep_covers_the_promised_space():
    cases = [sweep_case(seed) for seed in range(200) if sweep_case(seed).dense]
    assert {c.depth for c in cases} == {1, 2, 3, 4}
    assert max(max(c.layers) for c in cases) > 24 and min(min(c.layers) for c in cases) == 1
    assert {c.inputs.shape[0] for c in cases} >= {1, 16}
    assert {c.steps for c in cases} == {1, 2, 3, 4, 5}
    assert {a for c in cases for a in c.activations} == set(ACTIVATIONS)
    assert {c.loss for c in cases} == set(LOSSES)
    assert any(c.frozen for c in cases) and any(c.biases is not None for c in cases)


def test_sweep_draws_layer_stacks_over_the_promised_space():
    # one member of each of the 25 layer-stack families among seeds 0..999 (every fifth)
    stacks = [sweep_case(family * FAMILY) for family in range(4, 125, 5)]
    assert not any(c.dense for c in stacks)
    layers = [layer for c in stacks for layer in walk(c.stack)]
    attention = {"attention", "position"}  # the attention families' (below)
    assert {layer.kind for layer in layers} == set(KINDS) - {*RECURRENT, "merge_time", *attention}
    convs = [layer for layer in layers if layer.kind == "conv2d"]
    assert {k.initial["kernel"].shape[2] for k in convs} == {1, 2, 3}
    assert {k.settings["stride"] for k in convs} == {1, 2}
    images = [c.inputs.shape for c in stacks if c.inputs.ndim == 4]
    assert {s[1] for s in images} == {1, 2, 3} and {s[2] for s in images} <= set(range(4, 9))
    assert min(s[2] for s in images) == 4 and max(s[2] for s in images) == 8


def test_sweep_draws_sequences_over_the_promised_space():
    """Every tenth family is a sequence one: each cell, its conventions, outputs every step or
    the last, truncation, token inputs, and sequences from 2 up to 64 steps."""
    cases = [sweep_case(family * FAMILY) for family in range(7, 400, 10)]
    cells = [w for c in cases for w in walk(c.stack) if w.kind in RECURRENT]
    assert len(cells) == len(cases) and {w.kind for w in cells} == set(RECURRENT)
    assert {w.settings.get("gates") for w in cells} >= {"ifgo", "ifog", "rzn", "zrn"}
    assert {w.settings.get("reset") for w in cells} >= {"after", "before"}
    assert {w.settings["outputs"] for w in cells} == {"every", "last"}
    assert any(w.settings["truncate"] for w in cells) and any("h0" in w.initial for w in cells)
    steps = [c.inputs.shape[1] for c in cases]
    assert min(steps) == 2 and 32 < max(steps) <= 64
    assert any(c.takes_indices for c in cases)


def test_sweep_draws_attention_over_the_promised_space():
    """Another tenth (families 2, 12, …) are attention families: heads, projections or none,
    causal in both alignments, cross-attention onto a memory, every mask reading, key padding,
    attention dropout, a given scale, transformer blocks, position embeddings, token inputs,
    and sequences from 2 up to 128 steps — never a query that may attend no key."""
    cases = [sweep_case(family * FAMILY) for family in range(2, 600, 10)]
    layers = [w for c in cases for w in walk(c.stack) if w.kind == "attention"]
    assert len(layers) == len(cases)
    assert {w.settings["heads"] for w in layers} == {1, 2, 3}
    assert {w.settings["align"] for w in layers if w.settings["causal"]} == set(ALIGNS)
    assert {w.settings["mask_type"] for w in layers if "scores_mask" in w.given} == set(MASK_TYPES)
    assert any("lengths" in w.given for w in layers) and any(w.mask is not None for w in layers)
    assert any("memory" in w.initial for w in layers) and any(w.settings["scale"] for w in layers)
    assert any("Wq" in w.initial for w in layers) and any("Wq" not in w.initial for w in layers)
    assert not any("bk" in w.initial for w in layers)
    kinds = {w.kind for c in cases for w in walk(c.stack)}
    assert {"residual", "layer_norm", "position", "embedding"} <= kinds
    steps = [c.inputs.shape[1] for c in cases]
    assert min(steps) == 2 and 64 < max(steps) <= 128
    for c in cases:
        for w in walk(c.stack):
            if w.kind == "attention":
                n, tq = c.inputs.shape[:2]
                tk = w.initial["memory"].shape[0] if "memory" in w.initial else tq
                s = w.settings
                allowed = allowed_keys(
                    n,
                    tq,
                    tk,
                    s["causal"],
                    s["align"],
                    s["mask_type"],
                    w.given.get("scores_mask"),
                    w.given.get("lengths"),
                )
                assert allowed.any(axis=-1).all(), c.name


def test_a_case_beyond_a_backend_is_a_skip_not_an_error(capsys, tmp_path):
    """The tape example has no gelu: the sweep's cases with one are n/a for it (counted as
    skips), the others are compared; nothing is an error and the sweep passes."""
    seed = next(s for s in range(0, 400, 8) if "gelu" in sweep_case(s).activations)
    argv = [
        "sweep",
        "--cases",
        "2",
        "--seed",
        str(seed),
        "--backends",
        "numpy,tape",
        "--dtype",
        "float64",
        "--format",
        "json",
        "--in-process",
        "--save-failures",
        str(tmp_path),
    ]
    assert main(argv) == 0
    rows = {r["backend"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert (rows["tape"]["skip"], rows["tape"]["error"], rows["numpy"]["pass"]) == (2, 0, 2)


def test_sweep_failure_is_saved_as_a_reproducing_case_file(capsys, tmp_path, offw3):
    folder = tmp_path / "failures"
    code = main(
        [
            "sweep",
            "--cases",
            "2",
            "--backends",
            "offw3",
            "--dtype",
            "float64",
            "--save-failures",
            str(folder),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "2 failing runs" in out
    network = sweep_case(0).architecture  # a failing case's line names its network (#40)
    assert f"random-0.0 ({network}) offw3 float64:" in out, out
    saved = sorted(folder.iterdir())
    assert [p.name for p in saved] == [
        "random-0.0-offw3-float64.min.toml",  # the first failure, shrunk (--shrink 1)
        "random-0.0-offw3-float64.toml",
        "random-0.1-offw3-float64.toml",
    ]
    case = load_case(saved[1])
    assert case.layers == sweep_case(0).layers
    assert main(["report", str(saved[1]), "--backends", "offw3"]) == 1  # it reproduces
    # offw3 is off in W1[0,1]: the smallest case that has it is 1 input, 2 outputs, 1 sample
    small = load_case(saved[0])
    assert (small.layers, small.inputs.shape[0], small.steps) == ((1, 2), 1, 1)
    assert main(["report", str(saved[0]), "--backends", "offw3"]) == 1
    assert "shrunk random-0.0 (offw3 float64, still failing gradients of W)" in out


def test_jobs_give_the_serial_table_and_files_byte_for_byte(capsys, tmp_path, offw3):
    """Shards side by side add up to the serial run: the same table, the same saved files."""
    folder = tmp_path / "failures"
    # seeds 6..9: two members each of shape families 0 and 1, so two shards with --jobs 2
    argv = [
        "sweep",
        "--cases",
        "4",
        "--seed",
        "6",
        "--backends",
        "numpy,offw3",
        "--dtype",
        "float64",
        "--save-failures",
        str(folder),
    ]
    seen = []
    for jobs in ("1", "2"):
        code = main([*argv, "--jobs", jobs])
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        seen.append((code, capsys.readouterr().out, files))
        for p in folder.iterdir():
            p.unlink()
    assert seen[0] == seen[1]
    assert seen[0][0] == 1 and len(seen[0][2]) == 5  # offw3 fails every case; one shrunk


def test_sweep_json(capsys, tmp_path):
    argv = ["sweep", "--cases", "2", "--seed", "23", "--backends", "numpy", "--dtype", "float64"]
    assert main([*argv, "--format", "json", "--save-failures", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "backprop-crosscheck/sweep/1" and doc["seeds"] == [23, 24]
    assert doc["rows"] == [
        {
            "backend": "numpy",
            "dtype": "float64",
            "cases": 2,
            "pass": 2,
            "fail": 0,
            "error": 0,
            "skip": 0,
            "worst_fraction_of_tolerance": 0.0,
            "worst_at": "",
        }
    ]


def test_checks_dealt_to_lanes_of_workers_give_the_in_process_table(capsys):
    """fd's checks (and JAX's, comparisons/sweep/shards.py) are dealt to two workers, alternate
    checks each: the answers come back to the rows they belong to, as one process gives them."""
    argv = ["sweep", "--cases", "3", "--seed", "23", "--backends", "numpy,fd"]
    tables = []
    for more in ([], ["--in-process"]):
        code = main([*argv, *more])
        tables.append((code, capsys.readouterr().out))
    assert tables[0] == tables[1] and tables[0][0] == 0


def test_a_sweep_starts_each_lane_of_its_workers_before_its_first_check():
    """Workers start while the sweep draws its cases (comparisons/sweep/shards.py): each lane
    of each backend that runs in a worker, none for the reference's own (numpy) or a backend
    skipped in every dtype asked for."""
    from backprop_crosscheck.backends import get_backend
    from backprop_crosscheck.comparisons.isolate.workers import dealt
    from backprop_crosscheck.comparisons.sweep.shards import SweepPlan, start_workers, workers_for

    skipped = get_backend("autograd")
    skipped.skip_reason = lambda dtype, device: "not this time"  # this instance alone
    plan = SweepPlan([get_backend("numpy"), get_backend("fd"), skipped], ["float64"])
    with workers_for(plan) as workers:
        start_workers(plan, workers)
        started, lanes = sorted(workers._workers), workers.lanes.get("fd", 1)
    assert started == [dealt("backend fd", lanes, k) for k in range(lanes)]
