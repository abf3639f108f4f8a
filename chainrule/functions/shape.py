"""Shape ops with NumPy's and PyTorch's spellings: reshape/view, transpose/permute, squeeze, flatten,
expand, cat/stack/split/chunk, pad, indexing. squeeze, stack, split, ... are compositions of the shape
primitives (ops/shape.py) and need no derivative code.
"""
from __future__ import annotations

import builtins
import functools

import math

import numpy as np

from ..ops import shape as shp
from .args import _MISSING, _T, _axis, _data, _dim, _shape_arg
from ..ops.base import RangeError, ShapeError
from .expose import expose


def reshape(x, *shape):
    """Same data in a new shape (one entry may be -1).

    >>> cr.reshape(cr.ones(2, 3), (3, -1)).shape  # (3, 2)
    """
    return shp.Reshape(x, shape=_shape_arg(shape))




def transpose(x, *axes):
    """NumPy: permute axes (reverse if none given). PyTorch: transpose(x, d0, d1) swaps two dims.

    >>> cr.transpose(cr.ones(2, 3, 4), 0, 2).shape  # (4, 3, 2)
    """
    nd = np.ndim(x)
    if len(axes) == 2:   # two separate ints: PyTorch's swap (x.transpose(0, 1) swaps, also for 2-D)
        return swapaxes(x, *(_dim("transpose", x, a) for a in axes))
    axes = _shape_arg(axes) if axes else ()
    if not axes:
        axes = tuple(reversed(range(nd)))
    return shp.Transpose(x, axes=tuple(_dim("transpose", x, a) for a in axes) if nd else ())


@expose(method=True)
def permute(x, *dims):
    """Reorder the axes (PyTorch's permute).

    >>> cr.permute(cr.ones(2, 3, 4), 2, 0, 1).shape  # (4, 2, 3)
    """
    return shp.Transpose(x, axes=_shape_arg(dims))


@expose(method=("swapaxes", "swapdims"), numpy=np.swapaxes)
def swapaxes(x, a, b):
    """Swap two axes.  >>> cr.swapaxes(cr.ones(2, 3), 0, 1).shape  # (3, 2)"""
    a, b = _dim("swapaxes", x, a), _dim("swapaxes", x, b)
    nd = np.ndim(x)
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return shp.Transpose(x, axes=tuple(axes))


@expose(numpy=np.moveaxis)
def moveaxis(x, source, destination):
    """Move one axis to a new place.  >>> cr.moveaxis(cr.ones(2, 3, 4), 0, -1).shape  # (3, 4, 2)"""
    source, destination = _dim("moveaxis", x, source), _dim("moveaxis", x, destination)
    nd = np.ndim(x)
    order = [a for a in range(nd) if a != source]
    order.insert(destination, source)
    return shp.Transpose(x, axes=tuple(order))


@expose(method=True, numpy=np.squeeze)
def squeeze(x, axis=None, *, dim=_MISSING):
    """Drop axes of length 1 (all of them, or the given ones).

    >>> cr.squeeze(cr.ones(2, 1, 3)).shape  # (2, 3)
    """
    axis = _axis(axis, dim)
    s = np.shape(x)
    if axis is None:
        new = tuple(n for n in s if n != 1)
    else:
        axes = {_dim("squeeze", x, a) for a in ((axis,) if isinstance(axis, int) else axis)}
        new = tuple(n for i, n in enumerate(s) if not (i in axes and n == 1))
    return reshape(x, new)


@expose(aliases=("expand_dims",), method="unsqueeze", numpy=np.expand_dims)
def unsqueeze(x, axis=_MISSING, *, dim=_MISSING):
    """Insert an axis of length 1 at `axis` (PyTorch: `dim`).

    >>> cr.unsqueeze(cr.ones(2, 3), 1).shape  # (2, 1, 3)
    """
    axis = _axis(axis, dim)
    if axis is _MISSING:
        raise TypeError("unsqueeze: missing the axis (dim) where the new axis of length 1 goes")
    s = list(np.shape(x))
    s.insert(_dim("unsqueeze", x, axis, extra=1), 1)
    return reshape(x, tuple(s))




@expose(method=True)
def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one.

    >>> cr.flatten(cr.ones(2, 3, 4), 1).shape  # (2, 12)
    """
    s = np.shape(x)
    if not s:
        return reshape(x, (1,))
    a, b = _dim("flatten", x, start_dim), _dim("flatten", x, end_dim)
    if a > b:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"shape {s}")
    # the merged size itself, not -1: with an empty axis elsewhere -1 is ambiguous (NumPy raises)
    return reshape(x, s[:a] + (math.prod(s[a:b + 1]),) + s[b + 1:])


def broadcast_to(x, shape_):
    """Broadcast to `shape`; the gradient is summed back.

    >>> cr.broadcast_to(cr.ones(3), (2, 3)).shape  # (2, 3)
    """
    return shp.BroadcastTo(x, shape=tuple(shape_))


@expose(method=True)
def expand(x, *sizes):
    """PyTorch's expand: broadcast to `sizes`, where -1 keeps a dimension.

    >>> cr.ones(3, 1).expand(-1, 4).shape  # (3, 4)
    """
    sizes = _shape_arg(sizes)
    s = np.shape(x)
    lead = len(sizes) - len(s)
    full = tuple(s[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    return broadcast_to(x, full)


def _promoted(tensors):
    """Tensors of mixed dtypes cast to PyTorch's common one (int64 with float32 is float32;
    NumPy's concatenate would give float64); the casts are recorded, so they trace."""
    tensors = list(tensors)
    kinds = {np.asarray(_data(t)).dtype for t in tensors}
    if len(kinds) < 2:
        return tensors
    from .elementwise import promote_types
    target = functools.reduce(promote_types, kinds)
    return [t.to(target) if _T(t) else np.asarray(t).astype(target) for t in tensors]


