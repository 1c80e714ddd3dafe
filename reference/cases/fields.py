"""A parsed case-file table validated, field by field, into an immutable Case.

Every problem raises CaseError("<file>: <field> …") — one line, naming the file and the field.
"""

import math
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference.cases.case import Case, CaseError, parse_scalar
from backprop_crosscheck.reference.cases.layer_fields import parse_stack, stack_work
from backprop_crosscheck.reference.cases.mixed_fields import mixed_precision
from backprop_crosscheck.reference.cases.values import (
    check_number,
    finite,
    is_int,
    is_number,
    quoted,
    short,
)
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, LEAKY_SLOPE
from backprop_crosscheck.reference.rules.losses import CROSS_ENTROPY, LOSSES
from backprop_crosscheck.reference.rules.optimizers import (
    EPSILON_PLACEMENTS,
    LEARNING_RATE_ON,
    OPTIMIZERS,
    SETTINGS,
    WEIGHT_DECAY_MODES,
    Optimizer,
)
from backprop_crosscheck.reference.stack import dense_chain, parameter_names

REQUIRED = ("layers", "learning_rate", "inputs", "targets", "weights")
STACK_REQUIRED = ("stack", "learning_rate", "inputs", "targets")
OPTIONAL = (
    "stack",
    "name",
    "description",
    "activation",
    "loss",
    "steps",
    "biases",
    "frozen",
    "aliases",
    "leaky_slope",
    "optimizer",
    "mixed_precision",
    *dict.fromkeys(f for rule in SETTINGS.values() for f in rule),
)


@dataclass(frozen=True)
class Limits:
    """Bounds on what a case may ask for, so that a typo (steps = 10**20) is an error, not a
    run that never ends. ``crosscheck … --no-limits`` lifts them for people who mean it."""

    steps: int = 100_000
    depth: int = 64  # weight layers of a dense case; layers of a stack, its blocks' included
    width: int = 65_536
    samples: int = 1_000_000
    parameters: int = 50_000_000
    # a layer stack's: the entries of any one array a step makes (a layer's output, a padded
    # input, a convolution's im2col matrix: 20 M float64 = 160 MB), and steps × multiply-adds
    elements: int = 20_000_000
    work: int = 100_000_000_000


DEFAULT_LIMITS = Limits()
NO_LIMITS = Limits(*(10**30,) * 7)


def parse_case(
    data: dict, source: str = "<case>", name: str = "case", limits: Limits = DEFAULT_LIMITS
) -> Case:
    """Validate a parsed TOML table into an immutable Case."""

    def fail(field: str, problem: str):
        raise CaseError(f"{quoted(source)}: {quoted(field)} {problem}")

    _known_fields(data, fail)
    if "stack" in data:
        return _stack_case(data, source, name, limits, fail)
    layers = _layers(data["layers"], fail)
    _within_limits(data, layers, limits, fail)
    depth = len(layers) - 1
    loss = _choice(data.get("loss", "half_sse"), "loss", LOSSES, fail)
    inputs, targets = _data(data, layers, loss, fail)
    weights = _weights(data["weights"], layers, fail)
    biases = _biases(data["biases"], layers, fail) if "biases" in data else None
    _aliases(data.get("aliases", {}), weights, biases, fail)
    for field in ("name", "description"):
        if field in data and not isinstance(data[field], str):
            fail(field, f"must be a string, got {data[field]!r}")
    activations = _activations(data, depth, fail)
    return Case(
        name=data.get("name", name),
        loss=_cross_entropy_output(loss, layers, data, depth, fail),
        learning_rate=_learning_rate(data["learning_rate"], fail),
        steps=_steps(data.get("steps", 1), fail),
        inputs=inputs,
        targets=targets,
        stack=dense_chain(weights, biases, activations),
        frozen=_frozen(data.get("frozen", []), depth, biases is not None, fail),
        aliases=dict(data.get("aliases", {})),
        description=data.get("description", ""),
        source=source,
        leaky_slope=_leaky_slope(data.get("leaky_slope", LEAKY_SLOPE), fail),
        optimizer=_optimizer(data, fail),
        mixed=mixed_precision(data, fail),
    )


