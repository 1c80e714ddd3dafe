"""Case files: built-in cases load; every invalid file gives one line naming file and field."""

import numpy as np
import pytest
from backprop_crosscheck.reference import CaseError, builtin_case_names, load_case, train
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.families.draw import family_case, random_case

GOOD = """\
layers = [2, 2, 1]
learning_rate = 0.05
inputs = [[2.0, 3.0]]
targets = [[1.0]]
weights = [[[0.11, 0.12], [0.21, 0.08]], [[0.14], [0.15]]]
"""


def write(tmp_path, text, name="case.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CLASSES = """\
layers = [2, 3]
learning_rate = 0.1
activation = "identity"
loss = "softmax_cross_entropy"
inputs = [[2.0, 3.0]]
weights = [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]]
"""


def replace_line(field, line):
    lines = [x for x in GOOD.splitlines() if not x.startswith(f"{field} =")]
    return "\n".join(lines + ([line] if line else [])) + "\n"


BAD = [
    # (id, file text, the field the message must name, a phrase it must contain)
    ("toml-syntax", "layers = [2, 2, 1\nsteps = 1\n", "invalid TOML", "line 2"),
    ("missing-layers", replace_line("layers", ""), "layers", "missing"),
    ("missing-weights", replace_line("weights", ""), "weights", "missing"),
    ("missing-inputs", replace_line("inputs", ""), "inputs", "missing"),
    ("unknown-field", GOOD + "mommentum = 0.9\n", "mommentum", "not a known field"),
    (
        "unknown-optimizer",
        GOOD + 'optimizer = "adamw"\n',
        "optimizer",
        "not one of sgd, momentum, adam",
    ),
    ("setting-of-another-optimizer", GOOD + "momentum = 0.9\n", "momentum", "optimizer is 'sgd'"),
    ("beta1-one", GOOD + 'optimizer = "adam"\nbeta1 = 1.0\n', "beta1", "[0, 1)"),
    ("beta2-negative", GOOD + 'optimizer = "adam"\nbeta2 = -0.1\n', "beta2", "[0, 1)"),
    ("beta1-string", GOOD + 'optimizer = "adam"\nbeta1 = "0.9"\n', "beta1", "[0, 1)"),
    ("epsilon-zero", GOOD + 'optimizer = "adam"\nepsilon = 0\n', "epsilon", "> 0"),
    ("epsilon-negative", GOOD + 'optimizer = "adam"\nepsilon = -1e-8\n', "epsilon", "> 0"),
    ("epsilon-nan", GOOD + 'optimizer = "adam"\nepsilon = nan\n', "epsilon", "> 0"),
    (
        "epsilon-placement",
        GOOD + 'optimizer = "adam"\nepsilon_placement = "outside"\n',
        "epsilon_placement",
        "not one of after_correction",
    ),
    ("momentum-one", GOOD + 'optimizer = "momentum"\nmomentum = 1\n', "momentum", "[0, 1)"),
    (
        "dampening-over-one",
        GOOD + 'optimizer = "momentum"\ndampening = 1.5\n',
        "dampening",
        "[0, 1]",
    ),
    (
        "learning-rate-on",
        GOOD + 'optimizer = "momentum"\nlearning_rate_on = "both"\n',
        "learning_rate_on",
        "not one of step, velocity",
    ),
    ("layers-not-list", replace_line("layers", "layers = 3"), "layers", "list"),
    ("layers-zero", replace_line("layers", "layers = [2, 0, 1]"), "layers[1]", "≥ 1"),
    ("layers-float", replace_line("layers", "layers = [2, 2.5, 1]"), "layers[1]", "whole"),
    (
        "lr-string",
        replace_line("learning_rate", 'learning_rate = "fast"'),
        "learning_rate",
        "number",
    ),
    ("lr-zero", replace_line("learning_rate", "learning_rate = 0"), "learning_rate", "> 0"),
    ("lr-negative", replace_line("learning_rate", "learning_rate = -0.1"), "learning_rate", "> 0"),
    ("lr-nan", replace_line("learning_rate", "learning_rate = nan"), "learning_rate", "finite"),
    ("steps-zero", GOOD + "steps = 0\n", "steps", "≥ 1"),
    ("steps-float", GOOD + "steps = 1.5\n", "steps", "whole"),
    ("steps-bool", GOOD + "steps = true\n", "steps", "whole"),
    ("activation-unknown", GOOD + 'activation = "softmax"\n', "activation", "softmax"),
    ("activation-list-len", GOOD + 'activation = ["relu"]\n', "activation", "2"),
    ("activation-list-item", GOOD + 'activation = ["relu", "swish"]\n', "activation[1]", "swish"),
    ("loss-unknown", GOOD + 'loss = "cross_entropy"\n', "loss", "cross_entropy"),
    # softmax cross-entropy: 2-3 network, targets as class indices or one-hot rows
    ("class-index-out-of-range", CLASSES + "targets = [3]\n", "targets[0]", "class index 0 … 2"),
    ("class-index-negative", CLASSES + "targets = [-1]\n", "targets[0]", "got -1"),
    ("class-index-float", CLASSES + "targets = [1.5]\n", "targets[0]", "got 1.5"),
    ("one-hot-sums-to-2", CLASSES + "targets = [[1, 1, 0]]\n", "targets[0]", "sum to 2"),
    ("one-hot-not-0-1", CLASSES + "targets = [[0.5, 0.5, 0]]\n", "targets[0]", "one-hot"),
    (
        "cross-entropy-one-output",
        GOOD + 'loss = "softmax_cross_entropy"\n',
        "loss",
        "needs at least 2 outputs",
    ),
    (
        "cross-entropy-activation",
        CLASSES.replace('"identity"', '"sigmoid"') + "targets = [1]\n",
        "activation",
        "last layer must be identity",
    ),
    (
        "bce-target-out-of-range",
        replace_line("targets", "targets = [[2.0]]") + 'loss = "binary_cross_entropy"\n',
        "targets[0][0]",
        "[0, 1]",
    ),
    ("leaky-slope-text", GOOD + 'leaky_slope = "steep"\n', "leaky_slope", "must be a finite"),
    ("leaky-slope-nan", GOOD + "leaky_slope = nan\n", "leaky_slope", "must be a finite number"),
    ("leaky-slope-bool", GOOD + "leaky_slope = true\n", "leaky_slope", "got True"),
    (
        "weights-shape",
        replace_line("weights", "weights = [[[0.11, 0.12], [0.21, 0.08]], [[0.14, 1], [0.15, 1]]]"),
        "weights[1]",
        "has shape (2, 2) but layers say (2, 1)",
    ),
    (
        "weights-count",
        replace_line("weights", "weights = [[[0.11, 0.12], [0.21, 0.08]]]"),
        "weights",
        "2",
    ),
    (
        "weights-ragged",
        replace_line("weights", "weights = [[[0.11, 0.12], [0.21]], [[0.14], [0.15]]]"),
        "weights[0][1]",
        "1 values",
    ),
    (
        "weights-string",
        replace_line("weights", 'weights = [[[0.11, "x"], [0.21, 0.08]], [[0.14], [0.15]]]'),
        "weights[0][0][1]",
        "number",
    ),
    (
        "weights-inf",
        replace_line("weights", "weights = [[[0.11, inf], [0.21, 0.08]], [[0.14], [0.15]]]"),
        "weights[0][0][1]",
        "finite",
    ),
    ("inputs-columns", replace_line("inputs", "inputs = [[2.0, 3.0, 4.0]]"), "inputs", "layers[0]"),
    (
        "inputs-ragged",
        replace_line("inputs", "inputs = [[2.0, 3.0], [1.0]]"),
        "inputs[1]",
        "values",
    ),
    ("inputs-empty", replace_line("inputs", "inputs = []"), "inputs", "non-empty"),
    ("inputs-nan", replace_line("inputs", "inputs = [[nan, 3.0]]"), "inputs[0][0]", "finite"),
    ("targets-columns", replace_line("targets", "targets = [[1.0, 2.0]]"), "targets", "layers[-1]"),
    ("sample-count", replace_line("targets", "targets = [[1.0], [0.0]]"), "targets", "2 rows"),
    ("biases-count", GOOD + "biases = [[0.1, 0.1]]\n", "biases", "2"),
    ("biases-shape", GOOD + "biases = [[0.1], [0.2]]\n", "biases[0]", "layers[1]"),
    ("frozen-unknown", GOOD + 'frozen = ["W3"]\n', "frozen[0]", "W3"),
    ("frozen-no-biases", GOOD + 'frozen = ["biases"]\n', "frozen[0]", "biases"),
    ("frozen-not-list", GOOD + 'frozen = "W1"\n', "frozen", "list"),
    ("alias-garbage", GOOD + '[aliases]\nw1 = "first"\n', "aliases.w1", "scalar"),
    ("alias-no-tensor", GOOD + '[aliases]\nw1 = "W5[0,0]"\n', "aliases.w1", "W5"),
    ("alias-out-of-range", GOOD + '[aliases]\nw1 = "W1[2,0]"\n', "aliases.w1", "outside"),
    ("name-not-string", GOOD + "name = 3\n", "name", "string"),
]


@pytest.mark.parametrize(("text", "field", "phrase"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_case_file_names_file_and_field(tmp_path, text, field, phrase):
    path = write(tmp_path, text)
    with pytest.raises(CaseError) as info:
        load_case(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert field in message
    assert phrase in message


def test_missing_file(tmp_path):
    with pytest.raises(CaseError, match=r"nope\.toml: no such file"):
        load_case(tmp_path / "nope.toml")


def test_unknown_builtin_lists_the_builtins():
    with pytest.raises(CaseError, match=r"artcle: no built-in case .*article"):
        load_case("artcle")


def test_not_utf8(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00layers")
    with pytest.raises(CaseError, match="binary.toml: cannot read"):
        load_case(path)


def test_good_file_defaults(tmp_path):
    case = load_case(write(tmp_path, GOOD, "mine.toml"))
    assert case.name == "mine"
    assert case.activations == ("identity", "identity")
    assert case.loss == "half_sse" and case.steps == 1 and case.biases is None


def test_case_is_immutable():
    case = load_case("article")
    with pytest.raises(ValueError):
        case.weights[0][0, 0] = 1.0
    with pytest.raises(AttributeError):
        case.steps = 2


def test_frozen_groups_expand_to_tensor_names(tmp_path):
    text = GOOD + 'biases = [[0.1, 0.1], [0.2]]\nfrozen = ["biases", "W2"]\n'
    assert load_case(write(tmp_path, text)).frozen == {"b1", "b2", "W2"}


@pytest.mark.parametrize("name", builtin_case_names())
def test_builtin_case_loads(name):
    assert load_case(name).name == name


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_dump_case_round_trips(tmp_path, seed):
    case = random_case(seed)
    back = load_case(write(tmp_path, dump_case(case)))
    np.testing.assert_array_equal(train(back).final["W1"], train(case).final["W1"])
    assert (back.layers, back.activations, back.frozen) == (
        case.layers,
        case.activations,
        case.frozen,
    )


@pytest.mark.parametrize("name", ["conv_bn", "embedding", "residual", "dropout", "random-29.1"])
def test_a_layer_stack_round_trips_number_for_number(tmp_path, name):
    case = family_case(29, 1) if name.startswith("random") else load_case(name)
    back = load_case(write(tmp_path, dump_case(case)))
    assert back.architecture == case.architecture
    want, got = train(case), train(back)
    np.testing.assert_array_equal(got.loss, want.loss)
    for n in want.final:
        np.testing.assert_array_equal(got.final[n], want.final[n])
