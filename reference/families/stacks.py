"""Seeded random layer stacks (docs/layers.md) for the sweep's and the kit's shape families:
small images (1–3 channels, 4×4 to 8×8) through a convolution (kernels 1–3, strides 1–2,
padding 0–1), an activation, maybe batch norm, a pool, a residual convolution; rows of features
through dense layers with batch or layer norm and a residual block; token indices through an
embedding — then dropout now and then, and a dense layer to the loss.

As for dense families (random_cases.family_case), the architecture — layers, settings, dropout
masks, an embedding's indices: what an engine compiles into its program — comes from the family
alone; the numbers (parameters, inputs, targets, learning rate) from the family and the member.
"""

import numpy as np
from backprop_crosscheck.reference.rules.losses import LOSSES

SMOOTH = ("identity", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh")
ACTS = (*SMOOTH, "relu", "leaky_relu")


def stack_architecture(rng, variant: int) -> dict:
    """The family's layers as case-file tables without their parameters, and its data's shape.
    ``variant`` (0, 1, 2, …: the stack families in order) cycles through images, features and
    tokens and through both pools, so that any few consecutive families cover every kind."""
    batch, kind = int(rng.integers(1, 5)), ["image", "features", "image", "tokens"][variant % 4]
    indices = None
    if kind == "image":
        side = int(rng.integers(4, 9))
        given = (batch, int(rng.integers(1, 4)), side, side)
        tables, shape = _image_layers(rng, given, ["max_pool2d", "avg_pool2d"][variant // 4 % 2])
    elif kind == "features":
        given = (batch, int(rng.integers(2, 6)))
        tables, shape = _feature_layers(rng, given)
    else:
        tokens, rows = int(rng.integers(2, 5)), int(rng.integers(3, 7))
        indices = rng.integers(0, rows, size=(batch, tokens))
        indices[0, -1] = indices[0, 0]  # a repeated index: the scatter-add
        tables = [
            {"kind": "embedding", "table": (rows, int(rng.integers(2, 4)))},
            {"kind": "flatten"},
        ]
        shape, given = (batch, tokens * tables[0]["table"][1]), None
    if rng.random() < 0.3:
        mask = (rng.random(shape) < 0.7).astype(int)
        tables.append(
            {"kind": "dropout", "p": float(rng.choice([0.2, 0.5])), "mask": mask.tolist()}
        )
    loss = str(rng.choice(list(LOSSES)))
    outputs = int(rng.integers(2 if loss == "softmax_cross_entropy" else 1, 4))
    tables.append({"kind": "dense", "W": (shape[1], outputs), "b": (outputs,)})
    return {
        "tables": tables,
        "batch": batch,
        "loss": loss,
        "outputs": outputs,
        "indices": None if indices is None else indices.tolist(),
        "input": given,
        "steps": int(rng.integers(1, 4)),
        "lr_choice": float(rng.choice([0.01, 0.02, 0.05, 0.1])),
        "leaky_slope": float(rng.choice([0.01, 0.1, 0.3])),
    }


def _image_layers(rng, shape, pool: str):
    n, c, side, _ = shape
    k = int(rng.integers(1, min(3, side) + 1))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 2)) if k > 1 else 0
    out = int(rng.integers(1, 4))
    tables = [
        {
            "kind": "conv2d",
            "stride": stride,
            "padding": pad,
            "kernel": (out, c, k, k),
            "bias": (out,),
        }
    ]
    side = (side + 2 * pad - k) // stride + 1
    if rng.random() < 0.4 and n * side * side > 1:
        del tables[0]["bias"]  # a batch norm next removes any constant: no bias, as is usual
        tables.append({"kind": "batch_norm", "gamma": (out,), "beta": (out,)})
    tables.append({"kind": str(rng.choice(ACTS))})
    if rng.random() < 0.3:  # a residual convolution that keeps the shape
        tables.append(
            {
                "kind": "residual",
                "block": [
                    {
                        "kind": "conv2d",
                        "stride": 1,
                        "padding": 1,
                        "kernel": (out, out, 3, 3),
                        "bias": (out,),
                    },
                    {"kind": str(rng.choice(SMOOTH))},
                ],
            }
        )
    if side >= 2 and rng.random() < 0.7:
        s = int(rng.integers(1, 3))
        tables.append({"kind": pool, "size": 2, "stride": s})
        side = (side - 2) // s + 1
    tables.append({"kind": "flatten"})
    return tables, (n, out * side * side)


def _feature_layers(rng, shape):
    n, f = shape
    h = int(rng.integers(2, 6))
    tables = [{"kind": "dense", "W": (f, h), "b": (h,)}]
    norm = str(rng.choice(["batch_norm", "layer_norm", "none"]))
    if norm == "batch_norm" and n > 1 or norm == "layer_norm":
        if norm == "batch_norm":
            del tables[0]["b"]  # a batch norm next removes any constant: no bias, as is usual
        tables.append({"kind": norm, "gamma": (h,), "beta": (h,)})
    tables.append({"kind": str(rng.choice(ACTS))})
    if rng.random() < 0.5:
        inner = [{"kind": "dense", "W": (h, h), "b": (h,)}, {"kind": str(rng.choice(ACTS))}]
        tables.append({"kind": "residual", "block": inner})
    return tables, (n, h)


def stack_data(rng, arch: dict, name: str) -> dict:
    """The case-file table of one member (less its targets): the family's layers with this
    member's numbers."""

    def filled(table):
        out = {}
        for key, value in table.items():
            if key == "block":
                out[key] = [filled(t) for t in value]
            elif key in ("W", "kernel", "table"):  # scaled like a Glorot init
                fan_in = int(np.prod(value[1:])) if key == "kernel" else value[0]
                scale = 1.0 if key == "table" else 1 / np.sqrt(fan_in)
                out[key] = (rng.normal(size=value) * scale).tolist()
            elif key in ("Wx", "Wh", "Wq", "Wk", "Wv", "Wo"):  # Glorot over its inputs
                out[key] = (rng.normal(size=value) / np.sqrt(value[0])).tolist()
            elif key == "memory":
                out[key] = rng.normal(size=value).tolist()
            elif key in ("b", "bias", "beta", "bh", "h0", "c0", "bq", "bv", "bo"):
                out[key] = rng.normal(scale=0.3, size=value).tolist()
            elif key == "gamma":
                out[key] = rng.uniform(0.5, 1.5, size=value).tolist()
            else:
                out[key] = value
        return out

    batch, loss = arch["batch"], arch["loss"]
    inputs = arch["indices"] if arch["input"] is None else rng.normal(size=arch["input"])
    data = {
        "name": name,
        "loss": loss,
        "steps": arch["steps"],
        "learning_rate": arch["lr_choice"]
        * float(rng.uniform(0.5, 1.5))
        / (batch if loss == "half_sse" else 1),
        "inputs": np.asarray(inputs).tolist(),
        "stack": [filled(t) for t in arch["tables"]],
    }
    if any(t.get("kind") == "leaky_relu" for t in _all(arch["tables"])):
        data["leaky_slope"] = arch["leaky_slope"]
    return data


def _all(tables):
    return [w for t in tables for w in [t, *_all(t.get("block", []))]]
