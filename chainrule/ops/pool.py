"""Max-pooling primitives: max_pool (regular windows), adaptive_max_pool, and the index pair behind
their gradient, plane_scatter_add / plane_gather (each the other's adjoint).

Max pooling is the max gate over each window: the gradient goes to the arg-max only, the first
maximum on ties (PyTorch's rule). The forward keeps the arg-max as flat indices into each (H·W)
plane of the input (PyTorch's `return_indices` format) and the backward scatters g there.
Average pooling, adaptive average pooling and interpolation are linear maps built from matmul in
nn.functional_conv, so they need no primitive of their own.
"""
from __future__ import annotations

import math

import numpy as np

from .base import Primitive, Sample, register
from .compare import Compare
from .conv import pad_spatial, scratch, windows

_FLAT = ("its forward uses chainrule's strided-window helpers, which a NumPy-only file cannot "
         "copy; flat export of pooling is not supported yet")


def _first_max(slices, like):
    """(max, arg) over an iterable of equally shaped arrays; ties keep the first (strict >, as PyTorch).

    arg is int8 when fewer than 128 candidates (the update arg += (v > best)·(k − arg) is then a
    few byte-wide passes; masked stores would cost ten times more). NaN propagates to the max.
    """
    it = iter(slices)
    best = np.array(next(it), dtype=like.dtype, copy=True)
    arg = np.zeros(best.shape, dtype=np.int8)
    wide = False
    for k, v in enumerate(it, 1):
        if k == 127 and not wide:
            arg, wide = arg.astype(np.intp), True
        better = np.greater(v, best)
        np.maximum(best, v, out=best)
        arg += better.view(np.int8) * (k - arg) if not wide else better * (k - arg)
    return best, arg


def _plane_index(pos, size, clip):
    """Flat index into an (*size) plane of per-dim positions pos (clipped when padding could win:
    a window whose only values are −inf)."""
    flat = 0
    for p, n in zip(pos, size):
        flat = flat * n + (np.clip(p, 0, n - 1) if clip else p)
    return flat


def max_pool_arg(x, kernel, stride, padding, dilation):
    """(out, arg) of max pooling x (N, C, *S): arg = the winning kernel offset (row-major) per output.

    padding = ((lo, hi), ...) pads with −inf; hi may exceed lo to cover PyTorch's ceil_mode.
    """
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = pad_spatial(x, padding, fill, tmp=True)
    win, o = windows(xp, kernel, stride, dilation)
    every = (slice(None), slice(None))
    out = _first_max((win[every + k] for k in np.ndindex(*kernel)), x)
    if xp is not x:
        scratch.give(xp)
    return out


def arg_to_plane(arg, size, kernel, stride, padding, dilation):
    """Flat (H·W) input index of each window's winner: base(window) + offset table[arg] (two passes)."""
    o = arg.shape[2:]
    dt = np.int32 if math.prod(size) < 2 ** 31 else np.int64
    base, table = np.zeros((), dt), np.zeros((), dt)
    for i, (n, k, s, (lo, _), d) in enumerate(zip(size, kernel, stride, padding, dilation)):
        shape = (-1,) + (1,) * (len(size) - 1 - i)
        base = base * n + (np.arange(o[i], dtype=dt) * s - lo).reshape(shape)
        table = table * n + (np.arange(k, dtype=dt) * d).reshape(shape)
    if not any(lo or hi for lo, hi in padding):
        return np.take(table.ravel(), arg) + base
    # padded: a window of only −inf input could pick a pad cell; clip each position into the plane
    kidx = np.unravel_index(arg.astype(np.intp), kernel)
    grid = np.indices(o, sparse=True)
    pos = [grid[i] * s + kidx[i] * d - lo for i, (s, (lo, _), d) in enumerate(zip(stride, padding, dilation))]
    return _plane_index(pos, size, True).astype(dt)


