"""Shape and layout with PyTorch's names (flip, roll, repeat, tril, diagonal, unfold, narrow,
index_select, vstack, tensor_split, ...): compositions of getitem, scatter_add, reshape, broadcast,
transpose, concatenate and where, so they need no derivative code.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..ops import shape as shp
from .args import _MISSING, _T, _axis, _const, _data, _dim, _shape_arg
from ..ops.base import RangeError
from .expose import expose
from .shape import concatenate, moveaxis, reshape, transpose


def _shape(x):
    return np.shape(_data(x))


def _axes(op, x, dims):
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    return tuple(_dim(op, x, d) for d in dims)


def _t(x):
    return x if _T(x) else _const(np.asarray(x))


@expose(method=True, numpy=np.flip)
def flip(x, *args, dims=None, axis=_MISSING):
    """Reverse the order along `dims` (NumPy: all axes when none are given); x.flip(0, 1) too.

    >>> cr.flip(cr.tensor([1.0, 2.0, 3.0]), 0)  # tensor([3., 2., 1.])
    """
    if args:
        dims = args[0] if len(args) == 1 else tuple(args)
    dims = _axis(dims, axis)
    nd = len(_shape(x))
    axes = tuple(range(nd)) if dims is None else _axes("flip", x, dims)
    if not nd:
        return _t(x) * 1
    return shp.getitem(_t(x), index=tuple(slice(None, None, -1) if a in axes else slice(None)
                                          for a in range(nd)))


@expose(method=True, numpy=np.fliplr)
def fliplr(x):
    """Reverse the columns (dim 1).  >>> cr.fliplr(cr.eye(2))  # tensor([[0., 1.], [1., 0.]])"""
    if len(_shape(x)) < 2:
        raise RuntimeError(f"fliplr: input must be at least 2-d, got shape {_shape(x)}")
    return flip(x, 1)


@expose(method=True, numpy=np.flipud)
def flipud(x):
    """Reverse the rows (dim 0).  >>> cr.flipud(cr.tensor([1.0, 2.0]))  # tensor([2., 1.])"""
    if len(_shape(x)) < 1:
        raise RuntimeError(f"flipud: input must be at least 1-d, got shape {_shape(x)}")
    return flip(x, 0)


@expose(method=True, numpy=np.roll)
def roll(x, shifts, dims=None, *, axis=_MISSING):
    """Shift elements cyclically along `dims` (none: the flattened tensor, reshaped back).

    >>> cr.roll(cr.tensor([1.0, 2.0, 3.0]), 1)  # tensor([3., 1., 2.])
    """
    dims = _axis(dims, axis)
    x = _t(x)
    s = _shape(x)
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(s)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    axes = _axes("roll", x, dims)
    if len(shifts) != len(axes):
        raise RuntimeError(f"roll: {len(shifts)} shifts for {len(axes)} dims (shape {s})")
    for k, a in zip(shifts, axes):
        idx = (np.arange(s[a]) - k) % s[a] if s[a] else np.arange(0)
        x = shp.getitem(x, index=(slice(None),) * a + (idx,))
    return x


@expose(method=True, numpy=np.tile)
def tile(x, reps):
    """NumPy's / PyTorch's tile: repeat the whole tensor `reps` times per dim (reps shorter than
    ndim are padded with ones in front).

    >>> cr.tile(cr.tensor([1.0, 2.0]), (2,)).tolist()  # [1., 2., 1., 2.]
    """
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    s = _shape(x)
    n = builtins.max(len(s), len(reps))
    s = (1,) * (n - len(s)) + s
    reps = (1,) * (n - len(reps)) + reps
    inter = tuple(v for pair in zip((1,) * n, s) for v in pair)
    full = tuple(v for pair in zip(reps, s) for v in pair)
    out = shp.BroadcastTo(reshape(_t(x), inter), shape=full)
    return reshape(out, tuple(r * k for r, k in zip(reps, s)))


