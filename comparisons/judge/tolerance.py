"""The tolerance policy, in one place (docs/tolerances.md).

A value passes when |backend − reference| ≤ atol + rtol·|reference| elementwise (NumPy's
``isclose`` semantics); NaN never passes; Inf only equals the same Inf. The reference always
computes in float64; a float32 run is held against it with the float32 tolerance.

The defaults were chosen from measured sweeps: the command and its numbers are in
docs/tolerances.md#how-the-tolerances-were-chosen. A backend may declare a looser floor for a
dtype (``Capabilities.tolerance``, with its reason), and the looser of the two wins; explicit
--rtol/--atol override both.
"""

from typing import NamedTuple


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


def tolerance_for(
    dtype: str,
    backend=None,
    rtol: float | None = None,
    atol: float | None = None,
    order: int = 1,
):
    """The tolerance a backend's ``dtype`` run is judged by (order 2: its H·v)."""
    tol = (DEFAULTS if order == 1 else HVP_DEFAULTS)[dtype]
    floors = None
    if backend is not None:
        caps = backend.capabilities
        floors = caps.tolerance if order == 1 else caps.hvp_tolerance
    floor = floors.get(dtype) if floors else None
    if floor is not None:
        tol = Tolerance(max(tol.rtol, floor[0]), max(tol.atol, floor[1]))
    return Tolerance(tol.rtol if rtol is None else rtol, tol.atol if atol is None else atol)
