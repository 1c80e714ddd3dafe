"""One-step simplifications of a case, for shrinking a failing one (comparisons/sweep/shrink.py):
fewer steps, fewer layers, narrower layers, fewer samples, simpler activations, no biases,
nothing frozen. Each keeps the case valid: shapes agree, names are renumbered.

A layer stack is simplified in its case file's terms (``smaller_stack``): half the samples (its
dropout masks cut with them), one layer that keeps its input's shape taken out (an activation,
a dropout, a normalization, a residual block), nothing frozen — each read back through the
case-file parser, so a candidate whose shapes no longer agree is never offered."""

import tomllib
from collections.abc import Iterator

import numpy as np
from backprop_crosscheck.reference.cases.case import Case, CaseError
from backprop_crosscheck.reference.cases.fields import NO_LIMITS, parse_case
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS

SHAPE_KEEPING = (*ACTIVATIONS, "dropout", "batch_norm", "layer_norm", "residual")


def smaller(case: Case) -> Iterator[tuple[str, Case]]:
    """(what changed, the smaller case) for every one-step simplification, biggest first."""
    if case.steps > 1:
        one = _case(case, steps=1) if case.dense else case.replace(steps=1)
        yield f"{case.steps} → 1 step", one
    if not case.dense:
        yield from smaller_stack(case)
        return
    for layer in range(1, case.depth):
        yield f"hidden layer {layer} removed", without_layer(case, layer)
    for halve in (True, False):  # halve every layer first; then one neuron fewer
        for layer, width in enumerate(case.layers):
            if layer == case.depth and case.loss == "softmax_cross_entropy":
                continue  # fewer classes would leave some one-hot targets without their 1
            new = width // 2 if halve else width - 1
            if new >= 1 and (halve or new != width // 2):
                what = "inputs" if layer == 0 else f"layer {layer}"
                yield f"{what} {width} → {new} wide", narrower(case, layer, new)
    samples = case.inputs.shape[0]
    if samples > 1:
        keep = samples // 2
        yield (
            f"{samples} → {keep} samples",
            _case(case, inputs=case.inputs[:keep], targets=case.targets[:keep]),
        )
    for layer, act in enumerate(case.activations, start=1):
        if act != "identity":
            activations = list(case.activations)
            activations[layer - 1] = "identity"
            yield f"layer {layer} {act} → identity", _case(case, activations=tuple(activations))
    if case.biases is not None:
        frozen = {n for n in case.frozen if not n.startswith("b")}
        yield "biases removed", _case(case, biases=None, frozen=frozenset(frozen))
    if case.frozen:
        yield "nothing frozen", _case(case, frozen=frozenset())


def without_layer(case: Case, layer: int) -> Case:
    """Hidden layer ``layer`` taken out, its neighbours joined as if its activation were the
    identity (then exactly the same function): W = W_l · W_l+1, b = b_l · W_l+1 + b_l+1; later
    names move down by one."""
    weights = list(case.weights)
    weights[layer - 1 : layer + 1] = [weights[layer - 1] @ weights[layer]]
    biases = None if case.biases is None else list(case.biases)
    if biases is not None:
        biases[layer - 1 : layer + 1] = [biases[layer - 1] @ case.weights[layer] + biases[layer]]
    activations = case.activations[: layer - 1] + case.activations[layer:]

    def renamed(name: str):
        kind, index = name[0], int(name[1:])
        return None if index == layer else f"{kind}{index - 1 if index > layer else index}"

    frozen = {renamed(n) for n in case.frozen} - {None}
    return _case(case, weights=weights, biases=biases, activations=activations, frozen=frozen)


def narrower(case: Case, layer: int, width: int) -> Case:
    """Layer ``layer`` (0: the inputs, depth: the outputs) keeps its first ``width`` neurons."""
    weights, biases = list(case.weights), None if case.biases is None else list(case.biases)
    inputs, targets = case.inputs, case.targets
    if layer == 0:
        inputs = inputs[:, :width]
    else:
        weights[layer - 1] = weights[layer - 1][:, :width]
        if biases is not None:
            biases[layer - 1] = biases[layer - 1][:width]
    if layer < case.depth:
        weights[layer] = weights[layer][:width, :]
    else:
        targets = targets[:, :width]
    return _case(case, weights=weights, biases=biases, inputs=inputs, targets=targets)


def _case(case: Case, **changes) -> Case:
    weights = changes.pop("weights", case.weights)
    biases = changes.pop("biases", case.biases)
    return case.replace(
        weights=tuple(np.array(w) for w in weights),
        biases=None if biases is None else tuple(np.array(b) for b in biases),
        aliases={},  # a shrunk case's scalars are renumbered: no alias still means the same one
        frozen=frozenset(changes.pop("frozen", case.frozen)),
        **{k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in changes.items()},
    )


def smaller_stack(case: Case) -> Iterator[tuple[str, Case]]:
    """A layer stack's simplifications (steps apart), each a valid case."""
    data = tomllib.loads(dump_case(case))
    candidates = []
    samples = len(data["inputs"])
    if samples > 1:
        keep = samples // 2
        candidates.append((f"{samples} → {keep} samples", _samples(data, keep)))
    for k, table in enumerate(data["stack"]):
        if table["kind"] in SHAPE_KEEPING:
            stack = data["stack"][:k] + data["stack"][k + 1 :]
            candidates.append(
                (f"{table['kind']} (layer {k + 1}) removed", {**data, "stack": stack})
            )
    if data.get("frozen"):
        candidates.append(("nothing frozen", {**data, "frozen": []}))
    for what, smaller_data in candidates:
        try:
            yield what, parse_case(smaller_data, case.source, case.name, NO_LIMITS)
        except CaseError:  # its shapes no longer agree, or a frozen name is gone: not offered
            continue


def _samples(data: dict, keep: int) -> dict:
    """The first ``keep`` samples: inputs, targets and every dropout mask's rows."""

    def cut(tables):
        return [
            {
                **t,
                **({"mask": t["mask"][:keep]} if "mask" in t else {}),
                **({"block": cut(t["block"])} if "block" in t else {}),
            }
            for t in tables
        ]

    return {
        **data,
        "inputs": data["inputs"][:keep],
        "targets": data["targets"][:keep],
        "stack": cut(data["stack"]),
    }
