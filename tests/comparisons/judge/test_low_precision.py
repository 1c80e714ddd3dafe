"""bfloat16 and float16 (issue #37): the case as such an engine is handed it, the modelled
tolerance, what no engine in the precision can be held to, and torch and JAX held to it.

The numbers come from outside the code under test: the unit roundoffs from the formats' bit
counts (and ml_dtypes'), the rounding from float32's bits masked by hand, the article's loss.
"""

import math

import ml_dtypes
import numpy as np
import pytest
from backprop_crosscheck.comparisons.isolate.wire import decode, encode, numbers
from backprop_crosscheck.comparisons.judge.sensitivity import judged
from backprop_crosscheck.comparisons.judge.tolerance import modelled, rounding_count
from backprop_crosscheck.comparisons.run import make_check, run_case
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.precision import in_precision, unit_roundoff
from support.cli import report_json, run

LOW = ("bfloat16", "float16")
ARTICLE_LOSS = 0.5 * (0.191 - 1) ** 2  # the article: prediction 0.191, target 1


def bfloat16_by_hand(x) -> np.ndarray:
    """Round to nearest even on float32's upper 16 bits: bfloat16 as its definition reads."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


@pytest.mark.parametrize(
    ("dtype", "bits", "eps"),
    [
        ("bfloat16", 8, ml_dtypes.finfo(ml_dtypes.bfloat16).eps),
        ("float16", 11, np.finfo(np.float16).eps),
        ("float32", 24, np.finfo(np.float32).eps),
    ],
    ids=["bfloat16", "float16", "float32"],
)
def test_the_unit_roundoff_is_half_the_epsilon_of_the_format(dtype, bits, eps):
    assert unit_roundoff(dtype) == 2.0**-bits == eps / 2


def test_a_low_precision_case_is_its_numbers_rounded_to_nearest_even():
    case = load_case("conv_bn")
    rounded = in_precision(case, "bfloat16")
    for name, p in rounded.parameters().items():
        np.testing.assert_array_equal(p, bfloat16_by_hand(case.parameters()[name]), name)
    np.testing.assert_array_equal(rounded.inputs, bfloat16_by_hand(case.inputs))
    assert in_precision(case, "float32") is case  # float32's tolerance covers what it is given
    assert not np.array_equal(rounded.inputs, case.inputs)  # the check above could fail


def test_the_tolerance_is_the_model_on_the_case():
    """K = rows + time steps + training steps + √(longest sum); rtol = 2·u·K, atol rtol/10."""
    article = load_case("article")  # dense, sigmoid, dense, sigmoid; 1 step; W1 is 2 × 2
    assert rounding_count(article) == pytest.approx(4 + 0 + 1 + math.sqrt(2))
    tol = modelled("bfloat16", article)
    assert tol.rtol == pytest.approx(2 * 2**-8 * (5 + math.sqrt(2)))
    assert tol.atol == pytest.approx(tol.rtol / 10)
    lstm = load_case("lstm")  # its time steps count as depth
    steps = lstm.inputs.shape[1]
    assert rounding_count(lstm) >= len(lstm.stack) + steps + lstm.steps


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_article_in_a_low_precision_passes_and_lands_on_its_loss(dtype, backend):
    pytest.importorskip(backend, reason=f"pip install {backend} (or: make test)")
    run_ = run_case(load_case("article"), [_backend(backend)], dtype)
    (row,) = run_.comparisons
    assert row.status == "pass", row.message
    assert row.result.loss.dtype.name == dtype  # computed and returned in it
    # the article's 0.327 within a few of the precision's roundings (it rounds 2·3 inputs,
    # 6 weights and every operation): the engine computes the article, not something near it
    assert abs(float(row.result.loss[0]) - ARTICLE_LOSS) < 16 * unit_roundoff(dtype)


def _backend(name):
    from backprop_crosscheck import get_backend

    return get_backend(name)


def test_an_engine_without_the_precision_is_na_with_its_reason():
    run_ = run_case(load_case("article"), [_backend("numpy")], "bfloat16")
    (row,) = run_.comparisons
    assert row.status == "skip"
    assert "bfloat16 is not supported (only float64, float32)" in row.message


def test_float16_adam_whose_second_moment_underflows_is_beyond_the_precision():
    """β2 = 0.999: v = 0.001·g² is subnormal in float16 for any |g| < 0.25 — no float16
    optimizer state holds it; bfloat16 (float32's exponent range) does."""
    adam = load_case("adam")
    check = make_check(adam, "float16")
    assert check.beyond and "second moment" in check.beyond
    assert make_check(adam, "bfloat16").beyond is None
    row = run_case(adam, [_backend("numpy")], "float16").comparisons[0]
    assert row.status == "skip"  # numpy has no float16: its own reason first
    assert make_check(load_case("article"), "float16").beyond is None


@pytest.mark.parametrize("dtype", LOW)
def test_jax_adam_in_a_low_precision_passes_with_its_hyperparameters_in_float32(dtype):
    """optax.inject_hyperparams casts β2 = 0.999 to bfloat16's 1.0 (optax#1414): Adam's bias
    correction then divides by 0. The adapter injects them as float32, as a plain
    optax.adam(...) computes its bias correction."""
    pytest.importorskip("jax", reason="pip install jax optax (or: make test)")
    case = load_case("adam").replace(steps=2)
    row = run_case(case, [_backend("jax")], dtype).comparisons[0]
    if dtype == "float16":
        assert row.status == "unsupported" and "second moment" in row.message
    else:
        assert row.status == "pass", row.message


def test_a_wrong_derivative_is_still_caught_in_bfloat16():
    """The article's listed mistakes that float64 catches, bfloat16 catches too — computed
    exactly, so what is measured is the tolerance, not the mistake's own rounding."""
    from backprop_crosscheck.reference.mistakes import mistakes_for

    article = load_case("article")
    shows = [m for m in mistakes_for(article) if judged(article, m, "float64")[0] == "caught"]
    assert len(shows) >= 8
    missed = [m for m in shows if judged(article, m, "bfloat16")[0] != "caught"]
    assert missed == ["float32_inside"], missed  # float32's rounding: below any low precision


def test_bfloat16_crosses_back_from_a_worker_as_bfloat16():
    values = np.array([0.1, -2.5, 3e38], dtype=ml_dtypes.bfloat16)
    back = decode(encode({"t": values}))["t"]
    assert back.dtype == values.dtype and np.array_equal(back, values)
    assert numbers(back, "loss") is back  # real numbers: judged, not refused


def test_the_command_line_takes_a_list_of_precisions_and_refuses_an_unknown_one(capsys):
    code, doc = report_json(capsys, "article", "--backends", "numpy", "--dtype", "float32,float16")
    assert [r["dtype"] for r in doc["runs"]] == ["float32", "float16"]
    code, _, err = run(capsys, "report", "article", "--dtype", "bf16")
    assert code == 2
    assert "unknown dtype 'bf16'" in err and len(err.strip().splitlines()) <= 2


# the first 1,000-case calibrations' alarms, each cured by what its cause asked for
# (docs/tolerances.md#low-precision-bfloat16-and-float16)
CURED = {
    # a masked score's −1e30 is −∞ in float16: the composed softmax's fully masked row NaN;
    # and float16's (var + ε)^(−3/2) overflowing in the layer norm's backward
    "masked-offset-and-norm": ("attention-25.3", "jax", "float16"),
    # a layer norm over a near-constant row: rounding inside the layer, beyond its inputs
    "cancelling-layer-norm": ("attention-74.7", "torch", "bfloat16"),
    # three Adam steps: a step decided by rounding moves a weight, and later gradients with it
    "adam-feedback": ("attention-93.1", "jax", "bfloat16"),
}


@pytest.mark.parametrize(("name", "backend", "dtype"), CURED.values(), ids=CURED.keys())
def test_a_correct_engine_passes_where_the_first_calibration_raised_an_alarm(name, backend, dtype):
    from backprop_crosscheck.comparisons.kit.conformance import case_named

    pytest.importorskip(backend, reason=f"pip install {backend} (or: make test)")
    row = run_case(case_named(name), [_backend(backend)], dtype).comparisons[0]
    assert row.status == "pass", row.message


def test_a_masked_score_stays_finite_in_float16():
    from backprop_crosscheck.backends.attention_ops import Masks

    layer = load_case("masked_row").stack[0]
    masks = Masks(layer, 2, 3, 3)
    offsets = masks.offsets("float16").astype(np.float16)
    assert np.isfinite(offsets).all() and offsets.min() < -1e4  # exp of it is 0
    assert masks.offsets("torch.float32").min() == -1e30


def test_a_bfloat16_reproducer_script_rounds_its_case_and_agrees_alone(tmp_path):
    """A sweep's standalone script of a bfloat16 failure reruns it as the harness ran it: the
    case's numbers rounded to bfloat16 first (else the reference is of other numbers)."""
    import subprocess
    import sys

    from backprop_crosscheck.comparisons.sweep.repro_script import repro_script

    pytest.importorskip("torch", reason="pip install torch==2.13.0 (or: make test)")
    case = load_case("classification")
    tol = modelled("bfloat16", in_precision(case, "bfloat16"))
    script = tmp_path / "repro.py"
    script.write_text(repro_script(case, "torch", "bfloat16", tol.rtol, tol.atol))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "torch bfloat16: agrees" in done.stdout
