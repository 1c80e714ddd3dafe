"""Deliberately wrong backpropagation through time, in another engine: torch running each cell
step by step in its own ops, one classic BPTT mistake made by ``detach()`` — an independent
implementation of each (the reference's own versions are in reference/mistakes.py), so that a
test can hold the diagnosis to naming it. The forward pass is always right; only the gradient
is broken, the way people break it."""

import torch
from backprop_crosscheck.backends.torch.backend import TorchBackend
from backprop_crosscheck.backends.torch.layers import torch_layers

RECURRENT_BUGS = [
    "bptt_no_carry",
    "wh_last_step_only",
    "tanh_prime_of_preactivation",
    "gates_wrong_order",
    "lstm_no_forget_gate",
    "gru_reset_wrong_side",
]

# mistakes no list names, for the generated changes (comparisons/judge/perturb_time.py) to find
UNLISTED_BUGS = ["wh_gradient_with_h_t", "loss_last_step_only", "cell_state_not_carried"]


def _forward_as(value, surrogate):
    """``value`` forward, ``surrogate``'s gradient backward."""
    return (value - surrogate).detach() + surrogate


def _block(a, order, gate):
    H = a.shape[-1] // len(order)
    k = order.index(gate)
    return a[..., k * H : (k + 1) * H]


def _detached(params):
    return {n: q.detach() for n, q in params.items()}


class RecurrentMutant(TorchBackend):
    share_worker = False
    h_t = None  # wh_gradient_with_h_t: the step's output, computed ahead

    def __init__(self, bug: str):
        self.bug, self.name = bug, f"torch-{bug}"

    def setup(self, dtype, device):
        super().setup(dtype, device)
        self.layer_ops = {**torch_layers(torch), "rnn": self.cells, "lstm": self.cells}
        self.layer_ops["gru"] = self.cells

    def cells(self, x, p, layer):
        s, T = layer.settings, x.shape[1]
        step = {"rnn": self.rnn_step, "lstm": self.lstm_step, "gru": self.gru_step}[layer.kind]
        zeros = x.new_zeros(x.shape[0], p["Wh"].shape[0])
        state = [p[n] + zeros if n in p else zeros for n in ("h0", "c0")]
        hs = []
        for t in range(T):
            if s["truncate"] and t and t % s["truncate"] == 0:
                state = [h.detach() for h in state]
            if self.bug == "bptt_no_carry":
                state[0] = state[0].detach() + 0 * state[0]  # dE/dh_{t−1} never reaches it
            Wh = p["Wh"] if self.bug != "wh_last_step_only" or t == T - 1 else p["Wh"].detach()
            x_t = x[:, t]
            if self.bug == "input_gradient_one_step_late" and t < T - 1:
                x_t = _forward_as(x_t, x[:, t + 1])  # dE/dx_t sent to x_{t+1}
            if self.bug == "wh_gradient_with_h_t":  # the step's own output, for Wh's gradient
                self.h_t = None
                ahead = step(x_t, [v.detach() for v in state], _detached(p), s)
                self.h_t = ahead[0].detach()
            state = step(x_t, state, {**p, "Wh": Wh}, s)
            last = t == T - 1 or self.bug != "loss_last_step_only"
            hs.append(state[0] if last else state[0].detach())  # the loss at t cut off h_t
        return torch.stack(hs, 1) if s["outputs"] == "every" else hs[-1]

    def _tanh(self, a):
        if self.bug == "tanh_prime_of_preactivation":  # derivative 1 − a²: a − a³/3's
            return _forward_as(torch.tanh(a), a - a**3 / 3)
        return torch.tanh(a)

    def _pre(self, x, h, p):
        a = x @ p["Wx"] + h @ p["Wh"]
        if self.bug == "wh_gradient_with_h_t" and self.h_t is not None:  # dWh = h_tᵀ·da_t
            a = x @ p["Wx"] + h @ p["Wh"].detach() + _forward_as(0 * a, self.h_t @ p["Wh"])
        return a + p.get("b", 0) + p.get("bh", 0)

    def rnn_step(self, x, state, p, s):
        a = self._pre(x, state[0], p)
        return [self._tanh(a) if s["activation"] == "tanh" else torch.relu(a), state[1]]

    def lstm_step(self, x, state, p, s):
        (_, c), a, order = state, self._pre(x, state[0], p), s["gates"]
        if self.bug == "gates_wrong_order":  # each gate's gradient lands in another's block
            swapped = order[:2] + order[3] + order[2]
            gate = {g: _forward_as(_block(a, order, g), _block(a, swapped, g)) for g in order}
        else:
            gate = {g: _block(a, order, g) for g in order}
        i, f, o = (torch.sigmoid(gate[g]) for g in "ifo")
        g = torch.tanh(gate["g"])
        if self.bug == "cell_state_not_carried":  # dE/dc_{t−1} = 0: only through h_{t−1}
            c = f * (c.detach() + 0 * c) + i * g
        elif self.bug == "lstm_no_forget_gate":  # dc_t/dc_{t−1} = 1, not f
            c = f * c.detach() + (c - c.detach()) + i * g
        else:
            c = f * c + i * g
        return [o * self._tanh(c), c]

    def gru_step(self, x, state, p, s):
        (h, _), order = state, s["gates"]
        swapped = order[1] + order[0] + order[2]
        bh = p.get("bh", torch.zeros_like(p["Wh"][0]))
        ax, ah = x @ p["Wx"] + p.get("b", 0), h @ p["Wh"] + bh

        def pre(k):  # r's or z's pre-activation: its gradient to the other's block if swapped
            value = _block(ax, order, k) + _block(ah, order, k)
            if self.bug != "gates_wrong_order":
                return value
            return _forward_as(value, _block(ax, swapped, k) + _block(ah, swapped, k))

        r, z = torch.sigmoid(pre("r")), torch.sigmoid(pre("z"))
        Wh_n, bh_n = _block(p["Wh"], order, "n"), _block(bh, order, "n")
        after = _block(ax, order, "n") + r * (h @ Wh_n + bh_n)
        before = _block(ax, order, "n") + (r * h) @ Wh_n + bh_n
        n = torch.tanh(after if s["reset"] == "after" else before)
        if self.bug == "gru_reset_wrong_side":  # the other side's formula, at n's value
            other = before if s["reset"] == "after" else after
            n = n.detach() + (1 - n.detach() ** 2) * (other - other.detach())
        return [(1 - z) * n + z * h, state[1]]
