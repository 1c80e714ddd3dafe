"""The module paths before issue #34 keep working for a release: the adapters' flat files
(``from backprop_crosscheck.backends.torch_autograd import TorchBackend`` imports the module at
its new path, ``backends/torch/backend.py``) and reference/'s modules before its rooms
(``backprop_crosscheck.reference.activations`` is ``reference/rules/activations.py``). The old
path gives the same module object — no class is loaded twice — with a DeprecationWarning naming
the new path. Standard library only: installed by the package's ``__init__``."""

import importlib
import importlib.util
import sys
import warnings

BACKENDS = {  # old module -> its path now, under backprop_crosscheck.backends
    "numpy_reference": "numpy.reference",
    "finite_differences": "numpy.differences",
    "learner": "numpy.learner",
    "learner_file": "numpy.learner_file",
    "torch_autograd": "torch.backend",
    "torch_func": "torch.func",
    "torch_compile": "torch.compile",
    "torch_layers": "torch.layers",
    "torch_optim": "torch.optim",
    "jax_grad": "jax.backend",
    "jax_forward": "jax.forward",
    "jax_layers": "jax.layers",
    "optax_optim": "jax.optim",
    "autograd_hips": "autograd.backend",
    "tensorflow_tape": "tensorflow.backend",
    "tensorflow_layers": "tensorflow.layers",
    "keras_ops": "keras.backend",
    "keras_jax": "keras.jax",
    "keras_torch": "keras.torch",
    "keras_tensorflow": "keras.tensorflow",
    "mlx_core": "mlx.backend",
    "mlx_layers": "mlx.layers",
    "mlx_optim": "mlx.optim",
    "tinygrad_tensor": "tinygrad.backend",
    "tinygrad_ops": "tinygrad.ops",
}
REFERENCE = {  # old module -> its path now, under backprop_crosscheck.reference
    "activations": "rules.activations",
    "losses": "rules.losses",
    "optimizers": "rules.optimizers",
    "erf": "rules.erf",
    "case": "cases.case",
    "case_file": "cases.file",
    "case_fields": "cases.fields",
    "stack_fields": "cases.layer_fields",
    "names": "cases.names",
    "smaller_cases": "cases.smaller",
    "random_cases": "families.draw",
    "random_stacks": "families.stacks",
}
MOVED = {  # full old name -> full new name
    **{
        f"backprop_crosscheck.backends.{o}": f"backprop_crosscheck.backends.{n}"
        for o, n in BACKENDS.items()
    },
    **{
        f"backprop_crosscheck.reference.{o}": f"backprop_crosscheck.reference.{n}"
        for o, n in REFERENCE.items()
    },
}


class MovedModules:
    """Finds an old path and loads it as the module at the new one (a meta path finder and its
    loader, by the protocol: importlib.abc would cost every worker process 10 ms to import)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} has moved to {new}; the old path goes in a later release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the module at its new path ran already


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
