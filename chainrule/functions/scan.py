"""Scans, sorting and selection with PyTorch's spellings: cumsum/cumprod (primitives, ops/scan.py),
cummax/cummin/logcumsumexp, sort/argsort/topk/kthvalue/median/mode (compositions: indices are
computed on the data, values picked with take_along_axis, so the gradient goes to the picked
elements as in PyTorch) and unique (no gradient).
"""
from __future__ import annotations

import numpy as np

from ..ops import scan, select
from ..ops import shape as shp
from .args import _MISSING, _T, _axis, _const, _data, _dim, _tensor
from .expose import expose
from .reduce import MaxResult


def _flat_or_dim(op, x, axis):
    """(x, axis): axis None flattens (NumPy's cumsum); 0-d tensors scan as 1-d."""
    if axis is None or np.ndim(_data(x)) == 0:
        if axis is not None:
            _dim(op, x, axis)
        return x.reshape(-1) if _T(x) else np.reshape(x, -1), 0
    return x, _dim(op, x, axis)


def _scan(prim, op, x, axis, dim, dtype):
    shape = np.shape(_data(x))
    axis = _axis(axis, dim)
    flat, ax = _flat_or_dim(op, x, axis)
    if dtype is not None:
        flat = flat.to(dtype) if _T(flat) else np.asarray(flat, dtype)
    elif np.asarray(_data(flat)).dtype.kind in "bui":   # PyTorch: integer scans give int64
        flat = flat.to(np.int64) if _T(flat) else np.asarray(flat, np.int64)
    out = prim(flat, axis=ax)
    if axis is not None and len(shape) == 0:
        out = out.reshape(())
    return _tensor(out)


@expose(method=True, numpy=np.cumsum)
def cumsum(x, axis=None, dtype=None, *, dim=_MISSING, out=None):
    """Running sum along `dim` (NumPy: axis=None scans the flattened tensor).

    >>> cr.cumsum(cr.tensor([1.0, 2.0, 3.0]), dim=0)  # tensor([1., 3., 6.])
    """
    return _scan(scan.Cumsum, "cumsum", x, axis, dim, dtype)


@expose(method=True, numpy=np.cumprod)
def cumprod(x, axis=None, dtype=None, *, dim=_MISSING, out=None):
    """Running product along `dim`; the gradient is exact where the input has zeros.

    >>> cr.cumprod(cr.tensor([2.0, 0.0, 3.0]), dim=0)  # tensor([2., 0., 0.])
    """
    return _scan(scan.Cumprod, "cumprod", x, axis, dim, dtype)


def _cum_extreme(op, better, x, dim):
    d = _data(x)
    if np.ndim(d) == 0:
        _dim(op, x, dim)
        return MaxResult(x * 1 if _T(x) else _const(d), _const(np.zeros((), np.int64)))
    ax = _dim(op, x, dim)
    idx = _tensor(select.CumExtremeIndex(x, axis=ax, largest=better is np.greater))
    from .shape import take_along_axis
    return MaxResult(take_along_axis(x, idx, ax), idx)


@expose(method=True)
def cummax(x, dim):
    """Running maximum along `dim`: (values, indices); the gradient goes to the indexed elements.

    >>> cr.cummax(cr.tensor([1.0, 3.0, 2.0]), 0).indices  # tensor([0, 1, 1])
    """
    return _cum_extreme("cummax", np.greater, x, dim)


@expose(method=True)
def cummin(x, dim):
    """Running minimum along `dim`: (values, indices).

    >>> cr.cummin(cr.tensor([3.0, 1.0, 2.0]), 0).values  # tensor([3., 1., 1.])
    """
    return _cum_extreme("cummin", np.less, x, dim)


@expose(method=True)
def logcumsumexp(x, dim):
    """log(cumsum(exp(x))) along `dim`, a running logaddexp (no overflow, no underflow of prefixes).

    >>> cr.logcumsumexp(cr.tensor([0.0, 0.0]), 0)  # tensor([0.    , 0.6931])
    """
    d = np.asarray(_data(x))
    ax = _dim("logcumsumexp", x, dim)
    if d.size == 0 or d.ndim == 0:
        return x * 1 if _T(x) else _const(d)
    return _tensor(scan.LogCumSumExp(x, axis=ax))


# ---------------------------------------------------------------- sorting and selection

def _pick(x, idx, ax):
    from .shape import take_along_axis
    if np.ndim(_data(x)) == 0:
        return x * 1 if _T(x) else _const(np.asarray(x))
    return take_along_axis(x, idx, ax)


@expose(method=True)
def sort(x, dim=-1, descending=False, stable=False):
    """Sorted values and the indices they came from along `dim` (ties keep their order).

    >>> cr.sort(cr.tensor([3.0, 1.0, 2.0])).indices  # tensor([1, 2, 0])
    """
    d = np.asarray(_data(x))
    if d.ndim == 0:
        _dim("sort", x, dim)
        return MaxResult(_pick(x, None, 0), _const(np.zeros((), np.int64)))
    ax = _dim("sort", x, dim)
    idx = _tensor(select.ArgSort(x, axis=ax, descending=bool(descending)))
    return MaxResult(_pick(x, idx, ax), idx)


