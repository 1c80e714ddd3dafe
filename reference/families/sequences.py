"""Seeded random sequence networks for the sweep's and the kit's sequence families: a vanilla
RNN (tanh or relu), an LSTM or a GRU — their gate orders, the GRU's reset gate before or after,
no bias, one or two, a learned initial state now and then, truncation now and then — over
features or over an embedding's token indices, read at every step (then ``merge_time``) or at
the last, and a dense layer to the loss. Most sequences are short (2–8 steps); one family in
four is long (16–64 steps), where float32's roundings add up.

As for the other families, the architecture (layers, settings, the token indices) comes from
the family alone, the numbers from the family and the member (stacks.py's ``stack_data``).
"""

from backprop_crosscheck.reference.layers import LAYERS
from backprop_crosscheck.reference.rules.losses import LOSSES

CELLS = ("rnn", "lstm", "gru")
GATE_COUNT = {"rnn": 1, "lstm": 4, "gru": 3}
GATE_ORDERS = {"lstm": ("ifgo", "ifog"), "gru": ("rzn", "zrn")}


def sequence_architecture(rng) -> dict:
    """The family's layers as case-file tables without their numbers, and its data's shape."""
    batch = int(rng.integers(1, 4))
    steps = int(rng.integers(2, 9)) if rng.random() < 0.75 else int(rng.integers(16, 65))
    kind, hidden = str(rng.choice(CELLS)), int(rng.integers(1, 5))
    tables, indices, given = [], None, None
    if rng.random() < 0.3:  # token indices through an embedding
        rows, features = int(rng.integers(3, 7)), int(rng.integers(2, 4))
        indices = rng.integers(0, rows, size=(batch, steps)).tolist()
        tables.append({"kind": "embedding", "table": (rows, features)})
    else:
        features = int(rng.integers(1, 4))
        given = (batch, steps, features)
    tables.append(_cell(rng, kind, features, hidden, steps))
    every = tables[-1]["outputs"] == "every"
    if every:
        tables.append({"kind": "merge_time"})
    loss = str(rng.choice(list(LOSSES)))
    rows = batch * steps if every else batch  # the loss's rows
    return with_head(rng, tables, loss, hidden, rows, indices, given)


def with_head(rng, tables: list, loss: str, width: int, rows: int, indices, given) -> dict:
    """The family's draw finished: a dense output layer of its own width on ``width`` inputs,
    then the steps and the learning rate (the sequence and the attention families alike)."""
    outputs = int(rng.integers(2 if loss == "softmax_cross_entropy" else 1, 4))
    tables.append({"kind": "dense", "W": (width, outputs), "b": (outputs,)})
    return {
        "tables": tables,
        "batch": rows,
        "loss": loss,
        "outputs": outputs,
        "indices": indices,
        "input": given,
        "steps": int(rng.integers(1, 4)),
        "lr_choice": float(rng.choice([0.01, 0.02, 0.05, 0.1])),
        "leaky_slope": 0.01,
    }


def _cell(rng, kind: str, features: int, hidden: int, steps: int) -> dict:
    """One recurrent layer's table: its shapes and settings drawn."""
    width = GATE_COUNT[kind] * hidden
    table = {"kind": kind, "Wx": (features, width), "Wh": (hidden, width)}
    biases = str(rng.choice(["none", "one", "two", "two"]))
    if biases != "none":
        table["b"] = (width,)
    if biases == "two":
        table["bh"] = (width,)
    if rng.random() < 0.3:
        table["h0"] = (hidden,)
        if kind == "lstm" and rng.random() < 0.7:
            table["c0"] = (hidden,)
    settings = {"outputs": str(rng.choice(["every", "last"]))}
    if rng.random() < 0.25 and steps > 2:
        settings["truncate"] = int(rng.integers(1, steps))
    if kind == "rnn":
        settings["activation"] = str(rng.choice(["tanh", "tanh", "relu"]))
    else:
        settings["gates"] = str(rng.choice(GATE_ORDERS[kind]))
    if kind == "gru":
        settings["reset"] = str(rng.choice(["after", "before"]))
    assert set(settings) <= set(LAYERS[kind].settings)  # noqa: S101 - the row's own settings
    return {**table, **settings}
