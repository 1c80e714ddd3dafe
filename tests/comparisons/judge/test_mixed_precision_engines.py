"""Mixed precision in the engines (issue #37, point 4): torch (autocast, GradScaler's kernels)
and JAX (explicit casts) held to the reference's scaled loop step by step — and the mistakes of
a mixed-precision loop caught: masters kept in the compute precision, gradients left scaled,
an overflow not backed off.

The mistakes are torch's own adapter with one of its hooks changed (fakes below): what each
must fail on is said beside it, and the real adapter passes the same case."""

import numpy as np
import pytest
from backprop_crosscheck.comparisons.isolate.wire import decode, encode, plain, result_of
from backprop_crosscheck.comparisons.run import run_case
from backprop_crosscheck.reference import load_case, train
from support.cli import report_json

CASES = ["mixed_bfloat16", "mixed_float16"]


def engine(name):
    pytest.importorskip(name, reason=f"pip install {name} (or: make test)")
    from backprop_crosscheck import get_backend

    return get_backend(name)


@pytest.fixture(scope="module")
def torch_backend():
    pytest.importorskip("torch", reason="pip install torch==2.13.0 (or: make test)")
    from backprop_crosscheck.backends.torch.backend import TorchBackend

    return TorchBackend


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_engines_pass_the_built_in_mixed_cases_step_by_step(backend, name):
    row = run_case(load_case(name), [engine(backend)], "float32").comparisons[0]
    assert row.status == "pass", row.message
    reference = train(load_case(name))
    if reference.scale is not None:  # the engine's own scale, every step, is the reference's
        np.testing.assert_array_equal(row.result.scale, reference.scale)
    # it computed in the low precision: its loss is not float32's answer on the case
    plain = train(load_case(name).replace(mixed=None))
    assert abs(row.result.loss[0] - plain.loss[0]) > 1e-6


def test_an_engine_without_mixed_precision_is_na_with_why():
    row = run_case(load_case("mixed_float16"), [engine("numpy")], "float32").comparisons[0]
    assert row.status == "unsupported" and "no mixed precision in float16" in row.message


def test_the_json_report_carries_the_scale_step_by_step(capsys):
    engine("torch")
    code, doc = report_json(capsys, "mixed_float16", "--backends", "torch", "--dtype", "float32")
    (run,) = doc["runs"]
    assert code == 0 and run["mixed_precision"]["compute"] == "float16"
    assert run["reference"]["loss_scale"] == run["backends"][0]["loss_scale"]
    assert run["reference"]["loss_scale"][0] == 2.0**20


def test_the_scale_crosses_back_from_a_worker():
    r = train(load_case("mixed_float16"))
    again = result_of(decode(encode(plain(r))))
    np.testing.assert_array_equal(again.scale, r.scale)


# --- the mistakes of a mixed-precision loop, each one hook of torch's adapter changed ---------


def mistaken(torch_backend, hook: str):
    def masters_in_bfloat16(self, case, params):  # the update's result kept in bfloat16
        update = torch_backend.updating(self, case, params)

        def rounded(params, grads):
            new = update(params, grads)
            with self.torch.no_grad():
                for p in new.values():
                    p.copy_(p.to(self.torch.bfloat16).float())
            return new

        return rounded

    def left_scaled(self, grads, scale, checked):  # the gradients never divided by S
        return grads, not all(bool(self.torch.isfinite(grads[n]).all()) for n in checked)

    def never_backs_off(self, mp, scale, good, overflow):  # GradScaler's update without its ×½
        return torch_backend.next_loss_scale(self, mp, scale, good, False)

    hooks = {
        "updating": masters_in_bfloat16,
        "unscaled": left_scaled,
        "next_loss_scale": never_backs_off,
    }
    return type("Mistaken", (torch_backend,), {"name": f"torch-{hook}", hook: hooks[hook]})()


