"""SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update)."""
from __future__ import annotations

import numpy as np

from .optimizer import BLOCK, Optimizer, _state_tensor, impl_flags, required


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulas:

        g ← ∇ + wd·p;  b ← μ·b + (1−τ)·g (b₁ = g);  g ← g + μ·b (nesterov) or b;  p ← p − lr·g

    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 **flags):
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
                                      maximize=maximize,
                                      **impl_flags("SGD", flags, ("foreach", "differentiable", "fused"))))

    def _update(self, group, p, g, state):
        lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
        wd, maximize = group["weight_decay"], group["maximize"]
        if not (mu or wd or maximize) and p.size <= BLOCK:
            p -= lr * g        # plain SGD on a small parameter: the temporary is cache-sized
            return
        if not mu:
            for pc, d, s in self._chunks(p, g, weight_decay=wd, maximize=maximize):
                np.multiply(d, lr, out=s)
                pc -= s
            return
        buf = state.get("momentum_buffer")
        first = buf is None
        if first:   # b₁ = g (no dampening on the first step), filled chunk by chunk below
            buf = state["momentum_buffer"] = _state_tensor(np.empty_like(p))
        nesterov = group["nesterov"]
        for pc, d, b, s in self._chunks(p, g, buf.data, weight_decay=wd, maximize=maximize):
            if first:
                b[...] = d
            else:
                b *= mu
                if damp:
                    np.multiply(d, 1 - damp, out=s)
                    b += s
                else:
                    b += d
            if nesterov:
                # p − lr·(d + μ·b), as two subtractions through the scratch array
                np.multiply(d, lr, out=s)
                pc -= s
                np.multiply(b, lr * mu, out=s)
            else:
                np.multiply(b, lr, out=s)
            pc -= s
