"""reference/layers/'s recurrent rows (issue #35): CS231n's published forward numbers to the
digits printed there, every gradient against central differences of the row's own forward, the
truncated gradients against differences of each chunk with its incoming state held fixed, and
H·v (the R-operator through time) against differences of the gradient."""

import numpy as np
import pytest
from backprop_crosscheck.reference.layers import LAYERS, lstm_forward, rnn_forward
from backprop_crosscheck.reference.layers.lstm import lstm_step
from backprop_crosscheck.reference.layers.recurrent import input_side
from backprop_crosscheck.reference.layers.rnn import rnn_step
from support.differences import differences

RNG = np.random.default_rng(35)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

# CS231n assignment 3 (RNN_Captioning.ipynb, LSTM_Captioning.ipynb): the fixtures are linspaces,
# the expected values as printed there (8 decimals); CS231n's LSTM orders its gates i, f, o, g.


def linspace(a, b, *shape):
    return np.linspace(a, b, num=int(np.prod(shape))).reshape(shape)


def test_cs231n_rnn_step_forward():
    params = {"Wx": linspace(-0.1, 0.9, 10, 4), "Wh": linspace(-0.3, 0.7, 4, 4)}
    params["b"] = linspace(-0.2, 0.4, 4)
    x = input_side(linspace(-0.4, 0.7, 3, 10), params)  # x·Wx + b: the step's input side
    (next_h,), _ = rnn_step(x, (linspace(-0.2, 0.5, 3, 4),), params)
    expected = [
        [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
        [0.66854692, 0.79562378, 0.87755553, 0.92795967],
        [0.97934501, 0.99144213, 0.99646691, 0.99854353],
    ]
    np.testing.assert_allclose(next_h, expected, rtol=0, atol=5e-9)


def test_cs231n_rnn_forward():
    params = {"Wx": linspace(-0.2, 0.4, 4, 5), "Wh": linspace(-0.4, 0.1, 5, 5)}
    params.update(b=linspace(-0.7, 0.1, 5), h0=linspace(-0.3, 0.1, 2, 5))  # h0 per sample
    h, _ = rnn_forward(linspace(-0.1, 0.3, 2, 3, 4), params)
    expected = [
        [
            [-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
            [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
            [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525],
        ],
        [
            [-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
            [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
            [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043],
        ],
    ]
    np.testing.assert_allclose(h, expected, rtol=0, atol=5e-9)


def test_cs231n_lstm_step_forward():
    params = {"Wx": linspace(-2.1, 1.3, 4, 20), "Wh": linspace(-0.7, 2.2, 5, 20)}
    params["b"] = linspace(0.3, 0.7, 20)
    state = (linspace(-0.3, 0.7, 3, 5), linspace(-0.4, 0.9, 3, 5))
    x = input_side(linspace(-0.4, 1.2, 3, 4), params)
    (h, c), _ = lstm_step(x, state, params, gates="ifog")
    np.testing.assert_allclose(
        h,
        [
            [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
            [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
            [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299],
        ],
        rtol=0,
        atol=5e-9,
    )
    np.testing.assert_allclose(
        c,
        [
            [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
            [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
            [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676],
        ],
        rtol=0,
        atol=5e-9,
    )


def test_cs231n_lstm_forward():
    params = {"Wx": linspace(-0.2, 0.9, 5, 16), "Wh": linspace(-0.3, 0.6, 4, 16)}
    params.update(b=linspace(0.2, 0.7, 16), h0=linspace(-0.4, 0.8, 2, 4))
    h, _ = lstm_forward(linspace(-0.4, 0.6, 2, 3, 5), params, gates="ifog")
    expected = [
        [
            [0.01764008, 0.01823233, 0.01882671, 0.0194232],
            [0.11287491, 0.12146228, 0.13018446, 0.13902939],
            [0.31358768, 0.33338627, 0.35304453, 0.37250975],
        ],
        [
            [0.45767879, 0.4761092, 0.4936887, 0.51041945],
            [0.6704845, 0.69350089, 0.71486014, 0.7346449],
            [0.81733511, 0.83677871, 0.85403753, 0.86935314],
        ],
    ]
    np.testing.assert_allclose(h, expected, rtol=0, atol=5e-9)


# (kind, settings, extra parameters): every convention each row has
VARIANTS = [
    ("rnn", {}, ()),
    ("rnn", {"activation": "relu", "outputs": "last"}, ("h0",)),
    ("rnn", {}, ("bh", "h0")),
    ("lstm", {}, ()),
    ("lstm", {"gates": "ifog", "outputs": "last"}, ("bh", "h0", "c0")),
    ("gru", {}, ("bh",)),
    ("gru", {"gates": "zrn", "reset": "before"}, ("h0",)),
    ("gru", {"reset": "before", "outputs": "last"}, ("bh",)),
    ("gru", {"gates": "zrn", "outputs": "last"}, ("bh", "h0")),
]
IDS = ["-".join([k, *map(str, s.values()), *e]) for k, s, e in VARIANTS]


def layer(kind, extra, features=3, hidden=3):
    width = GATES[kind] * hidden
    params = {"Wx": RNG.normal(size=(features, width)) * 0.6}
    params.update(Wh=RNG.normal(size=(hidden, width)) * 0.6, b=RNG.normal(size=width) * 0.3)
    for name in extra:
        params[name] = RNG.normal(size=width if name == "bh" else hidden) * 0.3
    return params


@pytest.mark.parametrize(("kind", "settings", "extra"), VARIANTS, ids=IDS)
def test_backpropagation_through_time_is_the_derivative_of_the_forward(kind, settings, extra):
    row, params, x = LAYERS[kind], layer(kind, extra), RNG.normal(size=(2, 4, 3))
    y, saved = row.forward(x, params, **settings)
    r = RNG.normal(size=y.shape)  # E = Σ y·r: dE/dy = r

    def E():
        return np.sum(row.forward(x, params, **settings)[0] * r)

    dx, grads = row.backward(r, saved, params)
    np.testing.assert_allclose(dx, differences(E, x), rtol=1e-6, atol=1e-8)
    assert set(grads) == set(params)
    for name, g in grads.items():
        np.testing.assert_allclose(g, differences(E, params[name]), rtol=1e-6, atol=1e-8)


def state_after(kind, x, params, t):
    """The state the forward pass reaches after t steps, per sample: h (and an LSTM's c)."""
    y, through = LAYERS[kind].forward(x[:, :t], params)
    s = through.steps[-1]
    return {"h0": y[:, -1], "c0": s.f * s.c + s.i * s.g} if kind == "lstm" else {"h0": y[:, -1]}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_truncated_gradients_are_each_chunks_with_its_incoming_state_held(kind):
    """truncate = 2 over 5 steps: the chunks [0, 2), [2, 4), [4, 5), each run from the state
    the forward pass reached there, held fixed (a detached state), its loss differenced alone;
    the truncated gradient is their sum, and differs from the whole loss's."""
    row, params, x = LAYERS[kind], layer(kind, ("h0",)), RNG.normal(size=(2, 5, 3))
    y, saved = row.forward(x, params, truncate=2)
    r = RNG.normal(size=y.shape)
    _, grads = row.backward(r, saved, params)
    total = {name: np.zeros_like(p) for name, p in params.items()}
    for t0, t1 in [(0, 2), (2, 4), (4, 5)]:
        weights = {k: v for k, v in params.items() if k not in ("h0", "c0")}
        held = params if t0 == 0 else {**weights, **state_after(kind, x, params, t0)}

        def E(held=held, t0=t0, t1=t1):
            return np.sum(row.forward(x[:, t0:t1], held)[0] * r[:, t0:t1])

        for name in params if t0 == 0 else weights:
            total[name] += differences(E, held[name])
    for name, g in grads.items():
        np.testing.assert_allclose(g, total[name], rtol=1e-6, atol=1e-8)
    _, whole = row.backward(r, row.forward(x, params)[1], params)
    assert not np.allclose(whole["Wh"], grads["Wh"])  # truncation changed something


@pytest.mark.parametrize(("kind", "settings", "extra"), VARIANTS, ids=IDS)
def test_hvp_through_time_is_the_derivative_of_the_gradient(kind, settings, extra):
    """R{dx} and H·v of E = Σ y·r (r fixed: R{dE/dy} = 0) against central differences of the
    row's own backward along (v, R{x})."""
    row, params, x = LAYERS[kind], layer(kind, extra), RNG.normal(size=(2, 4, 3))
    v = {n: RNG.normal(size=p.shape) for n, p in params.items()}
    r_x = RNG.normal(size=x.shape)
    y, saved = row.forward(x, params, **settings)
    r = RNG.normal(size=y.shape)
    r_dx, hv = row.r_backward(x, r_x, r, np.zeros_like(r), saved, params, v, **settings)

    def gradient(e):
        moved = {n: params[n] + e * v[n] for n in params}
        _, kept = row.forward(x + e * r_x, moved, **settings)
        return row.backward(r, kept, moved)

    (up_dx, up), (down_dx, down), e = gradient(1e-5), gradient(-1e-5), 1e-5
    np.testing.assert_allclose(r_dx, (up_dx - down_dx) / (2 * e), rtol=1e-5, atol=1e-7)
    for name in params:
        np.testing.assert_allclose(
            hv[name], (up[name] - down[name]) / (2 * e), rtol=1e-5, atol=1e-7
        )
    r_y = row.r_forward(x, r_x, params, v, saved, **settings)
    moved_y = [
        row.forward(x + e * r_x, {n: params[n] + e * v[n] for n in params}, **settings)[0]
        for e in (1e-5, -1e-5)
    ]
    np.testing.assert_allclose(r_y, (moved_y[0] - moved_y[1]) / 2e-5, rtol=1e-5, atol=1e-7)
