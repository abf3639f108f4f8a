"""Adagrad (PyTorch's update)."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _state_tensor, impl_flags, step_zero


class Adagrad(Optimizer):
    """Adagrad, PyTorch's formulas:

        clr = lr / (1 + (t−1)·lr_decay);  S ← S + g²;  p ← p − clr · g / (√S + eps)

    >>> opt = cr.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False, **flags):
        for name, v in (("learning rate", lr), ("lr_decay", lr_decay), ("epsilon", eps),
                        ("weight_decay", weight_decay),
                        ("initial_accumulator_value", initial_accumulator_value)):
            if v < 0.0:
                raise ValueError(f"Adagrad: invalid {name} {v}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      maximize=maximize,
                                      **impl_flags("Adagrad", flags, ("foreach", "differentiable", "fused"))))
        for group in self.param_groups:   # PyTorch creates Adagrad's state eagerly
            for p in group["params"]:
                self.state[p] = {
                    "step": step_zero(),
                    "sum": _state_tensor(np.full_like(p.data, group["initial_accumulator_value"])),
                }

    def _update(self, group, p, g, state):
        if not state:
            state["step"] = step_zero()
            state["sum"] = _state_tensor(np.full_like(p, group["initial_accumulator_value"]))
        state["step"].data += 1
        t = float(state["step"].data)
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        eps = group["eps"]
        for pc, d, acc, s in self._chunks(p, g, state["sum"].data,
                                          weight_decay=group["weight_decay"],
                                          maximize=group["maximize"]):
            np.multiply(d, d, out=s)
            acc += s
            np.sqrt(acc, out=s)
            s += eps
            np.divide(d, s, out=s)
            s *= clr
            pc -= s
