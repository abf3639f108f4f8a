"""Scans along one axis: cumsum, cumprod (exact at zeros) and logcumsumexp (a running logaddexp).
cummax/cummin are compositions (chainrule/functions/scan.py)."""
from __future__ import annotations

import numpy as np

from .base import At, Primitive, Sample, register


@register
class Cumsum(Primitive):
    """Z_i = Σ_{j≤i} X_j along an axis (reverse: Σ_{j≥i}).   dL/dX = the reverse cumsum of dL/dZ."""
    name = "cumsum"
    linear = True
    saves_inputs = False
    samples = (Sample((4,), axis=0), Sample((3, 4), axis=1), Sample((2, 3, 2), axis=0, reverse=True))   # empty: tests/test_ops_scan.py (flat export seeds no empty gradient)

    def forward(self, x, axis, reverse=False):
        if reverse:
            return np.flip(np.cumsum(np.flip(x, axis), axis), axis)
        return np.cumsum(x, axis)

    def vjp(self, g, ans, needs, x, axis, reverse=False):
        return (Cumsum(g, axis=axis, reverse=not reverse),)


def _log_positive(v):
    """log(v) where v > 0, -inf elsewhere, with no log(0) evaluated (so no nan in higher order)."""
    pos = v > 0
    return np.where(pos, np.log(np.where(pos, v, 1)), -np.inf)


@register
class LogCumSumExp(Primitive):
    """Z_i = log Σ_{j≤i} exp X_j along an axis (reverse: Σ_{j≥i}), as a running logaddexp, so no
    prefix underflows however far it lies below the row's maximum.

    dL/dX_j = Σ_{i≥j} dL/dZ_i · exp(X_j − Z_i): a reverse scan of the same kind, done in log space
    on the positive and negative parts of dL/dZ separately (exp(X_j − Z_i) ≤ 1 stays finite).
    """
    name = "logcumsumexp"
    saves_ans = True
    samples = (Sample((4,), axis=0), Sample((3, 4), axis=1),
               Sample((2, 3, 2), axis=0, reverse=True),
               Sample(At([[0.0, 30.0, 0.0, 180.0, 240.0, 180.0]]), axis=1))

    def print_form(self, params):
        if params.get("reverse"):
            return "np.flip(np.logaddexp.accumulate(np.flip({0}, {axis}), axis={axis}), {axis})"
        return "np.logaddexp.accumulate({0}, axis={axis})"

    def forward(self, x, axis, reverse=False):
        if reverse:
            return np.flip(np.logaddexp.accumulate(np.flip(x, axis), axis=axis), axis)
        return np.logaddexp.accumulate(x, axis=axis)

    def vjp(self, g, ans, needs, x, axis, reverse=False):
        with np.errstate(invalid="ignore"):   # -inf - -inf where a prefix is all -inf: masked
            up = LogCumSumExp(_log_positive(g) - ans, axis=axis, reverse=not reverse)
            down = LogCumSumExp(_log_positive(-g) - ans, axis=axis, reverse=not reverse)
            return (np.where(x == -np.inf, 0.0, np.exp(x + up) - np.exp(x + down)),)

    def jvp(self, tangents, ans, x, axis, reverse=False):
        t = tangents[0]
        with np.errstate(invalid="ignore"):
            up = LogCumSumExp(_log_positive(t) + x, axis=axis, reverse=reverse)
            down = LogCumSumExp(_log_positive(-t) + x, axis=axis, reverse=reverse)
            return np.where(ans == -np.inf, 0.0, np.exp(up - ans) - np.exp(down - ans))


@register
class Cumprod(Primitive):
    """Z_i = Π_{j≤i} X_j along an axis.   dL/dX_k = Σ_{i≥k} dL/dZ_i Π_{j≤i, j≠k} X_j.

    Without zeros that is revcumsum(g Z) / X; with a zero the products leaving X_k out are formed
    explicitly (an n×n scan per row), so the gradient is exact there and differentiable again.
    """
    name = "cumprod"
    saves_ans = True
    samples = (Sample((4,), axis=0, domain="positive"), Sample((3, 4), axis=1, domain="positive"),
               Sample(At([[0.0, 2.0, 3.0, 0.5], [1.5, 0.0, 0.0, 4.0], [2.0, -1.0, 0.5, 0.0]]), axis=1),
               Sample(At([2.0, 0.0, 3.0]), axis=0))

    def forward(self, x, axis):
        return np.cumprod(x, axis)

    def vjp(self, g, ans, needs, x, axis):
        return (cumprod_grad(g, ans, x, axis),)

    def jvp(self, tangents, ans, x, axis):
        # d Z_i = Σ_{k≤i} t_k Π_{j≤i, j≠k} X_j: the transpose of the rule above
        t = tangents[0]
        if not (x == 0).any():
            return ans * Cumsum(t / x, axis=axis)
        others, upper = _leave_one_out(x, axis)
        # others[..., k, i] = Π_{j≤i, j≠k} x_j; sum over k ≤ i of t_k * others
        tk = np.expand_dims(np.moveaxis(t, axis, -1), -1)
        out = (tk * others * upper).sum(axis=-2)
        return np.moveaxis(out, -1, axis)


def _leave_one_out(x, axis):
    """(P, U): P[..., k, i] = Π_{j≤i, j≠k} x_j (x moved so the axis is last), U the mask k ≤ i."""
    xm = np.moveaxis(x, axis, -1)
    n = xm.shape[-1]
    eye = np.eye(n, dtype=bool)
    rows = np.where(eye, 1, np.expand_dims(xm, -2) * np.ones((n, 1)))   # row k: x with x_k = 1
    return Cumprod(rows, axis=-1), np.triu(np.ones((n, n), dtype=bool))


def cumprod_grad(g, ans, x, axis):
    if not (x == 0).any():
        return Cumsum(g * ans, axis=axis, reverse=True) / x
    others, upper = _leave_one_out(x, axis)
    gi = np.expand_dims(np.moveaxis(g, axis, -1), -2)   # g_i along the last axis, broadcast over k
    out = (gi * others * upper).sum(axis=-1)
    return np.moveaxis(out, -1, axis)
