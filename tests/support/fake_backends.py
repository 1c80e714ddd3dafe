"""Deliberately broken adapters for the report tests (registered through fake entry points)."""

import numpy as np
from backprop_crosscheck.backends import Backend, Capabilities
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.precision import DTYPES, numpy_dtype
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS


class _Reference(Backend):  # the reference's own run, one thing changed per subclass
    """The reference, then a twist applied to its result."""

    capabilities = Capabilities(optimizers=OPTIMIZERS)

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


class OddIntermediates(_Reference):
    """Right numbers; intermediates that are not numbers, or of another shape, or not a dict."""

    def twist(self, case, r):
        odd = {"dE/da2": "not a number", "delta2": [[1.0, 2.0, 3.0]], "delta1": None}
        return Result(r.loss, r.gradients, r.updated, r.final, odd if case.depth == 2 else [1])


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
    """Never returns (an infinite loop, or a deadlock); first creates the file
    $CROSSCHECK_TEST_HANGING names, if set (a test waits for it rather than for a guess)."""

    def run(self, case, dtype, device="cpu"):
        import os

        if os.environ.get("CROSSCHECK_TEST_HANGING"):
            open(os.environ["CROSSCHECK_TEST_HANGING"], "w").close()
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


class CopiesTheReference(_Reference):
    """Computes nothing: hands back the reference's own Result, found among the objects of its
    process (gc), as a plugin written to pass would; "nothing to copy" (a skip) where it finds
    none."""

    def run(self, case, dtype, device="cpu"):
        import gc

        from backprop_crosscheck.comparisons.judge.judging import Check

        from backprop_crosscheck import BackendUnavailable

        for o in gc.get_objects():
            if isinstance(o, Check) and o.reference is not None:
                return o.reference
        raise BackendUnavailable("nothing to copy")


class SegfaultPlugin(Segfault):
    """A segfault in a backend with no framework module."""

    module = None


# --- engines each oracle of the conformance kit must catch ----------------------------------


class JvpOff(_Reference):
    """Declares forward mode, whose dE/dθ·v is 0.1 % off its own reverse-mode gradient."""

    capabilities = Capabilities(jvp="a wrong one", optimizers=OPTIMIZERS)

    def directional_derivative(self, case, v, dtype, device="cpu"):
        g = train(case, np.dtype(dtype)).gradients
        return 1.001 * sum(float(np.vdot(g[n], v[n])) for n in v)


class TapeLossOff(_Reference):
    """Its loss without the tape differs from the loss under the tape."""

    def loss_value(self, case, dtype, device="cpu"):
        return 1.001 * train(case, np.dtype(dtype)).loss[0]


class BatchOff(_Reference):
    """Right one sample at a time, 0.1 % off on a batch."""

    def twist(self, case, r):
        if case.inputs.shape[0] > 1:
            for g in r.gradients.values():
                g *= 1.001
        return r


class Jittery(_Reference):
    """Accurate, but never the same twice: noise far below the tolerance."""

    def twist(self, case, r):
        noise = np.random.default_rng()
        for g in r.gradients.values():
            g *= 1 + 1e-14 * noise.standard_normal(g.shape)
        return r


class Float64Inside(_Reference):
    """Asked for float32, computes in float64 and casts: every value correctly rounded."""

    def run(self, case, dtype, device="cpu"):
        r = train(case, np.float64)
        cast = {n: v.astype(dtype) for n, v in r.gradients.items()}
        same = {n: v.astype(dtype) for n, v in r.updated.items()}
        final = {n: v.astype(dtype) for n, v in r.final.items()}
        return Result(r.loss.astype(dtype), cast, same, final)


class Float32Inside(_Reference):
    """Asked for bfloat16 or float16, computes in float32 and casts once at the end."""

    capabilities = Capabilities(dtypes=DTYPES, optimizers=OPTIMIZERS)

    def run(self, case, dtype, device="cpu"):
        r, kind = train(case, np.float32), numpy_dtype(dtype)
        cast = [
            {n: v.astype(kind) for n, v in t.items()} for t in (r.gradients, r.updated, r.final)
        ]
        return Result(r.loss.astype(kind), *cast)


class FrozenMoves(_Reference):
    """Updates its frozen parameters anyway, by a hair."""

    def twist(self, case, r):
        for name in case.frozen:
            r.final[name] = r.final[name] + np.asarray(1e-12, r.final[name].dtype)
        return r


class HvpAsymmetric(_Reference):
    """An H·v right along the reference's direction, with an antisymmetric error elsewhere."""

    capabilities = Capabilities(hvp="a lopsided one", optimizers=OPTIMIZERS)

    def hvp(self, case, v, dtype, device="cpu"):
        from backprop_crosscheck.reference.hvp import hvp

        hv = hvp(case, v, np.dtype(dtype))
        name = next(iter(hv))
        flat = np.asarray(v[name]).ravel()
        skew = np.roll(flat, 1) - np.roll(flat, -1)  # S·v with S antisymmetric: vᵀSv = 0
        hv[name] = hv[name] + 1e-3 * skew.reshape(hv[name].shape).astype(dtype)
        return hv


