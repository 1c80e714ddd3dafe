"""Seeded random cases: architecture, activations, biases, batch, data, weights, frozen set.

The same seed always gives the same case. Used by the tests, the conformance suite and the sweep.
"""

import numpy as np

from reference.activations import ACTIVATIONS
from reference.case import Case
from reference.case_file import parse_case
from reference.losses import LOSSES
from reference.network import train


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
    depth = int(rng.integers(1, max_depth + 1))
    layers = [int(n) for n in rng.integers(1, max_width + 1, size=depth + 1)]
    batch = int(rng.integers(1, max_batch + 1))
    with_biases = bool(rng.integers(2)) if biases is None else biases
    loss = str(rng.choice(losses))
    # half_sse sums over the batch: scale the step so training stays stable (an honest case)
    lr = float(rng.choice([0.01, 0.02, 0.05, 0.1])) / (batch if loss == "half_sse" else 1)
    data = {
        "name": f"random-{seed}",
        "layers": layers,
        "activation": [str(rng.choice(activations)) for _ in range(depth)],
        "loss": loss,
        "learning_rate": lr,
        "steps": int(rng.integers(1, max_steps + 1)),
        "inputs": rng.normal(size=(batch, layers[0])).tolist(),
        "targets": rng.normal(size=(batch, layers[-1])).tolist(),
        # scaled like a Glorot init so activations stay in their interesting range
        "weights": [
            (rng.normal(size=(m, n)) / np.sqrt(m)).tolist()
            for m, n in zip(layers, layers[1:], strict=False)
        ],
    }
    if with_biases:
        data["biases"] = [rng.normal(scale=0.5, size=n).tolist() for n in layers[1:]]
    if frozen and rng.random() < 0.3:
        names = [f"W{i}" for i in range(1, depth + 1)] + (["biases"] if with_biases else [])
        data["frozen"] = [str(rng.choice(names))]
    case = parse_case(data, source=f"random-{seed}", name=f"random-{seed}")
    # An exploding trajectory tests nothing about backprop (every rounding error is amplified
    # without bound): where the loss grows tenfold, the learning rate is quartered until not.
    for _ in range(10):
        loss = train(case).loss
        if np.all(np.isfinite(loss)) and loss.max() <= 10 * loss[0]:
            break
        case = case.replace(learning_rate=case.learning_rate / 4)
    return case
