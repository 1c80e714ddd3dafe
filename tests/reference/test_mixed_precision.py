"""Mixed precision by hand (issue #37, point 4): the case option, the reference's own scaled
loop, and GradScaler's rule.

The numbers come from outside the code under test: the scale sequence from torch.amp.GradScaler
itself and written out by hand, float16's overflow point from NumPy's float16, the gradients
from the plain reference run on the numbers rounded to the compute precision.
"""

import numpy as np
import pytest
from backprop_crosscheck.comparisons.run import make_check
from backprop_crosscheck.reference import CaseError, load_case, train
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.precision import in_precision
from backprop_crosscheck.reference.rules.loss_scaling import MixedPrecision, next_scale
from support.cli import run

DYNAMIC = MixedPrecision("float16", 65536.0, True, growth_interval=2)
# overflow on these steps (True), and GradScaler's scale before each step and after the last
OVERFLOWS = [True, False, False, False, True, False]
BY_HAND = [65536, 32768, 32768, 65536, 65536, 32768, 32768]


def test_the_scale_rule_is_grad_scalers_step_by_step():
    scale, good, seen = DYNAMIC.loss_scale, 0, [DYNAMIC.loss_scale]
    for overflow in OVERFLOWS:
        scale, good = next_scale(DYNAMIC, scale, good, overflow)
        seen.append(scale)
    assert seen == BY_HAND  # halved on overflow, doubled after two good steps in a row


def test_the_scale_rule_is_torchs_own_grad_scaler():
    torch = pytest.importorskip("torch", reason="pip install torch==2.13.0 (or: make test)")
    p = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=0.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=65536.0, growth_interval=2)
    seen = [scaler.get_scale()]
    for overflow in OVERFLOWS:
        scaler.scale(p.sum()).backward()  # as a training loop does: S·E's backward
        if overflow:
            p.grad.fill_(float("inf"))  # what an overflowing float16 backward leaves
        scaler.step(optimizer)
        scaler.update()
        seen.append(scaler.get_scale())
        p.grad = None
    assert seen == BY_HAND


def test_a_static_scale_never_moves():
    static = MixedPrecision("float16", 1024.0)
    assert next_scale(static, 1024.0, 0, True) == (1024.0, 0)


def test_the_first_step_is_the_plain_reference_at_the_numbers_rounded_to_the_compute():
    """bfloat16 rounds the article's weights and inputs; the scaled loop's first step is the
    plain float64 reference run on those rounded numbers (target 1: exact in bfloat16)."""
    article = load_case("article")
    mixed = train(article.replace(mixed=MixedPrecision("bfloat16")))
    plain = train(in_precision(article, "bfloat16"))
    assert mixed.loss[0] == plain.loss[0]
    for name, g in plain.gradients.items():
        np.testing.assert_array_equal(mixed.gradients[name], g, name)
    assert mixed.loss[0] != train(article).loss[0]  # the rounding is there: the test can fail


def test_the_built_in_float16_case_skips_four_steps_then_grows():
    case = load_case("mixed_float16")
    r = train(case)
    assert r.scale.tolist() == [2.0**20, 2.0**19, 2.0**18, 2.0**17, 2.0**16, 2.0**16, 2.0**17]
    assert r.loss[0] == r.loss[1] == r.loss[2] == r.loss[3] == r.loss[4]  # skipped: unchanged
    assert r.loss[5] < r.loss[4] and r.loss[6] < r.loss[5]  # the two steps taken
    # why: the largest scaled gradient overflows float16 at 2¹⁷ and not at 2¹⁶ (NumPy's float16)
    largest = max(float(np.abs(g).max()) for n, g in r.gradients.items() if n != "X")
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(largest * 2.0**17))
    assert np.isfinite(np.float16(largest * 2.0**16))
    # the first step taken is the one recorded: its update moved every trained parameter
    start = case.parameters()
    assert all(not np.array_equal(r.updated[n], start[n]) for n in start)


def test_the_masters_stay_float32_and_the_update_is_theirs():
    r = train(load_case("mixed_bfloat16"))
    for name, p in r.final.items():
        np.testing.assert_array_equal(p, p.astype(np.float32).astype(np.float64), name)
    assert any(  # not bfloat16: a float32 update moves them by less than bfloat16's spacing
        not np.array_equal(p, in_precision_array(p, "bfloat16")) for p in r.final.values()
    )


