"""reference/layers/'s rows (issue #26's building blocks) against central differences of
their own forward pass: for a random dE/dy = r, E = Σ y·r, every entry of dE/dx and of each
parameter's gradient. Plus what differences cannot see: max pooling's tie rule, an embedding
row picked twice, dropout's rescale."""

from functools import partial

import numpy as np
import pytest
from backprop_crosscheck.reference import layers as L

RNG = np.random.default_rng(7)


def numeric(f, x, r, h=1e-6):
    """dE/dx by central differences of E = Σ f(x)·r."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = np.sum(f() * r)
        x[i] = old - h
        down = np.sum(f() * r)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


def check(forward, backward, x, params, **kw):
    y, saved = forward(x, params, **kw)
    r = RNG.standard_normal(y.shape)
    dx, grads = backward(r, saved, params)

    def run():
        return forward(x, params, **kw)[0]

    if dx is not None:
        np.testing.assert_allclose(dx, numeric(run, x, r), rtol=1e-6, atol=1e-8)
    for name, g in grads.items():
        np.testing.assert_allclose(g, numeric(run, params[name], r), rtol=1e-6, atol=1e-8)


CONVS = [(1, 1, 3, 6, 1, 0), (2, 3, 2, 5, 2, 1), (1, 2, 3, 7, 2, 0), (2, 1, 1, 4, 1, 1)]


CONV_IDS = [f"n{n}c{c}k{k}x{hw}s{s}p{p}" for n, c, k, hw, s, p in CONVS]


@pytest.mark.parametrize(("n", "c", "k", "hw", "stride", "padding"), CONVS, ids=CONV_IDS)
def test_conv2d_backward_is_the_derivative_of_its_forward(n, c, k, hw, stride, padding):
    x = RNG.standard_normal((n, c, hw, hw))
    params = {"kernel": RNG.standard_normal((2, c, k, k)), "bias": RNG.standard_normal(2)}
    check(L.conv2d_forward, L.conv2d_backward, x, params, stride=stride, padding=padding)


def test_conv2d_is_cross_correlation_worked_by_hand():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # x[i, j] − x[i+1, j+1]
    y, _ = L.conv2d_forward(x, {"kernel": kernel, "bias": np.array([0.5])})
    np.testing.assert_array_equal(y[0, 0], [[0 - 4 + 0.5, 1 - 5 + 0.5], [3 - 7 + 0.5, 4 - 8 + 0.5]])


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (2, 1)])
def test_pooling_backward_is_the_derivative_of_its_forward(size, stride):
    x = RNG.standard_normal((2, 2, 6, 6))  # no ties: random values
    check(L.max_pool2d_forward, L.max_pool2d_backward, x, {}, size=size, stride=stride)
    check(L.avg_pool2d_forward, L.avg_pool2d_backward, x, {}, size=size, stride=stride)


def test_max_pooling_sends_a_tied_windows_gradient_to_its_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])  # 3 twice: row-major, (0, 1) comes first
    y, saved = L.max_pool2d_forward(x, {})
    dx, _ = L.max_pool2d_backward(np.ones_like(y), saved, {})
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 3, 3)], ids=["dense", "image"])
def test_batch_norm_backward_runs_through_the_batch_mean_and_variance(shape):
    x = RNG.standard_normal(shape)
    features = shape[1]
    params = {"gamma": RNG.standard_normal(features), "beta": RNG.standard_normal(features)}
    check(L.batch_norm_forward, L.batch_norm_backward, x, params, eps=1e-3)


def test_batch_norm_uses_the_biased_variance():
    x = np.array([[1.0], [3.0]])  # mean 2, biased variance 1 (unbiased would be 2)
    y, _ = L.batch_norm_forward(x, {"gamma": np.ones(1), "beta": np.zeros(1)}, eps=0.0)
    np.testing.assert_allclose(y[:, 0], [-1.0, 1.0])


def test_layer_norm_backward_is_the_derivative_of_its_forward():
    x = RNG.standard_normal((4, 5))
    params = {"gamma": RNG.standard_normal(5), "beta": RNG.standard_normal(5)}
    check(L.layer_norm_forward, L.layer_norm_backward, x, params, eps=1e-3)


def test_flatten_and_residual_and_dropout():
    x = RNG.standard_normal((2, 3, 2, 2))
    check(L.flatten_forward, L.flatten_backward, x, {})
    mask = (RNG.random((4, 5)) > 0.3).astype(float)
    check(L.dropout_forward, L.dropout_backward, RNG.standard_normal((4, 5)), {}, mask=mask, p=0.3)
    params = {"gamma": RNG.standard_normal(5), "beta": RNG.standard_normal(5)}
    forward = partial(L.residual_forward, block_forward=L.layer_norm_forward)
    backward = partial(L.residual_backward, block_backward=L.layer_norm_backward)
    check(forward, backward, RNG.standard_normal((4, 5)), params)


def test_residual_backward_keeps_the_identity_path():
    x = RNG.standard_normal((3, 4))
    params = {"gamma": np.zeros(4), "beta": np.zeros(4)}  # the block outputs 0: y = x
    y, saved = L.residual_forward(x, params, L.layer_norm_forward)
    dx, _ = L.residual_backward(np.ones_like(y), saved, params, L.layer_norm_backward)
    np.testing.assert_allclose(dx, np.ones_like(x))


def test_an_embedding_row_picked_twice_gets_both_gradients():
    table = RNG.standard_normal((4, 3))
    indices = np.array([2, 0, 2])
    y, saved = L.embedding_forward(indices, {"table": table})
    dy = RNG.standard_normal(y.shape)
    _, grads = L.embedding_backward(dy, saved, {"table": table})
    np.testing.assert_allclose(grads["table"][2], dy[0] + dy[2])
    np.testing.assert_allclose(grads["table"][0], dy[1])
    assert not grads["table"][[1, 3]].any()


@pytest.mark.xdist_group("conformance-torch-float64")
def test_the_rows_agree_with_torchs_own_ops():
    """Another engine's view: torch.nn.functional's conv2d, max_pool2d (ties included),
    avg_pool2d, batch_norm in training mode and layer_norm, forward and backward."""
    torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
    F = torch.nn.functional
    x = RNG.standard_normal((2, 3, 6, 6))
    x[0, 0, :2, :2] = 1.0  # a tied max-pool window
    kernel, bias = RNG.standard_normal((4, 3, 3, 3)), RNG.standard_normal(4)
    gamma, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    ours = {
        "conv": (
            lambda t, k, b: F.conv2d(t, k, b, stride=2, padding=1),
            L.conv2d_forward,
            L.conv2d_backward,
            {"stride": 2, "padding": 1},
        ),
        "max": (lambda t: F.max_pool2d(t, 2), L.max_pool2d_forward, L.max_pool2d_backward, {}),
        "avg": (lambda t: F.avg_pool2d(t, 2), L.avg_pool2d_forward, L.avg_pool2d_backward, {}),
        "bn": (
            lambda t, g, b: F.batch_norm(t, None, None, g, b, training=True, eps=1e-5),
            L.batch_norm_forward,
            L.batch_norm_backward,
            {},
        ),
    }
    params = {
        "conv": {"kernel": kernel, "bias": bias},
        "max": {},
        "avg": {},
        "bn": {"gamma": gamma, "beta": beta},
    }
    for name, (theirs, forward, backward, kw) in ours.items():
        tensors = [torch.tensor(a, requires_grad=True) for a in (x, *params[name].values())]
        out = theirs(*tensors)
        r = RNG.standard_normal(tuple(out.shape))
        (out * torch.tensor(r)).sum().backward()
        y, saved = forward(x, params[name], **kw)
        dx, grads = backward(r, saved, params[name])
        np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, tensors[0].grad.numpy(), rtol=1e-10, atol=1e-12)
        for (key, g), t in zip(grads.items(), tensors[1:], strict=True):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)