def _stack_case(data: dict, source: str, name: str, limits: Limits, fail) -> Case:
    """A layer-stack case (docs/layers.md): ``[[stack]]`` tables in place of layers, weights,
    biases and activation."""
    for field in ("layers", "weights", "biases", "activation", "aliases"):
        if field in data:
            fail(
                field,
                "belongs to a dense case; a stack case gives its layers as [[stack]] "
                "tables (docs/layers.md)",
            )
    stack, inputs, shape = parse_stack(data["stack"], data["inputs"], fail, limits)
    if len(shape) != 2:
        fail(
            "stack",
            f"ends in {'×'.join(map(str, shape))}: the loss needs samples × outputs "
            + (
                "(a sequence: put a merge_time for a loss at every step, or a flatten)"
                if len(shape) == 3
                else "(put a flatten and a dense layer last)"
            ),
        )
    loss = _choice(data.get("loss", "half_sse"), "loss", LOSSES, fail)
    _cross_entropy_output(loss, [shape[1], shape[1]], {"activation": "identity"}, 1, fail)
    if loss in CROSS_ENTROPY and stack[-1].kind in ACTIVATIONS and stack[-1].kind != "identity":
        fail("stack", f"must not end in an activation with {loss}: its outputs are the logits")
    targets = _targets(data["targets"], shape[1], loss, fail)
    if targets.shape != shape:
        fail(
            "targets",
            f"is {'×'.join(map(str, targets.shape))} but the network's output is "
            f"{'×'.join(map(str, shape))} (samples × outputs)",
        )
    steps = data.get("steps", 1)
    if is_int(steps) and steps > limits.steps:
        fail(
            "steps",
            f"is {steps:,}, over the limit of {limits.steps:,} (--no-limits lifts the limits)",
        )
    names = parameter_names(stack)
    if not names:
        fail("stack", "has no parameters: there is nothing to differentiate or train")
    work = stack_work(stack, inputs.shape) * (steps if is_int(steps) and steps > 0 else 1)
    if work > limits.work:
        fail(
            "steps",
            f"× the stack's multiply-adds a step is {work:,}, over the limit of "
            f"{limits.work:,} (--no-limits lifts the limits)",
        )
    frozen = data.get("frozen", [])
    if not isinstance(frozen, list) or any(n not in names for n in frozen):
        fail("frozen", f"must list parameters of this case (known: {', '.join(names)})")
    for field in ("name", "description"):
        if field in data and not isinstance(data[field], str):
            fail(field, f"must be a string, got {data[field]!r}")
    return Case(
        name=data.get("name", name),
        loss=loss,
        learning_rate=_learning_rate(data["learning_rate"], fail),
        steps=_steps(data.get("steps", 1), fail),
        inputs=inputs,
        targets=targets,
        frozen=frozenset(frozen),
        description=data.get("description", ""),
        source=source,
        leaky_slope=_leaky_slope(data.get("leaky_slope", LEAKY_SLOPE), fail),
        optimizer=_optimizer(data, fail),
        mixed=mixed_precision(data, fail),
        stack=stack,
    )


