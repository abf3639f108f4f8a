"""Adamax, NAdam, RAdam and Adadelta (PyTorch's update formulas, state names and defaults)."""
from __future__ import annotations

import math

import numpy as np

from ..tensor import get_default_dtype
from .optimizer import Optimizer, _state_tensor, impl_flags, step_zero


_FLAGS = ("foreach", "capturable", "differentiable")   # PyTorch's switches for these optimizers


def _check(name, lr, eps, weight_decay, betas=None):
    if lr < 0.0:
        raise ValueError(f"{name}: invalid learning rate {lr}")
    if eps < 0.0:
        raise ValueError(f"{name}: invalid epsilon {eps}")
    if weight_decay < 0.0:
        raise ValueError(f"{name}: invalid weight_decay {weight_decay}")
    if betas is not None and not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
        raise ValueError(f"{name}: invalid betas {betas} (each must be in [0, 1))")


def _direction(p, g, group, decoupled=False):
    """The gradient as the update sees it: negated when maximize, plus L2 weight decay (or, when
    decoupled, the weights decayed in place first)."""
    d = -g if group["maximize"] else g
    wd = group["weight_decay"]
    if wd:
        if decoupled:
            p *= 1 - group["lr"] * wd
        else:
            d = d + wd * p
    return d


def _zeros(state, p, *names):
    if not state:
        state["step"] = step_zero()
        for n in names:
            state[n] = _state_tensor(np.zeros_like(p))
    state["step"].data += 1
    return float(state["step"].data)


class Adamax(Optimizer):
    """Adam with the infinity norm: u ← max(β₂u, |g| + eps);  p ← p − lr/(1−β₁ᵗ) · m / u.

    >>> opt = cr.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False, **flags):
        _check("Adamax", lr, eps, weight_decay, betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize,
                                      **impl_flags("Adamax", flags, _FLAGS)))

    def _update(self, group, p, g, state):
        (b1, b2), lr = group["betas"], group["lr"]
        t = _zeros(state, p, "exp_avg", "exp_inf")
        d = _direction(p, g, group)
        m, u = state["exp_avg"].data, state["exp_inf"].data
        m += (1 - b1) * (d - m)
        u *= b2
        np.maximum(u, np.abs(d) + group["eps"], out=u)
        p -= (lr / (1 - b1 ** t)) * m / u


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2016) and PyTorch's momentum schedule
    μₜ = β₁(1 − ½·0.96^(t·momentum_decay)).

    >>> opt = cr.optim.NAdam(model.parameters(), lr=2e-3)
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False, **flags):
        _check("NAdam", lr, eps, weight_decay, betas)
        if momentum_decay < 0.0:
            raise ValueError(f"NAdam: invalid momentum_decay {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize,
                                      **impl_flags("NAdam", flags, _FLAGS)))

    def _update(self, group, p, g, state):
        (b1, b2), lr, md = group["betas"], group["lr"], group["momentum_decay"]
        if not state:
            # the default float dtype, as PyTorch's scalar state (float32 loses digits over steps)
            state["mu_product"] = _state_tensor(np.ones((), dtype=get_default_dtype()))
        t = _zeros(state, p, "exp_avg", "exp_avg_sq") if "step" in state else None
        if t is None:   # first step: step, exp_avg, exp_avg_sq next to mu_product
            mu_product = state.pop("mu_product")
            t = _zeros(state, p, "exp_avg", "exp_avg_sq")
            state["mu_product"] = mu_product
        d = _direction(p, g, group, group["decoupled_weight_decay"])
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * md))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * md))
        state["mu_product"].data *= mu
        prod = float(state["mu_product"].data)
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        m += (1 - b1) * (d - m)
        v *= b2
        v += (1 - b2) * d * d
        denom = np.sqrt(v / (1 - b2 ** t)) + group["eps"]
        p -= (lr * (1.0 - mu) / (1.0 - prod)) * d / denom
        p -= (lr * mu_next / (1.0 - prod * mu_next)) * m / denom


class RAdam(Optimizer):
    """Rectified Adam (Liu et al. 2019): plain momentum SGD while the variance estimate is
    unreliable (ρₜ ≤ 5), then Adam scaled by the rectification term.

    >>> opt = cr.optim.RAdam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False, **flags):
        _check("RAdam", lr, eps, weight_decay, betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize,
                                      **impl_flags("RAdam", flags, _FLAGS)))

    def _update(self, group, p, g, state):
        (b1, b2), lr = group["betas"], group["lr"]
        t = _zeros(state, p, "exp_avg", "exp_avg_sq")
        d = _direction(p, g, group, group["decoupled_weight_decay"])
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        m += (1 - b1) * (d - m)
        v *= b2
        v += (1 - b2) * d * d
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2 ** t) / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p -= (m / bc1) * lr * (math.sqrt(bc2) / (np.sqrt(v) + group["eps"])) * rect
        else:
            p -= (m / bc1) * lr


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): Δ = √(u + eps)/√(v + eps) · g with running averages v of g² and
    u of Δ²;  p ← p − lr·Δ.

    >>> opt = cr.optim.Adadelta(model.parameters())
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False, **flags):
        _check("Adadelta", lr, eps, weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {rho} (must be in [0, 1])")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **impl_flags("Adadelta", flags, _FLAGS)))

    def _update(self, group, p, g, state):
        rho, eps = group["rho"], group["eps"]
        _zeros(state, p, "square_avg", "acc_delta")
        d = _direction(p, g, group)
        v, u = state["square_avg"].data, state["acc_delta"].data
        v *= rho
        v += (1 - rho) * d * d
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * d
        u *= rho
        u += (1 - rho) * delta * delta
        p -= group["lr"] * delta
