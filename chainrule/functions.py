"""The op API (`cr.exp`, `cr.sum`, `cr.cat`, ...): argument spelling of NumPy and PyTorch, then a primitive.

Ops that are compositions of primitives (var, std, stack, split, squeeze, ...) live here and need no
derivative code of their own.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import autograd
from .ops import arith, linalg, nn, reduce
from .ops import shape as shp

_MISSING = object()


def _axis(axis, dim):
    if dim is not _MISSING:
        axis = dim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis


def _T(x):
    return isinstance(x, autograd.Tensor)


def _data(x):
    return x.data if _T(x) else x


# ---------------------------------------------------------------- elementwise

def add(x, y):
    """x + y (broadcasting)."""
    return arith.Add(x, y)


def sub(x, y):
    """x - y (broadcasting)."""
    return arith.Sub(x, y)


def mul(x, y):
    """x * y (broadcasting)."""
    return arith.Mul(x, y)


def div(x, y):
    """x / y (broadcasting)."""
    return arith.Div(x, y)


def pow(x, p):  # noqa: A001 - the op's name
    """x ** p."""
    return arith.Pow(x, p)


def neg(x):
    return arith.Neg(x)


def exp(x):
    """eˣ elementwise.  >>> cr.exp(cr.tensor([0.0]))  # tensor([1.])"""
    return arith.Exp(x)


def log(x):
    return arith.Log(x)


def log1p(x):
    return arith.Log1p(x)


def sqrt(x):
    return arith.Sqrt(x)


def abs(x):  # noqa: A001
    return arith.Abs(x)


def sign(x):
    return arith.Sign(x)


def sin(x):
    return arith.Sin(x)


def cos(x):
    return arith.Cos(x)


def tanh(x):
    return arith.Tanh(x)


def sigmoid(x):
    """1 / (1 + e⁻ˣ), computed without overflow."""
    return arith.Sigmoid(x)


def relu(x):
    return arith.Relu(x)


