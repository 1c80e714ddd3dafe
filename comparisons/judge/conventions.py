"""Which convention reconciles (issue #28): where an engine disagrees, the reference is run
again under each documented variant of the case's conventions — where Adam's ε sits, where
momentum's learning rate sits, dampening, weight decay as L2 or decoupled (AdamW), gelu exact
or tanh, a recurrent layer's gate order (torch's LSTM i, f, g, o or CS231n's i, f, o, g; torch's
GRU r, z, n or Keras's z, r, n), the GRU's reset gate after or before the product, truncation
or none, an attention layer's fully masked rows (zero, NaN or uniform) and causal alignment
(top-left or bottom-right) — and the one the engine's numbers follow, within the tolerance, is said:
"follows epsilon_placement = before_correction; the case asked after_correction".
"""

import dataclasses

from backprop_crosscheck.comparisons.judge.compare import residual
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.layers.attention import ALIGNS, MASKED_ROWS
from backprop_crosscheck.reference.rules.optimizers import (
    EPSILON_PLACEMENTS,
    LEARNING_RATE_ON,
    WEIGHT_DECAY_MODES,
)

GELUS = {"gelu": "gelu_tanh", "gelu_tanh": "gelu"}  # the exact one and its tanh approximation
# a recurrent layer's setting -> its documented values (docs/recurrent.md)
CELL_CONVENTIONS = {
    "gates": {"lstm": ("ifgo", "ifog"), "gru": ("rzn", "zrn")},
    "reset": {"gru": ("after", "before")},
    # an attention layer's (docs/attention.md): a fully masked row's weights, causal alignment
    "masked_rows": {"attention": MASKED_ROWS},
    "align": {"attention": ALIGNS},
}


def cell_variants(case) -> list[tuple[str, str, object]]:
    """The same, for each recurrent layer's conventions: its gate order, its reset gate, and
    no truncation where the case truncates."""
    found = []
    for k, layer in enumerate(case.stack):
        changes = [
            (setting, value)
            for setting, by_kind in CELL_CONVENTIONS.items()
            for value in by_kind.get(layer.kind, ())
            if value != layer.settings.get(setting)
        ]
        if layer.settings.get("truncate"):
            changes.append(("truncate", 0))
        for setting, value in changes:
            moved = dataclasses.replace(layer, settings={**layer.settings, setting: value})
            stack = (*case.stack[:k], moved, *case.stack[k + 1 :])
            asked = layer.settings[setting]
            found.append(
                (
                    f"{setting} = {value} in {layer.kind} {layer.label}",
                    f"{setting} = {asked}",
                    case.replace(stack=stack),
                )
            )
    return found


def variants(case) -> list[tuple[str, str, object]]:
    """(what the variant says, what the case asked, the case under it) for each documented
    alternative to one of the case's conventions."""
    opt, found = case.optimizer, []

    def swap(setting: str, values) -> None:
        asked = getattr(opt, setting)
        for value in values:
            if value != asked:
                changed = dataclasses.replace(opt, **{setting: value})
                found.append(
                    (
                        f"{setting} = {_text(value)}",
                        f"{setting} = {_text(asked)}",
                        case.replace(optimizer=changed),
                    )
                )

    if opt.name == "adam":
        swap("epsilon_placement", EPSILON_PLACEMENTS)
    if opt.name == "momentum":
        swap("learning_rate_on", LEARNING_RATE_ON)
        swap("dampening", dict.fromkeys((0.0, opt.momentum)))
    if opt.weight_decay:
        swap("weight_decay_mode", WEIGHT_DECAY_MODES)
        swap("weight_decay", (0.0,))
    for k, act in enumerate(case.activations):
        if act in GELUS:
            acts = (*case.activations[:k], GELUS[act], *case.activations[k + 1 :])
            found.append(
                (f"{GELUS[act]} in layer {k + 1}", f"{act}", case.replace(activations=acts))
            )
    return found + cell_variants(case)


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def reconciling(case, result, tol) -> str:
    """ "follows X; the case asked Y" for the one variant the backend's numbers follow (several:
    each said); "" when none does."""
    found = []
    for follows, asked, variant in variants(case):
        try:
            candidate = train(variant)
        except Exception:  # noqa: BLE001 - a variant the reference cannot run: none to follow
            continue
        if residual(result, candidate, tol) <= 1:
            found.append(f"follows {follows}; the case asked {asked}")
    return " — or ".join(found)
