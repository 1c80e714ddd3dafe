"""Momentum and Adam: the hand-written rules against closed forms worked out here from the
article's numbers, and the frameworks' own optimizers against the rules (the conformance suite
runs the built-in `adam` case on every backend; momentum is checked here)."""

import tomllib

import numpy as np
import pytest
from backprop_crosscheck.comparisons.run import run_case
from backprop_crosscheck.reference import backward, forward, train
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.conditioning import adam_allowance
from support.paths import TESTS

from backprop_crosscheck import get_backend, load_case, parse_case

MOMENTUM = TESTS / "cases" / "momentum.toml"
ARTICLE_GRADIENTS = {  # the article: Δ = −0.809, h = [0.85, 0.48], i = [2, 3], w5 .14, w6 .15
    "w1": -0.809 * 0.14 * 2,
    "w2": -0.809 * 0.14 * 3,
    "w3": -0.809 * 0.15 * 2,
    "w4": -0.809 * 0.15 * 3,
    "w5": -0.809 * 0.85,
    "w6": -0.809 * 0.48,
}
ARTICLE_WEIGHTS = {"w1": 0.11, "w2": 0.21, "w3": 0.12, "w4": 0.08, "w5": 0.14, "w6": 0.15}


def variant(name: str, **fields):
    data = tomllib.loads(dump_case(load_case(name)))
    for key in (
        "momentum",
        "dampening",
        "learning_rate_on",
        "beta1",
        "beta2",
        "epsilon",
        "epsilon_placement",
    ):
        data.pop(key, None)
    return parse_case({**data, **fields}, source=f"{name}-variant")


def scalar(case, tensors, alias):
    name, index = case.aliases[alias].split("[")
    return tensors[name][tuple(int(i) for i in index.rstrip("]").split(","))]


def test_adams_first_step_moves_every_weight_by_the_learning_rate():
    """m̂ = g and v̂ = g² at t = 1, so p* = p − a·g/(|g| + ε): every article weight grows by
    a = 0.05 (its gradient is negative), short by a·ε/(|g| + ε) < 3e-9."""
    case, result = load_case("adam"), train(load_case("adam"))
    for alias, w in ARTICLE_WEIGHTS.items():
        g = ARTICLE_GRADIENTS[alias]
        assert scalar(case, result.updated, alias) == pytest.approx(
            w - 0.05 * g / (abs(g) + 1e-8), abs=1e-15
        )
        assert scalar(case, result.updated, alias) == pytest.approx(w + 0.05, abs=3e-9)


@pytest.mark.parametrize(
    ("placement", "first_step"),
    [
        ("after_correction", lambda g, eps, b2: g / (abs(g) + eps)),
        ("before_correction", lambda g, eps, b2: g / (abs(g) + eps / np.sqrt(1 - b2))),
        ("inside_sqrt", lambda g, eps, b2: g / np.sqrt(g * g + eps)),
    ],
    ids=["after_correction", "before_correction", "inside_sqrt"],
)
def test_each_epsilon_placement_gives_its_own_first_step(placement, first_step):
    """A large ε (0.01) so that the three conventions differ by far more than rounding."""
    case = variant("adam", epsilon=0.01, epsilon_placement=placement, beta2=0.99)
    result = train(case)
    for alias, w in ARTICLE_WEIGHTS.items():
        g = ARTICLE_GRADIENTS[alias]
        want = w - 0.05 * first_step(g, 0.01, 0.99)
        assert scalar(case, result.updated, alias) == pytest.approx(want, abs=1e-15)


def test_adams_second_step_unrolled():
    """m₂ = β₁(1 − β₁)g₁ + (1 − β₁)g₂ and v₂ = β₂(1 − β₂)g₁² + (1 − β₂)g₂², both bias-corrected
    by 1 − β², with g₂ the gradient at the first step's weights."""
    case = variant("adam", steps=2, beta1=0.8, beta2=0.99, epsilon=1e-3)
    b1, b2, eps, a = 0.8, 0.99, 1e-3, case.learning_rate
    p0 = case.parameters()
    g1 = backward(case, p0, forward(case, p0, case.inputs, case.targets), case.targets)
    p1 = {n: p - a * g1[n] / (np.abs(g1[n]) + eps) for n, p in p0.items()}
    g2 = backward(case, p1, forward(case, p1, case.inputs, case.targets), case.targets)
    result = train(case)
    for n, p in p1.items():
        m = (b1 * (1 - b1) * g1[n] + (1 - b1) * g2[n]) / (1 - b1**2)
        v = (b2 * (1 - b2) * g1[n] ** 2 + (1 - b2) * g2[n] ** 2) / (1 - b2**2)
        np.testing.assert_allclose(result.final[n], p - a * m / (np.sqrt(v) + eps), rtol=1e-14)


