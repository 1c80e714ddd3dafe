"""What crosses back from a backend: plain numbers, never objects.

A worker turns what a backend returned into ``plain`` form — a Result into a dict of its four
quantities (and its intermediates), each tensor a NumPy array, anything else a description of
what it was — and sends it as bytes: JSON, each array as its dtype, shape and raw bytes. The
parent decodes that with the standard library and NumPy alone (no pickle: nothing a backend
sends can run code in the process that judges), and ``result_of`` rebuilds a Result whose
every tensor is a real floating-point array — or raises ``NotNumbers`` naming the first that
is not (complex, bool, integer, object, a string, a None).
"""

import base64
import json

import numpy as np
from backprop_crosscheck.reference.cases.layer_fields import stack_outputs
from backprop_crosscheck.reference.precision import LOW, is_real, numpy_dtype
from backprop_crosscheck.reference.result import Result

QUANTITIES = ("loss", "gradients", "updated", "final")
ARRAY_KINDS = "biufc"  # bool, integers, floating, complex: sent as raw bytes (then judged)
# and bfloat16 (ml_dtypes': NumPy's kind "V"), sent by its name: its dtype.str is a raw "<V2"
KIND_WORDS = {
    "U": "text",
    "S": "bytes",
    "O": "Python objects",
    "V": "raw records",
    "M": "dates",
    "m": "time spans",
}


class NotNumbers(ValueError):
    """What a backend returned is not real floating-point numbers of the expected form."""


def plain(value):
    """A backend's answer as dicts, lists, strings and arrays only (in the worker)."""
    if all(hasattr(value, q) for q in QUANTITIES):  # a Result, or something shaped like one
        fields = {q: getattr(value, q) for q in QUANTITIES}
        fields["intermediates"] = getattr(value, "intermediates", None)
        fields["scale"] = getattr(value, "scale", None)  # a loss-scaled run's, else None
        return {"result": {k: _array_or_what(v) for k, v in fields.items()}}
    if isinstance(value, dict):
        return {"tensors": {str(k): _array_or_what(v) for k, v in value.items()}}
    if value is None:
        return None
    return _array_or_what(value)


def plain_value(value):
    """One value (an array, a scalar, a nested dict of them) in plain form."""
    return _array_or_what(value)


def _array_or_what(value):
    if isinstance(value, dict):
        return {str(k): _array_or_what(v) for k, v in value.items()}
    if value is None:
        return None
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - whatever it is, it is not numbers
        return {"what": type(value).__name__}
    if array.dtype.kind not in ARRAY_KINDS and array.dtype.name not in LOW:
        words = KIND_WORDS.get(array.dtype.kind, "something")
        return {"what": f"{type(value).__name__} of {words} ({array.dtype})"}
    return array


def encode(message) -> bytes:
    return json.dumps(message, default=_array_json, allow_nan=True).encode()


def _array_json(x):
    if isinstance(x, np.ndarray):
        data = base64.b64encode(np.ascontiguousarray(x).tobytes()).decode()
        kind = x.dtype.name if x.dtype.name in LOW else x.dtype.str
        return {"array": [kind, list(x.shape), data]}
    if isinstance(x, np.generic):
        return _array_json(np.asarray(x))
    raise TypeError(f"{type(x).__name__} cannot cross back")


def decode(data: bytes):
    """The message a worker sent; arrays rebuilt (numeric dtypes only)."""
    return json.loads(data, object_hook=_array_back)


def _array_back(obj: dict):
    if set(obj) != {"array"}:
        return obj
    dtype, shape, data = obj["array"]
    dtype = numpy_dtype(dtype) if dtype in LOW else np.dtype(dtype)
    if dtype.kind not in ARRAY_KINDS and dtype.name not in LOW:
        raise ValueError(f"an array of {dtype} cannot cross back")
    return np.frombuffer(base64.b64decode(data), dtype=dtype).reshape(shape).copy()


def result_of(value) -> Result:
    """A Result of real floating-point arrays from the plain form, or NotNumbers saying why
    not."""
    if not isinstance(value, dict) or "result" not in value:
        raise NotNumbers(f"it is {_what(value)}, not a Result")
    fields = value["result"]
    loss = numbers(fields.get("loss"), "loss")
    tensors = {q: tensor_dict(fields.get(q), q) for q in QUANTITIES[1:]}
    chain = fields.get("intermediates")  # optional, for the diagnosis: what is not numbers is
    if isinstance(chain, dict):  # left out, never an error
        chain = {k: v for k, v in chain.items() if _real(v)}
    chain = chain if isinstance(chain, dict) else None
    scale = fields.get("scale")  # judged where the reference has one (missing: said there)
    scale = None if scale is None else numbers(scale, "loss scale")
    return Result(loss, tensors["gradients"], tensors["updated"], tensors["final"], chain, scale)


def tensors_from_plain(value, what: str = "H·v") -> dict:
    """{name: real floating-point array} from the plain form of a dict of tensors."""
    if not isinstance(value, dict) or "tensors" not in value:
        raise NotNumbers(f"its {what} is {_what(value)}, not a dict of tensors")
    return tensor_dict(value["tensors"], what)


def tensor_dict(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise NotNumbers(f"its {what} is {_what(value)}, not a dict of tensors")
    return {name: numbers(t, f"{what} {name}") for name, t in value.items()}


def numbers(value, what: str) -> np.ndarray:
    """``value`` if it is an array of real floating-point numbers; else NotNumbers."""
    if not isinstance(value, np.ndarray):
        raise NotNumbers(f"its {what} is {_what(value)}, not numbers")
    if not is_real(value.dtype):
        kind = {"c": "complex", "b": "boolean", "i": "integer", "u": "integer"}[value.dtype.kind]
        raise NotNumbers(f"its {what} is {kind} ({value.dtype}), not real floating-point numbers")
    return value


def _real(value) -> bool:
    return isinstance(value, np.ndarray) and is_real(value.dtype)


def _what(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, dict) and set(value) == {"what"}:
        return f"a {value['what']}"
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype}"
    return f"a {type(value).__name__}"


def answer_limit(case) -> int:
    """The most bytes a worker's answer about ``case`` may take: everything the kit asks of a
    backend (its run, H·v, a run per sample, a second run, forward mode) at the case's own
    shapes, with room to spare — far from what an answer of the wrong size (a gradient of 10⁸
    unused entries) would be. Past it the parent reads nothing of the answer."""
    parameters = sum(p.size for p in case.parameters().values()) + case.inputs.size
    samples = case.inputs.shape[0]
    chain = 2 * stack_outputs(case.stack, case.inputs.shape)
    one_run = 4 * parameters + chain + case.steps + 1  # gradients, updated, final; the chain
    runs = samples + 8
    return 2**20 + 16 * 8 * runs * one_run
