"""The scatter/gather family with PyTorch's names: scatter, scatter_add, scatter_reduce, index_add,
index_copy, index_fill, masked_fill, masked_scatter, put, take. Compositions of index_put,
scatter_add, getitem, where and the reductions, so gradients follow those primitives' rules
(scatter_reduce 'amax'/'amin' split the gradient among ties, 'prod' is exact at zeros).
"""
from __future__ import annotations

import numpy as np

from ..ops import reduce as red
from ..ops import shape as shp
from .args import _T, _const, _data, _dim
from .expose import expose


def _t(x):
    return x if _T(x) else _const(np.asarray(x))


def _idx(op, index):
    i = np.asarray(_data(index))
    if i.size and i.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {i.dtype}")
    # NOTE: the caller's own array (no copy, no wrap of negatives: NumPy indexing does that), so
    # a traced program finds it as an input and indexes with each call's values
    return i


def _grid(op, x, dim, index, src=None):
    """The tuple index of x that scatter/gather along `dim` with `index` touch."""
    s = np.shape(_data(x))
    a = _dim(op, x, dim)
    if index.ndim != len(s):
        raise RuntimeError(f"{op}: index shape {index.shape} must have as many dims as input "
                           f"shape {s}")
    if index.size and (index.max() >= s[a] or index.min() < -s[a]):
        raise RuntimeError(f"{op}: index {index.min()}..{index.max()} is out of bounds for "
                           f"dimension {a} of size {s[a]} (input shape {s})")
    if src is not None and any(i > n for i, n in zip(index.shape, np.shape(_data(src)))):
        raise RuntimeError(f"{op}: index shape {index.shape} is larger than src shape "
                           f"{np.shape(_data(src))}")
    grid = list(np.ogrid[tuple(slice(n) for n in index.shape)]) if index.ndim else []
    if grid:
        grid[a] = index
    return tuple(grid), a


def _src_part(src, index):
    """src cut to index's shape (PyTorch reads only that corner of src)."""
    if np.shape(_data(src)) == index.shape:
        return _t(src)
    return shp.getitem(_t(src), index=tuple(slice(n) for n in index.shape))


@expose(method=True)
def scatter(x, dim, index, src=None, *, value=None, reduce=None):
    """out = x with out[index[i][j]][j] = src[i][j] along `dim` (dim 0 shown); src may be a number.
    reduce='add'/'multiply' as PyTorch's legacy option (see scatter_reduce).

    >>> cr.zeros(3).scatter(0, cr.tensor([2, 0]), cr.tensor([5.0, 6.0])).tolist()  # [6., 0., 5.]
    """
    index = _idx("scatter", index)
    if src is None:
        src = value
    if reduce is not None:
        return scatter_reduce(x, dim, index, src if _T(src) or np.ndim(src) else
                              np.full(index.shape, src, np.asarray(_data(x)).dtype),
                              {"add": "sum", "multiply": "prod"}[reduce])
    grid, a = _grid("scatter", x, dim, index, src if np.ndim(_data(src)) else None)
    v = _src_part(src, index) if np.ndim(_data(src)) else src
    return shp.index_put(_t(x), v, index=grid)


@expose(method=True)
def scatter_add(x, dim, index, src):
    """out = x with src added at index along `dim` (repeats add up).

    >>> cr.zeros(2).scatter_add(0, cr.tensor([1, 1]), cr.ones(2)).tolist()  # [0., 2.]
    """
    index = _idx("scatter_add", index)
    grid, a = _grid("scatter_add", x, dim, index, src)
    return _t(x) + shp.scatter_add(_src_part(src, index), shape=np.shape(_data(x)), index=grid)


_PAD = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "amax": -np.inf, "amin": np.inf}


@expose(method=True)
def scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    """Reduce src into x at index along `dim`: reduce 'sum', 'prod', 'mean', 'amax' or 'amin';
    include_self=False leaves x's old values out where something is scattered.

    Every output element is a reduction over a row (its x value if included, then the src values
    sent to it, padded with the reduction's identity), so gradients come from sum/prod/max/min.

    >>> cr.zeros(2).scatter_reduce(0, cr.tensor([1, 1]), cr.tensor([2.0, 3.0]), "amax").tolist()  # [0., 3.]
    """
    if reduce not in _PAD:
        raise RuntimeError(f"scatter_reduce: reduce must be one of {sorted(_PAD)}, got {reduce!r}")
    index = _idx("scatter_reduce", index)
    shp.reads_values(index, "scatter_reduce (its reduction table is laid out from the index values)")
    grid, a = _grid("scatter_reduce", x, dim, index, src)
    xt, st = _t(x), _src_part(src, index)
    s = np.shape(xt.data)
    n, m = int(np.prod(s)), index.size
    dest = np.ravel_multi_index(tuple(np.broadcast_to(g, index.shape) for g in grid), s) \
        if m else np.zeros(0, np.int64)
    dest = dest.reshape(-1)
    touched = np.bincount(dest, minlength=n) > 0
    with_self = np.ones(n, bool) if include_self else ~touched
    # rows: [self (or the pad slot)] + the src positions sent to each destination
    order = np.argsort(dest, kind="stable")
    counts = np.bincount(dest, minlength=n)
    k = 1 + (int(counts.max()) if m else 0)
    rows = np.full((n, k), n + m, np.int64)   # n + m: the pad slot
    rows[:, 0] = np.where(with_self, np.arange(n), n + m)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(m) - starts[dest[order]] + 1
    rows[dest[order], col] = n + order
    pad = np.full((1,), _PAD[reduce], xt.data.dtype if xt.data.dtype.kind == "f" else np.float64)
    if xt.data.dtype.kind != "f":
        pad = pad.astype(xt.data.dtype) if reduce in ("sum", "prod") else \
            np.array([np.iinfo(xt.data.dtype).min if reduce == "amax" else
                      np.iinfo(xt.data.dtype).max if reduce == "amin" else 0], xt.data.dtype)
    flat = shp.Concatenate(xt.reshape(-1), st.reshape(-1), _const(pad), axis=0)
    table = shp.getitem(flat, index=rows)
    if reduce in ("sum", "mean"):
        out = red.Sum(table, axis=1)
        if reduce == "mean":
            cnt = (counts + with_self).astype(out.data.dtype if out.data.dtype.kind == "f" else np.float64)
            out = out / cnt if xt.data.dtype.kind == "f" else _const(np.floor_divide(out.data, cnt).astype(xt.data.dtype))
    else:
        out = {"prod": red.Prod, "amax": red.Max, "amin": red.Min}[reduce](table, axis=1)
    return out.reshape(s)