def in_precision_array(a, name):
    from backprop_crosscheck.reference.precision import representable

    return representable(a, name)


@pytest.mark.parametrize("name", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_case_round_trips_through_its_file(tmp_path, name):
    case = load_case(name)
    path = tmp_path / "again.toml"
    path.write_text(dump_case(case))
    again = load_case(path)
    assert again.mixed == case.mixed
    np.testing.assert_array_equal(train(again).loss, train(case).loss)


BASE = "layers = [1, 1]\nlearning_rate = 0.1\ninputs = [[1.0]]\n"
BASE += "targets = [[0.5]]\nweights = [[[0.3]]]\n"


@pytest.mark.parametrize(
    ("table", "field", "phrase"),
    [
        ("mixed_precision = 1", "mixed_precision", "must be a table"),
        ("[mixed_precision]\ndynamic = true", "mixed_precision.compute", "must be one of"),
        ('[mixed_precision]\ncompute = "float8"', "mixed_precision.compute", "got 'float8'"),
        ('[mixed_precision]\ncompute = "float16"\nloss_scale = -1', "loss_scale", "> 0"),
        ('[mixed_precision]\ncompute = "float16"\nloss_scale = 1e39', "loss_scale", "range"),
        ('[mixed_precision]\ncompute = "float16"\ndynamic = "yes"', "dynamic", "true or false"),
        ('[mixed_precision]\ncompute = "float16"\ngrowth_factor = 2.0', "growth_factor", "dynamic"),
        (
            '[mixed_precision]\ncompute = "float16"\ndynamic = true\nbackoff_factor = 1.5',
            "backoff_factor",
            "(0, 1)",
        ),
        (
            '[mixed_precision]\ncompute = "float16"\ndynamic = true\ngrowth_interval = 0',
            "growth_interval",
            "integer ≥ 1",
        ),
        ('[mixed_precision]\ncompute = "float16"\nscale = 8.0', "mixed_precision.scale", "known"),
    ],
    ids=[
        "not-a-table",
        "no-compute",
        "unknown-compute",
        "negative-scale",
        "scale-past-float32",
        "dynamic-not-bool",
        "dynamic-setting-without-dynamic",
        "backoff-past-1",
        "interval-0",
        "unknown-field",
    ],
)
def test_a_bad_mixed_precision_table_names_the_file_and_field(
    tmp_path, capsys, table, field, phrase
):
    path = tmp_path / "bad.toml"
    path.write_text(BASE + table + "\n")
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert "bad.toml" in str(info.value) and field in str(info.value) and phrase in str(info.value)
    code, out, err = run(capsys, "report", str(path), "--backends", "numpy")
    assert code == 2 and len(err.strip().splitlines()) == 1 and field in err


def test_a_mixed_case_in_another_precision_than_its_masters_is_na_with_why():
    check = make_check(load_case("mixed_bfloat16"), "float64")
    assert "keeps float32 master parameters" in check.beyond
    assert make_check(load_case("mixed_bfloat16"), "float32").beyond is None


def test_a_static_scale_that_may_overflow_is_beyond_any_engine():
    """Past float16's overflow point, or within 4× of it (an engine's backward may hold up to
    that much more inside a layer): n/a; well below it, judged."""
    case = load_case("mixed_float16")
    largest = max(float(np.abs(g).max()) for n, g in train(case).gradients.items() if n != "X")
    for scale, words in [(2.0**20, "past where float16 overflows"), (2.0**15, "within 4×")]:
        assert 65520 / 4 <= largest * scale  # the case as the test means it
        static = case.replace(mixed=MixedPrecision("float16", scale))
        beyond = make_check(static, "float32").beyond
        assert words in beyond and f"static loss scale {scale:.10g}" in beyond
    assert largest * 2.0**10 < 65520 / 4
    quiet = case.replace(mixed=MixedPrecision("float16", 2.0**10))
    assert make_check(quiet, "float32").beyond is None


def test_dynamic_scaling_that_skips_every_step_is_beyond_any_engine():
    case = load_case("mixed_float16").replace(steps=3)  # 2²⁰, 2¹⁹, 2¹⁸: all overflow
    assert "no step is taken" in make_check(case, "float32").beyond
