"""flatten: each sample's entries as one row."""

from backprop_crosscheck.reference.layers.kind import Kind, linear


def flatten_forward(x, params):
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy, saved, params):
    return dy.reshape(saved), {}  # a reshape: every entry's gradient is its own


FLATTEN = Kind(
    "flatten",
    says="each sample's entries as one row",
    dx_says="dE/dy reshaped back",
    parameters={},
    forward=flatten_forward,
    backward=flatten_backward,
    **linear(flatten_forward, flatten_backward),
)


def merge_time_forward(x, params):
    return x.reshape(-1, x.shape[-1]), x.shape


MERGE_TIME = Kind(
    "merge_time",
    says="(samples, time, features) → (samples·time, features): every step a row, sample by "
    "sample (a loss at every step reads them so)",
    dx_says="dE/dy reshaped back",
    parameters={},
    forward=merge_time_forward,
    backward=flatten_backward,
    **linear(merge_time_forward, flatten_backward),
)
