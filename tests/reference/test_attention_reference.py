"""reference/layers/attention.py and position.py against central differences of their own
forward pass (every entry of dE/dx and of each parameter's gradient, for E = Σ y·r) and their
R-operators against central differences of their own backward (H·v) — in every shape and mask
convention; plus the softmax's Jacobian worked by hand."""

import math

import numpy as np
import pytest
from backprop_crosscheck.reference.layers import attention as A
from backprop_crosscheck.reference.layers import position as Pos
from support.differences import differences

RNG = np.random.default_rng(11)
N, T, D = 2, 3, 4


def projections(d_in, width, d_out, biases=True, memory=None):
    p = {
        "Wq": RNG.standard_normal((d_in, width)),
        "Wk": RNG.standard_normal((d_in if memory is None else memory, width)),
        "Wv": RNG.standard_normal((d_in if memory is None else memory, width)),
        "Wo": RNG.standard_normal((width, d_out)),
    }
    if biases:
        p.update({b: RNG.standard_normal(p["W" + b[1]].shape[1]) for b in ("bq", "bk", "bv", "bo")})
    return p


# name -> (params, settings and given arrays)
CONFIGS = {
    "one-head-no-projections": ({}, {}),
    "two-heads-projected": (projections(D, 4, 3), {"heads": 2}),
    "causal-no-biases": (projections(D, 4, 4, biases=False), {"heads": 2, "causal": True}),
    "given-scale": (projections(D, 2, 2), {"scale": 0.3}),
    "cross-bottom-right": (
        {**projections(D, 4, 2, memory=3), "memory": RNG.standard_normal((5, 3))},
        {"heads": 2, "causal": True, "align": "bottom_right"},
    ),
    "cross-top-left": (
        {**projections(D, 2, 2, memory=3), "memory": RNG.standard_normal((5, 3))},
        {"causal": True},
    ),
    "attend-mask-per-sample": (
        projections(D, 4, 3),
        {"heads": 2, "scores_mask": np.array([[[1, 0, 1], [1, 1, 0], [0, 1, 1]]] * 2, float)},
    ),
    "masked-mask-torch-mha": (
        projections(D, 2, 2),
        {
            "mask_type": "masked",
            "scores_mask": np.array([[[0, 1, 0], [0, 0, 1], [1, 0, 0]]], float),
        },
    ),
    "additive-mask": (
        projections(D, 2, 2),
        {
            "mask_type": "additive",
            "scores_mask": np.array([[[0.5, -np.inf, 0], [0, -1.0, 0], [-np.inf, 2.0, 0]]]),
        },
    ),
    "lengths-zero-row": (projections(D, 2, 2), {"lengths": np.array([2, 0])}),
    "lengths-uniform-row": (
        projections(D, 2, 2),
        {"lengths": np.array([1, 0]), "masked_rows": "uniform"},
    ),
    "heads-split-by-reshape": (projections(D, 4, 3), {"heads": 2, "layout": "reshape"}),
    "dropout": (
        projections(D, 4, 2),
        {"heads": 2, "p": 0.25, "mask": (RNG.random((N, 2, T, T)) > 0.25).astype(float)},
    ),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_attention_backward_is_the_derivative_of_its_forward(name):
    params, settings = CONFIGS[name]
    params = {k: v.copy() for k, v in params.items()}
    x = RNG.standard_normal((N, T, D))
    y, saved = A.attention_forward(x, params, **settings)
    assert np.all(np.isfinite(y))
    r = RNG.standard_normal(y.shape)
    dx, grads = A.attention_backward(r, saved, params)

    def energy():
        return np.sum(A.attention_forward(x, params, **settings)[0] * r)

    np.testing.assert_allclose(dx, differences(energy, x), rtol=1e-6, atol=1e-8)
    assert set(grads) == set(params)
    for p, g in grads.items():
        np.testing.assert_allclose(
            g, differences(energy, params[p]), rtol=1e-6, atol=1e-8, err_msg=p
        )


@pytest.mark.parametrize("name", CONFIGS)
def test_attention_r_operator_is_the_derivative_of_its_forward_and_backward(name):
    """R{y} and R{dE/dx}, H·v: central differences along (r_x, v) of the forward and of the
    backward at a fixed dE/dy (and R{dE/dy} = r_dy taken as its own linear term)."""
    params, settings = CONFIGS[name]
    x = RNG.standard_normal((N, T, D))
    r_x = RNG.standard_normal(x.shape)
    v = {k: RNG.standard_normal(p.shape) for k, p in params.items()}
    y, saved = A.attention_forward(x, params, **settings)
    dy, r_dy = RNG.standard_normal(y.shape), RNG.standard_normal(y.shape)
    h = 1e-6

    def moved(sign):
        p = {k: params[k] + sign * h * v[k] for k in params}
        out, kept = A.attention_forward(x + sign * h * r_x, p, **settings)
        return out, A.attention_backward(dy + sign * h * r_dy, kept, p)

    (y_up, (dx_up, g_up)), (y_down, (dx_down, g_down)) = moved(1), moved(-1)
    r_y = A.attention_r_forward(x, r_x, params, v, saved, **settings)
    np.testing.assert_allclose(r_y, (y_up - y_down) / (2 * h), rtol=1e-5, atol=1e-7)
    r_dx, hv = A.attention_r_backward(x, r_x, dy, r_dy, saved, params, v, **settings)
    np.testing.assert_allclose(r_dx, (dx_up - dx_down) / (2 * h), rtol=1e-5, atol=1e-7)
    for p in params:
        want = (g_up[p] - g_down[p]) / (2 * h)
        np.testing.assert_allclose(hv[p], want, rtol=1e-5, atol=1e-7, err_msg=p)


def test_the_softmax_jacobian_worked_by_hand():
    """One query, two keys, no projections: S = q·kᵀ/√1 = [1, 0]; P = softmax(S) =
    [e/(e + 1), 1/(e + 1)]; with dE/dP = [1, 0], dE/dS = P ⊙ (dE/dP − P·dE/dP) =
    [p₀(1 − p₀), −p₀p₁]."""
    x = np.array([[[1.0], [0.0]]])  # queries and keys are x: q = [1, 0], k = [1, 0]
    _, saved = A.attention_forward(x, {})
    p0 = math.e / (math.e + 1)
    np.testing.assert_allclose(saved.p[0, 0, 0], [p0, 1 - p0], rtol=1e-15)
    d_s = A._softmax_backward(np.array([1.0, 0.0]), saved.p[0, 0, 0], np.ones(2, bool))
    np.testing.assert_allclose(d_s, [p0 * (1 - p0), -p0 * (1 - p0)], rtol=1e-15)


def test_a_fully_masked_row_follows_the_cases_convention():
    """Sample 1 may attend no key (length 0): zero weights (torch 2.13's SDPA), NaN (a softmax
    over −∞ alone), or equal weights (a large negative constant: the mean of V)."""
    x = RNG.standard_normal((2, 3, 2))
    lengths = np.array([3, 0])
    zero, _ = A.attention_forward(x, {}, lengths=lengths)
    nan, _ = A.attention_forward(x, {}, lengths=lengths, masked_rows="nan")
    uniform, _ = A.attention_forward(x, {}, lengths=lengths, masked_rows="uniform")
    assert np.all(zero[1] == 0) and np.all(np.isnan(nan[1]))
    np.testing.assert_allclose(uniform[1], np.broadcast_to(x[1].mean(axis=0), (3, 2)))
    np.testing.assert_array_equal(zero[0], uniform[0])  # a row with keys: alike


def test_uniform_added_passes_the_softmax_gradient_through_a_fully_masked_row():
    """A large negative constant added to every score of a row (Keras's float mask on torch)
    rounds the row to equal weights, as replacing them does (JAX's jnp.where) — but autodiff
    then differentiates the softmax at those weights: dE/dS = P ⊙ (dE/dP − rowsum(dE/dP ⊙ P))
    with P = 1/T reaches Q and K. Not the derivative of any function of x (the value is a
    rounding), so held to the formula, not to differences."""
    x = RNG.standard_normal((2, 3, 2))
    lengths, dy = np.array([3, 0]), RNG.standard_normal((2, 3, 2))
    grads = {}
    for rows in ("uniform", "uniform_added"):
        y, saved = A.attention_forward(x, {}, lengths=lengths, masked_rows=rows)
        grads[rows] = A.attention_backward(dy, saved, {})[0]
    np.testing.assert_array_equal(grads["uniform"][0], grads["uniform_added"][0])
    # sample 1: dE/dx = dE/dQ + dE/dK + dE/dV; uniform: dE/dV alone (P = 1/3 everywhere)
    d_v = np.full((3, 3), 1 / 3).T @ dy[1]
    np.testing.assert_allclose(grads["uniform"][1], d_v, rtol=1e-14)
    p = np.full((3, 3), 1 / 3)
    d_p = dy[1] @ x[1].T  # dE/dP = dE/dO·Vᵀ
    d_s = p * (d_p - (d_p * p).sum(axis=-1, keepdims=True))
    scale = 1 / math.sqrt(2)
    want = d_v + d_s @ x[1] * scale + d_s.T @ x[1] * scale
    np.testing.assert_allclose(grads["uniform_added"][1], want, rtol=1e-12)


def test_causal_alignment_when_queries_and_keys_differ():
    """3 queries, 5 keys: top-left lets query i see keys 0 … i; bottom-right 0 … i + 2."""
    top = A.allowed_keys(1, 3, 5, True, "top_left", "attend", None, None)[0, 0]
    bottom = A.allowed_keys(1, 3, 5, True, "bottom_right", "attend", None, None)[0, 0]
    assert top.sum(axis=1).tolist() == [1, 2, 3]
    assert bottom.sum(axis=1).tolist() == [3, 4, 5]


def test_position_backward_is_the_derivative_of_its_forward():
    x, table = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((5, 4))
    params = {"table": table}
    y, saved = Pos.position_forward(x, params)
    r = RNG.standard_normal(y.shape)
    dx, grads = Pos.position_backward(r, saved, params)

    def energy():
        return np.sum(Pos.position_forward(x, params)[0] * r)

    np.testing.assert_allclose(dx, differences(energy, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads["table"], differences(energy, table), rtol=1e-6, atol=1e-8)
    assert np.all(grads["table"][3:] == 0)  # rows past the sequence


# A published worked example: amanailab.com's code lab "Scaled Dot-Product Attention"
# (https://amanailab.com/code-lab/scaled-dot-product-attention), its two visible test cases,
# printed to 5 decimals — the only published attention numbers found that can be checked (a
# forward alone: no published backward with numbers was found). Its printed outputs are not its
# own arithmetic: softmax([1, 0]/√2) = [0.669760, 0.330240] gives 1.66048, it prints 1.66082
# (weights 0.66959, a scale of about 0.7062 for 1/√2 = 0.7071). Held here to the arithmetic,
# and the printed digits' distance said.
PUBLISHED = {
    "two-queries": (
        np.eye(2)[None],  # Q = K = [[1, 0], [0, 1]]: x = I, Wq = Wk = I
        {"Wq": np.eye(2), "Wk": np.eye(2), "Wv": np.array([[1.0, 2.0], [3.0, 4.0]])},
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        [[1.66082, 2.66082], [2.33918, 3.33918]],
    ),
    "one-query": (
        np.array([[[1.0, 0.0]]]),  # a single query onto the keys I, values V: a memory
        {
            "memory": np.eye(2),
            "Wq": np.eye(2),
            "Wk": np.eye(2),
            "Wv": np.array([[10.0, 20.0], [30.0, 40.0]]),
        },
        np.array([[10.0, 20.0], [30.0, 40.0]]),
        [[16.60882, 26.60882]],
    ),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_published_worked_example_by_its_arithmetic(name):
    x, params, v, printed = PUBLISHED[name]
    y, _ = A.attention_forward(x, params)  # scale 1/√2, d_k = 2
    near, far = math.exp(1 / math.sqrt(2)), 1.0  # e^(q·k/√2) for the matching key, the other
    rows = [[near, far], [far, near]][: len(printed)]
    by_hand = np.array([[w / sum(r) for w in r] for r in rows]) @ v
    np.testing.assert_allclose(y[0], by_hand, rtol=1e-14)
    close = np.allclose(y[0], printed, rtol=5e-4, atol=0)  # 2–3·10⁻⁴ apart, relatively
    assert close and not np.allclose(y[0], printed, rtol=1e-4, atol=0)
