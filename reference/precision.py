"""The precisions a run may ask for, as NumPy holds them.

float64 and float32 are NumPy's own; bfloat16 and float16 are the low precisions networks are
trained in today (float16 is NumPy's too; bfloat16 is ml_dtypes', the package JAX and TensorFlow
use for it). A low-precision run starts from the case's numbers rounded to its dtype — an engine
handed bfloat16 weights cannot be given more than their eight bits — and the reference computes
in float64 from those same rounded numbers, so what is judged is the engine's arithmetic alone,
not the rounding of what it was given.

The unit roundoff u = 2⁻ᵖ (p: the significand's bits, the leading one included) is half the
machine epsilon: the largest relative error of rounding one value to the nearest representable.
"""

import dataclasses

import numpy as np

FULL = ("float64", "float32")  # every engine has them
LOW = ("bfloat16", "float16")  # trained in today; an engine declares the ones it has
DTYPES = FULL + LOW
SIGNIFICAND_BITS = {"float64": 53, "float32": 24, "float16": 11, "bfloat16": 8}


class PrecisionUnavailable(RuntimeError):
    """bfloat16 asked for where ml_dtypes is not installed."""


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a precision's name (bfloat16: ml_dtypes', imported on first use)."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise PrecisionUnavailable(
                "bfloat16 needs ml_dtypes (pip install ml_dtypes; JAX installs it)"
            ) from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def name_of(dtype) -> str:
    """A dtype's precision name: 'bfloat16' for ml_dtypes' (whose NumPy kind is 'V')."""
    return np.dtype(dtype).name


def is_real(dtype) -> bool:
    """Real floating point, ml_dtypes' bfloat16 and float16 included."""
    return np.dtype(dtype).kind == "f" or name_of(dtype) in LOW


def unit_roundoff(name: str) -> float:
    """u = 2⁻ᵖ: bfloat16 2⁻⁸ ≈ 3.9e-3, float16 2⁻¹¹ ≈ 4.9e-4, float32 2⁻²⁴ ≈ 6.0e-8."""
    return 2.0 ** -SIGNIFICAND_BITS[name]


def representable(array, name: str) -> np.ndarray:
    """``array`` rounded to the nearest value of precision ``name`` (ties to even), held in
    float64; integer arrays (token indices) as they are."""
    array = np.asarray(array)
    if array.dtype.kind != "f":
        return array
    return array.astype(numpy_dtype(name)).astype(np.float64)


def in_precision(case, name: str):
    """The case as an engine in precision ``name`` is handed it: its initial parameters, inputs,
    targets and given arrays rounded to ``name`` (float64 and float32: the case itself — their
    tolerances cover the rounding of what an engine is given)."""
    if name not in LOW:
        return case

    def rounded_layer(layer):
        return dataclasses.replace(
            layer,
            initial={k: representable(a, name) for k, a in layer.initial.items()},
            given={k: representable(a, name) for k, a in layer.given.items()},
            block=tuple(rounded_layer(inner) for inner in layer.block),
        )

    return case.replace(
        stack=tuple(rounded_layer(layer) for layer in case.stack),
        inputs=representable(case.inputs, name),
        targets=representable(case.targets, name),
    )


def largest(name: str) -> float:
    """The largest finite value of precision ``name`` (float16: 65504)."""
    import ml_dtypes

    return float(ml_dtypes.finfo(numpy_dtype(name)).max)


def smallest_normal(name: str) -> float:
    """The smallest normal value of ``name`` (float16: 2⁻¹⁴ ≈ 6.1e-5): below it a value is
    subnormal and loses relative precision."""
    import ml_dtypes

    return float(ml_dtypes.finfo(numpy_dtype(name)).smallest_normal)


def precision_problem(case, reference, name: str, optimizer_state: bool = True) -> str | None:
    """Why no engine computing in precision ``name`` can be held to the reference on this case,
    in words; None when it can. Two things: a value the run holds overflows the precision (the
    loss, a gradient, a parameter, a layer's output, a squared loss's square); or Adam's state
    cannot hold what the case needs — its second moment v, which the step divides by its root,
    nonzero and subnormal where √v̂, not ε, decides the step (float16 at β2 = 0.999: any |g|
    below ~0.25 at the first step), or ε rounding to 0 where a gradient is 0 (an embedding's
    unused row: 0/0). A correct engine's answer there is the precision's range, not its
    arithmetic: mixed precision (a float32 optimizer state) is how such a case is trained —
    ``optimizer_state`` False: its state is not in ``name``, only the overflows are asked."""
    if name not in LOW:
        return None
    top = largest(name)
    values = {"loss": reference.loss}
    for what in ("gradients", "updated", "final"):
        values |= {f"{what} {n}": t for n, t in getattr(reference, what).items()}
    values |= _forward_values(case)
    for where, t in values.items():
        big = np.abs(np.asarray(t, np.float64))
        if big.size and big.max() > top:
            return f"{where} reaches {big.max():.3g}, past {name}'s largest value {top:g}"
    if case.optimizer.name == "adam" and optimizer_state:
        return _second_moment_problem(case, name)
    return None


def _forward_values(case) -> dict:
    """Every layer's output of the first forward pass, and a squared loss's squares (p − t)²,
    which the loss sums: values the run holds that its results do not show."""
    from backprop_crosscheck.reference.network import forward, inputs_of

    with np.errstate(all="ignore"):
        fwd = forward(case, case.parameters(), inputs_of(case, np.float64), case.targets)
    found = {f"layer {i}'s output": a for i, a in enumerate(fwd.outputs[1:], start=1)}
    if case.loss in ("half_sse", "mse"):
        found["the loss's (prediction − target)²"] = (fwd.prediction - case.targets) ** 2
    return found


def _second_moment_problem(case, name: str) -> str | None:
    from backprop_crosscheck.reference.network import inputs_of, step
    from backprop_crosscheck.reference.rules.optimizers import bias_corrections, start

    tiny, opt = smallest_normal(name), case.optimizer
    eps_vanishes = representable(np.float64(opt.epsilon), name) == 0
    params = case.parameters()
    X, Y = inputs_of(case, np.float64), case.targets
    state = start(case, params)
    with np.errstate(all="ignore"):
        for t in range(1, case.steps + 1):
            _, _, params, state = step(case, params, X, Y, state)
            c2 = bias_corrections(opt, t)[1]
            for n, v in state["v"].items():
                if n in case.frozen:
                    continue
                if eps_vanishes and (v == 0).any():
                    i = np.unravel_index(np.argmax(v == 0), v.shape)
                    return (
                        f"Adam's ε = {opt.epsilon:.2g} rounds to 0 in {name}, and the gradient "
                        f"of {case.scalar_label(n, i)} is 0 at step {t}: its step is 0/0"
                    )
                sub = (v > 0) & (v < tiny) & (np.sqrt(v / c2) >= opt.epsilon)
                if sub.any():
                    i = np.unravel_index(np.argmax(sub), v.shape)
                    return (
                        f"Adam's second moment v of {case.scalar_label(n, i)} is {v[i]:.2g} "
                        f"at step {t}, below {name}'s smallest normal {tiny:.2g} where √v̂ "
                        f"decides the step over ε = {opt.epsilon:.2g}: a {name} optimizer "
                        "state cannot hold it (mixed precision keeps it float32)"
                    )
    return None
