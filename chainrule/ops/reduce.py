"""Reductions over any axes: sum, mean, max/min (routing), prod, logsumexp, norm."""
from __future__ import annotations

import math

import numpy as np

from .base import At, EmptyError, Primitive, Sample, register

REDUCE = (Sample((3, 4)), Sample((3, 4), axis=1), Sample((2, 3, 4), axis=(0, 2)),
          Sample((2, 3, 4), axis=(0, 2), keepdims=True), Sample((2, 3, 4), axis=-1, keepdims=True),
          Sample((5,), axis=0))


_intp = np.intp


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
    linear = True
    saves_inputs = False
    samples = REDUCE
    api = "sum"
    example = "cr.sum(cr.ones(2, 3), axis=1)  # tensor([3., 3.])"
    method = True
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
    linear = True
    saves_inputs = False
    samples = REDUCE
    api = "mean"
    example = "cr.mean(cr.tensor([1.0, 3.0]))  # tensor(2.)"
    method = True
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        if type(x) is np.ndarray and x.dtype.kind == "f" and x.itemsize >= 4 and x.size:
            # NumPy's _mean without its wrappers (dispatch, dtype checks, item count): the same
            # sum and the same division by an intp count, so the same bits as np.mean
            s = np.add.reduce(x, axis=axis, keepdims=keepdims)
            n = _intp(x.size if axis is None else count(x.shape, axis))
            if type(s) is np.ndarray:
                return np.true_divide(s, n, out=s, casting="unsafe")
            return s.dtype.type(s / n)
        if x.size == 0:   # nan, as PyTorch, without NumPy's "mean of empty slice" warning
            return np.full(np.sum(x, axis=axis, keepdims=keepdims).shape, np.nan,
                           x.dtype if x.dtype.kind in "fc" else np.float64)
        return np.mean(x, axis=axis, keepdims=keepdims)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        n = count(x.shape, axis)
        g = expand(g, x.shape, axis, keepdims) * (1.0 / n if n else np.nan)
        return (spread(g, x.shape),)


class _Extreme(Primitive):
    """Shared rule of max and min: the gradient is routed to the extreme element(s), split on ties."""
    saves_ans = True
    samples = tuple(Sample(*s.inputs, smooth=False, **s.params) for s in REDUCE)

    def reduce(self, fn, x, axis, keepdims):
        try:
            return fn(x, axis=axis, keepdims=keepdims)
        except ValueError:
            if np.size(x) == 0 or 0 in np.shape(x):
                raise EmptyError(f"{self.name}: cannot reduce an empty tensor of shape "
                                 f"{np.shape(x)} over axis {axis} (there is no identity); "
                                 f"reduce a non-empty axis") from None
            raise

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

    api = "amax"            # cr.max (values and indices with dim=) is in functions/reduce.py
    example = "cr.amax(cr.ones(2, 3), dim=0).shape  # (3,)"
    method = True
    numpy = np.amax
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return self.reduce(np.max, x, axis, keepdims)


@register
class Min(_Extreme):
    """z = min x over axes.   dz/dx = 1 at the minimum, 0 elsewhere."""
    name = "min"
    flat_forward = "np.min({0}, axis={axis}, keepdims={keepdims})"

    api = "amin"
    example = "cr.amin(cr.ones(2, 3), dim=0).shape  # (3,)"
    method = True
    numpy = np.amin
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return self.reduce(np.min, x, axis, keepdims)


@register
class Prod(Primitive):
    """z = Π x over axes.   dz/dx_i = Π_{j≠i} x_j = z / x_i (where x_i ≠ 0)."""
    name = "prod"
    flat_forward = "np.prod({0}, axis={axis}, keepdims={keepdims})"
    saves_ans = True
    samples = (Sample((3, 4), domain="positive"), Sample((2, 3, 4), domain="positive", axis=1),
               Sample((2, 3), domain="positive", axis=(0, 1), keepdims=True),
               # zeros: one zero in a group (others' product), two zeros (all 0), none
               Sample(At([[0.0, 2.0, 3.0], [1.5, -2.0, 0.5], [0.0, 0.0, 4.0]]), axis=1),
               Sample(At([0.0, 2.0, 3.0])))
    api = "prod"
    example = "cr.prod(cr.tensor([2.0, 3.0]))  # tensor(6.)"
    method = True
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        return np.prod(x, axis=axis, keepdims=keepdims)

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        return (expand(g, x.shape, axis, keepdims) * prod_others(x, ans, axis, keepdims),)

    def jvp(self, tangents, ans, x, axis=None, keepdims=False):
        return (tangents[0] * prod_others(x, ans, axis, keepdims)).sum(axis=axis, keepdims=keepdims)


def prod_others(x, ans, axis, keepdims):
    """Π_{j≠i} x_j over the reduced axes, for every element i: z / x_i, exact where x has zeros.

    Written with ops that work on arrays and Tensors, so it is differentiable again (hessian):
    where x_i = 0 it is (product of the nonzero elements) × (1 if x_i is the group's only zero;
    the other zero x_k if there are two, written S - x_i with S the sum over the zeros so its
    derivative along x_k is right; 0 with three or more); elsewhere z / x_i.
    """
    zero = x == 0
    z = expand(ans, x.shape, axis, keepdims)
    if not zero.any():
        return z / x
    safe = np.where(zero, 1, x)
    nonzero_prod = np.prod(safe, axis=axis, keepdims=True)
    n_zero = zero.sum(axis=axis, keepdims=True)
    other_zero = np.where(zero, x, 0).sum(axis=axis, keepdims=True) - x
    factor = np.where(n_zero == 1, 1, np.where(n_zero == 2, other_zero, 0))
    return np.where(zero, nonzero_prod * factor, z / safe)


@register
class LogSumExp(Primitive):
    """z = log Σ eˣ over axes (stable).   dz/dx = e^(x - z) = softmax(x)."""
    name = "logsumexp"
    flat_forward = None   # exported as a call of its own forward
    saves_ans = True
    samples = REDUCE
    api = "logsumexp"
    example = "cr.logsumexp(cr.tensor([1000.0, 1000.0]))  # tensor(1000.6931)"
    method = True
    spelling = "reduce"

    def forward(self, x, axis=None, keepdims=False):
        if x.size == 0:   # log of an empty sum: -inf, as in PyTorch
            return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
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
