"""A learner's own backward pass for the built-in case `conv` (docs/layers.md): two 1×6×6
images → conv 3×3, 2 channels → relu → max-pool 2×2 → flatten → dense → softmax cross-entropy.
Written from the derivation with plain loops, as CS231n's assignment asks:

    crosscheck check examples/learner/conv_backprop.py conv
"""

import numpy as np


def backprop(case, params, X, Y):
    K, c, W, b = params["kernel1"], params["bias1"], params["W5"], params["b5"]
    n, f, kh = X.shape[0], K.shape[0], K.shape[2]
    side = X.shape[2] - kh + 1  # 4: the conv's output is 4×4 (stride 1, no padding)

    # forward
    z = np.zeros((n, f, side, side))
    for i in range(side):
        for j in range(side):
            window = X[:, :, i : i + kh, j : j + kh]  # n × 1 × 3 × 3
            z[:, :, i, j] = np.einsum("ncij,fcij->nf", window, K) + c
    a = np.maximum(z, 0)
    pooled = a.reshape(n, f, side // 2, 2, side // 2, 2).max(axis=(3, 5))
    h = pooled.reshape(n, -1)
    logits = h @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)

    # backward
    d_logits = (p - Y) / n  # softmax cross-entropy, averaged over the samples
    dW, db = h.T @ d_logits, d_logits.sum(axis=0)
    d_pooled = (d_logits @ W.T).reshape(pooled.shape)
    d_a = np.zeros_like(a)
    for i in range(side // 2):  # each window's gradient to its (first) maximum
        for j in range(side // 2):
            window = a[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(n, f, 4)
            first = window.argmax(axis=2)
            for s in range(n):
                for g in range(f):
                    r, q = divmod(first[s, g], 2)
                    d_a[s, g, 2 * i + r, 2 * j + q] = d_pooled[s, g, i, j]
    d_z = d_a * (z > 0)
    dK = np.zeros_like(K)
    for i in range(side):
        for j in range(side):
            window = X[:, :, i : i + kh, j : j + kh]
            dK += np.einsum("nf,ncij->fcij", d_z[:, :, i, j], window)
    return {"kernel1": dK, "bias1": d_z.sum(axis=(0, 2, 3)), "W5": dW, "b5": db}