def concatenate(tensors, axis=0, *, dim=_MISSING):
    """Join tensors along an existing axis.

    >>> cr.cat([cr.ones(2, 3), cr.ones(1, 3)]).shape  # (3, 3)
    """
    axis = _axis(axis, dim)
    tensors = _promoted(tensors)
    try:
        return shp.Concatenate(*tensors, axis=axis)
    except ShapeError:
        if tensors and isinstance(axis, int):
            _dim("cat", tensors[0], axis)   # a dim out of range: AxisError (an IndexError)
        raise




@expose(numpy=np.stack)
def stack(tensors, axis=0, *, dim=_MISSING):
    """Join tensors of one shape along a new axis.

    >>> cr.stack([cr.ones(3), cr.ones(3)], dim=1).shape  # (3, 2)
    """
    axis = _axis(axis, dim)
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expects a non-empty sequence of tensors, got an empty one")
    return shp.Stack(*tensors, axis=axis)


@expose(method=True)
def split(x, split_size_or_sections, axis=0, *, dim=_MISSING):
    """PyTorch's split: an int gives chunks of that size, a list gives the sizes of the pieces.

    >>> [p.shape for p in cr.split(cr.ones(5), 2)]  # [(2,), (2,), (1,)]
    """
    axis = _dim("split", x, _axis(axis, dim))
    n = np.shape(x)[axis]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be a positive int, got "
                             f"{split_size_or_sections} (shape {np.shape(x)})")
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} do not add up to {n} along axis {axis} of "
                             f"shape {np.shape(x)}")
    pieces, start = [], 0
    pre = (slice(None),) * (axis % np.ndim(x))
    for k in sizes:
        pieces.append(x[pre + (slice(start, start + k),)])
        start += k
    return tuple(pieces)


@expose(method=True)
def chunk(x, chunks, axis=0, *, dim=_MISSING):
    """Split into `chunks` pieces of (nearly) equal size, as torch.chunk.

    >>> [p.shape for p in cr.chunk(cr.ones(6), 3)]  # [(2,), (2,), (2,)]
    """
    axis = _dim("chunk", x, _axis(axis, dim))
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks} (shape {np.shape(x)})")
    n = np.shape(x)[axis]
    return split(x, -(-n // chunks) or 1, axis=axis)   # split needs a positive size


def pad(x, pad_width, value=0.0, mode="constant"):
    """Padding, NumPy's spelling: pad_width is ((before, after), ...) per axis or one pair;
    mode 'constant' (value), 'reflect', 'replicate' or 'circular' (PyTorch's modes); negative
    widths crop. (F.pad takes PyTorch's flat (left, right, top, bottom, ...) instead.)

    >>> cr.pad(cr.ones(2), (1, 2)).tolist()  # [0., 1., 1., 0., 0.]
    """
    nd = np.ndim(x)
    try:
        pw = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width} does not fit shape {np.shape(x)}: expected "
                         f"one (before, after) pair, or one per axis ({nd} pairs)") from None
    if mode != "constant" or (pw < 0).any():
        from ..nn.functional_conv import pad as torch_pad   # the index modes and cropping
        flat = tuple(int(v) for p in pw[::-1] for v in p)
        return torch_pad(x, flat, mode=mode, value=value)
    return shp.Pad(x, pad_width=tuple(tuple(int(v) for v in p) for p in pw), value=value)


def getitem(x, index):
    """x[index]: ints, slices, None, Ellipsis, boolean masks, integer arrays (repeats add up).

    >>> cr.arange(5.0)[[0, 0]].tolist()  # [0., 0.]
    """
    return shp.getitem(x, index=_index(index))


def _index(index):
    if isinstance(index, tuple):
        return tuple(_index_item(i) for i in index)
    return _index_item(index)


def _index_item(i):
    if _T(i):   # kept a Tensor: getitem records it as an input, so traced programs read it
        return i
    if isinstance(i, list):
        return np.asarray(i)
    return i


@expose(method=True, numpy=np.take_along_axis)
def take_along_axis(x, indices, axis):
    """NumPy's take_along_axis, differentiable (gradients of repeated picks add up).

    >>> cr.take_along_axis(cr.tensor([[1.0, 2.0]]), np.array([[1, 1]]), 1)  # tensor([[2., 2.]])
    """
    return _take_along("take_along_axis", x, indices, axis)


def _take_along(op, x, indices, axis):
    """x picked at `indices` along `axis` (one getitem): errors name `op`."""
    idx = np.asarray(_data(indices))
    s = np.shape(x)
    axis = axis % len(s)
    if idx.ndim != len(s):
        raise ShapeError(f"{op}: indices shape {idx.shape} must have as many "
                         f"dimensions as input shape {s}")
    n = s[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RangeError(f"{op}: index {int(idx.max()) if idx.max() >= n else int(idx.min())} "
                         f"is out of range for axis {axis} of size {n} (input shape {s})")
    grid = list(np.ogrid[tuple(slice(k) for k in idx.shape)])
    grid[axis] = idx
    return shp.getitem(x, index=tuple(grid))


@expose(method=True)
def gather(x, dim, index):
    """PyTorch's gather: out[i][j] = x[i][index[i][j]] along `dim`.

    >>> cr.gather(cr.tensor([[1.0, 2.0]]), 1, cr.tensor([[1, 0]]))  # tensor([[2., 1.]])
    """
    return _take_along("gather", x, index, dim)
