"""A case file's ``[mixed_precision]`` table, validated field by field (docs/precision.md):

[mixed_precision]
compute = "float16"       # bfloat16 | float16: what the forward and backward compute in
loss_scale = 65536.0      # S (default 1: none; dynamic: GradScaler's 2¹⁶)
dynamic = true            # GradScaler's rule; then, optionally:
growth_factor = 2.0       # > 1
backoff_factor = 0.5      # in (0, 1)
growth_interval = 2000    # good steps before S grows
"""

from backprop_crosscheck.reference.cases.values import MAX_INT32, finite, is_int, is_number, short
from backprop_crosscheck.reference.rules.loss_scaling import (
    COMPUTE,
    GRAD_SCALER_INIT,
    MixedPrecision,
)

FIELDS = ("compute", "loss_scale", "dynamic", "growth_factor", "backoff_factor", "growth_interval")
DYNAMIC_ONLY = FIELDS[3:]


def mixed_precision(data: dict, fail) -> MixedPrecision | None:
    """The case's MixedPrecision, or None when its file has no [mixed_precision] table."""
    if "mixed_precision" not in data:
        return None
    table = data["mixed_precision"]
    if not isinstance(table, dict):
        fail("mixed_precision", "must be a table: [mixed_precision] with compute = …")
    for field in table:
        if field not in FIELDS:
            fail(f"mixed_precision.{field}", f"is not a known field (known: {', '.join(FIELDS)})")
    if table.get("compute") not in COMPUTE:
        got = short(table["compute"]) if "compute" in table else "nothing"
        fail("mixed_precision.compute", f"must be one of {', '.join(COMPUTE)}, got {got}")
    dynamic = table.get("dynamic", False)
    if not isinstance(dynamic, bool):
        fail("mixed_precision.dynamic", f"must be true or false, got {short(dynamic)}")
    for field in DYNAMIC_ONLY:
        if field in table and not dynamic:
            fail(f"mixed_precision.{field}", "is a setting of dynamic scaling: dynamic = true")
    scale = table.get("loss_scale", GRAD_SCALER_INIT if dynamic else 1.0)
    checks = {
        "loss_scale": (scale, lambda x: 0 < x < 3.4e38, "a finite number > 0 (float32's range)"),
        "growth_factor": (table.get("growth_factor", 2.0), lambda x: 1 < x < 1e6, "> 1"),
        "backoff_factor": (table.get("backoff_factor", 0.5), lambda x: 0 < x < 1, "in (0, 1)"),
    }
    for field, (value, ok, words) in checks.items():
        if not (is_number(value) and finite(value) and ok(value)):
            fail(f"mixed_precision.{field}", f"must be a number {words}, got {short(value)}")
    interval = table.get("growth_interval", 2000)
    if not (is_int(interval) and 1 <= interval <= MAX_INT32):
        fail("mixed_precision.growth_interval", f"must be an integer ≥ 1, got {short(interval)}")
    return MixedPrecision(
        table["compute"],
        float(scale),
        dynamic,
        float(checks["growth_factor"][0]),
        float(checks["backoff_factor"][0]),
        int(interval),
    )
