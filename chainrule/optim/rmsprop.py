"""RMSprop (PyTorch's update)."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _state_tensor


class RMSprop(Optimizer):
    """RMSprop, PyTorch's formulas:

        v ← αv + (1−α)g²;  (centered: ḡ ← αḡ + (1−α)g, v' = v − ḡ²);  a = √v' + eps
        momentum μ > 0: b ← μb + g/a, p ← p − lr·b;   else p ← p − lr·g/a

    >>> opt = cr.optim.RMSprop(model.parameters(), lr=1e-2)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        for name, v in (("learning rate", lr), ("epsilon", eps), ("momentum", momentum),
                        ("weight_decay", weight_decay), ("alpha", alpha)):
            if v < 0.0:
                raise ValueError(f"RMSprop: invalid {name} {v}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, group, p, g, state, scratch):
        lr, alpha, eps, mu = group["lr"], group["alpha"], group["eps"], group["momentum"]
        d = self._direction(group, p, g, scratch)
        if not state:
            state["step"] = _state_tensor(np.zeros((), dtype=np.float32))
            state["square_avg"] = _state_tensor(np.zeros_like(p))
            if mu > 0:
                state["momentum_buffer"] = _state_tensor(np.zeros_like(p))
            if group["centered"]:
                state["grad_avg"] = _state_tensor(np.zeros_like(p))
        state["step"].data += 1
        v = state["square_avg"].data
        s = self._work(scratch, "s", p)
        np.multiply(d, d, out=s)
        s *= 1 - alpha
        v *= alpha
        v += s
        if group["centered"]:
            ga = state["grad_avg"].data
            np.multiply(d, 1 - alpha, out=s)
            ga *= alpha
            ga += s
            np.multiply(ga, ga, out=s)
            np.subtract(v, s, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(v, out=s)
        s += eps
        np.divide(d, s, out=s)      # s = g / a
        if mu > 0:
            b = state["momentum_buffer"].data
            b *= mu
            b += s
            np.multiply(b, lr, out=s)
        else:
            s *= lr
        p -= s
