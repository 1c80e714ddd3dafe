"""Published worked examples, reproduced to their printed precision where they are right and
caught where they are not (examples/published/)."""

import math

import numpy as np
import pytest
from backprop_crosscheck.reference import forward
from support.paths import ROOT

from backprop_crosscheck import load_case, train

PUBLISHED = ROOT / "examples" / "published"


def test_postnetwork_softmax_example_to_its_printed_precision_and_its_one_slip():
    """PostNetwork Academy's softmax cross-entropy example (the file cites it): its printed
    z(1) = −0.3, z(2) = 0, a(1) ≈ 0.426, a(2) = 0.5, z(3) ≈ 0.428 hold; its z(4) ≈ 0.185 does
    not — its own weights give −0.1·σ(−0.3) + 0.2·0.5 + 0.1 = 0.157, worked out here."""
    case = load_case(str(PUBLISHED / "postnetwork-softmax.toml"))
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    (z1, z2), (a1, a2), (z3, z4) = fwd.z[0][0], fwd.a[1][0], fwd.z[1][0]
    assert (round(z1, 3), round(z2, 3), round(a1, 3), a2, round(z3, 3)) == (
        -0.3,
        0,
        0.426,
        0.5,
        0.428,
    )
    sigma = 1 / (1 + math.exp(0.3))
    assert z4 == pytest.approx(-0.1 * sigma + 0.2 * 0.5 + 0.1, abs=1e-15)
    assert round(z4, 3) == 0.157 != 0.185  # the page's slip
    y1 = 1 / (1 + math.exp(z4 - z3))  # softmax of two: ŷ1 = σ(z3 − z4)
    assert round(y1, 3) == 0.567 and round(-math.log(y1), 3) == 0.567
    assert train(case).loss[0] == pytest.approx(-math.log(y1), rel=1e-14)
    # its printed ŷ1 ≈ 0.561 and L ≈ 0.579 are what its z(4) = 0.185 gives (ŷ1 = 0.5605):
    slipped = 1 / (1 + math.exp(0.185 - 0.428))
    assert abs(slipped - 0.561) < 0.001 and round(-math.log(slipped), 3) == 0.579
    # and the chain-rule simplification it then uses: dL/dz = ŷ − y, dL/dw7 = (ŷ1 − 1)·a(1)
    grads = train(case).gradients
    assert grads["W2"][0, 0] == pytest.approx((y1 - 1) * sigma, rel=1e-14)
    assert np.allclose(grads["b2"], [y1 - 1, 1 - y1], rtol=1e-14)


def test_lexai_conv2d_backward_example_to_its_printed_numbers():
    """Lexai Labs' Conv2D backward, example 1 (the file cites it): one upstream gradient at
    output (0, 0) gives dW = its top-left patch [[0, 1], [4, 5]] and dx = the kernel [[1, 2],
    [3, 4]] on that patch, 0 elsewhere — printed as whole numbers, reproduced exactly."""
    case = load_case(str(PUBLISHED / "lexai-conv2d-backward.toml"))
    grads = train(case).gradients
    np.testing.assert_array_equal(grads["kernel1"][0, 0], [[0, 1], [4, 5]])
    dx = np.zeros((4, 4))
    dx[:2, :2] = [[1, 2], [3, 4]]
    np.testing.assert_array_equal(grads["X"][0, 0], dx)


def test_pixelbank_batch_norm_example_to_its_printed_precision():
    """PixelBank's batch normalization (the file cites it): std 1.63 (biased), output
    [[−1.22, −1.22], [0, 0], [1.22, 1.22]] to the two decimals it prints."""
    case = load_case(str(PUBLISHED / "pixelbank-batch-norm.toml"))
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    np.testing.assert_array_equal(np.round(fwd.a[1], 2), [[-1.22, -1.22], [0, 0], [1.22, 1.22]])
    assert round(float(np.sqrt(case.inputs[:, 0].var())), 2) == 1.63


def test_prachub_bptt_walkthrough_to_its_printed_precision_and_its_one_slip():
    """PracHub's BPTT walkthrough (the file cites it): its forward holds up to h2; its
    h2 = tanh(1.04621) ≈ 0.7790 does not (0.78033), and its backward at t = 2 is what that h2
    gives through the right formulas — worked out here from its own numbers, beside the
    reference's last step back (explain's walk through time)."""
    from backprop_crosscheck.comparisons.explain.walkthrough import explain

    case = load_case(str(PUBLISHED / "prachub-bptt.toml"))
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    h1, h2 = fwd.outputs[1][0, :, 0]
    assert (round(h1, 4), round(2 * h1, 4), round(0.5 * 2 + 0.1 * h1, 5)) == (
        0.4621,
        0.9242,
        1.04621,
    )
    assert round(h2, 4) == 0.7803 != 0.7790  # the page's slip: tanh(1.04621) = 0.78033
    # the page's backward from its h2 = 0.7790, each line from its printed previous one
    page_h2 = 0.7790
    dy2 = 2 * page_h2 - 2  # y2 − target, y2 = W_y·h2
    dh2 = 2 * dy2  # dy2/dh2 = W_y
    assert abs(page_h2**2 - 0.6069) < 1e-4  # its (0.7790)² = 0.6069, so tanh′ = 1 − 0.6069
    da2 = round(dh2, 3) * (1 - 0.6069)
    assert (round(dy2, 3), round(dh2, 3), round(1 - 0.6069, 4)) == (-0.442, -0.884, 0.3931)
    assert (round(da2, 4), round(da2 * 2, 3), round(da2 * 0.4621, 4)) == (-0.3475, -0.695, -0.1606)
    # the reference's, from the stated weights: explain's last step back says them
    text = explain(case)
    assert "dE/dh_2 = its loss's gradient = [-0.878683]" in text
    assert "dE/da_2 = dE/dh_2 ⊙ (1 − h²) = [-0.343641]" in text
    assert round(-0.343641 * 2, 4) == -0.6873 and round(-0.343641 * h1, 4) == -0.1588
    assert round(train(case).loss[0], 4) == 0.0994 != 0.1007
