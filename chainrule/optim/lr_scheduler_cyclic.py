"""More learning-rate schedules (PyTorch's names and formulas): ConstantLR, PolynomialLR,
MultiplicativeLR, CosineAnnealingWarmRestarts and CyclicLR. Re-exported by cr.optim.lr_scheduler.

>>> sched = cr.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
"""
from __future__ import annotations

import math

from .lr_scheduler import LRScheduler, cycles_beta1


def _per_group(name, optimizer, value):
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} values (one per param group), got {len(value)}")
        return list(value)
    return [value] * n


class ConstantLR(LRScheduler):
    """lr = base · factor until epoch total_iters, then base."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * (self.factor if epoch < self.total_iters else 1.0)


class PolynomialLR(LRScheduler):
    """lr = base · (1 − min(epoch, total_iters)/total_iters)^power."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * (1.0 - min(self.total_iters, epoch) / self.total_iters) ** self.power


class MultiplicativeLR(LRScheduler):
    """lr ← lr · lr_lambda(epoch) at every step after the first (one function, or one per group).

    >>> sched = cr.optim.lr_scheduler.MultiplicativeLR(opt, lambda e: 0.95)
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        self.lr_lambdas = _per_group("MultiplicativeLR", optimizer, lr_lambda)
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"MultiplicativeLR: lr_lambda must be a function, got "
                                f"{type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def step(self, epoch: int | None = None) -> None:
        first = not hasattr(self, "_last_lr")
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if not first and self.last_epoch > 0:
            for g, f in zip(self.optimizer.param_groups, self.lr_lambdas):
                g["lr"] = g["lr"] * f(self.last_epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: cosine from base to eta_min over T_i epochs, then restart with T_i ← T_i · T_mult.

    lr = eta_min + (base − eta_min)·(1 + cos(π·T_cur/T_i))/2; step(epoch) may be fractional.
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a positive integer T_0, got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected an integer T_mult >= 1, got "
                             f"{T_mult}")
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min, self.T_cur = T_mult, eta_min, last_epoch
        super().__init__(optimizer, last_epoch)

    def step(self, epoch=None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a non-negative epoch, got {epoch}")
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult ** n
        else:
            self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        c = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.eta_min + (base - self.eta_min) * c
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017), stepped once per batch: lr goes base_lr -> max_lr over
    step_size_up steps and back over step_size_down; mode 'triangular', 'triangular2' (amplitude
    halved each cycle) or 'exp_range' (times gamma^step), or a custom scale_fn. Momentum (or
    Adam's beta1) cycles the other way between max_momentum and base_momentum. As PyTorch.

    >>> sched = cr.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=100)
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn=None, scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum=0.8, max_momentum=0.9, last_epoch: int = -1):
        base_lrs = _per_group("CyclicLR", optimizer, base_lr)
        if last_epoch == -1:
            for lr, g in zip(base_lrs, optimizer.param_groups):
                g["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' "
                             f"(or give scale_fn), got {mode!r}")
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else (
            "iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = cycles_beta1("CyclicLR", optimizer)
            self.base_momentums = _per_group("CyclicLR", optimizer, base_momentum)
            self.max_momentums = _per_group("CyclicLR", optimizer, max_momentum)
            if last_epoch == -1:
                for mx, bm, g in zip(self.max_momentums, self.base_momentums,
                                     optimizer.param_groups):
                    self._set_momentum(g, mx)
                    g["max_momentum"], g["base_momentum"] = mx, bm
        self._cyclic_base = base_lrs
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _set_momentum(self, g, m):
        if self.use_beta1:
            g["betas"] = (m, *g["betas"][1:])
        else:
            g["momentum"] = m

    def scale_fn(self, x) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def step(self, epoch: int | None = None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        f = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        s = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        for i, g in enumerate(self.optimizer.param_groups):
            lo = self._cyclic_base[i]
            g["lr"] = lo + (self.max_lrs[i] - lo) * f * s
            if self.cycle_momentum:
                mx = self.max_momentums[i]
                self._set_momentum(g, mx - (mx - self.base_momentums[i]) * f * s)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_scale_fn_custom")}
