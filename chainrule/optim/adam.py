"""Adam and AdamW (PyTorch's update, including amsgrad)."""
from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _state_tensor, impl_flags, step_zero


class Adam(Optimizer):
    """Adam, PyTorch's formulas (L2 weight decay added to the gradient):

        m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  (amsgrad: v̂ ← max(v̂, v))
        p ← p − lr/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + eps)

    >>> opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    """
    decoupled = False

    def __new__(cls, *args, decoupled_weight_decay: bool = False, **kwargs):
        # Adam(decoupled_weight_decay=True) is AdamW's update: a subclass whose `decoupled` says so
        # (cr.compile reads the class's flag)
        if decoupled_weight_decay and not cls.decoupled:
            cls = _DecoupledAdam
        return super().__new__(cls)

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, **flags):
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
                                      amsgrad=amsgrad, maximize=maximize,
                                      **impl_flags(name, flags, ("foreach", "capturable", "differentiable", "fused")),
                                      decoupled_weight_decay=self.decoupled))

    def _update(self, group, p, g, state):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        if not state:
            state["step"] = step_zero()
            state["exp_avg"] = _state_tensor(np.zeros_like(p))
            state["exp_avg_sq"] = _state_tensor(np.zeros_like(p))
            if amsgrad:
                state["max_exp_avg_sq"] = _state_tensor(np.zeros_like(p))
        state["step"].data += 1
        t = float(state["step"].data)
        step_size = lr / (1 - b1 ** t)
        root_c2 = math.sqrt(1 - b2 ** t)
        # AdamW decays the weights directly and runs Adam on the raw gradient
        decay = 1 - lr * wd if self.decoupled and wd else None
        arrays = [state["exp_avg"].data, state["exp_avg_sq"].data]
        if amsgrad:
            arrays.append(state["max_exp_avg_sq"].data)
        for pc, d, m, v, *vmax, s in self._chunks(p, g, *arrays, maximize=group["maximize"],
                                                  weight_decay=0.0 if self.decoupled else wd):
            if decay is not None:
                pc *= decay
            np.multiply(d, 1 - b1, out=s)
            m *= b1
            m += s
            np.multiply(d, d, out=s)
            s *= 1 - b2
            v *= b2
            v += s
            if vmax:
                np.maximum(vmax[0], v, out=vmax[0])
                v = vmax[0]
            np.sqrt(v, out=s)
            s /= root_c2
            s += eps
            np.divide(m, s, out=s)
            s *= step_size
            pc -= s


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p·(1 − lr·wd) before the Adam step (default wd 0.01).

    >>> opt = cr.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 **flags):
        flags.pop("decoupled_weight_decay", None)   # always decoupled
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, **flags)


class _DecoupledAdam(Adam):
    """Adam(decoupled_weight_decay=True): AdamW's update under Adam's name (and defaults)."""
    decoupled = True


_DecoupledAdam.__name__ = _DecoupledAdam.__qualname__ = "Adam"
