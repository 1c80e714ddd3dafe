"""Mixed precision as a case option, and loss scaling's rule (NumPy only).

A mixed-precision case keeps float32 master parameters and computes each step's forward and
backward in a lower precision: every step casts the parameters to the compute precision, runs
the network on those copies, and updates the float32 masters with gradients cast back — what
torch.autocast, Keras's ``mixed_bfloat16`` / ``mixed_float16`` policies and a JAX loop with
explicit casts do (docs/precision.md#mixed-precision).

float16's range is small (largest 65504, smallest normal 6.1e-5): gradients below its range
flush to 0. Loss scaling multiplies the loss by S before the backward, so that every gradient
of the chain is S times larger, and divides the gradients by S after it, in float32:

    static     S fixed (the case's loss_scale)
    dynamic    torch.amp.GradScaler's rule (torch/amp/grad_scaler.py, the CPU kernel of
               _amp_update_scale_): a step whose scaled gradients hold inf or NaN is skipped —
               no update, the optimizer's state untouched — and S ← S·backoff_factor, the count
               of good steps back to 0; after a good step the count goes up, and when it reaches
               growth_interval, S ← S·growth_factor (if that is finite in float32), the count 0
"""

from dataclasses import asdict, dataclass

import numpy as np

COMPUTE = ("bfloat16", "float16")
GRAD_SCALER_INIT = 2.0**16  # torch.amp.GradScaler's init_scale


@dataclass(frozen=True)
class MixedPrecision:
    compute: str  # bfloat16 | float16: what the forward and backward compute in
    loss_scale: float = 1.0  # S: the static scale, or the dynamic rule's first
    dynamic: bool = False  # GradScaler's rule (above)
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000

    def settings(self) -> dict:
        """The case file's [mixed_precision] fields that differ from their defaults."""
        default = asdict(MixedPrecision(self.compute))
        return {k: v for k, v in asdict(self).items() if k == "compute" or v != default[k]}

    def __str__(self) -> str:
        scaling = f", loss scale {self.loss_scale:.10g}" if self.loss_scale != 1 else ""
        if self.dynamic:
            scaling = (
                f", dynamic loss scaling from {self.loss_scale:.10g} (×{self.backoff_factor:g} on "
                f"overflow, ×{self.growth_factor:g} every {self.growth_interval} good steps)"
            )
        return f"mixed precision: float32 master parameters, {self.compute} compute{scaling}"


def next_scale(mp: MixedPrecision, scale: float, good: int, overflow: bool) -> tuple[float, int]:
    """(S, the count of good steps) after a step: GradScaler's rule; a static scale stays."""
    if not mp.dynamic:
        return scale, good
    if overflow:
        return float(np.float32(scale * mp.backoff_factor)), 0
    good += 1
    if good < mp.growth_interval:
        return scale, good
    grown = np.float32(scale * mp.growth_factor)
    return (float(grown) if np.isfinite(grown) else scale), 0