@expose(method=True)
def index_add(x, dim, index, source, *, alpha=1):
    """out = x with source's slices added at `index` along `dim` (times alpha; repeats add up).

    >>> cr.zeros(3).index_add(0, cr.tensor([0, 0]), cr.ones(2)).tolist()  # [2., 0., 0.]
    """
    a = _dim("index_add", x, dim) if np.ndim(_data(x)) else 0
    idx = _idx("index_add", index).reshape(-1)
    src = _t(source) if alpha == 1 else _t(source) * alpha
    return _t(x) + shp.scatter_add(src, shape=np.shape(_data(x)), index=(slice(None),) * a + (idx,))


@expose(method=True)
def index_copy(x, dim, index, source):
    """out = x with out[..., index[i], ...] = source[..., i, ...] along `dim`.

    >>> cr.zeros(3).index_copy(0, cr.tensor([2]), cr.ones(1)).tolist()  # [0., 0., 1.]
    """
    a = _dim("index_copy", x, dim) if np.ndim(_data(x)) else 0
    idx = _idx("index_copy", index).reshape(-1)
    return shp.index_put(_t(x), _t(source), index=(slice(None),) * a + (idx,))


@expose(method=True)
def index_fill(x, dim, index, value):
    """out = x with the slices at `index` along `dim` set to `value` (a number or 0-d tensor).

    >>> cr.ones(3).index_fill(0, cr.tensor([1]), 0.0).tolist()  # [1., 0., 1.]
    """
    a = _dim("index_fill", x, dim) if np.ndim(_data(x)) else 0
    idx = _idx("index_fill", index).reshape(-1)
    return shp.index_put(_t(x), value, index=(slice(None),) * a + (idx,))


@expose(method=True)
def masked_fill(x, mask, value):
    """x with `value` where mask (broadcast) is True; a 0-d tensor value gets the gradient.

    >>> cr.ones(2).masked_fill(cr.tensor([True, False]), 0.0).tolist()  # [0., 1.]
    """
    from .elementwise import where
    m = np.asarray(_data(mask))
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    if _T(value) and value.ndim:
        raise RuntimeError(f"masked_fill: value must be a number or 0-d tensor, got shape {value.shape}")
    s = np.shape(_data(x))
    if np.broadcast_shapes(m.shape, s) != s:   # PyTorch broadcasts the mask to x only
        raise RuntimeError(f"masked_fill: mask shape {m.shape} does not broadcast to input shape {s}")
    return where(m, value if _T(value) else np.asarray(value, np.asarray(_data(x)).dtype), x)


@expose(method=True)
def masked_scatter(x, mask, source):
    """x with the positions where mask is True filled, in order, by source's first elements.

    >>> cr.zeros(3).masked_scatter(cr.tensor([True, False, True]), cr.tensor([1.0, 2.0])).tolist()  # [1., 0., 2.]
    """
    shp.reads_values(mask, "masked_scatter (the mask sets how many source elements it takes)")
    s = np.shape(_data(x))
    m = np.broadcast_to(np.asarray(_data(mask), bool), s)
    k = int(m.sum())
    if k > np.size(_data(source)):
        raise RuntimeError(f"masked_scatter: mask selects {k} elements but source has only "
                           f"{np.size(_data(source))} (shape {np.shape(_data(source))})")
    vals = shp.getitem(_t(source).reshape(-1), index=slice(0, k))
    return shp.index_put(_t(x), vals, index=(m,))


def _flat_index(op, x, index):
    n = np.size(_data(x))
    i = _idx(op, index)
    if i.size and (i.max() >= n or i.min() < -n):
        raise IndexError(f"{op}: index {i.min()}..{i.max()} is out of range for a tensor of "
                         f"{n} elements (shape {np.shape(_data(x))})")
    return i


@expose(method=True)
def take(x, index):
    """x seen as 1-d, picked at `index` (the result has index's shape).

    >>> cr.take(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([0, 3])).tolist()  # [1., 4.]
    """
    return shp.getitem(_t(x).reshape(-1), index=_flat_index("take", x, index))


@expose(method=True)
def put(x, index, source, accumulate=False):
    """x seen as 1-d with source written (accumulate: added) at `index`.

    >>> cr.zeros(2, 2).put(cr.tensor([3]), cr.tensor([9.0])).tolist()  # [[0., 0.], [0., 9.]]
    """
    s = np.shape(_data(x))
    i = _flat_index("put", x, index).reshape(-1)
    src = _t(source).reshape(-1)
    flat = _t(x).reshape(-1)
    if accumulate:
        out = flat + shp.scatter_add(src, shape=flat.shape, index=i)
    else:
        out = shp.index_put(flat, src, index=i)
    return out.reshape(s)