def _repeat_method(x, *sizes):
    """Tensor.repeat (PyTorch): tile with len(sizes) >= ndim.  x.repeat(2, 1)"""
    sizes = _shape_arg(sizes)
    if len(sizes) < len(_shape(x)):
        raise RuntimeError(f"repeat: {len(sizes)} repeats {sizes} for a tensor of shape "
                           f"{_shape(x)}: give at least one per dimension")
    return tile(x, sizes)


expose(_repeat_method, name=False, method="repeat")


@expose(method=True, numpy=np.repeat)
def repeat_interleave(x, repeats, dim=None, *, axis=_MISSING, output_size=None):
    """Repeat each element `repeats` times along `dim` (None: flattened), as np.repeat.

    >>> cr.repeat_interleave(cr.tensor([1.0, 2.0]), 2).tolist()  # [1., 1., 2., 2.]
    """
    dim = _axis(dim, axis)
    x = _t(x)
    if dim is None:
        x, dim = x.reshape(-1), 0
    ax = _dim("repeat_interleave", x, dim)
    n = _shape(x)[ax] if _shape(x) else 1
    shp.reads_values(repeats, "repeat_interleave with tensor repeats (they set the result's length)")
    r = np.asarray(_data(repeats), dtype=np.int64)
    if (r < 0).any():
        raise RuntimeError(f"repeat_interleave: repeats must be non-negative, got {r.tolist()}")
    idx = np.repeat(np.arange(n), np.broadcast_to(r, (n,)) if r.ndim == 0 else r)
    if not _shape(x):
        return shp.getitem(x.reshape(1), index=idx)
    return shp.getitem(x, index=(slice(None),) * ax + (idx,))


def _tri(op, x, diagonal, lower):
    s = _shape(x)
    if len(s) < 2:
        raise RuntimeError(f"{op}: input must be at least 2-d, got shape {s}")
    keep = (np.tri if lower else lambda n, m, k: ~np.tri(n, m, k - 1, dtype=bool))(s[-2], s[-1], diagonal)
    from .elementwise import where
    return where(np.asarray(keep, bool), x, np.zeros((), np.asarray(_data(x)).dtype))


@expose(method=True, numpy=np.tril)
def tril(x, diagonal=0, *, k=_MISSING):
    """Zero everything above the `diagonal`-th diagonal of the last two dims.

    >>> cr.tril(cr.ones(2, 2))  # tensor([[1., 0.], [1., 1.]])
    """
    return _tri("tril", x, diagonal if k is _MISSING else k, True)


@expose(method=True, numpy=np.triu)
def triu(x, diagonal=0, *, k=_MISSING):
    """Zero everything below the `diagonal`-th diagonal of the last two dims.

    >>> cr.triu(cr.ones(2, 2))  # tensor([[1., 1.], [0., 1.]])
    """
    return _tri("triu", x, diagonal if k is _MISSING else k, False)


def _diag_index(n, m, offset):
    rows = np.arange(builtins.max(0, -offset), n)
    cols = rows + offset
    ok = (cols >= 0) & (cols < m)
    return rows[ok], cols[ok]


@expose(method=True, numpy=np.diagonal)
def diagonal(x, offset=0, dim1=0, dim2=1, *, axis1=_MISSING, axis2=_MISSING):
    """The `offset` diagonal of dims (dim1, dim2), as the last dim of the result.

    >>> cr.diagonal(cr.eye(2) * 3).tolist()  # [3., 3.]
    """
    dim1 = dim1 if axis1 is _MISSING else axis1
    dim2 = dim2 if axis2 is _MISSING else axis2
    s = _shape(x)
    a, b = _dim("diagonal", x, dim1), _dim("diagonal", x, dim2)
    if a == b:
        raise RuntimeError(f"diagonal: dim1 and dim2 are both {a} (shape {s})")
    order = [i for i in range(len(s)) if i not in (a, b)] + [a, b]
    y = transpose(_t(x), tuple(order))
    rows, cols = _diag_index(s[a], s[b], offset)
    return shp.getitem(y, index=(Ellipsis, rows, cols))