class KillsItsShard(_Reference):
    """On the cases of shape family 1 (sweep seeds 8..15), kills the process its shard runs in:
    its worker's parent (the shard's own process; with ``host = "grandparent"``, the Dask worker
    running the shard). A ``once`` killer kills only while the file named after it in the folder
    CROSSCHECK_TEST_MARKERS does not exist, and creates it: the retry then succeeds."""

    host, once = "parent", False

    def run(self, case, dtype, device="cpu"):
        import os
        import signal
        from pathlib import Path

        marker = Path(os.environ.get("CROSSCHECK_TEST_MARKERS", "/nonexistent"), self.name)
        if case.name.startswith("random-1.") and not (self.once and marker.exists()):
            if self.once:
                marker.touch()
            pid = os.getppid()
            if self.host == "grandparent":
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            os.kill(pid, signal.SIGKILL)
        return super().run(case, dtype, device)


class KillsItsShardOnce(KillsItsShard):
    once = True


class KillsItsDaskWorker(KillsItsShard):
    host = "grandparent"


class KillsItsDaskWorkerOnce(KillsItsDaskWorker):
    once = True


# --- values that are not real numbers (issue #25): each must be its backend's ERROR ---------


class ComplexGradient(_Reference):
    """Gradients with an imaginary part: dropping it would pass."""

    def twist(self, case, r):
        r.gradients["W1"] = r.gradients["W1"] + 1e-3j
        return r


class ComplexLoss(_Reference):
    def twist(self, case, r):
        return Result(r.loss + 0j, r.gradients, r.updated, r.final)


class BoolGradient(_Reference):
    def twist(self, case, r):
        r.gradients["W2"] = r.gradients["W2"] > 0
        return r


class IntegerUpdate(_Reference):
    def twist(self, case, r):
        r.updated["W1"] = np.zeros(r.updated["W1"].shape, dtype=np.int64)
        return r


class ObjectGradient(_Reference):
    def twist(self, case, r):
        r.gradients["W1"] = np.array([[object()] * r.gradients["W1"].shape[1]] * 2, dtype=object)
        return r


class StringLoss(_Reference):
    def twist(self, case, r):
        return Result("0.3272", r.gradients, r.updated, r.final)


# --- processes that answer twice, and backends that judge themselves ------------------------


class ForksAndLies(_Reference):
    """Forks inside run: the child answers with w3's gradient off by 1e-3, the worker with
    the right numbers — one request, two answers."""

    module = "json"  # a worker of its own

    def run(self, case, dtype, device="cpu"):
        import os

        r = train(case, np.dtype(dtype))
        if os.fork() == 0:  # the child carries on as if it were the worker
            r.gradients["W1"][0, 1] += 1e-3
        return r


class JudgesItself(OffW3):
    """w3 off by 1e-3 (10⁶× the tolerance), and numpy.isclose replaced in its own process so
    that anything judged there passes."""

    module = "json"

    def run(self, case, dtype, device="cpu"):
        np.isclose = lambda a, b, **kw: np.ones(np.broadcast(a, b).shape, dtype=bool)
        return super().run(case, dtype, device)


class ForksAChildThenExits(_Reference):
    """Its run forks a child that keeps the worker's socket open and sleeps (writing its pid
    to $CROSSCHECK_TEST_PIDFILE), then the worker exits: its exit must be seen at once, and
    the child must not outlive the report."""

    module = "json"

    def run(self, case, dtype, device="cpu"):
        import os
        import time

        child = os.fork()
        if child == 0:
            with open(os.environ["CROSSCHECK_TEST_PIDFILE"], "w") as f:
                f.write(str(os.getpid()))
            time.sleep(600)
            os._exit(0)
        while not os.path.getsize(os.environ["CROSSCHECK_TEST_PIDFILE"]):
            time.sleep(0.01)
        os._exit(3)


class ConfiguresItsProcess(_Reference):
    """Right numbers, and a process-wide change as it runs (numpy.exp replaced), as a
    framework's global switch would be: another backend of the same module must not see it."""

    module = "json"

    def run(self, case, dtype, device="cpu"):
        result = super().run(case, dtype, device)
        np.exp = lambda z, *a, **k: np.ones_like(z)
        return result


class SameModule(_Reference):
    module = "json"  # declares the same module as ConfiguresItsProcess, shares nothing


class ForksAChildThenHangs(ForksAChildThenExits):
    """As ForksAChildThenExits, but the worker hangs instead of exiting: crosscheck is killed
    meanwhile, and the child must die with the worker's group."""

    def run(self, case, dtype, device="cpu"):
        import os
        import time

        if os.fork() == 0:
            with open(os.environ["CROSSCHECK_TEST_PIDFILE"], "w") as f:
                f.write(str(os.getpid()))
            time.sleep(600)
            os._exit(0)
        time.sleep(600)