def leaky_relu(x, negative_slope=0.01):
    return arith.LeakyRelu(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    return arith.Elu(x, alpha=alpha)


def softplus(x):
    return arith.Softplus(x)


def maximum(x, y):
    """Elementwise max; the gradient is routed to the larger input."""
    return arith.Maximum(x, y)


def minimum(x, y):
    return arith.Minimum(x, y)


def clip(x, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    """Limit values to [min, max]; tensors as bounds are allowed."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if _T(min) or _T(max):
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    return arith.Clip(x, min=min, max=max)


clamp = clip


def where(cond, x, y):
    """x where cond else y; cond carries no gradient."""
    return arith.Where(np.asarray(_data(cond), dtype=bool), x, y)


# ---------------------------------------------------------------- reductions

def sum(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):  # noqa: A001
    """Sum over `axis` (int or tuple; `dim=` accepted), keeping reduced axes if `keepdims`."""
    return reduce.Sum(x, axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim))


def mean(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    return reduce.Mean(x, axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim))


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme(prim, argf, x, axis, keepdims, dim, keepdim):
    if _T(axis) and dim is _MISSING:   # x.max(other): PyTorch's elementwise spelling
        return (maximum if prim is reduce.Max else minimum)(x, axis)
    keep = bool(keepdims or keepdim)
    if dim is not _MISSING and isinstance(dim, int):
        # PyTorch's spelling x.max(dim=1) returns (values, indices), and (as in PyTorch) the
        # gradient goes to the returned index only; NumPy's axis= and amax split ties evenly.
        idx = argf(x, axis=dim, keepdims=True)
        values = take_along_axis(x, idx, dim)
        if not keep:
            values, idx = squeeze(values, dim), squeeze(idx, dim)
        return MaxResult(values, idx)
    return prim(x, axis=_axis(axis, dim), keepdims=keep)


def max(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):  # noqa: A001
    """Largest value over `axis`; with PyTorch's `dim=` returns (values, indices)."""
    return _extreme(reduce.Max, argmax, x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):  # noqa: A001
    """Smallest value over `axis`; with PyTorch's `dim=` returns (values, indices)."""
    return _extreme(reduce.Min, argmin, x, axis, keepdims, dim, keepdim)


def amax(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Largest value over `axis`, values only (as torch.amax); ties share the gradient evenly."""
    return reduce.Max(x, axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim))


def amin(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Smallest value over `axis`, values only (as torch.amin); ties share the gradient evenly."""
    return reduce.Min(x, axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim))


def prod(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    return reduce.Prod(x, axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim))


def logsumexp(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """log Σ exp(x), stable for large inputs."""
    return reduce.LogSumExp(x, axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim))


def var(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None, correction=None,
        ddof=None, unbiased=None):
    """Variance. Unbiased (correction=1) by default, as in PyTorch; `ddof=0` gives NumPy's."""
    axis = _axis(axis, dim)
    keep = bool(keepdims or keepdim)
    c = 1
    for v in (correction, ddof):
        if v is not None:
            c = v
    if unbiased is not None:
        c = 1 if unbiased else 0
    n = reduce.count(np.shape(x), axis)
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keep) / (n - c)


def std(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None, correction=None,
        ddof=None, unbiased=None):
    """Standard deviation (unbiased by default, as in PyTorch)."""
    return sqrt(var(x, axis, keepdims, dim=dim, keepdim=keepdim, correction=correction,
                    ddof=ddof, unbiased=unbiased))


def norm(x, p=2, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """p-norm over `axis` (all elements by default: the Frobenius norm for matrices)."""
    axis = _axis(axis, dim)
    keep = bool(keepdims or keepdim)
    if p == 2 or p == "fro":
        return reduce.Norm(x, axis=axis, keepdims=keep)
    if p == 1:
        return sum(abs(x), axis=axis, keepdims=keep)
    if p == float("inf"):
        return max(abs(x), axis=axis, keepdims=keep)
    return sum(abs(x) ** p, axis=axis, keepdims=keep) ** (1.0 / p)


def argmax(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Index of the largest value (no gradient)."""
    return _const(np.argmax(_data(x), axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim)))


def argmin(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    return _const(np.argmin(_data(x), axis=_axis(axis, dim), keepdims=bool(keepdims or keepdim)))


def _const(a):
    return autograd.Tensor._make(np.asarray(a), False)


# ---------------------------------------------------------------- softmax family

def softmax(x, axis=-1, *, dim=_MISSING):
    """eˣ / Σ eˣ along axis (stable for large inputs)."""
    return nn.Softmax(x, axis=_axis(axis, dim))


def log_softmax(x, axis=-1, *, dim=_MISSING):
    """x − log Σ eˣ along axis (stable for large inputs)."""
    return nn.LogSoftmax(x, axis=_axis(axis, dim))


# ---------------------------------------------------------------- linear algebra

def matmul(x, y):
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (batch dims broadcast)."""
    return linalg.MatMul(x, y)


def dot(x, y):
    """Inner product of two 1-D tensors."""
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ValueError(f"dot: expects two 1-D tensors, got shapes {np.shape(x)} and {np.shape(y)}")
    return linalg.MatMul(x, y)


def outer(x, y):
    """Outer product x yᵀ of two 1-D tensors."""
    return mul(reshape(x, (-1, 1)), reshape(y, (1, -1)))


einsum = linalg.einsum


# ---------------------------------------------------------------- shape

def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    """View with a new shape (one entry may be -1)."""
    return shp.Reshape(x, shape=_shape_arg(shape))


view = reshape


def transpose(x, *axes):
    """NumPy: permute axes (reverse if none given). PyTorch: transpose(x, d0, d1) swaps two dims."""
    nd = np.ndim(x)
    if len(axes) == 2:   # two separate ints: PyTorch's swap (x.transpose(0, 1) swaps, also for 2-D)
        return swapaxes(x, *axes)
    axes = _shape_arg(axes) if axes else ()
    if not axes:
        axes = tuple(reversed(range(nd)))
    return shp.Transpose(x, axes=tuple(a % nd for a in axes) if nd else ())


def permute(x, *dims):
    return shp.Transpose(x, axes=_shape_arg(dims))


def swapaxes(x, a, b):
    nd = np.ndim(x)
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return shp.Transpose(x, axes=tuple(axes))


def moveaxis(x, source, destination):
    nd = np.ndim(x)
    order = [a for a in range(nd) if a != source % nd]
    order.insert(destination % nd, source % nd)
    return shp.Transpose(x, axes=tuple(order))


def squeeze(x, axis=None, *, dim=_MISSING):
    """Drop axes of length 1 (all of them, or the given ones)."""
    axis = _axis(axis, dim)
    s = np.shape(x)
    if axis is None:
        new = tuple(n for n in s if n != 1)
    else:
        axes = {a % len(s) for a in ((axis,) if isinstance(axis, int) else axis)}
        new = tuple(n for i, n in enumerate(s) if not (i in axes and n == 1))
    return reshape(x, new)


def unsqueeze(x, axis=_MISSING, *, dim=_MISSING):
    """Insert an axis of length 1 at `axis` (PyTorch: `dim`)."""
    axis = _axis(axis, dim)
    s = list(np.shape(x))
    s.insert(axis % (len(s) + 1), 1)
    return reshape(x, tuple(s))


expand_dims = unsqueeze


def flatten(x, start_dim=0, end_dim=-1):
    s = np.shape(x)
    if not s:
        return reshape(x, (1,))
    a, b = start_dim % len(s), end_dim % len(s)
    return reshape(x, s[:a] + (-1,) + s[b + 1:])


def broadcast_to(x, shape_):
    return shp.BroadcastTo(x, shape=tuple(shape_))


def expand(x, *sizes):
    """PyTorch's expand: broadcast to `sizes`, where -1 keeps a dimension."""
    sizes = _shape_arg(sizes)
    s = np.shape(x)
    lead = len(sizes) - len(s)
    full = tuple(s[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    return broadcast_to(x, full)


def concatenate(tensors, axis=0, *, dim=_MISSING):
    """Join tensors along an existing axis."""
    return shp.Concatenate(*tensors, axis=_axis(axis, dim))


cat = concatenate


def stack(tensors, axis=0, *, dim=_MISSING):
    """Join tensors along a new axis."""
    axis = _axis(axis, dim)
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


def split(x, split_size_or_sections, axis=0, *, dim=_MISSING):
    """PyTorch's split: an int gives chunks of that size, a list gives the sizes of the pieces."""
    axis = _axis(axis, dim)
    n = np.shape(x)[axis]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins_sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} along axis {axis} of "
                             f"shape {np.shape(x)}")
    pieces, start = [], 0
    pre = (slice(None),) * (axis % np.ndim(x))
    for k in sizes:
        pieces.append(x[pre + (slice(start, start + k),)])
        start += k
    return tuple(pieces)


def chunk(x, chunks, axis=0, *, dim=_MISSING):
    axis = _axis(axis, dim)
    n = np.shape(x)[axis]
    return split(x, -(-n // chunks), axis=axis)


def pad(x, pad_width, value=0.0):
    """Constant padding, NumPy's spelling: pad_width is ((before, after), ...) per axis or one pair."""
    nd = np.ndim(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))
    return shp.Pad(x, pad_width=tuple(tuple(int(v) for v in p) for p in pw), value=value)


def getitem(x, index):
    return shp.GetItem(x, index=_index(index))


def _index(index):
    if isinstance(index, tuple):
        return tuple(_index_item(i) for i in index)
    return _index_item(index)


def _index_item(i):
    if _T(i):
        return i.data
    if isinstance(i, list):
        return np.asarray(i)
    return i


def take_along_axis(x, indices, axis):
    """NumPy's take_along_axis, differentiable (gradients of repeated picks add up)."""
    idx = np.asarray(_data(indices))
    s = np.shape(x)
    axis = axis % len(s)
    if idx.ndim != len(s):
        raise ValueError(f"take_along_axis: indices shape {idx.shape} must have as many "
                         f"dimensions as input shape {s}")
    grid = list(np.ogrid[tuple(slice(n) for n in idx.shape)])
    grid[axis] = idx
    return shp.GetItem(x, index=tuple(grid))


def gather(x, dim, index):
    """PyTorch's gather: out[i][j] = x[i][index[i][j]] along `dim`."""
    return take_along_axis(x, index, dim)


builtins_sum = __builtins__["sum"] if isinstance(__builtins__, dict) else __builtins__.sum
