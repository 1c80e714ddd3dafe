"""Versioned conformance suites: what each version of the kit runs, pinned, so that an engine's
CI can stay on one and move when it chooses (`crosscheck conformance --suite VERSION`,
`pytest --crosscheck-suite VERSION`; the default is the newest). A version never changes once
published: new cases come in a new version (tests/comparisons/kit/test_suites.py holds the
newest to every built-in conformance case, so a new built-in cannot slip into an old suite).

Every version runs every check of the kit; they differ in the networks: the built-in cases
they name, and whether their random shape families include layer stacks and sequences.
"""

from dataclasses import dataclass

DENSE = (
    "adam",
    "adam_before_correction",
    "adam_inside_sqrt",
    "adam_l2",
    "adamw",
    "article",
    "batch",
    "classification",
    "deep",
    "kink",
    "momentum",
    "momentum_dampened",
    "momentum_decoupled",
)
STACKS = ("conv", "conv_bn", "dropout", "embedding", "norm", "residual", "ties")
SEQUENCES = ("char_lstm", "gru", "gru_before", "lstm", "rnn", "rnn_truncated")
ATTENTION = ("attention", "cross", "gpt", "masked_row", "mha", "padded")
MIXED = ("mixed_bfloat16", "mixed_float16")  # float32 runs; float64 is n/a (float32 masters)
# drift and rnn_long are float32's documented honest divergences (docs/tolerances.md), not
# conformance cases
NOT_CONFORMANCE = ("drift", "rnn_long")


@dataclass(frozen=True)
class Suite:
    version: str
    adds: str  # what it adds to the version before, in words (docs/conformance.md lists them)
    builtin: tuple[str, ...]  # the built-in cases it runs
    stacks: bool  # whether its random shape families include layer stacks
    sequences: bool = False  # whether it draws sequence families too (sequence-F.M)
    attention: bool = False  # whether it draws attention families too (attention-F.M)


SUITES = {
    "1": Suite(
        "1",
        "dense networks: the article's, batches, classification, deep ones, a relu "
        "on its kink; SGD, momentum and Adam with their conventions",
        DENSE,
        False,
    ),
    "2": Suite(
        "2",
        "layer stacks: convolution, max and average pooling, batch and layer norm, "
        "dropout, an embedding, a residual block, max-pool ties",
        DENSE + STACKS,
        True,
    ),
    "3": Suite(
        "3",
        "recurrent networks through time: a vanilla RNN, an LSTM, a GRU with its reset gate "
        "after and before, a character-level LSTM, truncated BPTT; random sequence families",
        DENSE + STACKS + SEQUENCES,
        True,
        True,
    ),
    "4": Suite(
        "4",
        "attention: one head without projections, causal multi-head attention with its "
        "projections, a padded batch, a query that may attend no key; random attention families",
        DENSE + STACKS + SEQUENCES + ATTENTION,
        True,
        True,
        True,
    ),
    "5": Suite(
        "5",
        "mixed precision: float32 masters with bfloat16 compute and Adam, float16 compute "
        "with GradScaler's dynamic loss scaling (skipped steps, the scale step by step)",
        DENSE + STACKS + SEQUENCES + ATTENTION + MIXED,
        True,
        True,
        True,
    ),
}
LATEST = max(SUITES, key=int)


def suite(version: str | None) -> Suite:
    """The suite of ``version`` (None: the newest); ValueError naming the known ones."""
    version = LATEST if version is None else version
    if version not in SUITES:
        raise ValueError(f"no suite {version!r} (known: {', '.join(SUITES)}; the newest: {LATEST})")
    return SUITES[version]
