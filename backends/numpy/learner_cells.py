"""A learner's recurrent layer in CS231n's signatures (assignment 3, rnn_layers.py), for
`crosscheck check FILE`: a file that defines ``rnn_forward(x, h0, Wx, Wh, b) -> (h, cache)``
with ``rnn_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)``, or ``lstm_forward`` with
``lstm_backward`` alike, has its layer run in the case's network — every other layer, and the
loss, the reference's (reference/stack.py with the learner's row in place of the kind's).

CS231n's cells are those of docs/recurrent.md with its conventions: a tanh RNN, an LSTM whose
gates are ordered i, f, o, g, one bias, h0 given per sample (the case's, or zeros), an LSTM's
c0 zero, every step's h returned. A case beyond them (relu, another gate order, b_hh, c0,
truncation) is n/a, saying which.
"""

import numpy as np
from backprop_crosscheck.backends.interface import Unsupported
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import ROWS, run_backward, run_forward

SIGNATURES = {  # kind -> (its forward and its backward, CS231n's names and arguments)
    "rnn": (("rnn_forward", ("x", "h0", "Wx", "Wh", "b")), ("rnn_backward", ("dh", "cache"))),
    "lstm": (("lstm_forward", ("x", "h0", "Wx", "Wh", "b")), ("lstm_backward", ("dout", "cache"))),
}
CS231N = {"activation": "tanh", "gates": "ifog", "truncate": 0}  # what CS231n's cells compute


def beyond(kind: str, layer) -> str | None:
    """Why CS231n's signature cannot run this layer, or None."""
    for setting, value in CS231N.items():
        if setting in layer.settings and layer.settings[setting] != value:
            return f"{setting} = {layer.settings[setting]!r} (CS231n's {kind}: {value!r})"
    extra = [p for p in ("bh", "c0") if p in layer.initial]
    return f"{extra[0]} (CS231n's {kind} has one bias and starts from c0 = 0)" if extra else None


def without_cells(name: str, cells: list[str], case) -> str | None:
    """Why a file of CS231n's layers has nothing to check on this case (none of its kinds)."""
    if cells and not any(layer.kind in cells for layer in case.stack):
        kinds = " and ".join(cells)
        return f"{name} writes CS231n's {kinds}: this case has no {' or '.join(cells)} layer"
    return None


def learner_row(kind: str, forward, backward):
    """The learner's pair as a row of reference/stack.py: (forward, backward)."""

    def row_forward(x, params, **settings):
        N, H = x.shape[0], params["Wh"].shape[0]
        h0 = np.broadcast_to(params["h0"], (N, H)).copy() if "h0" in params else np.zeros((N, H))
        b = params["b"] if "b" in params else np.zeros(params["Wh"].shape[1])
        h, cache = forward(x, h0, params["Wx"], params["Wh"], b)
        h = np.asarray(h)
        return (h if settings["outputs"] == "every" else h[:, -1]), (cache, settings, h.shape)

    def row_backward(dy, saved, params):
        cache, settings, shape = saved
        dh = dy if settings["outputs"] == "every" else np.zeros(shape, dtype=dy.dtype)
        if settings["outputs"] != "every":
            dh[:, -1] = dy  # the loss reads the last step alone
        dx, dh0, dWx, dWh, db = backward(dh, cache)
        grads = {"Wx": np.asarray(dWx), "Wh": np.asarray(dWh)}
        if "b" in params:
            grads["b"] = np.asarray(db)
        if "h0" in params:  # one row shared by every sample: Σ over samples
            dh0 = np.asarray(dh0)
            grads["h0"] = dh0 if params["h0"].ndim == 2 else dh0.sum(axis=0)
        return np.asarray(dx), grads

    return row_forward, row_backward


def cells_backprop(module, defined: list[str]):
    """``backprop(case, params, X, Y)`` with the module's CS231n layers in the network."""
    own = {
        kind: learner_row(kind, getattr(module, f[0]), getattr(module, b[0]))
        for kind, (f, b) in SIGNATURES.items()
        if kind in defined
    }

    def backprop(case, params, X, Y):
        for layer in case.stack:
            why = beyond(layer.kind, layer) if layer.kind in own else None
            if why:
                raise Unsupported(f"the file's {layer.kind} is CS231n's; this case's has {why}")
        rows, loss = {**ROWS, **own}, LOSSES[case.loss]
        a, saved = run_forward(case.stack, X, params, case.leaky_slope, rows)
        gradient = loss.gradient(a[-1], Y)
        _, grads = run_backward(case.stack, gradient, saved, params, case.leaky_slope, rows)
        return {"gradients": {n: grads[n] for n in params}, "loss": loss.value(a[-1], Y)}

    return backprop
