"""Seeded random cases: architecture, activations, biases, batch, data, weights, frozen set.

The same seed always gives the same case. Used by the tests, the conformance suite and the sweep.
"""

import numpy as np
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.cases.file import parse_case
from backprop_crosscheck.reference.families.attention import attention_architecture
from backprop_crosscheck.reference.families.sequences import sequence_architecture
from backprop_crosscheck.reference.families.stacks import stack_architecture, stack_data
from backprop_crosscheck.reference.network import train
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS
from backprop_crosscheck.reference.rules.losses import CROSS_ENTROPY, LOSSES
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS

OPTIMIZER_STREAM = 2**31  # the optimizer's own random stream: cases drawing plain SGD are the
# ones these seeds gave before optimizers were drawn


def random_case(
    seed: int,
    *,
    max_depth: int = 3,
    max_width: int = 6,
    max_batch: int = 5,
    max_steps: int = 3,
    activations: tuple[str, ...] = tuple(ACTIVATIONS),
    losses: tuple[str, ...] = tuple(LOSSES),
    biases: bool | None = None,  # None: chosen at random
    frozen: bool = True,  # may freeze a tensor or all biases
    optimizers: tuple[str, ...] = OPTIMIZERS,
) -> Case:
    """A random case; the sweep uses max_depth=4, max_width=32, max_batch=16, max_steps=5."""
    rng = np.random.default_rng(seed)
    shape = _architecture(
        rng, max_depth, max_width, max_batch, max_steps, activations, losses, biases, frozen
    )
    data = _draw(rng, shape, f"random-{seed}")
    opt_rng = np.random.default_rng([seed, OPTIMIZER_STREAM])
    data.update(_optimizer(opt_rng, _optimizer_structure(opt_rng, optimizers)))
    return _stable(parse_case(data, source=f"random-{seed}"))


STACK_EVERY = 5  # every fifth family (4, 9, 14, …) is a layer stack (random_stacks.py)


def family_case(family: int, member: int, **bounds) -> Case:
    """Member ``member`` of shape family ``family``: the architecture (layers, activations,
    loss, biases, frozen set, batch, steps) is drawn from ``family`` alone, the weights, data
    and learning rate from both — so an engine that compiles compiles once per family. Every
    STACK_EVERY-th family is a layer stack (``bounds`` are the dense families')."""
    if family % STACK_EVERY == STACK_EVERY - 1:
        return stack_family_case(family, member)
    options = {"max_depth": 3, "max_width": 6, "max_batch": 5, "max_steps": 3, **bounds}
    rng = np.random.default_rng(family)
    shape = _architecture(rng, *options.values(), tuple(ACTIVATIONS), tuple(LOSSES), None, False)
    if rng.random() < 0.3:  # the frozen set is part of the architecture
        shape["frozen"] = _frozen_choice(rng, shape)
    name = f"random-{family}.{member}"
    structure = _optimizer_structure(np.random.default_rng([family, OPTIMIZER_STREAM]), OPTIMIZERS)
    rng = np.random.default_rng([family, member])
    shape["lr_choice"] *= float(rng.uniform(0.5, 1.5))  # a traced argument: free to differ
    data = _draw(rng, shape, name)
    data.update(_optimizer(np.random.default_rng([family, member, OPTIMIZER_STREAM]), structure))
    return _stable(parse_case(data, source=name, name=name))


