"""torch's automatic mixed precision (torch.amp) for a mixed-precision case: the forward under
``torch.autocast`` (its op lists decide what runs in bfloat16 or float16: matrix products and
convolutions in the low precision, losses and reductions it lists in float32), the scaled loss's
backward outside it, and GradScaler's own kernels — ``_amp_foreach_non_finite_check_and_unscale_``
and ``_amp_update_scale_``, what ``GradScaler.unscale_`` and ``GradScaler.update`` call
(torch/amp/grad_scaler.py) — so that torch's rule is what runs, not the harness's. Its
optimizer is the adapter's (torch.optim's functions), run only when the step did not overflow,
as ``GradScaler.step`` does."""

from backprop_crosscheck.backends.interface import Unsupported


class TorchAmp:
    """The hooks of backends/mixed_precision.py in torch's own terms."""

    def scaled_loss_and_grads(self, case, params, X, Y, scale):
        torch, device = self.torch, self.placed[1]
        leaves = [t.requires_grad_(True) for t in [*params.values(), X]]
        try:
            with torch.autocast(device, dtype=getattr(torch, case.mixed.compute)):
                loss = self.loss(case, params, X, Y)
        except RuntimeError as e:  # oneDNN's float16 LSTM on a CPU without it: n/a, its words
            if "primitive descriptor" not in str(e):
                raise
            words = str(e).splitlines()[0]
            raise Unsupported(f"{self.name}: autocast to {case.mixed.compute}: {words}") from None
        (loss.float() * scale).backward()  # outside autocast, as torch's AMP recipe has it
        grads = {**{n: p.grad.clone() for n, p in params.items()}, "X": X.grad.clone()}
        for t in leaves:
            t.grad = None
        return loss.detach().float(), grads

    def unscaled(self, grads, scale, checked):
        torch = self.torch
        found, inverse = torch.zeros(1, device=scale.device), scale.double().reciprocal().float()
        unscale = torch._amp_foreach_non_finite_check_and_unscale_
        unscale([grads[n] for n in checked], found, inverse)
        rest = [g for n, g in grads.items() if n not in checked]  # dE/dX: unscaled, not checked
        if rest:
            unscale(rest, torch.zeros(1, device=scale.device), inverse)
        return grads, bool(found.item())

    def loss_scale_state(self, mp):
        torch, device = self.torch, self.placed[1]
        scale = torch.full((1,), mp.loss_scale, dtype=torch.float32, device=device)
        return scale, torch.zeros(1, dtype=torch.int32, device=device)

    def next_loss_scale(self, mp, scale, good, overflow):
        if mp.dynamic:
            found = self.torch.full((1,), float(overflow), device=scale.device)
            self.torch._amp_update_scale_(
                scale, good, found, mp.growth_factor, mp.backoff_factor, mp.growth_interval
            )
        return scale, good
