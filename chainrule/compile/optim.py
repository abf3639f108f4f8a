"""Optimizer updates as traced Tensor equations: the same formulas, in the same order, as the
chunked NumPy updates in chainrule/optim (so compiled and eager parameters agree to rounding).

Eager updates work on arrays in place (invisible to a tracer); while `cr.compile` traces a step,
`Optimizer.step` calls `traced_step`, which writes each update with Tensor ops and hands the new
values to the tracer as writes of the parameter and state arrays.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from .. import functions as F
from .trace import GraphBreak, user_line


def _set(tracer, t, value):
    tracer.assign(t, value)
    autograd.bump_version(t)


def _direction(p, g, wd, maximize):
    """g, plus wd·p, negated when maximize: the `d` of Optimizer._chunks."""
    if wd:
        d = p * wd
        return d - g if maximize else d + g
    return -g if maximize else g


def _scalar(tracer, x, dtype):
    """A float64 0-d program value used as a Python float would be (cast to the array's dtype)."""
    return x if np.dtype(dtype) == np.float64 else tracer.cast(x, dtype)


def _sgd(tracer, opt, group, p, g, state):
    lr, mu, damp = tracer.hyper_input(opt, group, "lr"), group["momentum"], group["dampening"]
    wd, maximize = group["weight_decay"], group["maximize"]
    lr_p = _scalar(tracer, lr, p.dtype)   # eager: the Python float meets p's dtype
    if not (mu or wd or maximize):
        _set(tracer, p, p - lr_p * g)
        return
    d = _direction(p, g, wd, maximize)
    if not mu:
        _set(tracer, p, p - d * lr_p)
        return
    if "momentum_buffer" not in state:   # b₁ = d
        buf = tracer.new_state(opt, p, "momentum_buffer", np.zeros_like(p.data))
        _set(tracer, buf, d)
    else:
        buf = tracer.state_tensor(opt, p, "momentum_buffer")
        b = buf * mu
        _set(tracer, buf, b + d * (1 - damp) if damp else b + d)
    if group["nesterov"]:
        q = p - d * lr_p
        _set(tracer, p, q - buf * _scalar(tracer, lr * mu, p.dtype))
    else:
        _set(tracer, p, p - buf * lr_p)


def _adam(tracer, opt, group, p, g, state):
    lr, (b1, b2), eps = tracer.hyper_input(opt, group, "lr"), group["betas"], group["eps"]
    wd, amsgrad = group["weight_decay"], group["amsgrad"]
    keys = ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    if not state:
        for k in keys:
            z = np.zeros((), np.float32) if k == "step" else np.zeros_like(p.data)
            tracer.new_state(opt, p, k, z)
    step, m, v = (tracer.state_tensor(opt, p, k) for k in keys[:3])
    _set(tracer, step, step + 1)
    t = tracer.cast(step, np.float64)      # eager: t = float(step)
    step_size = _scalar(tracer, lr / (1 - b1 ** t), p.dtype)
    root_c2 = _scalar(tracer, F.sqrt(1 - b2 ** t), p.dtype)
    decoupled = type(opt).decoupled
    d = _direction(p, g, 0.0 if decoupled else wd, group["maximize"])
    if decoupled and wd:
        _set(tracer, p, p * _scalar(tracer, 1 - lr * wd, p.dtype))
    _set(tracer, m, m * b1 + d * (1 - b1))
    _set(tracer, v, v * b2 + (d * d) * (1 - b2))
    vv = v
    if amsgrad:
        vmax = tracer.state_tensor(opt, p, "max_exp_avg_sq")
        _set(tracer, vmax, F.maximum(vmax, v))
        vv = vmax
    s = (F.sqrt(vv) / root_c2 + eps)
    _set(tracer, p, p - (m / s) * step_size)


def _rmsprop(tracer, opt, group, p, g, state):
    lr, alpha, eps, mu = (tracer.hyper_input(opt, group, "lr"), group["alpha"], group["eps"],
                          group["momentum"])
    centered = group["centered"]
    keys = ["step", "square_avg"] + (["momentum_buffer"] if mu > 0 else []) + \
        (["grad_avg"] if centered else [])
    if not state:
        for k in keys:
            tracer.new_state(opt, p, k, np.zeros((), np.float32) if k == "step"
                             else np.zeros_like(p.data))
    step = tracer.state_tensor(opt, p, "step")
    _set(tracer, step, step + 1)
    d = _direction(p, g, group["weight_decay"], group["maximize"])
    v = tracer.state_tensor(opt, p, "square_avg")
    _set(tracer, v, v * alpha + (d * d) * (1 - alpha))
    if centered:
        ga = tracer.state_tensor(opt, p, "grad_avg")
        _set(tracer, ga, ga * alpha + d * (1 - alpha))
        a = F.sqrt(v - ga * ga)
    else:
        a = F.sqrt(v)
    s = d / (a + eps)
    lr_p = _scalar(tracer, lr, p.dtype)
    if mu > 0:
        b = tracer.state_tensor(opt, p, "momentum_buffer")
        _set(tracer, b, b * mu + s)
        _set(tracer, p, p - b * lr_p)
    else:
        _set(tracer, p, p - s * lr_p)


def _adagrad(tracer, opt, group, p, g, state):
    lr, eps = tracer.hyper_input(opt, group, "lr"), group["eps"]
    if not state:
        tracer.new_state(opt, p, "step", np.zeros((), np.float32))
        tracer.new_state(opt, p, "sum", np.full_like(p.data, group["initial_accumulator_value"]))
    step, acc = tracer.state_tensor(opt, p, "step"), tracer.state_tensor(opt, p, "sum")
    _set(tracer, step, step + 1)
    t = tracer.cast(step, np.float64)      # eager: t = float(step)
    clr = _scalar(tracer, lr / (1 + (t - 1) * group["lr_decay"]), p.dtype)
    d = _direction(p, g, group["weight_decay"], group["maximize"])
    _set(tracer, acc, acc + d * d)
    _set(tracer, p, p - (d / (F.sqrt(acc) + eps)) * clr)


def _rule(opt):
    from ..optim.adagrad import Adagrad
    from ..optim.adam import Adam
    from ..optim.rmsprop import RMSprop
    from ..optim.sgd import SGD

    def own(cls):   # a subclass with its own _update is not this formula
        return isinstance(opt, cls) and type(opt)._update is cls._update
    if isinstance(opt, Adam):
        return _adam
    if own(SGD):
        return _sgd
    if own(RMSprop):
        return _rmsprop
    if own(Adagrad):
        return _adagrad
    return None


def traced_step(tracer, opt):
    """`opt.step()` while tracing a step."""
    rule = _rule(opt)
    if rule is None:
        # no traced formula (Adamax, NAdam, a user's Optimizer...): its own step() runs eagerly
        # after the compiled code, on the .grad arrays that code wrote (now, and at every call)
        tracer.epilogue.append(opt)
        tracer.stepped = user_line()
        prev = autograd.set_tracer(None)
        try:
            opt.step()
        finally:
            autograd.set_tracer(prev)
        return
    if tracer.stepped is not None:
        tracer.after_step()
        return opt.step()   # fallback: eager from here on
    tracer.guards.append(("state", opt, state_keys(opt)))
    tracer.guards.append(("hyper", opt, hyper(opt)))
    with autograd.no_grad():
        for group in opt.param_groups:
            for p in group["params"]:
                tracer._grad_now(p)
                grad = p.grad
                if grad is None:
                    continue
                if grad.shape != p.shape:
                    raise ValueError(f"{type(opt).__name__}.step: gradient shape {grad.shape} "
                                     f"does not match parameter shape {p.shape}")
                rule(tracer, opt, group, p, grad, opt.state[p])


def state_keys(opt) -> tuple:
    """Which state each parameter has (the traced update differs on the first step)."""
    return tuple(tuple(sorted(opt.state[p])) if p in opt.state else ()
                 for g in opt.param_groups for p in g["params"])


def hyper(opt) -> tuple:
    """The hyper-parameters, baked into the compiled update (a change retraces), except the
    learning rate: a program input read at every call (schedulers change it every step)."""
    return tuple(tuple((k, v) for k, v in sorted(g.items()) if k != "params")
                 for g in opt.param_groups)
