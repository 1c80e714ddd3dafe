"""Perturbations through time, generated rather than listed (issue #35): the reference's
backpropagation through time with one change, tried on the whole network — the ones that give
a backend's gradients are named (perturb.py does the same for a dense network's chain).

The changes, for each recurrent layer's cell (reference/layers/rnn.py, lstm.py, gru.py) and its
loop (recurrent.backward_through_time, changed as reference/mistakes.py's bptt_changed
changes it):

- an operand taken for another: the step's backward fed one quantity of the step where another
  belongs — h_t for h_{t−1} (off by one step), c_t for c_{t−1}, one gate for another, a
  pre-activation where its activation's output belongs (a derivative written for the output,
  tanh′ = 1 − h², fed its input: 1 − a²);
- a term dropped from a sum: dE/dh_t without the loss at step t (only the last step's loss
  reaches the state), or without step t+1's carried dE/dh (dE/dc for an LSTM's cell state);
- a Σ over the steps kept from one step: a recurrent parameter's gradient from the last step
  alone, or from the first.
"""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import errors
from backprop_crosscheck.reference import layers
from backprop_crosscheck.reference.layers import gru, lstm, rnn
from backprop_crosscheck.reference.mistakes import LoopChange, bptt_changed
from backprop_crosscheck.reference.network import inputs_of
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import ROWS, run_backward, run_forward, walk

CELLS = {"rnn": rnn.RNN_CELL, "lstm": lstm.LSTM_CELL, "gru": gru.GRU_CELL}
SAVED = {"rnn": rnn.RnnSaved, "lstm": lstm.LstmSaved, "gru": gru.GruSaved}

# each cell's quantities of one step, as the backward reads them (its saved fields) and the
# step's outputs besides (what a learner may reach for): name -> how they are written
QUANTITIES = {
    "rnn": {"h": "h_{t−1}", "a": "the pre-activation a_t", "h_next": "h_t = f(a_t)"},
    "lstm": {
        "h": "h_{t−1}",
        "c": "c_{t−1}",
        "i": "the input gate i",
        "f": "the forget gate f",
        "o": "the output gate o",
        "g": "the candidate g",
        "tc": "tanh(c_t)",
        "c_t": "c_t",
        "h_t": "h_t",
    },
    "gru": {
        "h": "h_{t−1}",
        "r": "the reset gate r",
        "z": "the update gate z",
        "n": "the candidate n",
        "hn": "h_in·W_hn + b_hn",
        "h_in": "h_in (what W_hn multiplies)",
        "h_t": "h_t",
    },
}


def _step_outputs(kind: str, s) -> dict:
    """The step's outputs, from what it saved: h_t (and an LSTM's c_t)."""
    if kind == "lstm":
        return {"c_t": s.f * s.c + s.i * s.g, "h_t": s.o * s.tc}
    if kind == "gru":
        return {"h_t": (1 - s.z) * s.n + s.z * s.h}
    return {}


# (kind, quantity, what is fed for it): a derivative's formula written for an activation's output
# fed its input — said so, not as an operand taken for another
FED_ITS_INPUT = {
    ("rnn", "h_next", "a"): "f′ written for the activation's output (tanh′ = 1 − h_t²) fed its "
    "input (1 − a_t²)",
    ("lstm", "tc", "c_t"): "tanh′(c_t) = 1 − tanh²(c_t) written for the output, fed its input "
    "c_t (and dE/do = dE/dh_t ⊙ c_t)",
}


class Change(NamedTuple):
    kind: str  # the recurrent kind whose row changes
    words: str
    fed: tuple = ()  # (quantity, what is fed for it) in the step's backward
    loop: LoopChange = LoopChange()


def changes(case) -> list[Change]:
    """Every single change to the backward through time of the case's recurrent layers."""
    found = []
    for kind in dict.fromkeys(w.kind for w in walk(case.stack) if w.kind in CELLS):
        said = QUANTITIES[kind]
        for quantity in SAVED[kind]._fields:  # what the step's backward reads
            for other in said:
                if other != quantity:
                    words = FED_ITS_INPUT.get((kind, quantity, other)) or (
                        f"the {kind} step's backward computed with {said[other]} where "
                        f"{said[quantity]} belongs"
                    )
                    found.append(Change(kind, words, (quantity, other)))
        found.append(
            Change(
                kind,
                f"dE/dh_t without the loss at step t ({kind}): only the last step's loss reaches "
                "the hidden state",
                loop=LoopChange(loss_last_only=True),
            )
        )
        for part, state in enumerate(CELLS[kind].state):
            which = "hidden" if state == "h" else "cell"
            found.append(
                Change(
                    kind,
                    f"dE/d{state}_t without step t+1's carried dE/d{state} ({kind}): the {which} "
                    "state's gradient not carried back",
                    loop=LoopChange(dropped_carry=(part,)),
                )
            )
        for name in ("Wh", "bh"):
            for at in ("last", "first"):
                found.append(
                    Change(
                        kind,
                        f"dE/d{name} ({kind}) from the {at} step alone, not summed over the steps",
                        loop=LoopChange(one_step=(name, at)),
                    )
                )
    return found


def _fed(kind: str, quantity: str, other: str):
    """The cell's backward of one step, fed ``other`` where ``quantity`` belongs."""
    back = CELLS[kind].back

    def changed(d_state, s, params, **settings):
        seen = {**s._asdict(), **_step_outputs(kind, s)}
        return back(d_state, s._replace(**{quantity: seen[other]}), params, **settings)

    return changed


def rows_with(change: Change) -> dict:
    """The reference's rows, the changed kind's backward through time changed."""
    cell = CELLS[change.kind]
    if change.fed:
        cell = cell._replace(back=_fed(change.kind, *change.fed))
    row = (layers.LAYERS[change.kind].forward, bptt_changed(cell, change.loop))
    return {**ROWS, change.kind: row}


def gradients_with(case, rows: dict) -> dict:
    """dE/d(every parameter) at the case's initial parameters, the backward run with ``rows``."""
    params = case.parameters()
    X, Y = inputs_of(case, np.float64), case.targets.astype(np.float64)
    with np.errstate(all="ignore"):
        outputs, saved = run_forward(case.stack, X, params, case.leaky_slope, rows)
        dy = LOSSES[case.loss].gradient(outputs[-1], Y)
        dx, grads = run_backward(case.stack, dy, saved, params, case.leaky_slope, rows)
    return {**grads, **({} if case.takes_indices else {"X": dx})}


def reproducing(case, gradients: dict, tol) -> tuple[str, ...]:
    """Every change through time whose gradients are a backend's ``gradients`` within ``tol``
    (and differ from the reference's: a change that does nothing on this case tells nothing)."""
    right = gradients_with(case, ROWS)
    names = [n for n in gradients if n in right]
    found = []
    for change in changes(case):
        wrong = gradients_with(case, rows_with(change))
        if all(_agree(wrong[n], right[n], None) for n in names):
            continue
        if all(_agree(gradients[n], wrong[n], tol) for n in names):
            found.append(change.words)
    return tuple(dict.fromkeys(found))


def _agree(got, want, tol) -> bool:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False
    if tol is None:
        return bool(np.allclose(got, want, rtol=0, atol=0))
    return bool(np.all(errors(got, want, tol)[0]))
