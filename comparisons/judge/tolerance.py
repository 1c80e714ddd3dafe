"""The tolerance policy, in one place (docs/tolerances.md).

A value passes when |backend − reference| ≤ atol + rtol·|reference| elementwise (NumPy's
``isclose`` semantics); NaN never passes; Inf only equals the same Inf. The reference always
computes in float64; a float32 run is held against it with the float32 tolerance. A bfloat16
or float16 run's tolerance comes from a model of its rounding on the case (``modelled``).

The defaults were chosen from measured sweeps: the command and its numbers are in
docs/tolerances.md#how-the-tolerances-were-chosen. A backend may declare a looser floor for a
dtype (``Capabilities.tolerance``, with its reason), and the looser of the two wins; explicit
--rtol/--atol override both.
"""

import math
from typing import NamedTuple

from backprop_crosscheck.reference.precision import LOW, unit_roundoff
from backprop_crosscheck.reference.stack import walk


class Tolerance(NamedTuple):
    rtol: float
    atol: float


DEFAULTS = {
    "float64": Tolerance(rtol=1e-9, atol=1e-11),
    "float32": Tolerance(rtol=1e-4, atol=1e-5),
}


# Second order (Hessian-vector products, `report --hvp`): H·v goes through the forward pass,
# the backward pass and a pass along v, so rounding compounds one more time; measured by
# tests/reference/test_hvp.py's sweep (docs/cli.md#second-order-checks-report---hvp).
HVP_DEFAULTS = {
    "float64": Tolerance(rtol=1e-9, atol=1e-11),
    "float32": Tolerance(rtol=5e-4, atol=5e-5),
}


# The low precisions (docs/tolerances.md, "Low precision"): rtol = LAMBDA·u·K, where u is the
# dtype's unit roundoff and K the case's rounding count — K = rows + time steps + training steps
# + √(its longest sum): each layer rounds its output (and its gradient), each time step of a
# recurrent layer and each training step once more, and a sum of n rounded terms is off by about
# √n roundings (Higham & Mary's probabilistic bound). LAMBDA is calibrated: 1,000 random cases of
# each kind (dense and layer stacks, sequences, attention) per dtype through torch and JAX, no
# false alarm, the worst run near what it allows — a smaller λ raises alarms (the table in
# docs/tolerances.md). atol is ATOL_SHARE of rtol, as float32's table has it; cancelling values
# get the rounding floor.
LAMBDA = 2.0
ATOL_SHARE = 0.1
HVP_FACTOR = 5.0  # H·v: one more pass, float32's HVP_DEFAULTS against DEFAULTS


def rounding_count(case) -> float:
    """K: the roundings a value of the case goes through, by the model above."""
    layers = walk(case.stack)
    recurrent = any(layer.kind in ("rnn", "lstm", "gru") for layer in layers)
    shape = case.inputs.shape
    time = shape[1] if recurrent and len(shape) >= 2 else 0
    rows = math.prod(shape[:-1]) if case.inputs.ndim > 1 else shape[0]
    longest = max([rows, *(max(p.shape, default=1) for p in case.parameters().values())])
    return len(layers) + time + case.steps + math.sqrt(longest)


def modelled(dtype: str, case, order: int = 1) -> Tolerance:
    """A low precision's tolerance on ``case``: LAMBDA·u·K (rtol), a tenth of it (atol)."""
    rtol = LAMBDA * unit_roundoff(dtype) * rounding_count(case)
    rtol *= HVP_FACTOR if order == 2 else 1.0
    return Tolerance(rtol=rtol, atol=ATOL_SHARE * rtol)


def tolerance_for(
    dtype: str,
    backend=None,
    rtol: float | None = None,
    atol: float | None = None,
    order: int = 1,
    case=None,
):
    """The tolerance a backend's ``dtype`` run is judged by (order 2: its H·v); a low
    precision's is modelled on ``case``."""
    if dtype in LOW:
        if case is None:
            raise ValueError(f"a {dtype} tolerance is modelled on its case: none given")
        tol = modelled(dtype, case, order)
    else:
        tol = (DEFAULTS if order == 1 else HVP_DEFAULTS)[dtype]
    floors = None
    if backend is not None:
        caps = backend.capabilities
        floors = caps.tolerance if order == 1 else caps.hvp_tolerance
    floor = floors.get(dtype) if floors else None
    if floor is not None:
        tol = Tolerance(max(tol.rtol, floor[0]), max(tol.atol, floor[1]))
    return Tolerance(tol.rtol if rtol is None else rtol, tol.atol if atol is None else atol)
