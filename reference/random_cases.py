"""Seeded random cases: architecture, activations, biases, batch, data, weights, frozen set.

The same seed always gives the same case. Used by the tests, the conformance suite and the sweep.
"""

import numpy as np

from backprop_crosscheck.reference.activations import ACTIVATIONS
from backprop_crosscheck.reference.case import Case
from backprop_crosscheck.reference.case_file import parse_case
from backprop_crosscheck.reference.losses import CROSS_ENTROPY, LOSSES
from backprop_crosscheck.reference.network import train


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
) -> Case:
    """A random case; the sweep uses max_depth=4, max_width=32, max_batch=16, max_steps=5."""
    rng = np.random.default_rng(seed)
    shape = _architecture(
        rng, max_depth, max_width, max_batch, max_steps, activations, losses, biases, frozen
    )
    return _stable(parse_case(_draw(rng, shape, f"random-{seed}"), source=f"random-{seed}"))


def family_case(family: int, member: int, **bounds) -> Case:
    """Member ``member`` of shape family ``family``: the architecture (layers, activations,
    loss, biases, frozen set, batch, steps) is drawn from ``family`` alone, the weights, data
    and learning rate from both — so an engine that compiles compiles once per family."""
    options = {"max_depth": 3, "max_width": 6, "max_batch": 5, "max_steps": 3, **bounds}
    rng = np.random.default_rng(family)
    shape = _architecture(rng, *options.values(), tuple(ACTIVATIONS), tuple(LOSSES), None, False)
    if rng.random() < 0.3:  # the frozen set is part of the architecture
        shape["frozen"] = _frozen_choice(rng, shape)
    name = f"random-{family}.{member}"
    rng = np.random.default_rng([family, member])
    shape["lr_choice"] *= float(rng.uniform(0.5, 1.5))  # a traced argument: free to differ
    return _stable(parse_case(_draw(rng, shape, name), source=name, name=name))


def _architecture(rng, max_depth, max_width, max_batch, max_steps, activations, losses,
                  biases, frozen) -> dict:  # fmt: skip
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
