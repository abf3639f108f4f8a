"""NumPy's functions called on Tensors (`np.var(t)`, `np.dot(a, b)`, `np.pad(t, 1, 'edge')`): NumPy's
semantics and keyword names, built from chainrule ops so gradients flow. Tensor.__array_function__
sends each NumPy function here (through the exposure table); one without an entry is a TypeError.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..ops import compare as _cmp
from ..ops import linalg as _linalg
from ..ops import shape as shp
from . import reduce as _red
from . import shape as _shape
from .args import _T, _data
from .expose import expose

_make = autograd.Tensor._make


def _unsupported(fn, **given):
    for k, v in given.items():
        if v is not None and v is not np._NoValue:
            raise TypeError(f"numpy.{fn}: {k}= is not supported on chainrule Tensors")


@expose(name=False, numpy=np.var)
def numpy_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
              mean=None, correction=None):
    """np.var: NumPy's ddof=0 default (cr.var and Tensor.var keep PyTorch's correction=1)."""
    _unsupported("var", dtype=dtype, out=out, where=where, mean=mean)
    return _red.var(a, axis=axis, keepdims=bool(keepdims),
                    correction=ddof if correction is None else correction)


@expose(name=False, numpy=np.std)
def numpy_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
              mean=None, correction=None):
    """np.std: NumPy's ddof=0 default."""
    _unsupported("std", dtype=dtype, out=out, where=where, mean=mean)
    return _red.std(a, axis=axis, keepdims=bool(keepdims),
                    correction=ddof if correction is None else correction)


@expose(name=False, numpy=np.dot)
def numpy_dot(a, b, out=None):
    """np.dot in full: scalars multiply, 1-D·1-D is the inner product, N-D·1-D sums over the last
    axis, N-D·M-D sums a's last axis against b's second-to-last (as tensordot)."""
    _unsupported("dot", out=out)
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return a * b
    if nb <= 2 or na == 1:   # here dot and matmul agree (matmul broadcasts a 2-D b over a's rows)
        return _linalg.MatMul(a, b)
    sa, sb = np.shape(a), np.shape(b)
    if sa[-1] != sb[-2]:
        raise ValueError(f"numpy.dot: shapes {sa} and {sb} not aligned: {sa[-1]} (dim {na - 1}) "
                         f"!= {sb[-2]} (dim {nb - 2})")
    k, m = sb[-2], sb[-1]
    bt = _shape.moveaxis(b, -2, 0)                         # (k, B..., m)
    flat = _linalg.MatMul(_shape.reshape(a, (-1, k)), _shape.reshape(bt, (k, -1)))
    return _shape.reshape(flat, sa[:-1] + sb[:-2] + (m,))


_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


@expose(name=False, numpy=np.pad)
def numpy_pad(array, pad_width, mode="constant", **kwargs):
    """np.pad: mode 'constant' (constant_values a number), 'edge', 'reflect', 'symmetric', 'wrap'.

    The index modes pick source elements (np.pad applied to the index range), so the gradient of a
    repeated element adds up, through getitem's rule.
    """
    nd = np.ndim(array)
    try:
        pw = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))
    except ValueError:
        raise ValueError(f"numpy.pad: pad_width {pad_width} does not fit shape {np.shape(array)}") from None
    if (pw < 0).any():   # NumPy's rule (cr.pad and F.pad crop instead)
        raise ValueError(f"numpy.pad: pad_width {pad_width} has a negative width (shape {np.shape(array)})")
    if mode == "constant":
        value = kwargs.pop("constant_values", 0)
        if kwargs or np.ndim(value) != 0:
            raise TypeError(f"numpy.pad: on chainrule Tensors mode 'constant' takes one number as "
                            f"constant_values (got {value!r}{', ' + ', '.join(kwargs) if kwargs else ''})")
        return _shape.pad(array, pw, float(value))
    if mode not in _INDEX_MODES or kwargs:
        raise TypeError(f"numpy.pad: mode {mode!r}{' with ' + ', '.join(kwargs) if kwargs else ''} "
                        f"is not supported on chainrule Tensors; use one of "
                        f"{('constant',) + _INDEX_MODES}")
    out = array
    for ax, (lo, hi) in enumerate(pw):
        if lo or hi:
            idx = np.pad(np.arange(np.shape(array)[ax]), (int(lo), int(hi)), mode=mode)
            out = _shape.getitem(out, (slice(None),) * ax + (idx,))
    return out


