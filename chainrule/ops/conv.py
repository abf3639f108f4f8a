"""Convolution primitives: conv, its two adjoints conv_transpose and conv_weight, unfold and fold.

Three bilinear maps close under differentiation. With C(x, w) = conv, T = conv_transpose and
W = conv_weight:  <C(x, w), y> = <x, T(y, w)> = <w, W(x, y)>.  So the VJP of each is made of the
other two (conv's input gradient is a conv_transpose, its weight gradient a conv_weight, ...), and
create_graph / higher orders need nothing more. unfold (im2col) and fold (col2im) are each other's
adjoint. Any number of spatial dims (conv1d, conv2d share the code).

The arithmetic is BLAS: the input windows are an `as_strided` view copied once into columns
(N, C·K, O) (im2col), and one batched matmul with the weights (C_out, C·K) does the sum; the
adjoint scatters columns back with one strided add per kernel offset (col2im), never a loop over
pixels or samples.

Parameters (normalised by nn.functional_conv): stride and dilation are tuples with one int per
spatial dim, padding a tuple of (before, after) pairs, groups an int; conv_transpose also takes the
spatial `size` of its output (the input size of the conv it is the adjoint of).
"""
from __future__ import annotations

import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import autograd
from .base import Primitive, Sample, add_tangents, register
from .shape import Pad

_FLAT = ("its forward uses chainrule's scratch buffers and strided windows, which a NumPy-only "
         "file cannot copy; flat export of convolutions is not supported yet")


# ---------------------------------------------------------------- scratch arrays

class Scratch(threading.local):
    """Reused scratch arrays for the temporaries of conv and pooling (per thread, bounded).

    A fresh large NumPy array is fresh memory from the OS, and the first touch of each page is a
    page fault; a training step allocates the same few shapes every time, so handing them back and
    reusing them saves that (measured on W6: about a third of the step). Only arrays that nothing
    else references are given back (padded inputs, columns consumed by the backward). At most
    LIMIT bytes stay allocated between steps; clear() frees them.
    """
    LIMIT = 256 * 2 ** 20   # bytes kept at most
    PER_KEY = 2

    def __init__(self):
        self.free, self.bytes = {}, 0

    def clear(self):
        """Drop every kept array (`cr.ops.conv.scratch.clear()` returns the memory)."""
        self.free, self.bytes = {}, 0

    def take(self, shape, dtype, fill=None):
        key = (tuple(shape), np.dtype(dtype).str)
        stack = self.free.get(key)
        if stack:
            a = stack.pop()
            self.bytes -= a.nbytes
            if fill is not None:
                a.fill(fill)
            return a
        if fill is None:
            return np.empty(shape, dtype)
        return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)

    def give(self, *arrays):
        for a in arrays:
            if a is None or a.base is not None or not a.flags.c_contiguous or not a.flags.writeable:
                continue
            stack = self.free.setdefault((a.shape, a.dtype.str), [])
            if len(stack) < self.PER_KEY and self.bytes + a.nbytes <= self.LIMIT:
                stack.append(a)
                self.bytes += a.nbytes


scratch = Scratch()


# ---------------------------------------------------------------- im2col / col2im on arrays

def pad_spatial(x, pad, value=0.0, tmp=False):
    """x (N, C, *S) with pad = ((lo, hi), ...) added around the spatial dims (x itself if none).

    tmp=True: the result is a scratch array the caller gives back (scratch.give) when done.
    """
    if not any(lo or hi for lo, hi in pad):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pad))
    if tmp:
        out = scratch.take(shape, x.dtype, value)
    else:
        out = np.full(shape, value, dtype=x.dtype) if value else np.zeros(shape, dtype=x.dtype)
    out[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pad))] = x
    return out


def out_size(spatial, ksize, stride, pad, dilation):
    """Output spatial size of a window op on `spatial` (floor rule, as PyTorch)."""
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(spatial, ksize, stride, pad, dilation))


def windows(xp, ksize, stride, dilation):
    """Read-only view (N, C, *K, *O) of the windows of the (already padded) xp; no copy."""
    o = out_size(xp.shape[2:], ksize, stride, [(0, 0)] * len(ksize), dilation)
    st = xp.strides
    nd = len(ksize)
    strides = st[:2] + tuple(st[2 + i] * dilation[i] for i in range(nd)) + \
        tuple(st[2 + i] * stride[i] for i in range(nd))
    return as_strided(xp, xp.shape[:2] + tuple(ksize) + o, strides, writeable=False), o


