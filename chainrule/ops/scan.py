"""Scans along one axis: cumsum and cumprod (exact at zeros). cummax/cummin and logcumsumexp are
compositions (chainrule/functions/scan.py)."""
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