@expose(method=True)
def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """Put the last dim of x on the `offset` diagonal of new dims (dim1, dim2) of zeros.

    >>> cr.diag_embed(cr.tensor([1.0, 2.0])).tolist()  # [[1., 0.], [0., 2.]]
    """
    s = _shape(x)
    n = s[-1] + builtins.abs(offset)
    nd = len(s) + 1
    a, b = (_dim("diag_embed", np.empty((1,) * nd), d) for d in (dim1, dim2))
    rows, cols = _diag_index(n, n, offset)
    out = shp.scatter_add(_t(x), shape=s[:-1] + (n, n), index=(Ellipsis, rows, cols))
    # out has the new dims last; move them to (a, b)
    rest = [i for i in range(nd) if i not in (a, b)]
    perm = [0] * nd
    for src, dst in zip(range(nd), rest + [a, b]):
        perm[dst] = src
    return transpose(out, tuple(perm))


@expose(method=True, numpy=np.diag)
def diag(x, diagonal=0, *, k=_MISSING):
    """1-d: a square matrix with x on the `diagonal`-th diagonal; 2-d: that diagonal of x.

    >>> cr.diag(cr.tensor([1.0, 2.0])).tolist()  # [[1., 0.], [0., 2.]]
    """
    d = diagonal if k is _MISSING else k
    nd = len(_shape(x))
    if nd == 1:
        return diag_embed(x, d)
    if nd == 2:
        return globals()["diagonal"](x, d)
    raise RuntimeError(f"diag: expects a 1-d or 2-d tensor, got shape {_shape(x)}")


@expose(method=True, numpy=np.trace)
def trace(x, offset=0, *, axis1=0, axis2=1):
    """Sum of the diagonal of a 2-d tensor.  >>> cr.trace(cr.eye(3))  # tensor(3.)"""
    if len(_shape(x)) != 2 and offset == 0 and (axis1, axis2) == (0, 1):
        raise RuntimeError(f"trace: expects a 2-d tensor, got shape {_shape(x)}")
    return diagonal(x, offset, axis1, axis2).sum(axis=-1)


@expose(method=True)
def unflatten(x, dim, sizes):
    """Split dim `dim` into `sizes` (one may be -1).  >>> cr.ones(6).unflatten(0, (2, 3)).shape  # (2, 3)"""
    s = _shape(x)
    a = _dim("unflatten", x, dim)
    return reshape(x, s[:a] + tuple(sizes) + s[a + 1:])


def _unfold_method(x, dimension, size, step):
    """Tensor.unfold(dim, size, step): windows of `size` every `step` along dim, as a new last dim."""
    s = _shape(x)
    if not s:
        return _t(x).reshape(1)
    a = _dim("unfold", x, dimension)
    if size > s[a] or step <= 0 or size < 0:
        raise RuntimeError(f"unfold: size {size} (step {step}) does not fit dimension {a} of "
                           f"size {s[a]} (shape {s})")
    starts = np.arange(0, s[a] - size + 1, step)
    idx = starts[:, None] + np.arange(size)[None, :]
    y = shp.getitem(_t(x), index=(slice(None),) * a + (idx,))
    return moveaxis(y, a + 1, -1)


expose(_unfold_method, name=False, method="unfold")