def _optimizer(data: dict, fail) -> Optimizer:
    """The update rule and its settings; a setting of another rule is an error (a typo in
    the rule's name would otherwise silently run plain SGD)."""
    name = _choice(data.get("optimizer", "sgd"), "optimizer", OPTIMIZERS, fail)
    for rule, settings in SETTINGS.items():
        for field in settings:
            if field in data and field not in SETTINGS[name]:
                fail(
                    field, f"is a setting of optimizer {rule!r}; this case's optimizer is {name!r}"
                )
    given = {field: data[field] for field in SETTINGS[name] if field in data}
    for field in ("momentum", "beta1", "beta2"):
        if field in given and not (is_number(given[field]) and 0 <= given[field] < 1):
            fail(field, f"must be a number in [0, 1), got {short(given[field])}")
    if "dampening" in given and not (
        is_number(given["dampening"]) and 0 <= given["dampening"] <= 1
    ):
        fail("dampening", f"must be a number in [0, 1], got {short(given['dampening'])}")
    if "epsilon" in given and not (
        is_number(given["epsilon"]) and finite(given["epsilon"]) and given["epsilon"] > 0
    ):
        fail("epsilon", f"must be a finite number > 0, got {short(given['epsilon'])}")
    if "weight_decay" in given and not (
        is_number(given["weight_decay"])
        and finite(given["weight_decay"])
        and given["weight_decay"] >= 0
    ):
        fail("weight_decay", f"must be a finite number ≥ 0, got {short(given['weight_decay'])}")
    if "weight_decay_mode" in given and not given.get("weight_decay"):
        fail("weight_decay_mode", "is set, but there is no weight_decay (λ > 0) to apply")
    for field, table in (
        ("learning_rate_on", LEARNING_RATE_ON),
        ("epsilon_placement", EPSILON_PLACEMENTS),
        ("weight_decay_mode", WEIGHT_DECAY_MODES),
    ):
        if field in given:
            _choice(given[field], field, dict.fromkeys(table), fail)
    numbers = {k: float(v) if is_number(v) else v for k, v in given.items()}
    return Optimizer(name, **numbers)


def _leaky_slope(value, fail) -> float:
    """leaky_relu's slope for z < 0: a finite number (0 gives relu, 1 the identity)."""
    if not is_number(value) or not math.isfinite(value):
        fail(
            "leaky_slope", f"must be a finite number (leaky_relu's slope for z < 0), got {value!r}"
        )
    return float(value)


def _known_fields(data: dict, fail) -> None:
    for field in data:
        if field not in REQUIRED + OPTIONAL:
            fail(field, f"is not a known field (known: {', '.join(REQUIRED + OPTIONAL)})")
    for field in STACK_REQUIRED if "stack" in data else REQUIRED:
        if field not in data:
            fail(field, "is missing")


def _layers(layers, fail) -> list[int]:
    if not isinstance(layers, list) or len(layers) < 2:
        fail("layers", "must be a list of at least two neuron counts, e.g. [2, 2, 1]")
    for i, n in enumerate(layers):
        if not is_int(n) or n < 1:
            fail(f"layers[{i}]", f"must be a whole number ≥ 1, got {n!r}")
    return layers


def _within_limits(data: dict, layers: list[int], limits: Limits, fail) -> None:
    """Checked before any array is built: the sizes the case asks for."""

    def over(field, what, limit):
        fail(field, f"{what}, over the limit of {limit:,} (--no-limits lifts the limits)")

    if len(layers) - 1 > limits.depth:
        over("layers", f"has {len(layers) - 1} weight layers", limits.depth)
    for i, n in enumerate(layers):
        if n > limits.width:
            over(f"layers[{i}]", f"is {n:,} neurons", limits.width)
    biases = "biases" in data
    count = sum(m * n + n * biases for m, n in zip(layers, layers[1:], strict=False))
    if count > limits.parameters:
        over("layers", f"ask for {count:,} parameters", limits.parameters)
    steps = data.get("steps", 1)
    if is_int(steps) and steps > limits.steps:
        over("steps", f"is {steps:,}", limits.steps)
    inputs = data.get("inputs")
    if isinstance(inputs, list) and len(inputs) > limits.samples:
        over("inputs", f"has {len(inputs):,} samples", limits.samples)


def _choice(value, field: str, table: dict, fail) -> str:
    if not isinstance(value, str) or value not in table:
        fail(field, f"{value!r} is not one of {', '.join(table)}")
    return value


