"""Reductions with more than one spelling: max/min (PyTorch's dim= returns values and indices),
argmax/argmin, norm(p), and the compositions var and std (no derivative code of their own).

sum, mean, prod, logsumexp, amax and amin are generated from their primitives ("reduce" spelling).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ..ops import arith, reduce, select
from .args import (_MISSING, _T, _axis, _check_axes, _const, _data, _dim, _is_0d, _reduce, _tensor,
                   generate)
from ..ops.base import EmptyError, ShapeError
from .expose import expose

MaxResult = namedtuple("MaxResult", ["values", "indices"])
_logsumexp = generate(reduce.LogSumExp, "logsumexp")   # cr.logsumexp wraps it (int inputs)


def _extreme(prim, argf, x, axis, keepdims, dim, keepdim):
    if _T(dim) or _T(axis):   # x.max(other): PyTorch's elementwise spelling
        return (arith.Maximum if prim is reduce.Max else arith.Minimum)(x, dim if _T(dim) else axis)
    if isinstance(dim, (tuple, list)):   # several dims: the values only (NumPy's reduction)
        axis, dim = tuple(dim), _MISSING
    keep = bool(keepdims or keepdim)
    op = "max" if prim is reduce.Max else "min"
    if dim is not _MISSING and dim is not None and isinstance(dim, (int, np.integer)):
        # PyTorch's spelling x.max(dim=1) returns (values, indices), and (as in PyTorch) the
        # gradient goes to the returned index only; NumPy's axis= and amax split ties evenly.
        from .shape import squeeze, take_along_axis
        if _is_0d(x):
            _dim(op, x, dim)
            return MaxResult(prim(x), _const(np.zeros((), np.int64)))
        ax = _dim(op, x, dim)
        if np.shape(x)[ax] == 0:
            raise EmptyError(f"{op}: cannot reduce an empty dimension {dim} of shape "
                             f"{np.shape(x)} (there is no identity); reduce a non-empty axis")
        idx = argf(x, axis=ax, keepdims=True)
        values = take_along_axis(x, idx, dim)
        if not keep:
            values, idx = squeeze(values, dim), squeeze(idx, dim)
        return MaxResult(values, idx)
    return _reduce(op, prim, x, _axis(axis, dim), keep)


# PyTorch's spelling: a dim (positional or dim=) gives (values, indices) and the gradient goes to
# the returned index; NumPy's axis= (and np.max) gives the values only, ties sharing the gradient.
@expose(method=True)
def max(x, dim=_MISSING, keepdim=None, *, axis=None, keepdims=False):  # noqa: A001
    """Largest value; over a `dim` returns (values, indices) as in PyTorch, over `axis=` the values
    (ties share the gradient); `max(x, other)` is elementwise.

    >>> cr.tensor([[1.0, 5.0]]).max(1)  # (tensor([5.]), tensor([1]))
    """
    return _extreme(reduce.Max, argmax, x, axis, keepdims, dim, keepdim)


@expose(method=True)
def min(x, dim=_MISSING, keepdim=None, *, axis=None, keepdims=False):  # noqa: A001
    """Smallest value; over a `dim` returns (values, indices), over `axis=` the values.

    >>> cr.min(cr.tensor([2.0, 1.0]))  # tensor(1.)
    """
    return _extreme(reduce.Min, argmin, x, axis, keepdims, dim, keepdim)


@expose(name=False, numpy=np.max)
def _numpy_max(a, axis=None, out=None, keepdims=False):
    _no_out("numpy.max", out)
    return _extreme(reduce.Max, argmax, a, axis, keepdims, _MISSING, None)


@expose(name=False, numpy=np.min)
def _numpy_min(a, axis=None, out=None, keepdims=False):
    _no_out("numpy.min", out)
    return _extreme(reduce.Min, argmin, a, axis, keepdims, _MISSING, None)


def _no_out(op, out):
    if out is not None:
        raise TypeError(f"{op}: out= is not supported on Tensors (they are immutable in the graph)")


def logsumexp(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """log Σ exp(x) over `axis` (stable); integers and bools in the default float dtype (PyTorch).

    >>> cr.logsumexp(cr.tensor([1000.0, 1000.0]))  # tensor(1000.6931)
    """
    if np.asarray(_data(x)).dtype.kind in "biu":
        from ..tensor_base import get_default_dtype
        x = x.to(get_default_dtype()) if _T(x) else np.asarray(x, dtype=get_default_dtype())
    return _logsumexp(x, axis, keepdims, dim=dim, keepdim=keepdim)


def _dof(n, correction, ddof, unbiased):
    c = 1
    for v in (correction, ddof):
        if v is not None:
            c = v
    if unbiased is not None:
        c = 1 if unbiased else 0
    return float(n - c) if n - c > 0 else 0.0   # PyTorch: max(0, n - correction), so 0/0 = nan


@expose(method=True)
def var(x, dim=None, unbiased=None, keepdim=False, *, axis=None, keepdims=False,
        correction=None, ddof=None):
    """Variance, unbiased (correction=1) by default as in PyTorch; `ddof=0` gives NumPy's.
    PyTorch's positional forms var(x, dim, unbiased, keepdim) and var(x, unbiased) work too.

    >>> cr.var(cr.tensor([1.0, 3.0]))  # tensor(2.)
    """
    if isinstance(dim, bool):   # PyTorch's var(x, unbiased)
        dim, unbiased = None, dim
    axis = _check_axes("var", x, _axis(axis if dim is None else dim, _MISSING))
    if axis is not None and _is_0d(x):
        axis = None
    keep = bool(keepdims or keepdim)
    n = reduce.count(np.shape(x), axis)
    d = x - reduce.Mean(x, axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):   # n - correction <= 0: nan, as PyTorch
        return reduce.Sum(d * d, axis=axis, keepdims=keep) / _dof(n, correction, ddof, unbiased)


@expose(method=True)
def std(x, dim=None, unbiased=None, keepdim=False, *, axis=None, keepdims=False,
        correction=None, ddof=None):
    """Standard deviation (unbiased by default, as in PyTorch): ‖x − mean‖ / √(n − correction), so
    the gradient at a constant row is 0 (the norm's rule), as in PyTorch.

    >>> cr.std(cr.tensor([1.0, 3.0]), correction=0)  # tensor(1.)
    """
    if isinstance(dim, bool):   # PyTorch's std(x, unbiased)
        dim, unbiased = None, dim
    axis = _check_axes("std", x, _axis(axis if dim is None else dim, _MISSING))
    if axis is not None and _is_0d(x):
        axis = None
    keep = bool(keepdims or keepdim)
    n = reduce.count(np.shape(x), axis)
    d = x - reduce.Mean(x, axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return reduce.Norm(d, axis=axis, keepdims=keep) / math.sqrt(_dof(n, correction, ddof, unbiased))


def norm(x, p=2, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """p-norm over `axis` (all elements by default: the Frobenius norm for matrices).

    >>> cr.norm(cr.tensor([3.0, 4.0]))  # tensor(5.)
    """
    axis = _check_axes("norm", x, _axis(axis, dim))
    if axis is not None and _is_0d(x):
        axis = None
    keep = bool(keepdims or keepdim)
    if p == 2 or p == "fro":
        return reduce.Norm(x, axis=axis, keepdims=keep)
    if p == 1:
        return reduce.Sum(arith.Abs(x), axis=axis, keepdims=keep)
    if p == float("inf"):
        return _reduce("norm", reduce.Max, arith.Abs(x), axis, keep)
    if p == float("-inf"):
        return _reduce("norm", reduce.Min, arith.Abs(x), axis, keep)
    if p == 0:   # the number of nonzero entries (gradient 0, as in PyTorch)
        return reduce.Sum(arith.Abs(x) * 0 + (_data(x) != 0), axis=axis, keepdims=keep)
    if p == "nuc":
        from .. import linalg
        return linalg.matrix_norm(x, "nuc", (-2, -1) if axis is None else axis, keep)
    if isinstance(p, str):
        raise ValueError(f"norm: p must be a number, 'fro' or 'nuc', got {p!r} (shape {np.shape(x)})")
    return reduce.Sum(arith.Abs(x) ** p, axis=axis, keepdims=keep) ** (1.0 / p)


def _index_of(prim):
    """An arg-reduction primitive with the reduction-primitive call signature (for `_reduce`)."""
    def run(x, axis=None, keepdims=False):
        a = _data(x)
        if np.size(a) == 0 and (axis is None or np.shape(a)[axis] == 0):
            raise EmptyError(f"{prim.name}: cannot take the index of an empty tensor of shape "
                             f"{np.shape(a)} over axis {axis}; reduce a non-empty axis")
        return _tensor(prim(x, axis=axis, keepdims=keepdims))
    return run


_argmax, _argmin = _index_of(select.ArgMax), _index_of(select.ArgMin)


@expose(method=True, numpy=np.argmax)
def argmax(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Index of the largest value over `axis` (no gradient).

    >>> cr.argmax(cr.tensor([1.0, 5.0, 2.0]))  # tensor(1)
    """
    return _reduce("argmax", _argmax, x, _axis(axis, dim), keepdims or keepdim)


@expose(method=True, numpy=np.argmin)
def argmin(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Index of the smallest value over `axis` (no gradient).

    >>> cr.argmin(cr.tensor([1.0, 5.0, 0.0]))  # tensor(2)
    """
    return _reduce("argmin", _argmin, x, _axis(axis, dim), keepdims or keepdim)
