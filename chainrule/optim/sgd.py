"""SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update)."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _state_tensor, required


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulas:

        g ← ∇ + wd·p;  b ← μ·b + (1−τ)·g (b₁ = g);  g ← g + μ·b (nesterov) or b;  p ← p − lr·g

    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        if lr is not required and lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr}")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, group, p, g, state, scratch):
        lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
        d = self._direction(group, p, g, scratch)
        s = self._work(scratch, "s", p)
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _state_tensor(np.array(d, copy=True))
            else:
                b = buf.data
                b *= mu
                if damp:
                    np.multiply(d, 1 - damp, out=s)
                    b += s
                else:
                    b += d
            if group["nesterov"]:
                # p − lr·(d + μ·b), as two subtractions through the scratch array
                np.multiply(d, lr, out=s)
                p -= s
                np.multiply(buf.data, lr * mu, out=s)
                p -= s
                return
            d = buf.data
        np.multiply(d, lr, out=s)
        p -= s
