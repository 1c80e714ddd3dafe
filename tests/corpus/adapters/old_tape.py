"""The tape engine's adapter as it was written before layer stacks existed (the documented API
of its time): it declares its dtypes and mode, nothing of layers, activations or losses — so
the framework base claims every kind for it, and the harness's own code, written with the
tape's namespace, meets what the tape lacks. Every built-in case must give a clean verdict:
PASS where it can, n/a saying what to declare where it cannot — never an error."""

from crosscheck_tape import TapeBackend

from backprop_crosscheck import Capabilities


class OldTape(TapeBackend):
    name = "old-tape"
    capabilities = Capabilities(dtypes=("float64", "float32"), devices=("cpu",), mode="reverse")
