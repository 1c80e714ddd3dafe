"""A layer-stack case's ``[[stack]]`` tables validated into Layers (reference/stack.py), the
shapes followed from the inputs through every layer to the targets.

Every problem raises CaseError("<file>: <field> …") through ``fail``: one line naming the file
and the field — ``stack[2].kernel``, ``stack[3].block[0].W`` — for a bad shape, a kernel larger
than its input, a stride of 0, a mask of the wrong shape or not 0/1, an index out of range, ….
"""

import math

import numpy as np
from backprop_crosscheck.reference.cases.attention_fields import (
    attention_given,
    attention_shape,
    attention_work,
    position_shape,
)
from backprop_crosscheck.reference.cases.values import (
    MAX_INT32,
    array,
    dims,
    is_int,
    is_number,
)
from backprop_crosscheck.reference.layers import LAYERS, RECURRENT
from backprop_crosscheck.reference.layers.attention import ALIGNS, MASK_TYPES, MASKED_ROWS
from backprop_crosscheck.reference.layers.gru import RESETS
from backprop_crosscheck.reference.layers.recurrent import OUTPUTS
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS
from backprop_crosscheck.reference.stack import KINDS, Layer


def parse_stack(value, inputs_value, fail, limits):
    """(the Layers, the inputs as an array, the network's output shape)."""
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        fail("stack", "must be a list of layer tables ([[stack]] kind = …), at least one")
    indices = value[0].get("kind") == "embedding"
    inputs = array(inputs_value, "inputs", fail, integers=indices)
    if indices and inputs.ndim != 2:
        fail(
            "inputs",
            f"must be rows of token indices (samples × tokens) before an embedding, "
            f"got {inputs.ndim} dimensions",
        )
    if not indices and inputs.ndim not in (2, 3, 4):
        fail(
            "inputs",
            f"must be rows of features (2 dimensions), sequences (samples × time × features, "
            f"3) or NCHW images (4), got {inputs.ndim} dimensions",
        )
    _count_layers(value, fail, limits)
    stack, shape = _layers(value, "stack", inputs.shape, fail, limits, top=True)
    if indices and inputs.max() >= len(stack[0].initial["table"]):
        i, j = np.argwhere(inputs >= len(stack[0].initial["table"]))[0]
        fail(
            f"inputs[{i}][{j}]",
            f"is {inputs[i, j]}, out of range: the embedding table "
            f"(stack[0].table) has {len(stack[0].initial['table'])} rows",
        )
    return stack, inputs, shape


def _count_layers(tables: list, fail, limits) -> None:
    """Every layer, those inside residual blocks too, counted without recursion before any is
    read: a stack nested hundreds deep is one line, never a RecursionError."""
    count, pending = 0, [("stack", tables)]
    while pending:
        where, level = pending.pop()
        if not isinstance(level, list):
            continue  # its own field's error, when it is read
        count += len(level)
        if count > limits.depth:
            fail(
                where,
                f"makes the stack over {limits.depth:,} layers (counting those inside "
                "residual blocks; --no-limits lifts the limits)",
            )
        pending += [
            (f"{where}[{i}].block", t.get("block"))
            for i, t in enumerate(level)
            if isinstance(t, dict) and "block" in t
        ]


def stack_work(stack, shape) -> int:
    """The multiply-adds of one forward pass (a backward costs about twice): a dense layer's
    and a convolution's products, every other layer's outputs once."""
    work = 0
    for layer in stack:
        out = layer_output(layer, shape)
        if layer.kind == "dense":
            work += math.prod(out) * layer.initial["W"].shape[0]
        elif layer.kind == "attention":  # its projections, and Q·Kᵀ and P·V
            work += attention_work(layer, shape, out)
        elif layer.kind == "conv2d":
            work += math.prod(out) * math.prod(layer.initial["kernel"].shape[1:])
        elif layer.kind in RECURRENT:  # x_t·Wx + h·Wh at every step
            work += shape[0] * shape[1] * math.prod(layer.initial["Wx"].shape)
            work += shape[0] * shape[1] * math.prod(layer.initial["Wh"].shape)
        elif layer.kind == "residual":
            work += stack_work(layer.block, shape)
        work += math.prod(out)
        shape = out
    return 3 * work


def stack_outputs(stack, shape) -> int:
    """The entries of every layer's output in one forward pass (residual blocks' too)."""
    total = 0
    for layer in stack:
        out = layer_output(layer, shape)
        total += math.prod(out) + (stack_outputs(layer.block, shape) if layer.block else 0)
        shape = out
    return total


