"""An attention layer's [[stack]] table checked (reference/layers/attention.py): its projections'
shapes against the heads and the input, its memory, the masks the case gives. Every problem one
line through ``fail(field, problem)``, as layer_fields.py's."""

import numpy as np
from backprop_crosscheck.reference.cases.values import array, dims
from backprop_crosscheck.reference.layers.attention import PROJECTIONS


def attention_shape(shape, p, s, field, fail):
    """The layer's output (samples, Tq, width): its projections all given or none, each width a
    multiple of the heads, the memory rows × features."""
    n, steps, features = shape
    source = features
    if "memory" in p:
        memory = p["memory"]
        if memory.ndim != 2:
            got = dims(memory.shape)
            fail(f"{field}.memory", f"must be rows × features (2 dimensions), got {got}")
        source = memory.shape[1]
    widths = _projection_widths(shape, source, p, field, fail)
    for name, width in widths.items():
        if width % s["heads"]:
            what = f"{name}'s {width} columns" if "Wq" in p else f"the {width} features"
            fail(f"{field}.heads", f"is {s['heads']}, which does not divide {what}")
    out = widths["Wv"]
    if "Wo" in p:
        Wo = p["Wo"]
        if Wo.ndim != 2 or Wo.shape[0] != out:
            got = dims(Wo.shape)
            fail(f"{field}.Wo", f"has shape {got} but {out} rows (the heads' values) are needed")
        if "bo" in p and p["bo"].shape != (Wo.shape[1],):
            fail(f"{field}.bo", f"must have {Wo.shape[1]} values (one per column of Wo)")
        out = Wo.shape[1]
    elif "bo" in p:
        fail(f"{field}.bo", "is the output projection's bias: give Wo with it")
    return (n, steps, out)


def _projection_widths(shape, source, p, field, fail) -> dict:
    """Wq's, Wk's and Wv's columns (without projections: the input's and the memory's
    features), each checked against what it multiplies."""
    features = shape[2]
    given = [name for name in PROJECTIONS if name in p]
    if given and len(given) < len(PROJECTIONS):
        missing = next(name for name in PROJECTIONS if name not in p)
        fail(f"{field}.{missing}", "is missing: give Wq, Wk and Wv together, or none of them")
    for name in ("bq", "bk", "bv"):
        if name in p and not given:
            fail(f"{field}.{name}", "is a projection's bias: give Wq, Wk and Wv with it")
    if not given:
        if source != features:
            fail(
                f"{field}.memory",
                f"has {source} features but the input has {features}: without projections "
                "queries and keys must be as wide",
            )
        return {"Wq": features, "Wk": source, "Wv": source}
    widths = {}
    for name, rows in (("Wq", features), ("Wk", source), ("Wv", source)):
        W = p[name]
        if W.ndim != 2 or W.shape[0] != rows:
            fail(
                f"{field}.{name}",
                f"has shape {dims(W.shape)} but {rows} rows (inputs × heads·width) are "
                f"needed here (its input is {dims(shape)})",
            )
        widths[name] = W.shape[1]
        bias = "b" + name[1]
        if bias in p and p[bias].shape != (W.shape[1],):
            fail(f"{field}.{bias}", f"must have {W.shape[1]} values (one per column of {name})")
    if widths["Wq"] != widths["Wk"]:
        fail(
            f"{field}.Wk",
            f"has {widths['Wk']} columns but Wq has {widths['Wq']}: Q·Kᵀ needs both alike",
        )
    return widths


def position_shape(shape, p, field, fail):
    """A position embedding keeps its input's shape; its table a row per step (or more)."""
    table = p["table"]
    if table.ndim != 2 or table.shape[1] != shape[2] or table.shape[0] < shape[1]:
        fail(
            f"{field}.table",
            f"has shape {dims(table.shape)} but at least {shape[1]} steps × {shape[2]} "
            f"features is needed here (its input is {dims(shape)})",
        )
    return shape


def attention_given(table, field, shape, initial, settings, fail):
    """(the attention-dropout mask or None, {scores_mask, lengths}) as the case gives them."""
    n, tq = shape[:2]
    tk = initial["memory"].shape[0] if "memory" in initial else tq
    heads, given = settings["heads"], {}
    if "scores_mask" in table:
        additive = settings["mask_type"] == "additive"
        mask = array(table["scores_mask"], f"{field}.scores_mask", fail, minus_inf=additive)
        if mask.shape not in ((tq, tk), (n, tq, tk)):
            fail(
                f"{field}.scores_mask",
                f"has shape {dims(mask.shape)} but queries × keys {dims((tq, tk))}, or one per "
                f"sample {dims((n, tq, tk))}, is needed here",
            )
        if not additive and not np.all((mask == 0) | (mask == 1)):
            meaning = "1 may attend" if settings["mask_type"] == "attend" else "1 is masked"
            fail(f"{field}.scores_mask", f"must hold only 0 and 1 ({meaning}; mask_type)")
        given["scores_mask"] = mask.reshape((-1, tq, tk))
    if "lengths" in table:
        lengths = array(table["lengths"], f"{field}.lengths", fail, integers=True)
        if lengths.shape != (n,):
            fail(
                f"{field}.lengths",
                f"must give one length per sample ({n}), got {dims(lengths.shape)}",
            )
        if lengths.max() > tk:
            fail(f"{field}.lengths", f"has {int(lengths.max())}, more than the {tk} keys")
        given["lengths"] = lengths
    dropout = None
    if settings["p"] > 0 or "mask" in table:
        want = (n, heads, tq, tk)
        if "mask" not in table:
            fail(
                f"{field}.mask",
                f"is missing: attention dropout's mask is given in the case, {dims(want)} (1 "
                "keeps, 0 drops), so that every engine drops the same",
            )
        if settings["p"] == 0:
            fail(f"{field}.p", "is 0 but a dropout mask is given: give p > 0, or no mask")
        dropout = array(table["mask"], f"{field}.mask", fail)
        if dropout.shape != want:
            fail(f"{field}.mask", f"has shape {dims(dropout.shape)} but {dims(want)} is needed")
        if not np.all((dropout == 0) | (dropout == 1)):
            fail(f"{field}.mask", "must hold only 0 (dropped) and 1 (kept)")
    return dropout, given


def attention_work(layer, shape, out) -> int:
    """The multiply-adds of its forward: the projections, Q·Kᵀ and P·V."""
    n, tq = shape[:2]
    p = layer.initial
    tk = p["memory"].shape[0] if "memory" in p else tq
    rows = {"Wq": n * tq, "Wk": n * tk, "Wv": n * tk, "Wo": n * tq}
    work = sum(rows[name] * p[name].size for name in rows if name in p)
    width = p["Wq"].shape[1] if "Wq" in p else shape[2]
    values = p["Wv"].shape[1] if "Wv" in p else shape[2]
    return work + n * tq * tk * (width + values)