@pytest.mark.parametrize("dampening", [0.0, 0.3])
def test_momentums_two_steps_unrolled_in_both_forms(dampening):
    """v₁ = (1 − d)g₁, v₂ = μ·v₁ + (1 − d)g₂: p₂ = p₀ − a·v₁ − a·v₂. The velocity form
    (v ← μv − a(1 − d)g, p ← p + v) is the same trajectory up to rounding."""
    case = variant("batch", steps=2, optimizer="momentum", momentum=0.9, dampening=dampening)
    mu, d, a = 0.9, dampening, case.learning_rate
    p0 = case.parameters()
    g1 = backward(case, p0, forward(case, p0, case.inputs, case.targets), case.targets)
    p1 = {n: p - a * (1 - d) * g1[n] for n, p in p0.items()}
    g2 = backward(case, p1, forward(case, p1, case.inputs, case.targets), case.targets)
    for form in ("step", "velocity"):
        result = train(
            variant(
                "batch",
                steps=2,
                optimizer="momentum",
                momentum=mu,
                dampening=d,
                learning_rate_on=form,
            )
        )
        for n, p in p1.items():
            want = p - a * (mu * (1 - d) * g1[n] + (1 - d) * g2[n])
            np.testing.assert_allclose(result.final[n], want, rtol=1e-14, atol=1e-16)


def test_frozen_parameters_keep_their_value_under_momentum_and_adam():
    for case in (load_case(str(MOMENTUM)), variant("batch", optimizer="adam", frozen=["W2"])):
        result, initial = train(case), case.parameters()
        for name in case.frozen:
            assert np.array_equal(result.final[name], initial[name]), name
        assert not np.array_equal(result.final["W1"], initial["W1"])


def own_rule(name: str, rule: str):
    """A case in the convention the framework's own optimizer follows (docs/optimizers.md)."""
    if rule == "adam":  # a large ε: the placements differ by far more than rounding
        placement = {"jax": "inside_sqrt", "tensorflow": "before_correction"}[name]
        return variant("adam", epsilon=1e-3, epsilon_placement=placement)
    case = load_case(str(MOMENTUM))  # v ← μ·v + g, 4 steps, a frozen tensor
    if name == "autograd":  # its sgd dampens by its mass
        return case.replace(optimizer=case.optimizer.__class__("momentum", 0.9, 0.9))
    if name == "tensorflow":  # Keras: v ← μ·v − a·g, p ← p + v
        return case.replace(optimizer=case.optimizer.__class__("momentum", 0.9, 0.0, "velocity"))
    return case


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("torch", "momentum"),
        ("jax", "momentum"),
        ("autograd", "momentum"),
        ("tensorflow", "momentum"),
        ("jax", "adam"),
        ("tensorflow", "adam"),
    ],
    ids=[
        "torch-momentum",
        "optax-momentum",
        "autograd-momentum-dampened",
        "keras-momentum",
        "optax-adam-eps-root",
        "keras-adam",
    ],
)
def test_the_frameworks_own_optimizer_follows_the_rule(name, rule):
    """Each framework's own momentum, and the Adam conventions the built-in `adam` case (after
    the correction: torch, optax, autograd in the conformance suite) does not reach, in both
    dtypes: the conventions its optimizer follows, over the whole trajectory."""
    backend = get_backend(name)
    if not backend.available():
        pytest.skip(f"{name} is not installed: {backend.install_hint}")
    case = own_rule(name, rule)
    for dtype in ("float64", "float32"):
        run = run_case(case, [backend], dtype)
        assert run.comparisons[0].status == "pass", run.comparisons[0].message


