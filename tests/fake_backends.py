"""Deliberately broken adapters for the report tests (registered through fake entry points)."""

import numpy as np

from backprop_crosscheck.backends import Backend, Capabilities
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.result import Result


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


# --- faults a hostile or broken plugin can commit (no ``module``: a plugin's worker) -------------


class Exits(_Reference):
    """Calls sys.exit(0), as a careless script would: raises SystemExit."""

    def run(self, case, dtype, device="cpu"):
        import sys

        sys.exit(0)


class HardExit(_Reference):
    """os._exit(0): ends its interpreter at once, with status 0."""

    def run(self, case, dtype, device="cpu"):
        import os

        os._exit(0)


class Noisy(_Reference):
    """Right, but prints to stdout and stderr (Python and file-descriptor level) while it runs."""

    def run(self, case, dtype, device="cpu"):
        import os
        import sys

        print("noise on stdout {not json")
        print("noise on stderr", file=sys.stderr)
        os.write(1, b"raw noise on fd 1\n")
        return super().run(case, dtype, device)


class Hangs(_Reference):
    """Never returns (an infinite loop, or a deadlock)."""

    def run(self, case, dtype, device="cpu"):
        while True:
            pass


class HangsDeaf(_Reference):
    """Never returns, and ignores the alarm that stops a Python loop (as code stuck in C does):
    only its parent can stop it."""

    def run(self, case, dtype, device="cpu"):
        import signal
        import time

        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            time.sleep(1)


class Hog(_Reference):
    """Allocates without bound."""

    def run(self, case, dtype, device="cpu"):
        hoard = []
        while True:
            hoard.append(np.empty(2**24))  # 128 MiB at a time


class ReturnsNone(_Reference):
    def run(self, case, dtype, device="cpu"):
        return None


class SegfaultPlugin(Segfault):
    """A segfault in a backend with no framework module."""

    module = None