@expose(method=True)
def argsort(x, dim=-1, descending=False, stable=False):
    """Indices that sort `x` along `dim` (no gradient).

    >>> cr.argsort(cr.tensor([3.0, 1.0, 2.0]))  # tensor([1, 2, 0])
    """
    return sort(x, dim, descending, stable).indices


def _k_along(op, x, dim, k, lowest):
    """(data, axis) after checking lowest <= k <= size of `dim` (one-line error naming op)."""
    d = np.asarray(_data(x))
    ax = _dim(op, x, dim)
    n = d.shape[ax] if d.ndim else 1
    if not isinstance(k, (int, np.integer)) or not lowest <= k <= n:
        raise RuntimeError(f"{op}: k={k} is out of range for dimension {ax} of size {n} "
                           f"(shape {d.shape}); expected {lowest} <= k <= {n}")
    return d, ax


@expose(method=True)
def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """The k largest (largest=False: smallest) values along `dim` and their indices.

    >>> cr.topk(cr.tensor([1.0, 5.0, 3.0]), 2).values  # tensor([5., 3.])
    """
    d, ax = _k_along("topk", x, dim, k, 0)
    if d.ndim == 0:
        return sort(x, dim) if k else MaxResult(x.reshape(-1)[:0], _const(np.zeros(0, np.int64)))
    idx = _tensor(select.TopKIndex(x, k=int(k), axis=ax, largest=bool(largest)))
    return MaxResult(_pick(x, idx, ax), idx)


def _squeezed(res, ax, keepdim):
    if keepdim:
        return res
    from .shape import squeeze
    return MaxResult(squeeze(res.values, ax), squeeze(res.indices, ax))


@expose(method=True)
def kthvalue(x, k, dim=-1, keepdim=False):
    """The k-th smallest value (k from 1) along `dim` and its index.

    >>> cr.kthvalue(cr.tensor([3.0, 1.0, 2.0]), 2)  # (tensor(2.), tensor(2))
    """
    d, ax = _k_along("kthvalue", x, dim, k, 1)
    if d.ndim == 0:
        return sort(x, dim)
    idx = _tensor(select.KthIndex(x, k=int(k), axis=ax))
    return _squeezed(MaxResult(_pick(x, idx, ax), idx), ax, keepdim)


@expose(method=True)
def median(x, dim=_MISSING, keepdim=False):
    """PyTorch's median: the lower of the two middle values (no averaging); with `dim`,
    (values, indices). (np.median on a Tensor averages, as NumPy.)

    >>> cr.median(cr.tensor([4.0, 1.0, 3.0, 2.0]))  # tensor(2.)
    """
    d = np.asarray(_data(x))
    if dim is _MISSING or dim is None:
        flat = x.reshape(-1) if _T(x) else np.reshape(d, -1)
        if d.size == 0:
            return _const(np.array(np.nan, d.dtype if d.dtype.kind == "f" else np.float64))
        return kthvalue(flat, (d.size + 1) // 2, 0).values
    ax = _dim("median", x, dim)
    n = d.shape[ax] if d.ndim else 1
    if n == 0:
        raise IndexError(f"median: cannot take the median of an empty dimension {ax} (shape {d.shape})")
    return kthvalue(x, (n + 1) // 2, ax, keepdim)


@expose(method=True)
def mode(x, dim=-1, keepdim=False):
    """The most frequent value along `dim` (the smallest on ties) and the last index where it
    occurs: (values, indices).

    >>> cr.mode(cr.tensor([1.0, 2.0, 2.0, 3.0])).values  # tensor(2.)
    """
    d = np.asarray(_data(x))
    ax = _dim("mode", x, dim)
    if d.ndim == 0:
        return sort(x, dim)
    idx = _tensor(select.ModeIndex(x, axis=ax))
    return _squeezed(MaxResult(_pick(x, idx, ax), idx), ax, keepdim)


@expose(method=True)
def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct values (sorted), optionally with the inverse indices and the counts (no gradient).

    >>> cr.unique(cr.tensor([2, 1, 2]), return_counts=True)  # (tensor([1, 2]), tensor([1, 2]))
    """
    shp.reads_values(x, "cr.unique (its result has one entry per distinct value)")
    d = np.asarray(_data(x))
    res = np.unique(d, return_inverse=return_inverse, return_counts=return_counts, axis=dim)
    if not (return_inverse or return_counts):
        return _const(res)
    res = list(res)
    if return_inverse:
        inv = np.asarray(res[1]).astype(np.int64)
        res[1] = inv.reshape(d.shape if dim is None else (d.shape[dim],))
    return tuple(_const(r if i == 0 else np.asarray(r, np.int64)) for i, r in enumerate(res))


@expose(name=False, numpy=np.sort)
def numpy_sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """np.sort on a Tensor: the sorted values only (axis=None sorts the flattened tensor)."""
    if axis is None:
        a, axis = (a.reshape(-1) if _T(a) else np.reshape(a, -1)), 0
    return sort(a, axis).values


@expose(name=False, numpy=np.argsort)
def numpy_argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """np.argsort on a Tensor: int64 indices (stable), axis=None over the flattened tensor."""
    if axis is None:
        a, axis = (a.reshape(-1) if _T(a) else np.reshape(a, -1)), 0
    return sort(a, axis).indices
