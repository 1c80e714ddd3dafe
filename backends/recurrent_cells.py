"""The recurrent cells (rnn, lstm, gru) written once with an engine's own array operations, for
an engine without a cell of its own (autograd, tinygrad; JAX's ``lax.scan`` runs the same step,
backends/jax/layers.py): the forward of reference/layers/rnn.py, lstm.py and gru.py — the
engine differentiates it. ``ops`` is the engine's EngineLayers (its ``xp``, ``matmul``,
``detach``); the gate order and the reset gate's place are the case's (the Layer's settings).
"""

import numpy as np


def logistic(xp, a):
    return 0.5 * (1.0 + xp.tanh(0.5 * a))  # 1/(1 + e^−a) through tanh: no overflow


def gate_block(a, order: str, name: str):
    """The block of a (…, gates·hidden) array that belongs to gate ``name``."""
    H = a.shape[-1] // len(order)
    k = order.index(name)
    return a[..., k * H : (k + 1) * H]


def _affine(ops, x, h, p):
    a = ops.matmul(x, p["Wx"]) + ops.matmul(h, p["Wh"])
    for bias in ("b", "bh"):
        if bias in p:
            a = a + p[bias]
    return a


def rnn_cell(ops, x, state, p, settings):
    (h,) = state
    a = _affine(ops, x, h, p)
    return (ops.xp.tanh(a) if settings["activation"] == "tanh" else ops.xp.maximum(a, 0 * a),)


def lstm_cell(ops, x, state, p, settings):
    h, c = state
    a, order, xp = _affine(ops, x, h, p), settings["gates"], ops.xp
    i, f, o = (logistic(xp, gate_block(a, order, k)) for k in "ifo")
    c = f * c + i * xp.tanh(gate_block(a, order, "g"))
    return o * xp.tanh(c), c


def gru_cell(ops, x, state, p, settings):
    (h,) = state
    order, xp = settings["gates"], ops.xp
    ax = ops.matmul(x, p["Wx"]) + p["b"] if "b" in p else ops.matmul(x, p["Wx"])
    Wh, bh = p["Wh"], p.get("bh")

    def recurrent(k, h_in):  # h_in·Wh_k + bh_k
        y = ops.matmul(h_in, gate_block(Wh, order, k))
        return y + gate_block(bh, order, k) if bh is not None else y

    r = logistic(xp, gate_block(ax, order, "r") + recurrent("r", h))
    z = logistic(xp, gate_block(ax, order, "z") + recurrent("z", h))
    if settings["reset"] == "after":
        n = xp.tanh(gate_block(ax, order, "n") + r * recurrent("n", h))
    else:
        n = xp.tanh(gate_block(ax, order, "n") + recurrent("n", r * h))
    return ((1 - z) * n + z * h,)


CELLS = {"rnn": (rnn_cell, 1), "lstm": (lstm_cell, 2), "gru": (gru_cell, 1)}


def initial_states(ops, p, x, parts: int) -> tuple:
    """The initial state: the layer's h0 (and c0) — one row, broadcast by the arithmetic — or
    zeros of the run's dtype."""
    zeros = ops.constant(np.zeros((x.shape[0], p["Wh"].shape[0])), x)
    return tuple(p[name] + zeros if name in p else zeros for name in ("h0", "c0")[:parts])


def through_time(ops, kind: str, x, p, layer):
    """The layer over every step, its state detached every ``truncate`` steps (ops.detach)."""
    step, parts = CELLS[kind]
    settings, xp = layer.settings, ops.xp
    state, hs = initial_states(ops, p, x, parts), []
    N, T, H = x.shape[0], x.shape[1], p["Wh"].shape[0]
    for t in range(T):
        if settings["truncate"] and t > 0 and t % settings["truncate"] == 0:
            state = tuple(ops.detach(s) for s in state)
        state = step(ops, x[:, t], state, p, settings)
        hs.append(state[0])
    if settings["outputs"] == "last":
        return hs[-1]
    return xp.concatenate([xp.reshape(h, (N, 1, H)) for h in hs], axis=1)