def max_pool_indices(x, kernel, stride, padding, dilation):
    """(out, flat plane indices of the arg-max) of max pooling x (PyTorch's return_indices)."""
    out, arg = max_pool_arg(x, kernel, stride, padding, dilation)
    return out, arg_to_plane(arg, x.shape[2:], kernel, stride, padding, dilation)


def adaptive_tables(size, out):
    """Per dim: (start, count) of PyTorch's adaptive windows [floor(i·n/o), ceil((i+1)·n/o))."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    return start, end - start


def adaptive_max_pool_indices(x, output_size):
    """(out, idx) of adaptive max pooling x (N, C, *S) to output_size (one window per output cell)."""
    size = x.shape[2:]
    tabs = [adaptive_tables(n, o) for n, o in zip(size, output_size)]
    kmax = [int(c.max()) for _, c in tabs]
    nd = len(size)

    def positions(k):
        # offset k of each window, clamped to the window's last element (a repeat never wins a tie)
        return [np.minimum(st + k[i], st + c - 1).reshape((-1,) + (1,) * (nd - 1 - i))
                for i, (st, c) in enumerate(tabs)]

    offsets = list(np.ndindex(*kmax))
    out, arg = _first_max((x[(slice(None), slice(None)) + tuple(positions(k))] for k in offsets), x)
    karr = np.array(offsets, dtype=np.intp)[arg.astype(np.intp)]     # (..., nd) offset of the max
    pos = []
    for i, (st, c) in enumerate(tabs):
        shape = (-1,) + (1,) * (nd - 1 - i)
        pos.append(np.minimum(st.reshape(shape) + karr[..., i], (st + c - 1).reshape(shape)))
    return out, _plane_index(pos, size, False)


def _overlapping(kernel, stride, dilation):
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


@register
class MaxPool(Primitive):
    """y = max over each window of x (N, C, *S).   dL/dx = g at each window's arg-max (first on ties), 0 elsewhere.

    padding = ((lo, hi), ...) pads with −inf; hi may exceed lo to cover PyTorch's ceil_mode.
    """
    name = "max_pool"
    flat_reason = _FLAT
    residual = True        # the arg-max indices
    samples = (Sample((2, 3, 5, 5), kernel=(2, 2), stride=(2, 2), padding=((0, 1), (0, 1)), dilation=(1, 1),
                      smooth=False),
               Sample((1, 2, 6, 5), kernel=(3, 2), stride=(2, 1), padding=((1, 1), (1, 1)), dilation=(1, 2),
                      smooth=False),
               Sample((2, 1, 7), kernel=(3,), stride=(2,), padding=((1, 1),), dilation=(1,), smooth=False))

    def forward(self, x, *, kernel, stride, padding, dilation):
        return max_pool_arg(x, kernel, stride, padding, dilation)

    def vjp(self, g, ans, needs, x, *, kernel, stride, padding, dilation):
        # ans is the saved arg-max offset (array mode); under create_graph the indices are
        # recomputed from x by a primitive, so a traced program finds each new input's arg-max
        if ans is not None:
            idx = arg_to_plane(ans, x.shape[2:], kernel, stride, padding, dilation)
        else:
            idx = MaxPoolIndex(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
        return (PlaneScatterAdd(g, idx, size=tuple(x.shape[2:]),
                                unique=not _overlapping(kernel, stride, dilation)),)

    def jvp(self, tangents, ans, x, *, kernel, stride, padding, dilation):
        return PlaneGather(tangents[0], MaxPoolIndex(x, kernel=kernel, stride=stride, padding=padding,
                                                     dilation=dilation))


class PoolIndex(Compare):
    """The arg-max plane indices of a max pool (ints): no gradient, an equation of its own so that
    traced gradient programs recompute them for new inputs."""
    flat_reason = _FLAT


@register
class MaxPoolIndex(PoolIndex):
    """idx = flat (H·W) plane index of each max_pool window's arg-max (first on ties)."""
    name = "max_pool_index"
    samples = (Sample((2, 3, 5, 5), kernel=(2, 2), stride=(2, 2), padding=((0, 1), (0, 1)),
                      dilation=(1, 1), smooth=False),)

    def forward(self, x, *, kernel, stride, padding, dilation):
        return max_pool_indices(x, kernel, stride, padding, dilation)[1]