def _sublist_letters(sub):
    return "".join("..." if i is Ellipsis else "abcdefghijklmnopqrstuvwxyz"[int(i)] for i in sub)


@expose(name=False, numpy=np.einsum)
def numpy_einsum(*operands, out=None, optimize=False, **kwargs):
    """np.einsum, string form or NumPy's sublist form einsum(a, [0, 1], b, [1, 2], [0, 2])."""
    _unsupported("einsum", out=out, **{k: v for k, v in kwargs.items()})
    if isinstance(operands[0], str):
        return _linalg_einsum(operands[0], *operands[1:])
    pairs, out = (operands, None) if len(operands) % 2 == 0 else (operands[:-1], operands[-1])
    ops = pairs[0::2]
    spec = ",".join(_sublist_letters(s) for s in pairs[1::2])
    if out is not None:
        spec += "->" + _sublist_letters(out)
    return _linalg_einsum(spec, *ops)


def _linalg_einsum(spec, *ops):
    from .linalg import einsum
    return einsum(spec, *ops)


@expose(name=False, numpy=np.transpose)
def numpy_transpose(a, axes=None):
    """np.transpose: reverse the axes, or permute them by `axes`."""
    return _shape.transpose(a) if axes is None else _shape.permute(a, axes)


@expose(name=False, numpy=np.reshape)
def numpy_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """np.reshape (order 'C' only)."""
    if order != "C":
        raise TypeError(f"numpy.reshape: order={order!r} is not supported on chainrule Tensors")
    return _shape.reshape(a, newshape if shape is None else shape)


@expose(name=False, numpy=np.clip)
def numpy_clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,  # noqa: A002
               max=np._NoValue, **kwargs):  # noqa: A002
    """np.clip with NumPy's a_min/a_max (or min/max) names."""
    _unsupported("clip", out=out, **kwargs)
    lo = a_min if a_min is not np._NoValue else (None if min is np._NoValue else min)
    hi = a_max if a_max is not np._NoValue else (None if max is np._NoValue else max)
    from .elementwise import clip
    return clip(a, lo, hi)


@expose(name=False, numpy=np.shape)
def numpy_shape(a):
    return np.shape(_data(a))


@expose(name=False, numpy=np.ndim)
def numpy_ndim(a):
    return np.ndim(_data(a))


@expose(name=False, numpy=np.size)
def numpy_size(a, axis=None):
    return np.size(_data(a), axis)


@expose(name=False, numpy=np.zeros_like)
def numpy_zeros_like(a, dtype=None, order="K", subok=True, shape=None, **kw):
    """np.zeros_like: a constant Tensor."""
    return _make(np.zeros_like(_data(a), dtype=dtype, shape=shape), False)


@expose(name=False, numpy=np.ones_like)
def numpy_ones_like(a, dtype=None, order="K", subok=True, shape=None, **kw):
    """np.ones_like: a constant Tensor."""
    return _make(np.ones_like(_data(a), dtype=dtype, shape=shape), False)



# ---------------------------------------------------------------- nan-aware and boolean reductions
def _nan_zeroed(x):
    from .elementwise import where
    from .elementwise import isnan
    if np.asarray(_data(x)).dtype.kind not in "fc":   # no nan in ints: nansum stays int64
        return x
    return where(isnan(x) if _T(x) else np.isnan(x), 0.0, x)


def _keep(axis, dim, keepdims, keepdim):
    return (axis if dim is None else dim), bool(keepdims or keepdim)


@expose(method=True)
def nansum(x, dim=None, keepdim=False, *, axis=None, keepdims=False, dtype=None):
    """Sum treating nan as 0 (their gradient is 0).  >>> cr.nansum(cr.tensor([1., float('nan')]))"""
    ax, kd = _keep(axis, dim, keepdims, keepdim)
    out = _red_sum(_nan_zeroed(x), ax, kd)
    return out if dtype is None else out.to(dtype)