def im2col(x, ksize, stride, pad, dilation, tmp=False):
    """Columns (N, C·prod(K), prod(O)) of x (N, C, *S): row (c, k) holds x at offset k of every window.

    tmp=True: the columns are a scratch array (give it back with scratch.give when consumed).
    """
    xp = pad_spatial(x, pad, tmp=True)
    win, o = windows(xp, ksize, stride, dilation)
    n, c = x.shape[:2]
    shape = (n, c * math.prod(ksize), math.prod(o))
    cols = scratch.take(shape, x.dtype) if tmp else np.empty(shape, x.dtype)
    np.copyto(cols.reshape(win.shape), win)
    if xp is not x:
        scratch.give(xp)
    return cols, o


def col2im(cols, channels, size, ksize, stride, pad, dilation, o=None):
    """The adjoint of im2col: add the columns (N, C·K, O) back into an (N, C, *size) array.

    o: the window grid when it is smaller than size allows (conv_transpose's output_padding >= stride).
    """
    n = cols.shape[0]
    sp = tuple(s + lo + hi for s, (lo, hi) in zip(size, pad))
    o = out_size(size, ksize, stride, pad, dilation) if o is None else tuple(o)
    cols = cols.reshape((n, channels) + tuple(ksize) + o)
    padded = any(lo or hi for lo, hi in pad)
    xp = scratch.take((n, channels) + sp, cols.dtype, 0) if padded else np.zeros((n, channels) + sp, cols.dtype)
    every = (slice(None), slice(None))
    for k in np.ndindex(*ksize):   # one strided add per kernel offset (9 for 3x3), not per pixel
        sl = tuple(slice(ki * d, ki * d + s * (oi - 1) + 1, s)
                   for ki, d, s, oi in zip(k, dilation, stride, o))
        xp[every + sl] += cols[every + k]
    if not padded:
        return xp
    out = np.ascontiguousarray(xp[every + tuple(slice(lo, lo + s) for s, (lo, _) in zip(size, pad))])
    if out.base is None:   # a copy (a crop that is already contiguous is a view of xp: keep xp)
        scratch.give(xp)
    return out


def _bias_shape(b, nd):
    return b.reshape((-1,) + (1,) * nd)


KEEP_COLS_BYTES = 128 * 2 ** 20   # conv keeps its im2col columns for the weight gradient up to this size