def _activations(data: dict, depth: int, fail) -> tuple[str, ...]:
    activation = data.get("activation", "identity")
    if isinstance(activation, str):
        return (_choice(activation, "activation", ACTIVATIONS, fail),) * depth
    if not isinstance(activation, list) or len(activation) != depth:
        fail("activation", f"must be one name or a list of {depth} (one per weight layer)")
    return tuple(
        _choice(act, f"activation[{i}]", ACTIVATIONS, fail) for i, act in enumerate(activation)
    )


def _learning_rate(lr, fail) -> float:
    if not is_number(lr):
        fail("learning_rate", f"must be a number, got {short(lr)}")
    if not finite(lr) or lr <= 0:
        fail("learning_rate", f"must be a finite number > 0, got {short(lr)}")
    return float(lr)


def _steps(steps, fail) -> int:
    if not is_int(steps) or steps < 1:
        fail("steps", f"must be a whole number ≥ 1, got {steps!r}")
    return steps


def _cross_entropy_output(loss: str, layers: list[int], data: dict, depth: int, fail) -> str:
    """The cross-entropy losses read the last layer as logits: more than one class for
    softmax, and no activation of its own (the loss applies the softmax or sigmoid)."""
    if loss == "softmax_cross_entropy" and layers[-1] < 2:
        fail(
            "loss",
            f"softmax_cross_entropy needs at least 2 outputs (classes); layers[-1] is "
            f"{layers[-1]} (for one output use binary_cross_entropy)",
        )
    if loss in CROSS_ENTROPY and _activations(data, depth, fail)[-1] != "identity":
        fail(
            "activation",
            f"the last layer must be identity with {loss}: its outputs are the "
            "logits, and the loss applies the softmax/sigmoid itself",
        )
    return loss


def _data(data: dict, layers: list[int], loss: str, fail) -> tuple[np.ndarray, np.ndarray]:
    inputs = _matrix(data["inputs"], "inputs", fail)
    targets = _targets(data["targets"], layers[-1], loss, fail)
    if inputs.shape[1] != layers[0]:
        fail("inputs", f"rows have {inputs.shape[1]} values but layers[0] says {layers[0]}")
    if targets.shape[1] != layers[-1]:
        fail("targets", f"rows have {targets.shape[1]} values but layers[-1] says {layers[-1]}")
    if targets.shape[0] != inputs.shape[0]:
        rows = f"has {targets.shape[0]} rows but inputs has {inputs.shape[0]} (one per sample)"
        fail("targets", rows)
    return inputs, targets


def _targets(value, outputs: int, loss: str, fail) -> np.ndarray:
    if loss == "softmax_cross_entropy":
        targets = _class_targets(value, outputs, fail)
    else:
        targets = _matrix(value, "targets", fail)
    if loss == "binary_cross_entropy" and np.any((targets < 0) | (targets > 1)):
        i, j = np.argwhere((targets < 0) | (targets > 1))[0]
        fail(
            f"targets[{i}][{j}]",
            f"is {targets[i, j]!r}: binary_cross_entropy targets lie in [0, 1]",
        )
    return targets


def _class_targets(value, classes: int, fail) -> np.ndarray:
    """softmax_cross_entropy's targets: one class index per sample ([2, 0, 1]), or one-hot
    rows; as one-hot rows either way."""
    if isinstance(value, list) and value and not any(isinstance(v, list) for v in value):
        for i, k in enumerate(value):
            if not is_int(k) or not 0 <= k < classes:
                fail(f"targets[{i}]", f"must be a class index 0 … {classes - 1}, got {short(k)}")
        return np.eye(classes)[value]
    rows = _matrix(value, "targets", fail)
    for i, row in enumerate(rows):
        if not np.all((row == 0) | (row == 1)) or row.sum() != 1:
            fail(
                f"targets[{i}]",
                f"must be one-hot (one 1, the rest 0) or a class index; its "
                f"values sum to {row.sum():g}",
            )
    return rows