@pytest.mark.parametrize(
    ("name", "fields", "why"),
    [
        ("torch", {"optimizer": "momentum", "dampening": 0.1}, "does not dampen its first step"),
        ("torch", {"optimizer": "adam", "epsilon_placement": "inside_sqrt"}, "after the bias"),
        ("jax", {"optimizer": "momentum", "dampening": 0.1}, "no dampening"),
        ("jax", {"optimizer": "adam", "epsilon_placement": "before_correction"}, "never before"),
        ("autograd", {"optimizer": "momentum", "dampening": 0.0}, "dampening = momentum"),
        ("tensorflow", {"optimizer": "adam"}, "before the bias correction"),
        ("tape", {"optimizer": "adam"}, "has no adam"),
    ],
    ids=[
        "torch-dampening",
        "torch-epsilon",
        "jax-dampening",
        "jax-epsilon",
        "autograd-undamped",
        "keras-epsilon",
        "tape-no-adam",
    ],
)
def test_a_convention_a_framework_does_not_follow_is_na_with_its_reason(name, fields, why):
    """Reported n/a (a skip), never judged against a rule the framework does not implement —
    and never an error: the case's other backends still run."""
    case, backend = variant("article", **fields), get_backend(name)
    assert why in backend.unsupported(case)
    run = run_case(case, [get_backend("numpy"), backend], "float64")
    na = "unsupported" if backend.available() else "skip"  # not installed: said first
    assert [c.status for c in run.comparisons] == ["pass", na]


UNDECIDED = TESTS / "cases" / "adam-undecided.toml"


def test_where_adams_step_is_undecided_the_gradients_tolerance_is_carried_through():
    """The sweep's random-15.0, shrunk: W2[3,3]'s gradient (−5.4e-7) is a sixth of ε (3.1e-6),
    so its first step g/(|g| + ε) hangs on the gradient's last digits. Finite differences agree
    on that gradient to 1.6e-11, well within their tolerance, yet move the weight 2.2e-7 from
    the reference's, beyond the parameters' 1.7e-7: a false alarm before Adam's allowance. The
    allowance at t = 1 is the range of a·g/(|g| + ε) over g ± τ, worked out here."""
    case = load_case(str(UNDECIDED))
    assert run_case(case, [get_backend("fd")], "float64").comparisons[0].status == "pass"
    g = train(case).gradients["W2"]
    a, eps = case.learning_rate, case.optimizer.epsilon
    for rtol, atol in ((1e-6, 1e-7), (1e-4, 1e-5), (1e-9, 1e-11)):
        tau = atol + rtol * np.abs(g)

        def step(x):
            return x / (np.abs(x) + eps)

        want = a * np.maximum(np.abs(step(g - tau) - step(g)), np.abs(step(g + tau) - step(g)))
        got = adam_allowance(case, rtol, atol)["updated"]["W2"]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-16)  # steps ~1: rounding 1e-16


def test_adams_allowance_is_small_where_the_gradients_are_far_from_zero():
    """The built-in case: every gradient ≥ 0.22 ≫ ε = 1e-8. The first step is ≈ ±1 whatever
    the gradient's last digits: nothing added beyond its rounding; over five steps m̂/√v̂
    moves with τ/|g|, as an SGD step a·g does, and the allowance stays under a tenth of the
    parameters' own tolerance."""
    case = load_case("adam")
    allowance, final = adam_allowance(case, 1e-9, 1e-11), train(case).final
    assert max(float(s.max()) for s in allowance["updated"].values()) < 1e-16
    for name, extra in allowance["final"].items():
        assert np.all(extra < 0.1 * (1e-11 + 1e-9 * np.abs(final[name]))), name
    assert adam_allowance(load_case("article"), 1e-9, 1e-11) is None  # SGD: none needed


@pytest.mark.parametrize("name", ["momentum", "momentum_decoupled", "adamw"])
def test_a_compiled_step_takes_each_cases_own_numbers(name):
    """jax compiles one step per optimizer structure and shares it between cases: the rate and
    the weight decay must come from each case, never from the first one compiled (optax's
    numbers injected, not baked in). Two cases of one structure, different numbers, one process."""
    pytest.importorskip("optax", reason="pip install jax optax (or make test)")
    import dataclasses

    base = load_case(name)
    for lr, decay in ((0.05, 0.01), (0.2, 0.3)):
        case = dataclasses.replace(
            base,
            learning_rate=lr,
            optimizer=dataclasses.replace(base.optimizer, weight_decay=decay),
        )
        got, want = get_backend("jax").run(case, "float64"), train(case)
        for n, p in want.final.items():
            np.testing.assert_allclose(got.final[n], p, rtol=1e-12, atol=1e-14, err_msg=(lr, n))
