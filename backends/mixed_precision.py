"""Mixed precision in a framework adapter (reference/rules/loss_scaling.py says what it is;
reference/mixed.py is the reference's own loop, which this one follows step by step):

    loss, S·dE/dθ = scaled_loss_and_grads(…, S)   the network in the compute precision, from the
                                                  float32 masters θ (the engine's own casting —
                                                  torch.autocast — or explicit casts)
    g, overflow = unscaled(S·dE/dθ, S)            ÷ S in float32; inf or NaN in a parameter's
    θ = update(θ, g)  unless dynamic and overflow the case's rule, in float32
    S = next_loss_scale(S, overflow)              the engine's own scaler (torch's
                                                  _amp_update_scale_, GradScaler's kernel), else
                                                  GradScaler's rule as the reference writes it

An engine without a loss scaler of its own (JAX has none: optax and jax leave it to the user)
runs the reference's rule: what is checked of it is its arithmetic — where it overflows and what
it computes — not the rule.
"""

import numpy as np
from backprop_crosscheck.reference.rules.loss_scaling import next_scale
from backprop_crosscheck.reference.training import train_loop


class MixedPrecisionLoop:
    """The loop and its defaults, written with the engine's ``xp``; FrameworkBackend's."""

    def mixed_run(self, case, params, X, Y):
        """The case's steps, recorded as every run is (with dynamic scaling, the scale too)."""
        one_step, state = self.mixed_stepping(case, params)

        def step(params, state):
            loss, grads, params, state = one_step(params, state, X, Y)
            if case.takes_indices:  # no dE/dX for token indices
                grads = {n: g for n, g in grads.items() if n != "X"}
            return loss, grads, params, state

        def final_loss(params):
            return self.scaled_loss_and_grads(case, params, X, Y, 1.0)[0]

        dynamic = case.mixed.dynamic
        scaling = (lambda state: (self.scale_value(state[0]), state[2])) if dynamic else None
        return train_loop(
            step, params, state, case.steps, final_loss, keep=self.numpy_copy, scaling=scaling
        )

    def mixed_stepping(self, case, params):
        """``(params, state) -> (loss, grads, params, state)`` and the first state, for
        train_loop; the state (the scale, the count of good steps, whether the step overflowed)."""
        mp, update = case.mixed, self.updating(case, params)

        def one_step(params, state, X, Y):
            scale, good, _ = state
            loss, grads = self.scaled_loss_and_grads(case, params, X, Y, scale)
            grads, overflow = self.unscaled(grads, scale, [n for n in grads if n != "X"])
            if not (mp.dynamic and overflow):
                params = update(params, grads)
            return loss, grads, params, (*self.next_loss_scale(mp, scale, good, overflow), overflow)

        return one_step, (*self.loss_scale_state(mp), False)

    mixing = None  # (compute precision, S) while a scaled loss is differentiated

    def scaled_loss_and_grads(self, case, params, X, Y, scale):
        """(the loss, S·dE/d every parameter and "X"): explicit casts — the engine's own
        ``loss_and_grads`` of ``loss`` with ``mixing`` set, under which every parameter and the
        inputs are cast to the compute precision as the loss begins, the network's output cast
        to float32 for the loss, and the loss scaled as it ends — what a Keras mixed policy does
        at each layer and a JAX or MLX loop writes by hand; torch overrides it (autocast)."""
        self.mixing = (case.mixed.compute, scale)
        try:
            loss, grads = self.loss_and_grads(case, params, X, Y)
        finally:
            self.mixing = None
        return loss / scale, grads

    def mixed_inputs(self, params: dict, X):
        """The parameters and inputs as the network sees them: cast while ``mixing``."""
        if self.mixing is None:
            return params, X
        compute = self.mixing[0]
        return {n: self.cast(p, compute) for n, p in params.items()}, self.cast(X, compute)

    def mixed_output(self, prediction):
        """The network's output as the loss takes it: float32 while ``mixing`` (Keras's losses
        cast it so; torch and JAX promote it against the float32 targets)."""
        return prediction if self.mixing is None else self.cast(prediction, "float32")

    def mixed_loss(self, value):
        """The loss as it is differentiated: scaled while ``mixing``."""
        return value if self.mixing is None else value * self.mixing[1]

    def cast(self, tensor, precision: str):
        return tensor.astype(getattr(self.xp, precision))

    def unscaled(self, grads: dict, scale, checked: list) -> tuple[dict, bool]:
        """(every gradient × 1/S, whether one of ``checked`` holds inf or NaN)."""
        grads = {n: g * (1 / scale) for n, g in grads.items()}
        xp = self.xp
        return grads, not all(bool(xp.all(xp.isfinite(grads[n]))) for n in checked)

    def loss_scale_state(self, mp):
        """(S, good steps) before the first step, as ``next_loss_scale`` takes them."""
        return mp.loss_scale, 0

    def next_loss_scale(self, mp, scale, good, overflow):
        return next_scale(mp, scale, good, overflow)

    def scale_value(self, scale) -> float:
        return float(np.asarray(self.to_numpy(scale)).reshape(-1)[0])