def _weights(value, layers: list[int], fail) -> tuple[np.ndarray, ...]:
    value = _per_layer(value, "weights", len(layers) - 1, fail)
    weights = tuple(_matrix(w, f"weights[{i}]", fail) for i, w in enumerate(value))
    for i, W in enumerate(weights):
        want = (layers[i], layers[i + 1])
        if W.shape != want:
            fail(f"weights[{i}]", f"has shape {W.shape} but layers say {want}")
    return weights


def _biases(value, layers: list[int], fail) -> tuple[np.ndarray, ...]:
    value = _per_layer(value, "biases", len(layers) - 1, fail)
    biases = tuple(_vector(b, f"biases[{i}]", fail) for i, b in enumerate(value))
    for i, b in enumerate(biases):
        if b.shape != (layers[i + 1],):
            fail(f"biases[{i}]", f"has {b.size} values but layers[{i + 1}] says {layers[i + 1]}")
    return biases


def _frozen(raw, depth: int, with_biases: bool, fail) -> frozenset[str]:
    weights = [f"W{i}" for i in range(1, depth + 1)]
    biases = [f"b{i}" for i in range(1, depth + 1)] if with_biases else []
    if not isinstance(raw, list):
        fail("frozen", 'must be a list of names, e.g. ["biases"] or ["W1"]')
    frozen = set()
    for i, item in enumerate(raw):
        if item == "weights":
            frozen.update(weights)
        elif item == "biases" and with_biases:
            frozen.update(biases)
        elif isinstance(item, str) and item in weights + biases:
            frozen.add(item)
        else:
            known = ", ".join(["weights"] + (["biases"] if with_biases else []) + weights + biases)
            fail(f"frozen[{i}]", f"{item!r} names no parameter of this case (known: {known})")
    return frozenset(frozen)


def _aliases(aliases, weights, biases, fail) -> None:
    if not isinstance(aliases, dict):
        fail("aliases", 'must be a table of name = "W1[0,0]"')
    shapes = {f"W{i + 1}": W.shape for i, W in enumerate(weights)}
    shapes.update({f"b{i + 1}": b.shape for i, b in enumerate(biases or ())})
    for alias, target in aliases.items():
        field = f"aliases.{alias}"
        try:
            tensor, index = parse_scalar(target) if isinstance(target, str) else (None, ())
        except ValueError:
            tensor, index = None, ()
        if tensor is None:
            fail(field, f'must name one scalar like "W1[0,1]" or "b2[0]", got {target!r}')
        if tensor not in shapes:
            fail(field, f"{target!r}: this case has no tensor {tensor}")
        shape = shapes[tensor]
        if len(index) != len(shape) or any(i >= n for i, n in zip(index, shape, strict=True)):
            fail(field, f"{target!r} is outside {tensor}, whose shape is {shape}")


def _per_layer(value, field, depth, fail) -> list:
    if not isinstance(value, list) or len(value) != depth:
        got = len(value) if isinstance(value, list) else type(value).__name__
        fail(field, f"must be a list of {depth} (one per weight layer), got {got}")
    return value


def _vector(value, field, fail) -> np.ndarray:
    if not isinstance(value, list) or not value:
        fail(field, "must be a non-empty list of numbers")
    for j, x in enumerate(value):
        check_number(x, f"{field}[{j}]", fail)
    return np.array(value, dtype=np.float64)


def _matrix(value, field, fail) -> np.ndarray:
    if not isinstance(value, list) or not value:
        fail(field, "must be a non-empty list of rows (lists of numbers)")
    for i, row in enumerate(value):
        if not isinstance(row, list) or not row:
            fail(f"{field}[{i}]", f"must be a non-empty list of numbers, got {row!r}")
        if len(row) != len(value[0]):
            fail(f"{field}[{i}]", f"has {len(row)} values but {field}[0] has {len(value[0])}")
        for j, x in enumerate(row):
            check_number(x, f"{field}[{i}][{j}]", fail)
    return np.array(value, dtype=np.float64)