@pytest.mark.parametrize(
    ("hook", "case", "caught"),
    [
        ("updating", "mixed_float16", "updated"),
        ("updating", "mixed_bfloat16", "updated"),
        ("unscaled", "mixed_float16", "gradients"),
        # its scale says every step was taken: the values it holds (its overflowed gradients
        # NaN, its parameters unmoved) are held to the reference that takes them
        ("next_loss_scale", "mixed_float16", "nan vs"),
    ],
    ids=[
        "sgd-masters-in-bfloat16",
        "adam-masters-in-bfloat16",
        "gradients-left-scaled",
        "overflow-not-backed-off",
    ],
)
def test_a_mixed_precision_mistake_fails_naming_what(torch_backend, hook, case, caught):
    row = run_case(load_case(case), [mistaken(torch_backend, hook)], "float32").comparisons[0]
    assert row.status == "fail", row.message
    assert caught in row.message


def overflowing_early(torch_backend, factor: float):
    """torch's adapter as an engine whose backward holds ``factor``× more inside a layer than
    its layers' gradients show: it overflows float16 (65520) where they reach 65520/factor."""

    def unscaled(self, grads, scale, checked):
        largest = max(float(grads[n].abs().max()) for n in checked)  # still scaled here
        grads, overflow = torch_backend.unscaled(self, grads, scale, checked)
        return grads, overflow or largest * factor >= 65520

    return type(
        "Early", (torch_backend,), {"name": f"torch-early-{factor:g}", "unscaled": unscaled}
    )()


def test_an_engine_may_skip_a_step_near_the_overflow_point_and_be_followed(torch_backend):
    """At 2¹⁶ the built-in case's largest scaled gradient is 33,074: half of float16's overflow
    point. An engine that overflows inside a layer at twice that skips the step (2¹⁶ → 2¹⁵);
    the reference follows its decision there, and holds every value and the scale after it."""
    case = load_case("mixed_float16")
    row = run_case(case, [overflowing_early(torch_backend, 2.0)], "float32").comparisons[0]
    assert row.status == "pass", row.message
    assert row.result.scale.tolist() != train(case).scale.tolist()  # it did decide otherwise
    assert 2.0**15 in row.result.scale.tolist()


def test_an_engine_that_skips_where_nothing_comes_near_overflowing_fails(torch_backend):
    """It skips at 2¹⁶ and 2¹⁵ too (33,074 and 16,537: within 4× of 65520, admissible), then at
    2¹⁴, where the largest scaled value is 8,268: not its to decide."""
    case = load_case("mixed_float16").replace(steps=9)
    row = run_case(case, [overflowing_early(torch_backend, 100.0)], "float32").comparisons[0]
    assert row.status == "fail" and row.message.startswith("loss scale")


def sweep_case(name: str):
    from backprop_crosscheck.comparisons.kit.conformance import case_named
    from backprop_crosscheck.reference.rules.loss_scaling import MixedPrecision

    dynamic = MixedPrecision("float16", 2.0**14, True, growth_interval=1)
    return case_named(name).replace(mixed=dynamic)


def test_an_engine_may_take_a_step_holding_in_float32_what_float16_could_not():
    """random-7.1 at S = 2¹⁴: the reference's S·dE/db3 is 75,240, past float16 — torch's
    autocast holds the bias gradient in float32 (75,251) and rightly takes the step."""
    case = sweep_case("random-7.1")
    row = run_case(case, [engine("torch")], "float32").comparisons[0]
    assert row.status == "pass", row.message
    assert row.result.scale[1] > train(case).scale[1]  # it grew where the reference halved


def test_an_input_gradient_past_float16_may_be_inf_in_the_engine():
    """random-12.3: S·|dE/dX| overflows float16; GradScaler skips no step for it, and torch,
    holding dE/dX in float16, returns ±inf there — not judged, the rest is."""
    case = sweep_case("random-12.3")
    row = run_case(case, [engine("torch")], "float32").comparisons[0]
    assert (
        np.isinf(row.result.gradients["X"]).any() and np.isfinite(train(case).gradients["X"]).all()
    )
    assert row.status == "pass", row.message
