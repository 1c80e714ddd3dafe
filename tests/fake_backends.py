"""Deliberately broken adapters for the report tests (registered through fake entry points)."""

import numpy as np

from backends import Backend, Capabilities
from reference import train
from reference.result import Result


class _Reference(Backend):
    """The reference, then a twist applied to its result."""

    capabilities = Capabilities()

    def run(self, case, dtype, device="cpu"):
        return self.twist(case, train(case, np.dtype(dtype)))

    def twist(self, case, r: Result) -> Result:
        return r


class Raising(_Reference):
    def run(self, case, dtype, device="cpu"):
        raise RuntimeError("engine exploded\nsecond line of the traceback text")


class NaNGradient(_Reference):
    def twist(self, case, r):
        r.gradients["W2"][1, 0] = np.nan
        return r


class WrongShape(_Reference):
    def twist(self, case, r):
        r.gradients["W1"] = r.gradients["W1"].T.copy()[:, :1]
        return r


class MissingTensor(_Reference):
    def twist(self, case, r):
        del r.updated["W2"]
        return r


class OffW3(_Reference):
    """The article's w3 (W1[0,1]) gradient off by 1e-3, everything else right."""

    def twist(self, case, r):
        r.gradients["W1"][0, 1] += 1e-3
        return r


class NotInstalled(_Reference):
    module = "a_framework_that_is_not_installed"
    install_hint = "pip install a-framework"


class Segfault(_Reference):
    """Takes its interpreter down, as a crash in an engine's C code would."""

    module = "json"  # any installed module: it makes this "a framework", run in a worker

    def run(self, case, dtype, device="cpu"):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)


class RightInWorker(_Reference):
    """Right, and in the same worker as Segfault (the same ``module``)."""

    module = "json"