def stack_family_case(family: int, member: int) -> Case:
    """Member ``member`` of the layer-stack family ``family`` (random_stacks.py)."""
    arch = stack_architecture(np.random.default_rng(family), family // STACK_EVERY)
    name = f"random-{family}.{member}"
    structure = _optimizer_structure(np.random.default_rng([family, OPTIMIZER_STREAM]), OPTIMIZERS)
    rng = np.random.default_rng([family, member])
    data = stack_data(rng, arch, name)
    data["targets"] = _targets(rng, arch["loss"], arch["batch"], arch["outputs"])
    data.update(_optimizer(np.random.default_rng([family, member, OPTIMIZER_STREAM]), structure))
    return _stable(parse_case(data, source=name, name=name))


SEQUENCE_STREAM = 2**30  # the sequence families' own seeds: family F is not random-F's


def sequence_family_case(family: int, member: int) -> Case:
    """Member ``member`` of the sequence family ``family`` (families/sequences.py):
    ``sequence-F.M``."""
    return _drawn(sequence_architecture, SEQUENCE_STREAM, "sequence", family, member)


ATTENTION_STREAM = 2**29  # the attention families' own seeds


def attention_family_case(family: int, member: int) -> Case:
    """Member ``member`` of the attention family ``family`` (families/attention.py):
    ``attention-F.M``."""
    return _drawn(attention_architecture, ATTENTION_STREAM, "attention", family, member)


def _drawn(architecture, stream: int, prefix: str, family: int, member: int) -> Case:
    """A member of a family whose architecture ``architecture(rng)`` draws, from its own seeds
    (``stream``): the layers from the family, the numbers from the family and the member."""
    arch = architecture(np.random.default_rng([family, stream]))
    name = f"{prefix}-{family}.{member}"
    structure = _optimizer_structure(
        np.random.default_rng([family, stream, OPTIMIZER_STREAM]), OPTIMIZERS
    )
    rng = np.random.default_rng([family, member, stream])
    data = stack_data(rng, arch, name)
    data["targets"] = _targets(rng, arch["loss"], arch["batch"], arch["outputs"])
    opt_rng = np.random.default_rng([family, member, stream, OPTIMIZER_STREAM])
    data.update(_optimizer(opt_rng, structure))
    return _stable(parse_case(data, source=name, name=name))


def _optimizer_structure(rng, optimizers: tuple[str, ...]) -> dict:
    """The rule and its conventions — part of a family's architecture (what an engine compiles);
    plain SGD half of the time. A dampening is drawn as none, equal to μ (autograd's) or any."""
    weights = np.array([2.0 if o == "sgd" else 1.0 for o in optimizers])
    name = str(rng.choice(optimizers, p=weights / weights.sum()))
    return {
        "optimizer": name,
        "learning_rate_on": str(rng.choice(["step", "step", "step", "velocity"])),
        "dampening": str(rng.choice(["none", "none", "mass", "any"])),
        "epsilon_placement": str(
            rng.choice(["after_correction"] * 3 + ["before_correction", "inside_sqrt"])
        ),
    }


def _optimizer(rng, structure: dict) -> dict:
    """The case-file fields of the structure's rule, its numbers drawn per case."""
    name = structure["optimizer"]
    if name == "momentum":
        mu = float(rng.uniform(0.5, 0.95))
        d = {"none": 0.0, "mass": mu, "any": float(rng.uniform(0, 1))}[structure["dampening"]]
        return {
            "optimizer": name,
            "momentum": mu,
            "dampening": d,
            "learning_rate_on": structure["learning_rate_on"],
        }
    if name == "adam":
        return {
            "optimizer": name,
            "beta1": float(rng.uniform(0.8, 0.95)),
            "beta2": float(rng.choice([0.99, 0.999, 0.9999])),
            "epsilon": float(10 ** rng.uniform(-8, -4)),
            "epsilon_placement": structure["epsilon_placement"],
        }
    return {}


def _architecture(
    rng, max_depth, max_width, max_batch, max_steps, activations, losses, biases, frozen
) -> dict:
    depth = int(rng.integers(1, max_depth + 1))
    layers = [int(n) for n in rng.integers(1, max_width + 1, size=depth + 1)]
    batch = int(rng.integers(1, max_batch + 1))
    with_biases = bool(rng.integers(2)) if biases is None else biases
    loss = str(rng.choice(losses))
    if loss == "softmax_cross_entropy":
        layers[-1] = max(layers[-1], 2)  # classes
    shape = {
        "layers": layers,
        "batch": batch,
        "biases": with_biases,
        "loss": loss,
        "lr_choice": float(rng.choice([0.01, 0.02, 0.05, 0.1])),
        "activation": [str(rng.choice(activations)) for _ in range(depth)],
        "steps": int(rng.integers(1, max_steps + 1)),
        "leaky_slope": float(rng.choice([0.01, 0.1, 0.3])),  # read only with leaky_relu
    }
    if loss in CROSS_ENTROPY:
        shape["activation"][-1] = "identity"  # the outputs are logits: the loss squashes them
    shape["frozen_draw"] = frozen  # drawn after the data (random_case's order, kept for its seeds)
    return shape


def _frozen_choice(rng, shape: dict) -> list[str]:
    depth = len(shape["layers"]) - 1
    names = [f"W{i}" for i in range(1, depth + 1)] + (["biases"] if shape["biases"] else [])
    return [str(rng.choice(names))]


def _draw(rng, shape: dict, name: str) -> dict:
    layers, batch = shape["layers"], shape["batch"]
    # half_sse sums over the batch: scale the step so training stays stable (an honest case)
    lr = shape["lr_choice"] / (batch if shape["loss"] == "half_sse" else 1)
    data = {
        "name": name,
        "layers": layers,
        "activation": shape["activation"],
        "loss": shape["loss"],
        "learning_rate": lr,
        "steps": shape["steps"],
        "inputs": rng.normal(size=(batch, layers[0])).tolist(),
        "targets": _targets(rng, shape["loss"], batch, layers[-1]),
        # scaled like a Glorot init so activations stay in their interesting range
        "weights": [
            (rng.normal(size=(m, n)) / np.sqrt(m)).tolist()
            for m, n in zip(layers, layers[1:], strict=False)
        ],
    }
    if "leaky_relu" in shape["activation"]:
        data["leaky_slope"] = shape["leaky_slope"]
    if shape["biases"]:
        data["biases"] = [rng.normal(scale=0.5, size=n).tolist() for n in layers[1:]]
    if shape["frozen_draw"] and rng.random() < 0.3:
        data["frozen"] = _frozen_choice(rng, shape)
    elif shape.get("frozen"):
        data["frozen"] = shape["frozen"]
    return data


def _targets(rng, loss: str, batch: int, outputs: int) -> list:
    if loss == "softmax_cross_entropy":
        return rng.integers(0, outputs, size=batch).tolist()  # class indices
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=(batch, outputs)).astype(float).tolist()  # labels
    return rng.normal(size=(batch, outputs)).tolist()


def _stable(case: Case) -> Case:
    """An exploding trajectory tests nothing about backprop (every rounding error is amplified
    without bound): where the loss grows tenfold, the learning rate is quartered until not."""
    for _ in range(10):
        loss = train(case).loss
        if np.all(np.isfinite(loss)) and loss.max() <= 10 * loss[0]:
            break
        case = case.replace(learning_rate=case.learning_rate / 4)
    return case
