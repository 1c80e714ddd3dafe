"""Seeded random attention networks for the sweep's and the kit's attention families: token
indices through an embedding or features, a learned position embedding now and then, then
either an attention layer or a pre-norm transformer block ([layer norm → attention → residual],
and now and then [layer norm → dense → activation → dense → residual]), a dense layer at every
step to the loss. The attention layer draws its heads, its projections or none, its biases, an
output projection, its scale, causal or not, cross-attention onto a learned memory (aligned
top-left or bottom-right), a key-padding mask, a mask given in each of its three readings, and
attention dropout. Most sequences are short (2–8 steps); one family in four is long (16–128).

Never drawn: a key bias (its gradient is exactly 0 — a softmax is blind to a constant added to
a row of scores — so its computed gradient is rounding noise, which Adam divides by itself:
a false alarm, not a finding), and a query that may attend no key (the engines' conventions
differ there on purpose: the built-in `masked_row` checks each).

As for the other families, the architecture (layers, settings, masks, token indices) comes from
the family alone, the numbers from the family and the member (stacks.py's ``stack_data``).
"""

import numpy as np
from backprop_crosscheck.reference.families.sequences import with_head
from backprop_crosscheck.reference.layers import LAYERS
from backprop_crosscheck.reference.rules.losses import LOSSES

ACTIVATIONS = ("gelu", "relu", "tanh", "gelu_tanh")


def attention_architecture(rng) -> dict:
    """The family's layers as case-file tables without their numbers, and its data's shape."""
    batch = int(rng.integers(1, 4))
    steps = int(rng.integers(2, 9)) if rng.random() < 0.75 else int(rng.integers(16, 129))
    tables, indices, given = [], None, None
    width = int(rng.integers(2, 7))
    if rng.random() < 0.4:  # token indices through an embedding
        rows = int(rng.integers(3, 8))
        indices = rng.integers(0, rows, size=(batch, steps)).tolist()
        tables.append({"kind": "embedding", "table": (rows, width)})
    else:
        given = (batch, steps, width)
    if rng.random() < 0.5:
        tables.append({"kind": "position", "table": (steps + int(rng.integers(0, 3)), width)})
    block = rng.random() < 0.5  # a pre-norm transformer block, or the attention layer alone
    layer = _attention(rng, batch, steps, width, residual=block)
    if block:
        norm = {"kind": "layer_norm", "gamma": (width,), "beta": (width,)}
        tables.append({"kind": "residual", "block": [norm, layer]})
        if rng.random() < 0.5:
            hidden = int(rng.integers(2, 9))
            mlp = [
                dict(norm),
                {"kind": "dense", "W": (width, hidden), "b": (hidden,)},
                {"kind": str(rng.choice(ACTIVATIONS))},
                {"kind": "dense", "W": (hidden, width), "b": (width,)},
            ]
            tables.append({"kind": "residual", "block": mlp})
        out_width = width
    else:
        tables.append(layer)
        out_width = _output_width(layer, width)
    tables.append({"kind": "merge_time"})
    loss = str(rng.choice(list(LOSSES)))
    return with_head(rng, tables, loss, out_width, batch * steps, indices, given)  # a row a step


def _output_width(layer: dict, width: int) -> int:
    if "Wo" in layer:
        return layer["Wo"][1]
    return layer["Wv"][1] if "Wv" in layer else width


def _attention(rng, batch: int, steps: int, width: int, residual: bool) -> dict:
    """One attention layer's table: shapes, settings and masks drawn (a residual one gives back
    its input's width)."""
    heads = int(rng.choice([h for h in (1, 2, 3) if h <= max(width, 1)]))
    table, settings = {"kind": "attention"}, {"heads": heads}
    keys, source = steps, width
    if not residual and rng.random() < 0.15:  # cross-attention onto a learned memory
        keys, source = int(rng.integers(steps, steps + 4)), int(rng.integers(1, 5))
        table["memory"] = (keys, source)
    if rng.random() < 0.8 or source != width:
        d = int(rng.integers(1, 4))
        table |= {"Wq": (width, heads * d), "Wk": (source, heads * d), "Wv": (source, heads * d)}
        for bias in ("bq", "bv"):  # never bk: its gradient is exactly 0 (the docstring)
            if rng.random() < 0.5:
                table[bias] = (heads * d,)
        if residual or rng.random() < 0.7:
            table["Wo"] = (heads * d, width)
            if rng.random() < 0.5:
                table["bo"] = (width,)
    elif width % heads:
        settings["heads"] = 1
    if rng.random() < 0.5:
        settings["causal"] = True
        settings["align"] = str(rng.choice(["top_left", "bottom_right"]))
    if rng.random() < 0.2:
        settings["scale"] = float(np.round(rng.uniform(0.2, 1.5), 2))
    table |= _masks(rng, batch, steps, keys, settings)
    assert set(settings) <= set(LAYERS["attention"].settings)  # noqa: S101 - the row's own
    return {**table, **settings}


def _masks(rng, batch: int, steps: int, keys: int, settings: dict) -> dict:
    """A key-padding mask, a scores mask in one of its readings, attention dropout — each now
    and then; every query keeps key 0 (causal aligned either way keeps it too: keys ≥ steps)."""
    found = {}
    if rng.random() < 0.2:
        found["lengths"] = rng.integers(1, keys + 1, size=batch).tolist()
    if rng.random() < 0.3:
        kind = str(rng.choice(["attend", "masked", "additive"]))
        settings["mask_type"] = kind
        shape = (batch, steps, keys) if rng.random() < 0.5 else (steps, keys)
        kept = rng.random(shape) < 0.7
        kept[..., 0] = True
        if kind == "additive":
            values = np.round(rng.uniform(-2, 2, shape), 2)
            found["scores_mask"] = np.where(kept, values, -np.inf).tolist()
        else:
            found["scores_mask"] = (kept if kind == "attend" else ~kept).astype(int).tolist()
    if rng.random() < 0.15:
        p = float(np.round(rng.uniform(0.1, 0.5), 2))
        settings["p"] = p
        heads = settings["heads"]
        found["mask"] = (rng.random((batch, heads, steps, keys)) >= p).astype(int).tolist()
    return found
