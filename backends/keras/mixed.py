"""Keras's mixed precision for a mixed-precision case (docs/precision.md#mixed-precision): each
step's network in the compute precision from float32 variables — what a ``mixed_bfloat16`` or
``mixed_float16`` dtype policy does at every layer (its variables cast to the compute dtype as
the layer reads them, its inputs too, the loss in float32), here by the base class's casts on
the keras.ops network — and Keras's own loss scaling: ``keras.optimizers.LossScaleOptimizer``
around its optimizer for dynamic scaling (it checks the scaled gradients, unscales them, skips
the step and halves the scale on a non-finite one, doubles it after ``dynamic_growth_steps``
good steps: keras/src/optimizers/loss_scale_optimizer.py), the optimizer's
``loss_scale_factor`` for a static scale. The decision is Keras's: the loop reads the scale
back after each step."""

KERAS_SCALING = (
    "Keras's LossScaleOptimizer doubles and halves its scale, nothing else "
    "(keras/src/optimizers/loss_scale_optimizer.py)"
)


class KerasMixed:
    """The hooks of backends/mixed_precision.py in Keras's terms."""

    def cast(self, tensor, precision: str):
        return self.keras.ops.cast(tensor, precision)

    def scaling_refused(self, case) -> str | None:
        """Why Keras's loss scaling cannot run this case's, or None."""
        mp = case.mixed
        if mp is not None and mp.dynamic and (mp.growth_factor, mp.backoff_factor) != (2, 0.5):
            factors = f"{mp.growth_factor:g} and {mp.backoff_factor:g}"
            return f"{self.name}: {KERAS_SCALING}; this case's are {factors}"
        return None

    def mixed_stepping(self, case, params):
        mp, keras = case.mixed, self.keras
        init, apply = self.optimizer(case, mp)  # its optimizer, with its loss scaling
        trained = [n for n in params if n not in case.frozen]
        state = init({n: params[n] for n in trained})

        def scale_now():
            if not mp.dynamic:
                return mp.loss_scale
            return float(keras.ops.convert_to_numpy(state[0].dynamic_scale.value))

        def one_step(params, _, X, Y):
            scale = scale_now()
            loss, grads = self.scaled_loss_and_grads(case, params, X, Y, scale)
            new, _ = apply({n: params[n] for n in trained}, {n: grads[n] for n in trained}, state)
            after = scale_now()  # Keras's decision: halved on a non-finite gradient
            unscaled = {n: g / scale for n, g in grads.items()}  # what the Result records
            return loss, unscaled, {**params, **new}, (after, 0, after < scale)

        return one_step, (mp.loss_scale, 0, False)
