"""RMSprop (PyTorch's update)."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _state_tensor, impl_flags, step_zero


class RMSprop(Optimizer):
    """RMSprop, PyTorch's formulas:

        v ← αv + (1−α)g²;  (centered: ḡ ← αḡ + (1−α)g, v' = v − ḡ²);  a = √v' + eps
        momentum μ > 0: b ← μb + g/a, p ← p − lr·b;   else p ← p − lr·g/a

    >>> opt = cr.optim.RMSprop(model.parameters(), lr=1e-2)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False, **flags):
        for name, v in (("learning rate", lr), ("epsilon", eps), ("momentum", momentum),
                        ("weight_decay", weight_decay), ("alpha", alpha)):
            if v < 0.0:
                raise ValueError(f"RMSprop: invalid {name} {v}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      **impl_flags("RMSprop", flags, ("foreach", "capturable", "differentiable"))))

    def _update(self, group, p, g, state):
        lr, alpha, eps, mu = group["lr"], group["alpha"], group["eps"], group["momentum"]
        centered = group["centered"]
        if not state:
            state["step"] = step_zero()
            state["square_avg"] = _state_tensor(np.zeros_like(p))
            if mu > 0:
                state["momentum_buffer"] = _state_tensor(np.zeros_like(p))
            if centered:
                state["grad_avg"] = _state_tensor(np.zeros_like(p))
        state["step"].data += 1
        arrays = [state["square_avg"].data,
                  state["momentum_buffer"].data if mu > 0 else None,
                  state["grad_avg"].data if centered else None]
        arrays = [a for a in arrays if a is not None]
        for pc, d, v, *rest, s in self._chunks(p, g, *arrays, weight_decay=group["weight_decay"],
                                               maximize=group["maximize"]):
            b = rest.pop(0) if mu > 0 else None
            np.multiply(d, d, out=s)
            s *= 1 - alpha
            v *= alpha
            v += s
            if centered:
                ga = rest[0]
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
            if b is not None:
                b *= mu
                b += s
                np.multiply(b, lr, out=s)
            else:
                s *= lr
            pc -= s