@register
class AdaptiveMaxPoolIndex(PoolIndex):
    """idx = flat plane index of each adaptive_max_pool window's arg-max (first on ties)."""
    name = "adaptive_max_pool_index"
    samples = (Sample((2, 3, 5, 7), output_size=(3, 4), smooth=False),)

    def forward(self, x, *, output_size):
        return adaptive_max_pool_indices(x, output_size)[1]


@register
class AdaptiveMaxPool(Primitive):
    """y = max over PyTorch's adaptive windows of x (N, C, *S) giving spatial output_size.
    dL/dx = g at each window's arg-max (first on ties)."""
    name = "adaptive_max_pool"
    flat_reason = _FLAT
    samples = (Sample((2, 3, 5, 7), output_size=(3, 4), smooth=False),
               Sample((1, 2, 6), output_size=(4,), smooth=False))

    def forward(self, x, *, output_size):
        return adaptive_max_pool_indices(x, output_size)[0]

    def vjp(self, g, ans, needs, x, *, output_size):
        idx = AdaptiveMaxPoolIndex(x, output_size=output_size)
        return (PlaneScatterAdd(g, idx, size=tuple(x.shape[2:])),)

    def jvp(self, tangents, ans, x, *, output_size):
        return PlaneGather(tangents[0], AdaptiveMaxPoolIndex(x, output_size=output_size))


@register
class PlaneScatterAdd(Primitive):
    """z (N, C, *size) = zeros with g (N, C, *O) added at flat plane indices idx (N, C, *O) (repeats add).
    dL/dg = plane_gather(dL/dz, idx).  unique=True promises no repeated index (a plain store)."""
    name = "plane_scatter_add"
    flat_reason = _FLAT
    linear = True
    saves_inputs = False
    samples = (Sample((2, 3, 4), np.arange(24).reshape(2, 3, 4) % 5, size=(2, 3)),
               Sample((1, 2, 2, 2), np.array([[[[0, 3], [4, 8]], [[1, 1], [2, 8]]]]), size=(3, 3)))

    def forward(self, g, idx, *, size, unique=False):
        n, c = g.shape[:2]
        plane = math.prod(size)
        glob = (idx.reshape(n * c, -1) + (np.arange(n * c) * plane)[:, None]).ravel()
        if unique:
            out = np.zeros(n * c * plane, dtype=g.dtype)
            out[glob] = g.ravel()
        else:
            out = np.bincount(glob, weights=g.ravel(), minlength=n * c * plane).astype(g.dtype, copy=False)
        return out.reshape((n, c) + tuple(size))

    def vjp(self, gz, ans, needs, g, idx, *, size, unique=False):
        return PlaneGather(gz, idx), None

    def jvp(self, tangents, ans, g, idx, *, size, unique=False):
        return PlaneScatterAdd(tangents[0], idx, size=size, unique=unique)


@register
class PlaneGather(Primitive):
    """y (N, C, *O) = x (N, C, *S) read at flat plane indices idx.   dL/dx = plane_scatter_add(g, idx)."""
    name = "plane_gather"
    flat_reason = _FLAT
    saves_inputs = False
    samples = (Sample((2, 3, 2, 3), np.arange(24).reshape(2, 3, 4) % 5),)

    def forward(self, x, idx):
        n, c = x.shape[:2]
        out = np.take_along_axis(x.reshape(n, c, -1), idx.reshape(n, c, -1), axis=2)
        return out.reshape(idx.shape)

    def vjp(self, g, ans, needs, x, idx):
        return PlaneScatterAdd(g, idx, size=tuple(x.shape[2:])), None

    def jvp(self, tangents, ans, x, idx):
        return PlaneGather(tangents[0], idx)