@expose
def meshgrid(*tensors, indexing=None, copy=True, sparse=False):
    """Coordinate grids of 1-d tensors; indexing 'ij' (PyTorch's default) or 'xy' (NumPy's,
    used when NumPy's np.meshgrid is called).

    >>> [g.shape for g in cr.meshgrid(cr.ones(2), cr.ones(3))]  # [(2, 3), (2, 3)]
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = indexing or "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [reshape(_t(t), (-1,)) for t in tensors]
    sizes = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, t in enumerate(ts):
        pos = i if indexing == "ij" or len(ts) < 2 or i > 1 else 1 - i
        shape = [1] * len(ts)
        shape[pos] = t.shape[0]
        out.append(shp.BroadcastTo(reshape(t, tuple(shape)), shape=tuple(sizes)))
    return tuple(out)


@expose(name=False, numpy=np.meshgrid)
def numpy_meshgrid(*xi, indexing="xy", copy=True, sparse=False):
    """np.meshgrid on Tensors: NumPy's default indexing 'xy'."""
    return meshgrid(*xi, indexing=indexing)


@expose(method=True)
def narrow(x, dim, start, length):
    """The slice start:start+length along `dim`.  >>> cr.arange(5.0).narrow(0, 1, 2).tolist()  # [1., 2.]"""
    s = _shape(x)
    a = _dim("narrow", x, dim)
    start = int(_data(start))
    start = start + s[a] if start < 0 else start
    if not (0 <= start <= s[a] and 0 <= length and start + length <= s[a]):
        raise RangeError(f"narrow: start {start} + length {length} exceeds dimension {a} of size "
                         f"{s[a]} (shape {s})")
    return shp.getitem(_t(x), index=(slice(None),) * a + (slice(start, start + length),))


@expose(method=True)
def select(x, dim, index):
    """x indexed by `index` along `dim` (that dim removed).  >>> cr.eye(2).select(1, 0).tolist()  # [1., 0.]"""
    s = _shape(x)
    a = _dim("select", x, dim)
    if not -s[a] <= index < s[a]:
        raise IndexError(f"select: index {index} is out of range for dimension {a} of size {s[a]}")
    return shp.getitem(_t(x), index=(slice(None),) * a + (int(index),))


@expose(method=True)
def index_select(x, dim, index):
    """Rows (along `dim`) picked by a 1-d integer index; repeats add their gradients.

    >>> cr.index_select(cr.eye(3), 0, cr.tensor([2, 0])).tolist()  # [[0., 0., 1.], [1., 0., 0.]]
    """
    idx = np.asarray(_data(index)).astype(np.int64, copy=False)
    if idx.ndim > 1:
        raise IndexError(f"index_select: index must be 0-d or 1-d, got shape {idx.shape}")
    s = _shape(x)
    if not s:
        return shp.getitem(_t(x).reshape(1), index=idx.reshape(-1)).reshape(s if idx.ndim == 0 else (-1,))
    a = _dim("index_select", x, dim)
    if idx.size and (idx.max() >= s[a] or idx.min() < -s[a]):
        raise IndexError(f"index_select: index {idx.tolist()} out of range for dimension {a} of "
                         f"size {s[a]} (shape {s})")
    return shp.getitem(_t(x), index=(slice(None),) * a + (idx.reshape(-1),))


@expose(method=True)
def masked_select(x, mask):
    """The elements where `mask` (broadcast with x) is True, as a 1-d tensor.

    >>> cr.masked_select(cr.tensor([1.0, 2.0]), cr.tensor([False, True])).tolist()  # [2.]
    """
    m = np.asarray(_data(mask), dtype=bool)
    shape = np.broadcast_shapes(_shape(x), m.shape)
    xb = _t(x) if _shape(x) == shape else shp.BroadcastTo(_t(x), shape=shape)
    return shp.getitem(xb, index=(np.broadcast_to(m, shape),))


@expose(method=True)
def nonzero(x, *, as_tuple=False):
    """Indices of the nonzero elements: an (n, ndim) int64 tensor, or one 1-d tensor per dim.

    >>> cr.nonzero(cr.tensor([0.0, 3.0, 4.0])).tolist()  # [[1], [2]]
    """
    shp.reads_values(x, "cr.nonzero (its result has one row per nonzero)")
    d = np.asarray(_data(x))
    if as_tuple:
        return tuple(_const(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(d)))
    return _const(np.argwhere(d).astype(np.int64))


