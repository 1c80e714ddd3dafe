"""The layer kinds a network is built from (reference/stack.py, docs/layers.md), forward and
backward by hand (NumPy only): one row each (kind.py's ``Kind``), its forward, backward,
R-operator, parameters, settings and words written together in its own module; each row is held
to central differences of its own forward pass and to torch
(tests/reference/test_layers_reference.py). Images are NCHW (samples, channels, height, width),
as torch and cuDNN lay them out. An activation is a row of reference/rules/activations.py.

Adding a kind is adding a row: a module here with its ``Kind``, listed in ``LAYERS``.
"""

from backprop_crosscheck.reference.layers.attention import (
    ATTENTION,
    attention_backward,
    attention_forward,
)
from backprop_crosscheck.reference.layers.conv import (
    CONV2D,
    ConvSaved,
    conv2d_backward,
    conv2d_forward,
)
from backprop_crosscheck.reference.layers.dense import DENSE, dense_backward, dense_forward
from backprop_crosscheck.reference.layers.dropout import (
    DROPOUT,
    DropoutSaved,
    dropout_backward,
    dropout_forward,
)
from backprop_crosscheck.reference.layers.embedding import (
    EMBEDDING,
    embedding_backward,
    embedding_forward,
)
from backprop_crosscheck.reference.layers.flatten import (
    FLATTEN,
    MERGE_TIME,
    flatten_backward,
    flatten_forward,
)
from backprop_crosscheck.reference.layers.gru import GRU, gru_backward, gru_forward
from backprop_crosscheck.reference.layers.kind import Kind
from backprop_crosscheck.reference.layers.lstm import LSTM, lstm_backward, lstm_forward
from backprop_crosscheck.reference.layers.normalization import (
    BATCH_NORM,
    LAYER_NORM,
    NormSaved,
    batch_norm_backward,
    batch_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from backprop_crosscheck.reference.layers.pooling import (
    AVG_POOL2D,
    MAX_POOL2D,
    AvgPoolSaved,
    MaxPoolSaved,
    avg_pool2d_backward,
    avg_pool2d_forward,
    first_maximum,
    max_pool2d_backward,
    max_pool2d_forward,
    scatter_windows,
    windows,
)
from backprop_crosscheck.reference.layers.position import (
    POSITION,
    position_backward,
    position_forward,
)
from backprop_crosscheck.reference.layers.residual import (
    RESIDUAL,
    residual_backward,
    residual_forward,
)
from backprop_crosscheck.reference.layers.rnn import RNN, rnn_backward, rnn_forward

LAYERS = {
    kind.name: kind
    for kind in (
        DENSE,
        CONV2D,
        MAX_POOL2D,
        AVG_POOL2D,
        FLATTEN,
        BATCH_NORM,
        LAYER_NORM,
        DROPOUT,
        EMBEDDING,
        RESIDUAL,
        RNN,
        LSTM,
        GRU,
        MERGE_TIME,
        POSITION,
        ATTENTION,
    )
}
RECURRENT = ("rnn", "lstm", "gru")  # run through time (recurrent.py)

__all__ = [
    "LAYERS",
    "attention_backward",
    "attention_forward",
    "position_backward",
    "position_forward",
    "RECURRENT",
    "AvgPoolSaved",
    "ConvSaved",
    "DropoutSaved",
    "Kind",
    "MaxPoolSaved",
    "NormSaved",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batch_norm_backward",
    "batch_norm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "embedding_backward",
    "embedding_forward",
    "first_maximum",
    "flatten_backward",
    "flatten_forward",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "residual_backward",
    "residual_forward",
    "scatter_windows",
    "windows",
]
