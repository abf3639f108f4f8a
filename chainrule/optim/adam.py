"""Adam and AdamW (PyTorch's update, including amsgrad)."""
from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _state_tensor


class Adam(Optimizer):
    """Adam, PyTorch's formulas (L2 weight decay added to the gradient):

        m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  (amsgrad: v̂ ← max(v̂, v))
        p ← p − lr/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + eps)

    >>> opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    """
    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate {lr}")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid epsilon {eps}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{name}: invalid betas {betas} (each must be in [0, 1))")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _update(self, group, p, g, state, scratch):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        if self.decoupled:
            # AdamW: decay the weights directly, then run Adam on the raw gradient
            if group["weight_decay"]:
                p *= 1 - lr * group["weight_decay"]
            d = self._direction({"maximize": group["maximize"]}, p, g, scratch)
        else:
            d = self._direction(group, p, g, scratch)
        if not state:
            state["step"] = _state_tensor(np.zeros((), dtype=np.float32))
            state["exp_avg"] = _state_tensor(np.zeros_like(p))
            state["exp_avg_sq"] = _state_tensor(np.zeros_like(p))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = _state_tensor(np.zeros_like(p))
        state["step"].data += 1
        t = float(state["step"].data)
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        s = self._work(scratch, "s", p)
        np.multiply(d, 1 - b1, out=s)
        m *= b1
        m += s
        np.multiply(d, d, out=s)
        s *= 1 - b2
        v *= b2
        v += s
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"].data
            np.maximum(vmax, v, out=vmax)
            v = vmax
        step_size = lr / (1 - b1 ** t)
        np.sqrt(v, out=s)
        s /= math.sqrt(1 - b2 ** t)
        s += eps
        np.divide(m, s, out=s)
        s *= step_size
        p -= s


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p·(1 − lr·wd) before the Adam step (default wd 0.01).

    >>> opt = cr.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
