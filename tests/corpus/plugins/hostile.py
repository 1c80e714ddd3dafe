"""Hostile and careless plugins, loaded by path (``hostile.py:Class``) — issue #25's doors.
Each is the reference's own numbers with one thing wrong in what it declares or does."""

import os
import sys

import numpy as np

from backprop_crosscheck import Backend, Capabilities, train

print("hostile.py: printed at import")  # must not reach --format json's stdout


class _Right(Backend):
    def run(self, case, dtype, device="cpu"):
        result = train(case, np.dtype(dtype))
        result.gradients["W1"][0, 0] *= self.off
        return result

    off = 1.0


class InfiniteTolerance(_Right):
    """Off by 10⁶× and a tolerance that would let anything pass, with no reason."""

    off = 1e6
    capabilities = Capabilities(tolerance={"float64": (float("inf"), float("inf"))})


class HugeTolerance(InfiniteTolerance):
    capabilities = Capabilities(tolerance={"float64": (1e300, 1e300)}, tolerance_reason="trust me")


class TextTolerance(_Right):
    capabilities = Capabilities(tolerance={"float64": ("loose", "very")}, tolerance_reason="x")


class UnreasonedTolerance(_Right):
    capabilities = Capabilities(tolerance={"float64": (1e-6, 1e-7)})


class StringCapabilities(_Right):
    capabilities = "everything"


class NoCapabilities(_Right):
    capabilities = None


class ExitsInInit(_Right):
    def __init__(self):
        sys.exit(0)


class Builtin(_Right):
    """Calls itself numpy: a second row of that name would hide which is which."""

    name = "numpy"


class Escapes(_Right):
    name = "evil\nname\x1b[31m"


class Changes(_Right):
    """Moves the process to another folder as it is built (a relative --output must not
    follow it)."""

    def __init__(self):
        os.chdir("/")


class NeverChecked(_Right):
    """Declares a dtype no run asks for: nothing of it is ever checked."""

    capabilities = Capabilities(dtypes=("float16",))


def _everything_is_close(a, b, *args, **kwargs):
    return np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)


class PatchesInVersion(_Right):
    """Right, but its version() replaces numpy.isclose: the next backend's wrong numbers would
    pass where it runs (issue #39)."""

    def version(self):
        np.isclose = _everything_is_close
        return "1.0"


class Wrong(_Right):
    off = 1.5


class ShiftingCapabilities(_Right):
    """Sane when first read; an (inf, inf) tolerance at every later read."""

    off = 1.5
    reads = 0

    @property
    def capabilities(self):
        type(self).reads += 1
        if type(self).reads == 1:
            return Capabilities()
        return Capabilities(tolerance={"float64": (float("inf"),) * 2}, tolerance_reason="later")


class _LyingDict(dict):
    """Nothing to list, everything to give: items() is empty, get() answers (inf, inf)."""

    def items(self):
        return iter(())

    def get(self, key, default=None):
        return (float("inf"), float("inf"))


class LyingTolerance(_Right):
    off = 1.5
    capabilities = Capabilities(
        tolerance=_LyingDict(float64=(float("inf"),) * 2), tolerance_reason="it lies"
    )


class RaisesInVersion(_Right):
    def version(self):
        raise RuntimeError("no version today")


class RaisesInAvailable(_Right):
    def available(self):
        raise RuntimeError("cannot tell")


class RaisesInSkipReason(_Right):
    def skip_reason(self, dtype, device):
        raise RuntimeError("cannot say")


class RaisesInUnsupported(_Right):
    def unsupported(self, case):
        raise RuntimeError("cannot judge the case")


class HugeUnusedGradient(_Right):
    """Right, plus a gradient of 4·10⁵ entries nobody asked for (3.2 MB on the wire, past the
    article's cap; issue #39's had 10⁸): judged only by the tensors the reference has, it would
    PASS after costing the parent its memory."""

    def run(self, case, dtype, device="cpu"):
        result = super().run(case, dtype, device)
        result.gradients["unused"] = np.zeros(4 * 10**5)
        return result
