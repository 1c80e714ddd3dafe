"""A learner's recurrent layers in CS231n's signatures (assignment 3, rnn_layers.py), written
from the derivation: a tanh RNN and an LSTM (gates i, f, o, g), each over the whole sequence,
forward and backward through time. `crosscheck check` runs them in a case's network, every
other layer the reference's (docs/learners.md):

    crosscheck check examples/learner/cs231n_rnn.py rnn examples/learner/cs231n_lstm.toml
"""

import numpy as np


def rnn_forward(x, h0, Wx, Wh, b):
    """x: (N, T, D), h0: (N, H) -> h: (N, T, H), cache."""
    h, prev = np.zeros((x.shape[0], x.shape[1], Wh.shape[0])), h0
    for t in range(x.shape[1]):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        h[:, t] = prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    """dh: (N, T, H), the loss's gradient at every step -> dx, dh0, dWx, dWh, db."""
    x, h0, Wx, Wh, h = cache
    dx, dWx, dWh = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh)
    db, carried = np.zeros(Wh.shape[1]), np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        prev = h[:, t - 1] if t else h0
        da = (dh[:, t] + carried) * (1 - h[:, t] ** 2)  # tanh′ = 1 − h²
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += prev.T @ da
        db += da.sum(axis=0)
        carried = da @ Wh.T
    return dx, carried, dWx, dWh, db


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def lstm_forward(x, h0, Wx, Wh, b):
    """CS231n's LSTM: a = x·Wx + h·Wh + b split as i, f, o, g; c starts at 0."""
    N, T, H = x.shape[0], x.shape[1], Wh.shape[0]
    h, steps, prev_h, prev_c = np.zeros((N, T, H)), [], h0, np.zeros_like(h0)
    for t in range(T):
        a = x[:, t] @ Wx + prev_h @ Wh + b
        i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H]), _sigmoid(a[:, 2 * H : 3 * H])
        g = np.tanh(a[:, 3 * H :])
        c = f * prev_c + i * g
        steps.append((x[:, t], prev_h, prev_c, i, f, o, g, c))
        prev_h, prev_c = o * np.tanh(c), c
        h[:, t] = prev_h
    return h, (steps, Wx, Wh)


def lstm_backward(dh, cache):
    steps, Wx, Wh = cache
    dx = np.zeros((dh.shape[0], dh.shape[1], Wx.shape[0]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[1])
    dh_next, dc_next = np.zeros_like(dh[:, 0]), np.zeros_like(dh[:, 0])
    for t in reversed(range(dh.shape[1])):
        x, prev_h, prev_c, i, f, o, g, c = steps[t]
        d_h = dh[:, t] + dh_next
        tc = np.tanh(c)
        dc = dc_next + d_h * o * (1 - tc**2)
        da = np.concatenate(
            [
                dc * g * i * (1 - i),  # i
                dc * prev_c * f * (1 - f),  # f
                d_h * tc * o * (1 - o),  # o
                dc * i * (1 - g**2),  # g
            ],
            axis=1,
        )
        dx[:, t] = da @ Wx.T
        dWx += x.T @ da
        dWh += prev_h.T @ da
        db += da.sum(axis=0)
        dh_next, dc_next = da @ Wh.T, dc * f
    return dx, dh_next, dWx, dWh, db