def layer_output(layer, shape) -> tuple:
    """A validated layer's output shape for an input of ``shape``."""

    def fail(field, problem):  # validated already: never reached
        raise AssertionError(f"{field} {problem}")

    return _output_shape(layer.kind, shape, layer.initial, layer.settings, "", fail)


def _layers(tables, where, shape, fail, limits, top=False, prefix=""):
    layers = []
    if len(tables) > limits.depth:
        fail(
            where,
            f"has {len(tables)} layers, over the limit of {limits.depth:,} "
            "(--no-limits lifts the limits)",
        )
    for i, table in enumerate(tables):
        field, label = f"{where}[{i}]", f"{prefix}{i + 1}"
        layer, shape = _layer(table, field, label, shape, fail, limits, first=top and i == 0)
        layers.append(layer)
    return tuple(layers), shape


def _layer(table, field, label, shape, fail, limits, first):
    if not isinstance(table, dict):
        fail(field, "must be a layer table with a kind")
    kind = table.get("kind")
    if kind not in KINDS:
        fail(f"{field}.kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    row = LAYERS.get(kind)  # None for an activation: no settings, no parameters
    settings = {**row.settings} if row else {}
    parameters = tuple(row.parameters) if row else ()
    known = {
        "kind",
        *settings,
        *parameters,
        *{"dropout": ("mask",), "residual": ("block",)}.get(kind, ()),
        *(("mask", "scores_mask", "lengths") if kind == "attention" else ()),
    }
    for key in table:
        if key not in known:
            fail(
                f"{field}.{key}",
                f"is not a field of a {kind} layer (its fields: {', '.join(sorted(known))})",
            )
    for key in settings:
        if key in table:
            settings[key] = _setting(kind, key, table[key], f"{field}.{key}", fail)
    for key in parameters:
        if key not in table and key not in row.optional:
            fail(
                f"{field}.{key}",
                f"is missing (a {kind} layer's parameters: {', '.join(parameters)})",
            )
    initial = {k: array(table[k], f"{field}.{k}", fail) for k in parameters if k in table}
    if kind == "embedding" and not first:
        fail(f"{field}.kind", "an embedding must be the first layer (its inputs are indices)")
    mask = _mask(table, field, shape, fail) if kind == "dropout" else None
    block = _block(table, field, label, shape, fail, limits) if kind == "residual" else ()
    out = _output_shape(kind, shape, initial, settings, field, fail)
    _within_elements(kind, shape, out, initial, settings, field, fail, limits)
    given = {}
    if kind == "attention":
        mask, given = attention_given(table, field, shape, initial, settings, fail)
    layer = Layer(kind, label, settings, initial, mask, block, given)
    return layer, out


def _within_elements(kind, shape, out, initial, settings, field, fail, limits) -> None:
    """The largest array the layer's step makes, within the limit: its output, and for a
    convolution its padded input and its im2col matrix (kernel entries × output positions)."""
    sizes = {}
    if kind == "conv2d":
        n, c, h, w = shape
        pad = settings["padding"]
        sizes[f"{field}.padding"] = n * c * (h + 2 * pad) * (w + 2 * pad)
        sizes[f"{field}.kernel"] = n * math.prod(initial["kernel"].shape[1:]) * math.prod(out[2:])
    sizes[field] = math.prod(out)
    for where, size in sizes.items():
        if size > limits.elements:
            fail(
                where,
                f"makes an array of {size:,} entries, over the limit of "
                f"{limits.elements:,} (--no-limits lifts the limits)",
            )


def _mask(table, field, shape, fail) -> np.ndarray:
    if "mask" not in table:
        fail(
            f"{field}.mask",
            "is missing: dropout's mask is given in the case (1 keeps, 0 "
            "drops), so that every engine drops the same",
        )
    mask = array(table["mask"], f"{field}.mask", fail)
    if mask.shape != shape:
        fail(f"{field}.mask", f"has shape {dims(mask.shape)} but its input has {dims(shape)}")
    if not np.all((mask == 0) | (mask == 1)):
        fail(f"{field}.mask", "must hold only 0 (dropped) and 1 (kept)")
    return mask


def _block(table, field, label, shape, fail, limits) -> tuple:
    if not isinstance(table.get("block"), list) or not table["block"]:
        fail(
            f"{field}.block",
            "is missing: a residual layer needs its block, a list of layer "
            "tables (y = x + block(x))",
        )
    block, out = _layers(table["block"], f"{field}.block", shape, fail, limits, prefix=f"{label}.")
    if out != shape:
        fail(
            f"{field}.block",
            f"gives {dims(out)} but its input is {dims(shape)}: x + block(x) needs the same shape",
        )
    return block


def _output_shape(kind, shape, p, s, field, fail):
    """The layer's output shape for an input of ``shape``; fails naming the field."""

    def need(ndim, what):
        if len(shape) not in ndim:
            fail(f"{field}.kind", f"a {kind} layer takes {what}; its input here is {dims(shape)}")

    def wants(name, want):
        if p[name].shape != want:
            fail(
                f"{field}.{name}",
                f"has shape {dims(p[name].shape)} but {dims(want)} is "
                f"needed here (its input is {dims(shape)})",
            )

    if kind in ACTIVATIONS or kind in ("dropout", "residual"):
        return shape
    if kind in RECURRENT:
        need((3,), "sequences (samples × time × features: 3-dimensional inputs, or an embedding's)")
        return _recurrent_shape(kind, shape, p, s, field, fail)
    if kind == "attention":
        need((3,), "sequences (samples × time × features: 3-dimensional inputs, or an embedding's)")
        return attention_shape(shape, p, s, field, fail)
    if kind == "position":
        need((3,), "sequences (samples × time × features)")
        return position_shape(shape, p, field, fail)
    if kind == "merge_time":
        need((3,), "sequences (samples × time × features)")
        return (shape[0] * shape[1], shape[2])
    if kind == "flatten":
        need((3, 4), "images or token rows (3 or 4 dimensions)")
        return (shape[0], math.prod(shape[1:]))
    if kind == "dense":  # rows of features, or a sequence's steps each (as a transformer's)
        need((2, 3), "rows of features (samples × features) or sequences: put a flatten before it")
        return _dense_shape(shape, p, field, fail, wants)
    if kind == "embedding":
        table = p["table"]
        if table.ndim != 2:
            fail(
                f"{field}.table",
                f"must be rows × dimensions (2 dimensions), got {dims(table.shape)}",
            )
        return (*shape, table.shape[1])
    if kind in ("batch_norm", "layer_norm"):
        need((2, 4) if kind == "batch_norm" else (2, 3, 4), "features or images")
        n = shape[1] if kind == "batch_norm" else shape[-1]
        wants("gamma", (n,))
        wants("beta", (n,))
        return _normalized_shape(kind, shape, n, field, fail)
    need((4,), "NCHW images (4 dimensions)")
    return _window_shape(kind, shape, p, s, field, fail)


def _dense_shape(shape, p, field, fail, wants):
    """A dense layer's output: samples (× steps) × W's outputs, W inputs × outputs, b one per
    output."""
    if p["W"].ndim != 2:
        fail(f"{field}.W", f"must be inputs × outputs (2 dimensions), got {dims(p['W'].shape)}")
    wants("W", (shape[-1], p["W"].shape[1]))
    if "b" in p:
        wants("b", (p["W"].shape[1],))
    return (*shape[:-1], p["W"].shape[1])


def _normalized_shape(kind, shape, n, field, fail):
    """A normalization keeps its input's shape, given at least 2 values to normalize over."""
    per_channel = shape[0] * math.prod(shape[2:]) if kind == "batch_norm" else n
    if per_channel < 2:
        over = "the batch" if kind == "batch_norm" else "a sample's features"
        fail(
            f"{field}.kind",
            f"{kind} needs at least 2 values to normalize over {over}; its input is {dims(shape)}",
        )
    return shape


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _recurrent_shape(kind, shape, p, s, field, fail):
    """A recurrent layer's output: (samples, time, hidden) for every step, (samples, hidden)
    for the last; its weights Wx (features × gates·hidden), Wh (hidden × gates·hidden)."""
    n, steps, features = shape
    if p["Wh"].ndim != 2 or p["Wh"].shape[1] != GATES[kind] * p["Wh"].shape[0]:
        side = "the gates side by side" if GATES[kind] > 1 else "square"
        fail(
            f"{field}.Wh",
            f"must be hidden × {GATES[kind]}·hidden ({side}), got {dims(p['Wh'].shape)}",
        )
    hidden = p["Wh"].shape[0]
    if p["Wx"].shape != (features, GATES[kind] * hidden):
        fail(
            f"{field}.Wx",
            f"has shape {dims(p['Wx'].shape)} but {dims((features, GATES[kind] * hidden))} is "
            f"needed here (features × gates·hidden; its input is {dims(shape)})",
        )
    for bias in ("b", "bh"):
        if bias in p and p[bias].shape != (GATES[kind] * hidden,):
            fail(f"{field}.{bias}", f"must have {GATES[kind] * hidden} values (gates·hidden)")
    for state in ("h0", "c0"):
        if state in p and p[state].shape != (hidden,):
            fail(
                f"{field}.{state}", f"must have {hidden} values (one initial state, every sample's)"
            )
    if s["truncate"] > steps:
        fail(f"{field}.truncate", f"is {s['truncate']}, more than the {steps} steps of its input")
    return (n, steps, hidden) if s["outputs"] == "every" else (n, hidden)


def _window_shape(kind, shape, p, s, field, fail):
    """A convolution's or a pool's output shape (kernel or window, padding, stride)."""
    n, c, h, w = shape
    if kind == "conv2d":
        k = p["kernel"]
        if k.ndim != 4 or k.shape[1] != c:
            fail(
                f"{field}.kernel",
                f"must be out-channels × {c} in-channels × kh × kw (4 "
                f"dimensions), got {dims(k.shape)}",
            )
        if "bias" in p and p["bias"].shape != (k.shape[0],):
            fail(
                f"{field}.bias",
                f"has shape {dims(p['bias'].shape)} but the kernel has {k.shape[0]} out-channels",
            )
        size, pad, stride = k.shape[2:], s["padding"], s["stride"]
    else:
        size, pad, stride = (s["size"], s["size"]), 0, s["stride"]
    if size[0] > h + 2 * pad or size[1] > w + 2 * pad:
        what = "kernel" if kind == "conv2d" else "size"
        fail(
            f"{field}.{what}",
            f"{size[0]}×{size[1]} is larger than its {h}×{w} input"
            f"{f' (padded by {pad})' if pad else ''}",
        )
    ho, wo = (h + 2 * pad - size[0]) // stride + 1, (w + 2 * pad - size[1]) // stride + 1
    return (n, p["kernel"].shape[0] if kind == "conv2d" else c, ho, wo)


def _setting(kind, key, value, field, fail):
    if key in ("stride", "size") and not (is_int(value) and 1 <= value <= MAX_INT32):
        fail(field, f"must be a whole number from 1 to {MAX_INT32:,}, got {value!r}")
    if key == "padding" and not (is_int(value) and 0 <= value <= MAX_INT32):
        fail(field, f"must be a whole number from 0 to {MAX_INT32:,}, got {value!r}")
    if key == "eps" and not (is_number(value) and math.isfinite(value) and value > 0):
        fail(field, f"must be a finite number > 0, got {value!r}")
    if key == "p" and not (is_number(value) and 0 <= value < 1):
        fail(field, f"must be a number in [0, 1) (the probability of dropping), got {value!r}")
    choices = {
        "activation": ("tanh", "relu"),
        "outputs": OUTPUTS,
        "reset": RESETS,
        "align": ALIGNS,
        "mask_type": MASK_TYPES,
        "masked_rows": MASKED_ROWS,
    }
    if key == "heads" and not (is_int(value) and 1 <= value <= 4096):
        fail(field, f"must be a whole number of heads from 1 to 4,096, got {value!r}")
    if key == "causal" and not isinstance(value, bool):
        fail(field, f"must be true or false, got {value!r}")
    if key == "scale" and not (is_number(value) and math.isfinite(value) and value >= 0):
        fail(field, f"must be a finite number ≥ 0 (0: 1/√(the head's width)), got {value!r}")
    if key in choices and value not in choices[key]:
        fail(field, f"must be one of {', '.join(choices[key])}, got {value!r}")
    if key == "truncate" and not (is_int(value) and 0 <= value <= MAX_INT32):
        fail(field, f"must be a whole number of steps (0: the whole sequence), got {value!r}")
    if key == "gates":
        letters = LAYERS[kind].settings["gates"]
        if not isinstance(value, str) or sorted(value) != sorted(letters):
            fail(field, f"must order the letters {letters} (each once), got {value!r}")
    return float(value) if key in ("eps", "p", "scale") else value
