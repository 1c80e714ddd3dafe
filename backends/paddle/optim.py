"""paddle.optimizer's own SGD, Momentum, Adam and AdamW as the ``(init, apply)`` pair
FrameworkBackend.optimizer returns — object-style: ``init`` builds the optimizer over the trained
parameters (it holds their state from then on), ``apply`` steps it; it reads the gradients from
each parameter's ``.grad``, where ``loss.backward()`` left them (PaddleBackend.loss_and_grads),
and updates the parameters in place. Its conventions (python/paddle/optimizer/): Momentum's
velocity starts at 0 and takes g undampened, v = μ·v + g, p −= a·v; a weight decay given as a
number is L2 (λ·p added to the gradient: regularizer.L2Decay) — but AdamW's, which is decoupled,
p −= a·λ·p; Adam adds ε after the bias correction."""

from backprop_crosscheck.backends.interface import Convention

PADDLE_CONVENTIONS = (
    Convention(
        "momentum",
        "dampening",
        (0.0,),
        "paddle.optimizer.Momentum has no dampening: "
        "v = μ·v + g (python/paddle/optimizer/momentum.py)",
    ),
    Convention(
        "momentum",
        "learning_rate_on",
        ("step",),
        "paddle.optimizer.Momentum multiplies the step by the rate, p −= a·v (momentum.py)",
    ),
    Convention(
        "momentum",
        "weight_decay_mode",
        ("l2",),
        "paddle.optimizer.Momentum's weight_decay is L2Decay, added to the gradient (momentum.py)",
    ),
    Convention(
        "adam",
        "epsilon_placement",
        ("after_correction",),
        "paddle.optimizer.Adam adds epsilon after the bias correction "
        "(python/paddle/optimizer/adam.py)",
    ),
)


def paddle_optimizer(paddle, case):
    opt = case.optimizer

    def init(params):
        trained, rate = list(params.values()), case.learning_rate
        if opt.name == "adam" and opt.weight_decay_mode == "decoupled":
            return paddle.optimizer.AdamW(
                rate, opt.beta1, opt.beta2, opt.epsilon, trained, weight_decay=opt.weight_decay
            )
        decay = opt.weight_decay or None  # a number: L2Decay
        if opt.name == "adam":
            return paddle.optimizer.Adam(
                rate, opt.beta1, opt.beta2, opt.epsilon, trained, weight_decay=decay
            )
        if opt.name == "momentum":
            return paddle.optimizer.Momentum(rate, opt.momentum, trained, weight_decay=decay)
        return paddle.optimizer.SGD(rate, trained, weight_decay=decay)

    def apply(params, grads, optimizer):
        optimizer.step()  # reads each parameter's .grad
        optimizer.clear_grad(set_to_zero=False)
        return params, optimizer

    return init, apply
