"""Reductions over any axes: sum, mean, max/min (routing), prod, logsumexp, norm."""
from __future__ import annotations

import math

import numpy as np

from .base import Primitive, Sample, register

REDUCE = (Sample((3, 4)), Sample((3, 4), axis=1), Sample((2, 3, 4), axis=(0, 2)),
          Sample((2, 3, 4), axis=(0, 2), keepdims=True), Sample((2, 3, 4), axis=-1, keepdims=True),
          Sample((5,), axis=0))


def kept_shape(shape, axis):
    """`shape` with the reduced axes set to 1: the shape a keepdims=False result is expanded to."""
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    out = list(shape)
    for a in axes:
        out[a % len(shape)] = 1
    return tuple(out)


def count(shape, axis):
    """Number of elements each output element was reduced from."""
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes)


def spread(g, shape):
    """Broadcast a (kept-dims) gradient to `shape`.

    Small arrays are filled into a fresh array: np.broadcast_to costs ~4 µs of Python per call,
    more than the copy. Large ones stay a zero-copy view. Tensors use the broadcast op.
    """
    if type(g) is np.ndarray and math.prod(shape) <= 4096:
        out = np.empty(shape, g.dtype)
        out[...] = g
        return out
    return np.broadcast_to(g, shape)


def expand(g, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input's shape."""
    return g if keepdims else g.reshape(kept_shape(shape, axis))


@register
class Sum(Primitive):
    """z = Σ x over axes.   dz/dx = 1: the upstream gradient is copied back to every element."""
    name = "sum"
    flat_forward = "np.sum({0}, axis={axis}, keepdims={keepdims})"
    flat_vjp = ("np.broadcast_to(_expand({g}, np.shape({0}), {axis}, {keepdims}), np.shape({0}))",)
    linear = True
    saves_inputs = False
    samples = REDUCE
    api = "sum"
    example = "cr.sum(cr.ones(2, 3), axis=1)  # tensor([3., 3.])"
    method = True
    numpy = np.sum
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return np.add.reduce(x, axis=axis, keepdims=keepdims)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        return (spread(expand(g, x.shape, axis, keepdims), x.shape),)


@register
class Mean(Primitive):
    """z = (1/n) Σ x over axes.   dz/dx = 1/n."""
    name = "mean"
    flat_forward = "np.mean({0}, axis={axis}, keepdims={keepdims})"
    flat_vjp = ("np.broadcast_to(_expand({g}, np.shape({0}), {axis}, {keepdims})"
                " * (1.0 / _count(np.shape({0}), {axis})), np.shape({0}))",)
    linear = True
    saves_inputs = False
    samples = REDUCE
    api = "mean"
    example = "cr.mean(cr.tensor([1.0, 3.0]))  # tensor(2.)"
    method = True
    numpy = np.mean
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        g = expand(g, x.shape, axis, keepdims) * (1.0 / count(x.shape, axis))
        return (spread(g, x.shape),)


class _Extreme(Primitive):
    """Shared rule of max and min: the gradient is routed to the extreme element(s), split on ties."""
    saves_ans = True
    samples = tuple(Sample(*s.inputs, smooth=False, **s.params) for s in REDUCE)

    def _mask(self, ans, x, axis, keepdims):
        hit = x == expand(ans, x.shape, axis, keepdims)
        return hit / hit.sum(axis=axis, keepdims=True)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        return (expand(g, x.shape, axis, keepdims) * self._mask(ans, x, axis, keepdims),)

    def jvp(self, tangents, ans, x, axis=None, keepdims=False):
        w = self._mask(ans, x, axis, keepdims)
        return (tangents[0] * w).sum(axis=axis, keepdims=keepdims)


@register
class Max(_Extreme):
    """z = max x over axes.   The max gate: dz/dx = 1 at the maximum, 0 elsewhere."""
    name = "max"
    flat_forward = "np.max({0}, axis={axis}, keepdims={keepdims})"
    flat_vjp = ("_expand({g}, np.shape({0}), {axis}, {keepdims}) * _extreme_mask({ans}, {0}, {axis}, {keepdims})",)

    api = "amax"            # cr.max (values and indices with dim=) is in functions/reduce.py
    example = "cr.amax(cr.ones(2, 3), dim=0).shape  # (3,)"
    method = True
    numpy = np.amax
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return np.max(x, axis=axis, keepdims=keepdims)


@register
class Min(_Extreme):
    """z = min x over axes.   dz/dx = 1 at the minimum, 0 elsewhere."""
    name = "min"
    flat_forward = "np.min({0}, axis={axis}, keepdims={keepdims})"
    flat_vjp = ("_expand({g}, np.shape({0}), {axis}, {keepdims}) * _extreme_mask({ans}, {0}, {axis}, {keepdims})",)

    api = "amin"
    example = "cr.amin(cr.ones(2, 3), dim=0).shape  # (3,)"
    method = True
    numpy = np.amin
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return np.min(x, axis=axis, keepdims=keepdims)


@register
class Prod(Primitive):
    """z = Π x over axes.   dz/dx_i = Π_{j≠i} x_j = z / x_i (where x_i ≠ 0)."""
    name = "prod"
    flat_forward = "np.prod({0}, axis={axis}, keepdims={keepdims})"
    flat_vjp = ("_expand({g} * {ans}, np.shape({0}), {axis}, {keepdims}) / {0}",)  # x without zeros
    saves_ans = True
    samples = (Sample((3, 4), domain="positive"), Sample((2, 3, 4), domain="positive", axis=1),
               Sample((2, 3), domain="positive", axis=(0, 1), keepdims=True))
    api = "prod"
    example = "cr.prod(cr.tensor([2.0, 3.0]))  # tensor(6.)"
    method = True
    numpy = np.prod
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return np.prod(x, axis=axis, keepdims=keepdims)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        # NOTE: z / x is 0/0 where x has zeros; there the product of the others is computed directly.
        if isinstance(x, np.ndarray) and not x.all():
            return (expand(g, x.shape, axis, keepdims) * _prod_others(x, axis),)
        return (expand(g * ans, x.shape, axis, keepdims) / x,)

    def jvp(self, tangents, ans, x, axis=None, keepdims=False):
        if isinstance(x, np.ndarray) and not x.all():   # z / x is 0/0 at zeros, as in vjp
            return (tangents[0] * _prod_others(x, axis)).sum(axis=axis, keepdims=keepdims)
        return (tangents[0] * expand(ans, x.shape, axis, keepdims) / x).sum(axis=axis, keepdims=keepdims)


def _prod_others(x, axis):
    """Π_{j≠i} x_j along the reduced axes, exact at zeros (exclusive cumulative products)."""
    axes = tuple(range(x.ndim)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    axes = tuple(a % x.ndim for a in axes)
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    out = (left * right).reshape(moved.shape)
    return np.transpose(out, np.argsort(rest + list(axes)))


@register
class LogSumExp(Primitive):
    """z = log Σ eˣ over axes (stable).   dz/dx = e^(x - z) = softmax(x)."""
    name = "logsumexp"
    flat_forward = "_logsumexp({0}, {axis}, {keepdims})"
    flat_vjp = ("_expand({g}, np.shape({0}), {axis}, {keepdims})"
                " * np.exp({0} - _expand({ans}, np.shape({0}), {axis}, {keepdims}))",)
    saves_ans = True
    samples = REDUCE
    api = "logsumexp"
    example = "cr.logsumexp(cr.tensor([1000.0, 1000.0]))  # tensor(1000.6931)"
    method = True
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        return out if keepdims else out.reshape(np.sum(m, axis=axis).shape)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        p = np.exp(x - expand(ans, x.shape, axis, keepdims))
        return (expand(g, x.shape, axis, keepdims) * p,)

    def jvp(self, tangents, ans, x, axis=None, keepdims=False):
        p = np.exp(x - expand(ans, x.shape, axis, keepdims))
        return (tangents[0] * p).sum(axis=axis, keepdims=keepdims)


@register
class Norm(Primitive):
    """z = √(Σ x²) over axes (the 2-norm).   dz/dx = x / z (0 where z = 0, as in PyTorch)."""
    name = "norm"
    flat_forward = "np.sqrt(np.sum({0} * {0}, axis={axis}, keepdims={keepdims}))"
    flat_vjp = ("_expand({g}, np.shape({0}), {axis}, {keepdims}) * {0}"
                " / _nonzero(_expand({ans}, np.shape({0}), {axis}, {keepdims}))",)
    saves_ans = True
    samples = (Sample((3, 4)), Sample((2, 3, 4), axis=1), Sample((2, 5), axis=-1, keepdims=True))
    api = "norm"            # functions/reduce.py: p = 1, inf, other p
    method = True

    def forward(self, x, axis=None, keepdims=False):
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        z = expand(ans, x.shape, axis, keepdims)
        safe = np.where(z == 0, 1, z)
        return (expand(g, x.shape, axis, keepdims) * x / safe,)

    def jvp(self, tangents, ans, x, axis=None, keepdims=False):
        z = expand(ans, x.shape, axis, keepdims)
        safe = np.where(z == 0, 1, z)
        return (tangents[0] * x / safe).sum(axis=axis, keepdims=keepdims)
