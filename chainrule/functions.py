"""The op API (`cr.exp`, `cr.sum`, `cr.cat`, ...): argument spelling of NumPy and PyTorch, then a primitive.

Ops that are compositions of primitives (var, std, stack, split, squeeze, ...) live here and need no
derivative code of their own.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from . import autograd
from .ops import arith, linalg, nn, reduce
from .ops import shape as shp

_MISSING = object()
_AxisError = getattr(np, "exceptions", np).AxisError   # NumPy 2 moved it to np.exceptions


def _axis(axis, dim):
    if dim is not _MISSING:
        axis = dim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis


def _T(x):
    return isinstance(x, autograd.Tensor)


def _dim(op, x, axis, extra=0):
    """`axis` as an index into range(ndim + extra), or a one-line error naming op, shape and range."""
    shape = np.shape(x)
    nd = len(shape) + extra
    lo, hi = (-1, 0) if nd == 0 else (-nd, nd - 1)   # a 0-d tensor accepts axis 0 and -1 (PyTorch)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not lo <= axis <= hi:
        raise _AxisError(f"{op}: axis {axis!r} is out of range for shape {shape} (expected an "
                         f"int in [{lo}, {hi}])")
    return int(axis) % nd if nd else 0


def _check_axes(op, x, axis):
    """Raise a one-line error if `axis` (None, int or tuple) is not valid for x; else return it.

    The hot reductions (sum, mean, max, ...) call it only after NumPy rejected the call, so a
    valid call pays nothing for it.
    """
    if axis is None:
        return axis
    axes = axis if isinstance(axis, tuple) else (axis,)
    seen = [_dim(op, x, a) for a in axes]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{op}: axis {axis} names the same axis twice (shape {np.shape(x)})")
    return axis


def _data(x):
    return x.data if _T(x) else x


# ---------------------------------------------------------------- elementwise

def add(x, y):
    """x + y with broadcasting.

    >>> cr.add(cr.ones(2, 1), cr.ones(3))  # shape (2, 3), all 2
    """
    return arith.Add(x, y)


def sub(x, y):
    """x − y with broadcasting.

    >>> cr.sub(cr.tensor([3.0]), 1)  # tensor([2.])
    """
    return arith.Sub(x, y)


def mul(x, y):
    """x · y with broadcasting (the mul gate swaps: dx = y·g).

    >>> cr.mul(cr.tensor([2.0]), 3)  # tensor([6.])
    """
    return arith.Mul(x, y)


def div(x, y):
    """x / y with broadcasting.

    >>> cr.div(cr.tensor([3.0]), 2)  # tensor([1.5])
    """
    return arith.Div(x, y)


def pow(x, p):  # noqa: A001 - the op's name
    """x ** p (p a number or a tensor).

    >>> cr.pow(cr.tensor([3.0]), 2)  # tensor([9.])
    """
    return arith.Pow(x, p)


def neg(x):
    """−x.

    >>> cr.neg(cr.tensor([1.0]))  # tensor([-1.])
    """
    return arith.Neg(x)


def exp(x):
    """eˣ elementwise.  >>> cr.exp(cr.tensor([0.0]))  # tensor([1.])"""
    return arith.Exp(x)


def log(x):
    """Natural logarithm.

    >>> cr.log(cr.tensor([1.0]))  # tensor([0.])
    """
    return arith.Log(x)


def log1p(x):
    """log(1 + x), accurate for small x.

    >>> cr.log1p(cr.tensor([0.0]))  # tensor([0.])
    """
    return arith.Log1p(x)


def sqrt(x):
    """Square root.

    >>> cr.sqrt(cr.tensor([4.0]))  # tensor([2.])
    """
    return arith.Sqrt(x)


def abs(x):  # noqa: A001
    """|x|; the gradient at 0 is 0.

    >>> cr.abs(cr.tensor([-2.0]))  # tensor([2.])
    """
    return arith.Abs(x)


def sign(x):
    """Sign of x (−1, 0 or 1); its gradient is zero.

    >>> cr.sign(cr.tensor([-2.0]))  # tensor([-1.])
    """
    return arith.Sign(x)