@expose(method=True)
def movedim(x, source, destination):
    """Move dims `source` to positions `destination` (ints or sequences).

    >>> cr.movedim(cr.ones(2, 3, 4), 0, -1).shape  # (3, 4, 2)
    """
    src = _axes("movedim", x, source)
    dst = _axes("movedim", x, destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: {len(src)} source dims and {len(dst)} destinations")
    nd = len(_shape(x))
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(_t(x), tuple(order)) if nd else _t(x) * 1


def _at_least(n, x):
    s = _shape(x)
    if len(s) >= n:
        return _t(x)
    if n == 1:
        new = (1,)
    elif n == 2:
        new = (1,) * (2 - len(s)) + s
    else:
        new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]
    return reshape(_t(x), new)


def _at_least_fn(n):
    def fn(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        out = tuple(_at_least(n, t) for t in tensors)
        return out[0] if len(out) == 1 else out
    fn.__name__ = fn.__qualname__ = f"atleast_{n}d"
    fn.__doc__ = f"Views with at least {n} dims (as np.atleast_{n}d).  >>> cr.atleast_{n}d(cr.tensor(1.0)).ndim  # {n}"
    return fn


atleast_1d = expose(_at_least_fn(1), numpy=np.atleast_1d)
atleast_2d = expose(_at_least_fn(2), numpy=np.atleast_2d)
atleast_3d = expose(_at_least_fn(3), numpy=np.atleast_3d)


@expose(aliases=("row_stack",), numpy=np.vstack)
def vstack(tensors):
    """Join along dim 0 after atleast_2d.  >>> cr.vstack([cr.ones(2), cr.ones(2)]).shape  # (2, 2)"""
    return concatenate([_at_least(2, t) for t in tensors], axis=0)


@expose(numpy=np.hstack)
def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-d).  >>> cr.hstack([cr.ones(2), cr.ones(3)]).shape  # (5,)"""
    ts = [_at_least(1, t) for t in tensors]
    return concatenate(ts, axis=0 if len(ts[0].shape) == 1 else 1)


@expose(numpy=np.dstack)
def dstack(tensors):
    """Join along dim 2 after atleast_3d.  >>> cr.dstack([cr.ones(2), cr.ones(2)]).shape  # (1, 2, 2)"""
    return concatenate([_at_least(3, t) for t in tensors], axis=2)


@expose(numpy=np.column_stack)
def column_stack(tensors):
    """1-d tensors become columns, then join along dim 1.  >>> cr.column_stack([cr.ones(2), cr.ones(2)]).shape  # (2, 2)"""
    ts = [reshape(_t(t), (-1, 1)) if len(_shape(t)) <= 1 else _t(t) for t in tensors]
    return concatenate(ts, axis=1)


@expose(method=True)
def tensor_split(x, indices_or_sections, dim=0):
    """Split into n nearly equal parts (the first ones one longer), or at the given indices.

    >>> [p.shape for p in cr.tensor_split(cr.ones(5), 3)]  # [(2,), (2,), (1,)]
    """
    s = _shape(x)
    a = _dim("tensor_split", x, dim)
    n = s[a]
    ios = _data(indices_or_sections)
    if isinstance(ios, (int, np.integer)) or (isinstance(ios, np.ndarray) and ios.ndim == 0):
        k = int(ios)
        if k <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be positive, got {k}")
        q, r = divmod(n, k)
        cuts = np.cumsum([q + 1] * r + [q] * (k - r))[:-1].tolist()
    else:
        cuts = [int(i) for i in np.asarray(ios).reshape(-1)]
    bounds = [0] + cuts + [n]
    pre = (slice(None),) * a
    return tuple(shp.getitem(_t(x), index=pre + (slice(builtins.min(lo, n), builtins.min(builtins.max(lo, hi), n)),))
                 for lo, hi in zip(bounds[:-1], bounds[1:]))
