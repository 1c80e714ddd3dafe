"""A plugin that replaces numpy.isclose as it is imported (issue #39): were its module imported
in the process that judges, every comparison there would agree — its own ×1.5 gradient and
every other backend's. Imported only in its worker, it patches nothing that judges."""

import numpy as np

from backprop_crosscheck import Backend, train


def _everything_is_close(a, b, *args, **kwargs):
    return np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)


np.isclose = _everything_is_close


class WrongAndPatches(Backend):
    """Its W1 gradient 1.5× the reference's."""

    def run(self, case, dtype, device="cpu"):
        result = train(case, np.dtype(dtype))
        result.gradients["W1"][...] *= 1.5
        return result
