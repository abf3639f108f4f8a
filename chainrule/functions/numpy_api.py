"""NumPy's functions called on Tensors (`np.var(t)`, `np.dot(a, b)`, `np.pad(t, 1, 'edge')`): NumPy's
semantics and keyword names, built from chainrule ops so gradients flow. Tensor.__array_function__
sends each NumPy function here (through the exposure table); one without an entry is a TypeError.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..ops import linalg as _linalg
from . import reduce as _red
from . import shape as _shape
from .args import _data
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
    return _red.var(a, axis, bool(keepdims), correction=ddof if correction is None else correction)


@expose(name=False, numpy=np.std)
def numpy_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
              mean=None, correction=None):
    """np.std: NumPy's ddof=0 default."""
    _unsupported("std", dtype=dtype, out=out, where=where, mean=mean)
    return _red.std(a, axis, bool(keepdims), correction=ddof if correction is None else correction)


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
    if sub is Ellipsis or (isinstance(sub, (list, tuple)) and Ellipsis in sub):
        raise NotImplementedError("numpy.einsum: '...' is not supported on chainrule Tensors; "
                                  "write the axes out")
    return "".join("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(i)] for i in sub)


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

