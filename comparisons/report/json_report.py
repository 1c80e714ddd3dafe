"""The JSON report (schema in docs/report-schema.md): deterministic — identical runs give
byte-identical output. Non-finite numbers are written as the strings "nan", "inf", "-inf"."""

import json
import math

import numpy as np
from backprop_crosscheck.comparisons.run import Run, verdict

SCHEMA = "backprop-crosscheck/report/1"


def number(x: float):
    x = float(x)
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def nested(array) -> list | float:
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 0:
        return number(a)
    return [nested(row) for row in a]


def tensors(d: dict) -> dict:
    return {name: nested(value) for name, value in d.items()}


def result_fields(result) -> dict:
    if result is None:
        return {"loss": None, "gradients": None, "updated": None, "final": None}
    fields = {
        "loss": nested(result.loss),
        "gradients": tensors(result.gradients),
        "updated": tensors(result.updated),
        "final": tensors(result.final),
    }
    if getattr(result, "scale", None) is not None:  # a dynamic loss-scaled run's, step by step
        fields["loss_scale"] = nested(result.scale)
    return fields


def verdict_fields(c, version: bool = False) -> dict:
    """Who was judged, how, and what was said: the head of a backend's entry."""
    head = {"backend": c.backend, **({"version": c.version} if version else {})}
    return {
        **head,
        "status": c.status,
        "message": c.message,
        "method": c.method,
        "tolerance": {"rtol": c.tolerance.rtol, "atol": c.tolerance.atol},
        "tolerance_reason": c.tolerance_reason,
        "output": c.output,
        **({"traceback": c.trace} if c.trace else {}),
    }


def hvp_to_dict(run: Run) -> dict | None:
    if run.hvp is None:
        return None
    entries = []
    for c in run.hvp.comparisons:
        a = c.agreement
        entries.append(
            {
                **verdict_fields(c),
                "hvp": tensors(c.hvp) if c.hvp is not None and c.status != "error" else None,
                "max_abs_error": number(a.max_abs_error["hvp"]) if a else None,
                "max_rel_error": number(a.max_rel_error["hvp"]) if a else None,
                "worst": a.worst if a else None,
                "worst_fraction_of_tolerance": number(a.worst_ratio) if a else None,
            }
        )
    return {
        "direction_seed": run.hvp.seed,
        "tolerance": {"rtol": run.hvp.tolerance.rtol, "atol": run.hvp.tolerance.atol},
        "reference": tensors(run.hvp.reference),
        "backends": entries,
    }


def run_to_dict(run: Run) -> dict:
    backends = []
    for c in run.comparisons:
        a = c.agreement
        malformed = c.status == "error" and c.result is not None
        entry = {
            **verdict_fields(c, version=True),
            **result_fields(None if malformed else c.result),
            "max_abs_error": {k: number(v) for k, v in a.max_abs_error.items()} if a else None,
            "max_rel_error": {k: number(v) for k, v in a.max_rel_error.items()} if a else None,
            "worst": a.worst if a else None,
            "worst_quantity": a.worst_quantity if a else None,
            "diagnosis": c.diagnosis.to_dict() if c.diagnosis is not None else None,
            "worst_fraction_of_tolerance": number(a.worst_ratio) if a else None,
        }
        backends.append(entry)
    return {
        "case": run.case.name,
        "dtype": run.dtype,
        "device": run.device,
        "steps": run.case.steps,
        **({} if run.case.mixed is None else {"mixed_precision": vars(run.case.mixed)}),
        "tolerance": {"rtol": run.tolerance.rtol, "atol": run.tolerance.atol},
        "reference": result_fields(run.reference),
        "backends": backends,
        **({"hvp": hvp_to_dict(run)} if run.hvp is not None else {}),
    }


def render_json(runs: list[Run]) -> str:
    passed, warnings = verdict(runs)
    doc = {
        "schema": SCHEMA,
        "verdict": "pass" if passed else "fail",
        "warnings": warnings,
        "runs": [run_to_dict(r) for r in runs],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
