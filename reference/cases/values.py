"""The values a case file gives, checked one by one: numbers, arrays of numbers, shapes — each
problem one line through ``fail(field, problem)``, never a traceback. Shared by fields.py (the
case's own fields) and layer_fields.py (its [[stack]] tables)."""

import math

import numpy as np

MAX_INT32 = 2**31 - 1  # what an engine's own op takes for an index, a stride, a size or a padding


def quoted(text: str) -> str:
    """A file or field name as it can be shown on one line: quoted where it holds a newline
    or another control character."""
    return repr(text) if any(not c.isprintable() for c in text) else text


def is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def check_number(x, field, fail):
    if not is_number(x):
        fail(field, f"must be a number, got {short(x)}")
    if not finite(x):
        fail(field, f"is {short(x)}: every number must be finite (and fit in a float64)")


def finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an integer too large for a float
        return False


def short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "…"


def array(value, field, fail, integers=False, minus_inf=False) -> np.ndarray:
    """A rectangular nested list of finite numbers (of whole numbers ≥ 0 for ``integers``; −∞
    too for ``minus_inf``: an additive attention mask's)."""
    shape = shape_of(value, field, fail)
    flat = list(leaves(value))
    for index, x in zip(np.ndindex(*shape), flat, strict=True):
        where = field + "".join(f"[{i}]" for i in index)
        if integers and not (is_int(x) and 0 <= x <= MAX_INT32):
            fail(
                where, f"must be a token index (a whole number from 0 to {MAX_INT32:,}), got {x!r}"
            )
        if minus_inf and is_number(x) and x == -math.inf:
            continue
        if not is_number(x) or not finite(x):
            fail(where, f"must be a finite number{' or -inf' if minus_inf else ''}, got {x!r}")
    return np.array(value, dtype=np.int64 if integers else np.float64)


def shape_of(value, field, fail) -> tuple:
    if not isinstance(value, list):
        return ()
    if not value:
        fail(field, "must not be empty")
    inner = [shape_of(v, f"{field}[{i}]", fail) for i, v in enumerate(value)]
    for i, s in enumerate(inner):
        if s != inner[0]:
            fail(f"{field}[{i}]", f"has shape {dims(s)} but {field}[0] has {dims(inner[0])}")
    return (len(value), *inner[0])


def leaves(value):
    if isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def dims(shape) -> str:
    return "×".join(map(str, shape)) if shape else "a single number"
