"""What a backend returns (docs/report-schema.md shows it as JSON): every value as a NumPy
array."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Result:
    loss: np.ndarray  # loss before every step and after the last: steps + 1 values
    gradients: dict[str, np.ndarray]  # first step: every parameter, and "X" for the inputs
    updated: dict[str, np.ndarray]  # parameters after the first update
    final: dict[str, np.ndarray]  # parameters after the last update
    # optional, first step: the backward chain's intermediates, "dE/da2", "delta2", "dE/da1",
    # "delta1", … (a_L is the prediction, a_0 the inputs; delta_l = dE/dz_l), for the diagnosis
    intermediates: dict[str, np.ndarray] | None = None
    # a loss-scaled mixed-precision run's (reference/rules/loss_scaling.py): the loss scale S
    # before every step and after the last, steps + 1 values; None without loss scaling
    scale: np.ndarray | None = None