@expose(method=True)
def nanmean(x, dim=None, keepdim=False, *, axis=None, keepdims=False, dtype=None):
    """Mean over the non-nan elements (nan where all are nan)."""
    ax, kd = _keep(axis, dim, keepdims, keepdim)
    n = _count(_cmp.LogicalNot(_cmp.IsNan(x)), ax, kd)   # primitives: compiled code counts anew
    with np.errstate(invalid="ignore", divide="ignore"):
        out = _red_sum(_nan_zeroed(x), ax, kd) / n.astype(_data(x).dtype)
    return out if dtype is None else out.to(dtype)


@expose(method=True)
def count_nonzero(x, dim=None, *, axis=None):
    """Number of nonzero elements (over dim), int64, no gradient."""
    return _count(_cmp.NotEqual(x, 0), axis if dim is None else dim, False)


@expose(method=True)
def any(x, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001
    """True where any element (over dim) is nonzero."""
    dim, keepdim = _keep(axis, dim, keepdims, keepdim)
    return _cmp.Greater(_count(_cmp.NotEqual(x, 0), dim, keepdim), 0)


@expose(method=True)
def all(x, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001
    """True where every element (over dim) is nonzero."""
    dim, keepdim = _keep(axis, dim, keepdims, keepdim)
    return _cmp.Equal(_count(_cmp.Equal(x, 0), dim, keepdim), 0)


def _count(mask, axis, keepdims):
    """How many True in a bool mask (over axis), int64: comparisons and a sum, all primitives, so
    cr.compile recomputes it on every call (np.count_nonzero on the data would be frozen)."""
    out = _red_sum(mask, axis, keepdims)
    return out if out.dtype == np.int64 else out.astype(np.int64)


def _red_sum(x, axis, keepdims):
    from ..ops import reduce as _r
    from .args import _reduce   # dim 0 of a 0-d tensor, and one-line axis errors
    return _reduce("sum", _r.Sum, x, axis if axis is None or isinstance(axis, int) else tuple(axis),
                   keepdims)


@expose(name=False, numpy=np.nansum)
def numpy_nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _unsupported("nansum", out=out, **kw)
    return nansum(a, axis, keepdims, dtype=dtype)


@expose(name=False, numpy=np.nanmean)
def numpy_nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _unsupported("nanmean", out=out, **kw)
    return nanmean(a, axis, keepdims, dtype=dtype)


@expose(name=False, numpy=np.count_nonzero)
def numpy_count_nonzero(a, axis=None, *, keepdims=False):
    return _count(_cmp.NotEqual(a, 0), axis, keepdims)


@expose(name=False, numpy=np.any)
def numpy_any(a, axis=None, out=None, keepdims=False, **kw):
    _unsupported("any", out=out, **kw)
    return any(a, axis, keepdims)


@expose(name=False, numpy=np.all)
def numpy_all(a, axis=None, out=None, keepdims=False, **kw):
    _unsupported("all", out=out, **kw)
    return all(a, axis, keepdims)


# ---------------------------------------------------------------- sum / mean / prod with dtype=
def _cast(x, dtype):
    return x.to(dtype) if isinstance(x, autograd.Tensor) else np.asarray(x).astype(dtype)


def _with_dtype(name):
    """cr.<name> as generated from the primitive, plus PyTorch's dtype= (cast before reducing)."""
    from ..ops import REGISTRY
    from .args import _MISSING, generate
    base = generate(REGISTRY[name], name)

    def f(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None, dtype=None):
        if dtype is not None:
            x = _cast(x, dtype)
        return base(x, axis, keepdims, dim=dim, keepdim=keepdim)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (base.__doc__ or "") + "\n\n    dtype: cast the input to it first (as PyTorch)."
    return f


sum = _with_dtype("sum")    # noqa: A001  (hand-written: functions/__init__ imports them)
mean = _with_dtype("mean")
prod = _with_dtype("prod")


def _numpy_reduction(np_fn, fn):
    def adapter(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
        _unsupported(np_fn.__name__, out=out, **kw)
        return fn(a, axis, bool(keepdims), dtype=dtype)
    adapter.__name__ = f"numpy_{np_fn.__name__}"
    adapter.__doc__ = f"np.{np_fn.__name__}: NumPy's (a, axis, dtype, out, keepdims) order."
    return expose(adapter, name=False, numpy=np_fn)


for _np_fn, _fn in ((np.sum, sum), (np.mean, mean), (np.prod, prod)):
    _numpy_reduction(_np_fn, _fn)


def _split_at(fn, ary, indices_or_sections, axis, equal):
    n = np.shape(ary)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or (equal and n % k):
            raise ValueError(f"numpy.{fn}: array split does not result in an equal division "
                             f"({n} along axis {axis} into {k})")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        bounds = np.cumsum([0] + sizes).tolist()
    else:
        bounds = [0] + [min(max(int(i), 0), n) for i in indices_or_sections] + [n]
    pre = (slice(None),) * (axis % np.ndim(ary))
    return [_shape.getitem(ary, pre + (slice(lo, max(lo, hi)),)) for lo, hi in zip(bounds, bounds[1:])]


@expose(name=False, numpy=np.split)
def numpy_split(ary, indices_or_sections, axis=0):
    """np.split: N equal sections, or the pieces between the given indices (a list)."""
    return _split_at("split", ary, indices_or_sections, axis, True)


@expose(name=False, numpy=np.array_split)
def numpy_array_split(ary, indices_or_sections, axis=0):
    """np.array_split: as np.split, sections may differ by one."""
    return _split_at("array_split", ary, indices_or_sections, axis, False)


@expose(name=False, numpy=np.fix)
def numpy_fix(x, out=None):
    """np.fix on a Tensor: rounding toward zero (cr.trunc)."""
    if out is not None:
        raise TypeError("numpy.fix: out= is not supported on chainrule Tensors")
    from .. import functions as _f
    return _f.trunc(x)


def _f():
    from .. import functions
    return functions


@expose(name=False, numpy=np.median)
def numpy_median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """np.median on a Tensor: the mean of the two middle values for an even count (NumPy's),
    differentiable; cr.median is PyTorch's lower median."""
    if out is not None:
        raise TypeError("numpy.median: out= is not supported on chainrule Tensors")
    f = _f()
    x = f.reshape(a, (-1,)) if axis is None else a
    ax = 0 if axis is None else axis
    n = np.shape(x)[ax]
    s = f.sort(x, dim=ax).values
    lo, hi = f.narrow(s, ax, (n - 1) // 2, 1), f.narrow(s, ax, n // 2, 1)
    m = (lo + hi) * 0.5
    if keepdims:
        return f.reshape(m, (1,) * np.ndim(a)) if axis is None else m
    return f.reshape(m, ()) if axis is None else f.squeeze(m, ax)


@expose(name=False, numpy=np.nonzero)
def numpy_nonzero(a):
    """np.nonzero on a Tensor: a tuple of int64 index Tensors (no gradient)."""
    return tuple(_make(i.astype(np.int64), False) for i in np.nonzero(_data(a)))


@expose(name=False, numpy=np.take)
def numpy_take(a, indices, axis=None, out=None, mode="raise"):
    """np.take on a Tensor: flattened picks (axis=None) or picks along an axis, differentiable."""
    if out is not None or mode != "raise":
        raise TypeError("numpy.take: out= and mode= are not supported on chainrule Tensors")
    f = _f()
    idx = np.asarray(_data(indices))
    if axis is None:
        return f.reshape(f.take(a, _make(idx.reshape(-1), False)), idx.shape)
    picked = f.index_select(a, axis, _make(idx.reshape(-1), False))
    shape = list(np.shape(a))
    shape[axis:axis + 1] = list(idx.shape)
    return f.reshape(picked, tuple(shape))


@expose(name=False, numpy=np.unique)
def numpy_unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
                 **kwargs):
    """np.unique on a Tensor, NumPy's arguments and results, as Tensors (no gradient)."""
    shp.reads_values(ar, "np.unique (its result has one entry per distinct value)")
    res = np.unique(_data(ar), return_index=return_index, return_inverse=return_inverse,
                    return_counts=return_counts, axis=axis, **kwargs)
    if isinstance(res, tuple):
        return tuple(_make(np.asarray(r), False) for r in res)
    return _make(np.asarray(res), False)