def _conv(x, w, stride, pad, dilation, groups):
    """(conv output, the im2col columns)."""
    n = x.shape[0]
    cout, ksize = w.shape[0], w.shape[2:]
    cols, o = im2col(x, ksize, stride, pad, dilation, tmp=True)
    if groups == 1:
        out = np.matmul(w.reshape(cout, -1), cols)
    else:
        out = np.matmul(w.reshape(groups, cout // groups, -1),
                        cols.reshape(n, groups, -1, cols.shape[-1]))
    return out.reshape((n, cout) + o), cols


def _weight_from_cols(cols, y, groups, wshape):
    """Σ over samples and positions of y ⊗ cols: the weight gradient from saved im2col columns."""
    n, cout = y.shape[:2]
    yy = y.reshape(n, groups, cout // groups, -1)
    cc = cols.reshape(n, groups, -1, cols.shape[-1])
    if n == 1:
        return np.matmul(yy, cc.transpose(0, 1, 3, 2))[0].reshape(wshape)
    per = scratch.take((n,) + yy.shape[1:3] + cc.shape[2:3], np.result_type(yy, cc))
    np.matmul(yy, cc.transpose(0, 1, 3, 2), out=per)                     # (N, G, Cout_g, Cg·K)
    gw = np.add.reduce(per, axis=0)
    scratch.give(per)
    return gw.reshape(wshape)


def _conv_transpose(y, w, stride, pad, dilation, groups, size):
    n, cout = y.shape[:2]
    cg, ksize = w.shape[1], w.shape[2:]
    o = y.shape[2:]
    want = out_size(size, ksize, stride, pad, dilation)
    if any(a > b for a, b in zip(o, want)):
        raise ValueError(f"conv_transpose: input spatial shape {tuple(o)} does not fit output size "
                         f"{tuple(size)} with kernel {tuple(ksize)}, stride {stride}, padding {pad}, "
                         f"dilation {dilation}: expected at most {want}")
    wt = w.reshape(groups, cout // groups, -1).transpose(0, 2, 1)          # (G, Cg·K, Cout_g)
    if len(o) == 2 and tuple(stride) == (1, 1):
        return _conv_transpose_s1(y, wt, groups * cg, ksize, pad, dilation, size)
    cols = np.matmul(wt, y.reshape(n, groups, cout // groups, -1))         # (N, G, Cg·K, O)
    return col2im(cols.reshape(n, groups * cg * math.prod(ksize), -1), groups * cg, size, ksize,
                  stride, pad, dilation, o)


def _conv_transpose_s1(y, wt, c, ksize, pad, dilation, size):
    """2-D stride-1 col2im with long contiguous adds: on the row-major padded plane, kernel offset
    (i, j) is a shift of i·d₀·W_p + j·d₁, so the columns are computed on an extended grid of W_p
    columns per row (the extra ones are zero) and each offset is one 1-D add of length O_h·W_p."""
    n, cout, oh, ow = y.shape
    groups = wt.shape[0]
    (kh, kw), (d0, d1) = ksize, dilation
    hp, wp = (s + lo + hi for s, (lo, hi) in zip(size, pad))
    ye = scratch.take((n, cout, oh, wp), y.dtype, 0)
    ye[..., :ow] = y
    dt = np.result_type(wt, y)
    cols = scratch.take((n, groups, c * kh * kw // groups, oh * wp), dt)
    np.matmul(wt, ye.reshape(n, groups, cout // groups, oh * wp), out=cols)
    scratch.give(ye)
    c5 = cols.reshape(n, c, kh, kw, oh * wp)
    flat = scratch.take((n, c, hp * wp + d1 * (kw - 1)), dt, 0)
    for i in range(kh):
        for j in range(kw):
            shift = i * d0 * wp + j * d1
            flat[:, :, shift:shift + oh * wp] += c5[:, :, i, j]
    scratch.give(cols)
    xp = flat[:, :, :hp * wp].reshape(n, c, hp, wp)
    (t, _), (l, _) = pad
    out = np.ascontiguousarray(xp[:, :, t:t + size[0], l:l + size[1]])
    if out.base is None:   # a copy, not a view of flat
        scratch.give(flat)
    return out


def _conv_weight(x, y, ksize, stride, pad, dilation, groups):
    cols, o = im2col(x, ksize, stride, pad, dilation, tmp=True)
    if tuple(o) != tuple(y.shape[2:]):
        raise ValueError(f"conv_weight: gradient spatial shape {tuple(y.shape[2:])} does not match the "
                         f"conv output {o} of input {x.shape}")
    gw = _weight_from_cols(cols, y, groups, (y.shape[1], x.shape[1] // groups) + tuple(ksize))
    scratch.give(cols)
    return gw


# ---------------------------------------------------------------- the primitives

def _spatial_axes(nd):
    return (0,) + tuple(range(2, 2 + nd))


@register
class Conv(Primitive):
    """y = conv(x, w) + b: x (N, C, *S), w (C_out, C/groups, *K), b (C_out,) or None (cross-correlation,
    as PyTorch).   dL/dx = conv_transpose(g, w),  dL/dw = conv_weight(x, g),  dL/db = Σ g.

    >>> Conv(np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3)), stride=(1, 1), padding=((0, 0), (0, 0)),
    ...      dilation=(1, 1)).shape
    (1, 2, 2, 2)
    """
    name = "conv"
    flat_reason = _FLAT
    residual = True   # the im2col columns (when at most KEEP_COLS_BYTES): no second im2col in backward
    samples = (
        Sample((2, 3, 5, 5), (4, 3, 3, 3), (4,), stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1)),
        Sample((1, 4, 6, 5), (4, 2, 3, 2), (4,), stride=(2, 1), padding=((1, 1), (0, 1)), dilation=(1, 2),
               groups=2),
        Sample((2, 3, 5, 4), (6, 1, 3, 3), None, stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1),
               groups=3),
        Sample((2, 1, 7), (2, 1, 3), (2,), stride=(2,), padding=((1, 0),), dilation=(2,)),
        Sample((1, 1, 3, 3), (1, 1, 3, 3), None, stride=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1)),
    )

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups=1):
        out, cols = _conv(x, w, stride, padding, dilation, groups)
        if b is not None:
            out += _bias_shape(b, out.ndim - 2)
        if cols.nbytes <= KEEP_COLS_BYTES and autograd.is_grad_enabled():   # no_grad: no backward
            return out, cols
        scratch.give(cols)
        return out, None

    def vjp(self, g, ans, needs, x, w, b=None, *, stride, padding, dilation, groups=1):
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        gx = ConvTranspose(g, w, size=tuple(x.shape[2:]), **p) if needs[0] else None
        gw = None
        if needs[1]:
            if ans is not None:   # array mode with the saved columns (ans is None under create_graph)
                gw = _weight_from_cols(ans, g, groups, w.shape)
                scratch.give(ans)   # the engine hands each rule its own residual (a copy under retain_graph)
            else:
                gw = ConvWeight(x, g, ksize=tuple(w.shape[2:]), **p)
        gb = g.sum(axis=_spatial_axes(g.ndim - 2)) if len(needs) > 2 and needs[2] else None
        return gx, gw, gb

    def jvp(self, tangents, ans, x, w, b=None, *, stride, padding, dilation, groups=1):
        tx, tw = tangents[:2]
        tb = tangents[2] if len(tangents) > 2 else None
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        out = None if tx is None else Conv(tx, w, **p)
        out = add_tangents(out, None if tw is None else Conv(x, tw, **p))
        return add_tangents(out, None if tb is None else _bias_shape(tb, x.ndim - 2))


@register
class ConvTranspose(Primitive):
    """x = conv_transpose(y, w) + b: the adjoint of conv in its input, y (N, C_out, *O) -> (N, C, *size);
    w (C_out, C/groups, *K) is PyTorch's ConvTranspose weight layout (in_channels first).
    dL/dy = conv(g, w),  dL/dw = conv_weight(g, y),  dL/db = Σ g.
    """
    name = "conv_transpose"
    flat_reason = _FLAT
    samples = (
        Sample((2, 4, 3, 3), (4, 3, 3, 3), (3,), stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
               size=(5, 5)),
        Sample((1, 4, 3, 5), (4, 2, 3, 2), (4,), stride=(2, 1), padding=((1, 1), (0, 1)), dilation=(1, 2),
               groups=2, size=(6, 6)),
        Sample((2, 6, 3, 2), (6, 1, 3, 3), None, stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1),
               groups=3, size=(6, 4)),
        Sample((2, 2, 4), (2, 1, 3), (1,), stride=(2,), padding=((1, 0),), dilation=(2,), size=(11,)),
        Sample((1, 2, 3, 3), (2, 1, 2, 3), None, stride=(1, 1), padding=((1, 1), (0, 0)), dilation=(2, 1),
               size=(5, 6)),   # output_padding 1 >= stride 1 (dilation 2): more room than windows
    )

    def forward(self, y, w, b=None, *, stride, padding, dilation, groups=1, size):
        out = _conv_transpose(y, w, stride, padding, dilation, groups, size)
        if b is not None:
            out += _bias_shape(b, out.ndim - 2)
        return out

    def vjp(self, g, ans, needs, y, w, b=None, *, stride, padding, dilation, groups=1, size):
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        o = tuple(y.shape[2:])
        full = out_size(size, w.shape[2:], stride, padding, dilation)
        gy = gw = gb = None
        if needs[0]:
            gy = Conv(g, w, **p)
            if full != o:   # output_padding >= stride: the extra windows of the conv are not in y
                gy = gy[(slice(None), slice(None)) + tuple(slice(0, n) for n in o)]
        if needs[1]:
            if full != o:
                y = Pad(y, pad_width=((0, 0), (0, 0)) + tuple((0, f - n) for f, n in zip(full, o)))
            gw = ConvWeight(g, y, ksize=tuple(w.shape[2:]), **p)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(axis=_spatial_axes(g.ndim - 2))
        return gy, gw, gb

    def jvp(self, tangents, ans, y, w, b=None, *, stride, padding, dilation, groups=1, size):
        ty, tw = tangents[:2]
        tb = tangents[2] if len(tangents) > 2 else None
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, size=size)
        out = None if ty is None else ConvTranspose(ty, w, **p)
        out = add_tangents(out, None if tw is None else ConvTranspose(y, tw, **p))
        return add_tangents(out, None if tb is None else _bias_shape(tb, y.ndim - 2))


@register
class ConvWeight(Primitive):
    """dw = conv_weight(x, y): the adjoint of conv in its weight, Σ over samples and positions of
    y ⊗ windows(x), shape (C_out, C/groups, *ksize).   dL/dx = conv_transpose(y, g),  dL/dy = conv(x, g).
    """
    name = "conv_weight"
    flat_reason = _FLAT
    samples = (
        Sample((2, 3, 5, 5), (2, 4, 3, 3), ksize=(3, 3), stride=(1, 1), padding=((0, 0), (0, 0)),
               dilation=(1, 1)),
        Sample((1, 4, 6, 5), (1, 4, 3, 4), ksize=(3, 2), stride=(2, 1), padding=((1, 1), (0, 1)),
               dilation=(1, 2), groups=2),
        Sample((2, 1, 7), (2, 2, 2), ksize=(3,), stride=(2,), padding=((1, 0),), dilation=(2,)),
    )

    def forward(self, x, y, *, ksize, stride, padding, dilation, groups=1):
        return _conv_weight(x, y, ksize, stride, padding, dilation, groups)

    def vjp(self, g, ans, needs, x, y, *, ksize, stride, padding, dilation, groups=1):
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        gx = ConvTranspose(y, g, size=tuple(x.shape[2:]), **p) if needs[0] else None
        gy = Conv(x, g, **p) if needs[1] else None
        return gx, gy

    def jvp(self, tangents, ans, x, y, *, ksize, stride, padding, dilation, groups=1):
        tx, ty = tangents
        p = dict(ksize=ksize, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return add_tangents(None if tx is None else ConvWeight(tx, y, **p),
                            None if ty is None else ConvWeight(x, ty, **p))


@register
class Unfold(Primitive):
    """cols = unfold(x): the sliding windows of x (N, C, *S) as columns (N, C·prod(K), L) (im2col,
    PyTorch's F.unfold).   dL/dx = fold(g)."""
    name = "unfold"
    flat_reason = _FLAT
    linear = True
    saves_inputs = False
    samples = (Sample((2, 2, 4, 5), ksize=(2, 3), stride=(1, 2), padding=((1, 1), (0, 0)), dilation=(1, 1)),
               Sample((1, 1, 5, 5), ksize=(2, 2), stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(2, 1)))

    def forward(self, x, *, ksize, stride, padding, dilation):
        return im2col(x, ksize, stride, padding, dilation)[0]

    def vjp(self, g, ans, needs, x, *, ksize, stride, padding, dilation):
        return (Fold(g, size=tuple(x.shape[2:]), ksize=ksize, stride=stride, padding=padding,
                     dilation=dilation),)


@register
class Fold(Primitive):
    """x = fold(cols): columns (N, C·prod(K), L) summed back into (N, C, *size) (col2im, PyTorch's
    F.fold; overlapping windows add).   dL/dcols = unfold(g)."""
    name = "fold"
    flat_reason = _FLAT
    linear = True
    saves_inputs = False
    samples = (Sample((2, 12, 10), size=(4, 5), ksize=(2, 3), stride=(1, 2), padding=((1, 1), (0, 0)),
                      dilation=(1, 1)),)

    def forward(self, cols, *, size, ksize, stride, padding, dilation):
        k = math.prod(ksize)
        if cols.ndim != 3 or cols.shape[1] % k:
            raise ValueError(f"fold: expected columns (N, C·{k}, L) for kernel {tuple(ksize)}, got shape "
                             f"{cols.shape}")
        o = out_size(size, ksize, stride, padding, dilation)
        if cols.shape[2] != math.prod(o):
            raise ValueError(f"fold: columns shape {cols.shape} has {cols.shape[2]} blocks, expected "
                             f"{math.prod(o)} for output size {tuple(size)}")
        return col2im(cols, cols.shape[1] // k, size, ksize, stride, padding, dilation)

    def vjp(self, g, ans, needs, cols, *, size, ksize, stride, padding, dilation):
        return (Unfold(g, ksize=ksize, stride=stride, padding=padding, dilation=dilation),)