def sin(x):
    """Sine.

    >>> cr.sin(cr.tensor([0.0]))  # tensor([0.])
    """
    return arith.Sin(x)


def cos(x):
    """Cosine.

    >>> cr.cos(cr.tensor([0.0]))  # tensor([1.])
    """
    return arith.Cos(x)


def tanh(x):
    """Hyperbolic tangent; d/dx = 1 − tanh².

    >>> cr.tanh(cr.tensor([0.0]))  # tensor([0.])
    """
    return arith.Tanh(x)


def sigmoid(x):
    """1 / (1 + e⁻ˣ), computed without overflow; d/dx = σ(1 − σ).

    >>> cr.sigmoid(cr.tensor([0.0]))  # tensor([0.5])
    """
    return arith.Sigmoid(x)


def relu(x):
    """max(x, 0): routes the upstream gradient where x > 0.

    >>> cr.relu(cr.tensor([-1.0, 2.0]))  # tensor([0., 2.])
    """
    return arith.Relu(x)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope · x.

    >>> cr.leaky_relu(cr.tensor([-1.0]), 0.1)  # tensor([-0.1])
    """
    return arith.LeakyRelu(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    """x where x > 0, else alpha · (eˣ − 1).

    >>> cr.elu(cr.tensor([0.0]))  # tensor([0.])
    """
    return arith.Elu(x, alpha=alpha)


def softplus(x):
    """log(1 + eˣ), stable for large |x|.

    >>> cr.softplus(cr.tensor([0.0]))  # tensor([0.6931])
    """
    return arith.Softplus(x)


def maximum(x, y):
    """Elementwise max; the gradient is routed to the larger input (split evenly on ties).

    >>> cr.maximum(cr.tensor([1.0, 5.0]), 3)  # tensor([3., 5.])
    """
    return arith.Maximum(x, y)


def minimum(x, y):
    """Elementwise min; the gradient is routed to the smaller input.

    >>> cr.minimum(cr.tensor([1.0, 5.0]), 3)  # tensor([1., 3.])
    """
    return arith.Minimum(x, y)


def clip(x, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    """Limit values to [min, max] (either may be None; tensors as bounds are allowed).

    >>> cr.clip(cr.tensor([-2.0, 0.5, 2.0]), -1, 1)  # tensor([-1., 0.5, 1.])
    """
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if _T(min) or _T(max):
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    return arith.Clip(x, min=min, max=max)


clamp = clip


def where(cond, x, y):
    """x where cond else y (broadcasting); cond carries no gradient.

    >>> cr.where(cr.tensor([True, False]), 1.0, cr.tensor([5.0, 6.0]))  # tensor([1., 6.])
    """
    return arith.Where(np.asarray(_data(cond), dtype=bool), x, y)


# ---------------------------------------------------------------- reductions

def _reduce(op, prim, x, axis, keepdims):
    try:
        return prim(x, axis=axis, keepdims=bool(keepdims))
    except (IndexError, ValueError):
        _check_axes(op, x, axis)   # a bad axis gets a one-line error naming op and shape
        raise


def sum(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):  # noqa: A001
    """Sum over `axis` (int or tuple; `dim=` accepted), keeping reduced axes if `keepdims`.

    >>> cr.sum(cr.ones(2, 3), axis=1)  # tensor([3., 3.])
    """
    return _reduce("sum", reduce.Sum, x, _axis(axis, dim), keepdims or keepdim)


def mean(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Mean over `axis` (int or tuple; `dim=`/`keepdim=` accepted).

    >>> cr.mean(cr.tensor([1.0, 3.0]))  # tensor(2.)
    """
    return _reduce("mean", reduce.Mean, x, _axis(axis, dim), keepdims or keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme(prim, argf, x, axis, keepdims, dim, keepdim):
    if _T(axis) and dim is _MISSING:   # x.max(other): PyTorch's elementwise spelling
        return (maximum if prim is reduce.Max else minimum)(x, axis)
    keep = bool(keepdims or keepdim)
    op = "max" if prim is reduce.Max else "min"
    if dim is not _MISSING and isinstance(dim, int):
        # PyTorch's spelling x.max(dim=1) returns (values, indices), and (as in PyTorch) the
        # gradient goes to the returned index only; NumPy's axis= and amax split ties evenly.
        idx = argf(x, axis=_dim(op, x, dim), keepdims=True)
        values = take_along_axis(x, idx, dim)
        if not keep:
            values, idx = squeeze(values, dim), squeeze(idx, dim)
        return MaxResult(values, idx)
    return _reduce(op, prim, x, _axis(axis, dim), keep)


def max(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):  # noqa: A001
    """Largest value over `axis` (ties share the gradient); with PyTorch's `dim=` returns (values, indices).

    >>> cr.tensor([[1.0, 5.0]]).max(dim=1)  # (tensor([5.]), tensor([1]))
    """
    return _extreme(reduce.Max, argmax, x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):  # noqa: A001
    """Smallest value over `axis`; with PyTorch's `dim=` returns (values, indices).

    >>> cr.min(cr.tensor([2.0, 1.0]))  # tensor(1.)
    """
    return _extreme(reduce.Min, argmin, x, axis, keepdims, dim, keepdim)


def amax(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Largest value over `axis`, values only (as torch.amax); ties share the gradient evenly.

    >>> cr.amax(cr.ones(2, 3), dim=0).shape  # (3,)
    """
    return _reduce("amax", reduce.Max, x, _axis(axis, dim), keepdims or keepdim)


def amin(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Smallest value over `axis`, values only (as torch.amin); ties share the gradient evenly.

    >>> cr.amin(cr.ones(2, 3), dim=0).shape  # (3,)
    """
    return _reduce("amin", reduce.Min, x, _axis(axis, dim), keepdims or keepdim)


def prod(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Product over `axis` (its gradient is exact also where inputs are zero).

    >>> cr.prod(cr.tensor([2.0, 3.0]))  # tensor(6.)
    """
    return _reduce("prod", reduce.Prod, x, _axis(axis, dim), keepdims or keepdim)


def logsumexp(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """log Σ exp(x) over `axis`, stable for large inputs.

    >>> cr.logsumexp(cr.tensor([1000.0, 1000.0]))  # tensor(1000.6931)
    """
    return _reduce("logsumexp", reduce.LogSumExp, x, _axis(axis, dim), keepdims or keepdim)


def var(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None, correction=None,
        ddof=None, unbiased=None):
    """Variance, unbiased (correction=1) by default as in PyTorch; `ddof=0` gives NumPy's.

    >>> cr.var(cr.tensor([1.0, 3.0]))  # tensor(2.)
    """
    axis = _check_axes("var", x, _axis(axis, dim))
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
    """Standard deviation (unbiased by default, as in PyTorch).

    >>> cr.std(cr.tensor([1.0, 3.0]), correction=0)  # tensor(1.)
    """
    return sqrt(var(x, axis, keepdims, dim=dim, keepdim=keepdim, correction=correction,
                    ddof=ddof, unbiased=unbiased))


def norm(x, p=2, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """p-norm over `axis` (all elements by default: the Frobenius norm for matrices).

    >>> cr.norm(cr.tensor([3.0, 4.0]))  # tensor(5.)
    """
    axis = _check_axes("norm", x, _axis(axis, dim))
    keep = bool(keepdims or keepdim)
    if p == 2 or p == "fro":
        return reduce.Norm(x, axis=axis, keepdims=keep)
    if p == 1:
        return sum(abs(x), axis=axis, keepdims=keep)
    if p == float("inf"):
        return max(abs(x), axis=axis, keepdims=keep)
    return sum(abs(x) ** p, axis=axis, keepdims=keep) ** (1.0 / p)


def _index_of(np_fn):
    """An arg-reduction with the reduction-primitive call signature (for `_reduce`)."""
    def run(x, axis=None, keepdims=False):
        return _const(np_fn(_data(x), axis=axis, keepdims=keepdims))
    return run


_argmax, _argmin = _index_of(np.argmax), _index_of(np.argmin)


def argmax(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Index of the largest value over `axis` (no gradient).

    >>> cr.argmax(cr.tensor([1.0, 5.0, 2.0]))  # tensor(1)
    """
    return _reduce("argmax", _argmax, x, _axis(axis, dim), keepdims or keepdim)


def argmin(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
    """Index of the smallest value over `axis` (no gradient).

    >>> cr.argmin(cr.tensor([1.0, 5.0, 0.0]))  # tensor(2)
    """
    return _reduce("argmin", _argmin, x, _axis(axis, dim), keepdims or keepdim)


def _const(a):
    return autograd.Tensor._make(np.asarray(a), False)


# ---------------------------------------------------------------- softmax family

def softmax(x, axis=-1, *, dim=_MISSING):
    """eˣ / Σ eˣ along `axis` (stable for large inputs).

    >>> cr.softmax(cr.tensor([0.0, 0.0]))  # tensor([0.5, 0.5])
    """
    axis = _axis(axis, dim)
    try:
        return nn.Softmax(x, axis=axis)
    except (IndexError, ValueError):
        _check_axes("softmax", x, axis)
        raise


def log_softmax(x, axis=-1, *, dim=_MISSING):
    """x − log Σ eˣ along `axis` (stable for large inputs).

    >>> cr.log_softmax(cr.tensor([0.0, 0.0]))  # tensor([-0.6931, -0.6931])
    """
    axis = _axis(axis, dim)
    try:
        return nn.LogSoftmax(x, axis=axis)
    except (IndexError, ValueError):
        _check_axes("log_softmax", x, axis)
        raise


# ---------------------------------------------------------------- linear algebra

def matmul(x, y):
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (batch dims broadcast).

    >>> cr.matmul(cr.ones(2, 3), cr.ones(3, 4)).shape  # (2, 4)
    """
    return linalg.MatMul(x, y)


def dot(x, y):
    """Inner product of two 1-D tensors.

    >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))  # tensor(11.)
    """
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ValueError(f"dot: expects two 1-D tensors, got shapes {np.shape(x)} and {np.shape(y)}")
    return linalg.MatMul(x, y)


def outer(x, y):
    """Outer product x yᵀ of two 1-D tensors.  >>> cr.outer(cr.ones(2), cr.ones(3)).shape  # (2, 3)"""
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {np.shape(x)} and "
                         f"{np.shape(y)}")
    return mul(reshape(x, (-1, 1)), reshape(y, (1, -1)))


def einsum(subscripts, *operands):
    """Einstein summation, differentiable.  >>> cr.einsum("ij,jk->ik", a, b)  # a @ b"""
    try:
        return linalg.einsum(subscripts, *operands)
    except ValueError as e:
        if str(e).startswith("einsum"):
            raise
        shapes = " and ".join(str(np.shape(o)) for o in operands)
        raise ValueError(f"einsum: subscripts {subscripts!r} do not fit shapes {shapes} "
                         f"({str(e).strip()})".replace("\n", " ")) from None


# ---------------------------------------------------------------- shape

def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    """Same data in a new shape (one entry may be -1).

    >>> cr.reshape(cr.ones(2, 3), (3, -1)).shape  # (3, 2)
    """
    return shp.Reshape(x, shape=_shape_arg(shape))


view = reshape


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


def permute(x, *dims):
    """Reorder the axes (PyTorch's permute).

    >>> cr.permute(cr.ones(2, 3, 4), 2, 0, 1).shape  # (4, 2, 3)
    """
    return shp.Transpose(x, axes=_shape_arg(dims))


def swapaxes(x, a, b):
    """Swap two axes.  >>> cr.swapaxes(cr.ones(2, 3), 0, 1).shape  # (3, 2)"""
    a, b = _dim("swapaxes", x, a), _dim("swapaxes", x, b)
    nd = np.ndim(x)
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return shp.Transpose(x, axes=tuple(axes))


def moveaxis(x, source, destination):
    """Move one axis to a new place.  >>> cr.moveaxis(cr.ones(2, 3, 4), 0, -1).shape  # (3, 4, 2)"""
    source, destination = _dim("moveaxis", x, source), _dim("moveaxis", x, destination)
    nd = np.ndim(x)
    order = [a for a in range(nd) if a != source]
    order.insert(destination, source)
    return shp.Transpose(x, axes=tuple(order))


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


expand_dims = unsqueeze


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one.

    >>> cr.flatten(cr.ones(2, 3, 4), 1).shape  # (2, 12)
    """
    s = np.shape(x)
    if not s:
        return reshape(x, (1,))
    a, b = _dim("flatten", x, start_dim), _dim("flatten", x, end_dim)
    if a > b:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"shape {s}")
    return reshape(x, s[:a] + (-1,) + s[b + 1:])


def broadcast_to(x, shape_):
    """Broadcast to `shape`; the gradient is summed back.

    >>> cr.broadcast_to(cr.ones(3), (2, 3)).shape  # (2, 3)
    """
    return shp.BroadcastTo(x, shape=tuple(shape_))


def expand(x, *sizes):
    """PyTorch's expand: broadcast to `sizes`, where -1 keeps a dimension.

    >>> cr.ones(3, 1).expand(-1, 4).shape  # (3, 4)
    """
    sizes = _shape_arg(sizes)
    s = np.shape(x)
    lead = len(sizes) - len(s)
    full = tuple(s[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    return broadcast_to(x, full)


def concatenate(tensors, axis=0, *, dim=_MISSING):
    """Join tensors along an existing axis.

    >>> cr.cat([cr.ones(2, 3), cr.ones(1, 3)]).shape  # (3, 3)
    """
    return shp.Concatenate(*tensors, axis=_axis(axis, dim))


cat = concatenate


def stack(tensors, axis=0, *, dim=_MISSING):
    """Join tensors of one shape along a new axis.

    >>> cr.stack([cr.ones(3), cr.ones(3)], dim=1).shape  # (3, 2)
    """
    axis = _axis(axis, dim)
    tensors = list(tensors)
    shapes = {np.shape(t) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: expects tensors of one shape, got shapes "
                         f"{' and '.join(str(np.shape(t)) for t in tensors)}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


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
            raise ValueError(f"split: sizes {sizes} do not add up to {n} along axis {axis} of "
                             f"shape {np.shape(x)}")
    pieces, start = [], 0
    pre = (slice(None),) * (axis % np.ndim(x))
    for k in sizes:
        pieces.append(x[pre + (slice(start, start + k),)])
        start += k
    return tuple(pieces)


def chunk(x, chunks, axis=0, *, dim=_MISSING):
    """Split into `chunks` pieces of (nearly) equal size, as torch.chunk.

    >>> [p.shape for p in cr.chunk(cr.ones(6), 3)]  # [(2,), (2,), (2,)]
    """
    axis = _dim("chunk", x, _axis(axis, dim))
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks} (shape {np.shape(x)})")
    n = np.shape(x)[axis]
    return split(x, -(-n // chunks) or 1, axis=axis)   # split needs a positive size


def pad(x, pad_width, value=0.0):
    """Constant padding, NumPy's spelling: pad_width is ((before, after), ...) per axis or one pair.

    >>> cr.pad(cr.ones(2), (1, 2)).tolist()  # [0., 1., 1., 0., 0.]
    """
    nd = np.ndim(x)
    try:
        pw = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width} does not fit shape {np.shape(x)}: expected "
                         f"one (before, after) pair, or one per axis ({nd} pairs)") from None
    if (pw < 0).any():
        raise ValueError(f"pad: pad_width {pad_width} has a negative width (shape {np.shape(x)})")
    return shp.Pad(x, pad_width=tuple(tuple(int(v) for v in p) for p in pw), value=value)


def getitem(x, index):
    """x[index]: ints, slices, None, Ellipsis, boolean masks, integer arrays (repeats add up).

    >>> cr.arange(5.0)[[0, 0]].tolist()  # [0., 0.]
    """
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
    """NumPy's take_along_axis, differentiable (gradients of repeated picks add up).

    >>> cr.take_along_axis(cr.tensor([[1.0, 2.0]]), np.array([[1, 1]]), 1)  # tensor([[2., 2.]])
    """
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
    """PyTorch's gather: out[i][j] = x[i][index[i][j]] along `dim`.

    >>> cr.gather(cr.tensor([[1.0, 2.0]]), 1, cr.tensor([[1, 0]]))  # tensor([[2., 1.]])
    """
    return take_along_axis(x, index, dim)


