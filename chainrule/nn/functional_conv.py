"""Convolution and pooling as functions with PyTorch's names and arguments (re-exported by
cr.nn.functional): conv1d/2d, conv_transpose1d/2d, unfold/fold, pad, max/avg/adaptive pooling.

Convolutions and max pooling are primitives (ops/conv.py, ops/pool.py). Average pooling and
adaptive average pooling are separable linear maps: out = A_h · x · A_wᵀ with small constant
matrices, so they are two matmuls and differentiate like any matmul (interpolation too:
functional_resize.py).
"""
from __future__ import annotations


import numpy as np

from .. import functions as _f
from ..ops import conv as _conv
from ..ops import pool as _pool
from ..tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold", "pad",
           "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]


def _shape(x):
    return tuple(np.shape(x.data if isinstance(x, Tensor) else x))


def _dtype(x):
    return (x.data if isinstance(x, Tensor) else np.asarray(x)).dtype


def ntuple(v, n, name, op):
    """v as a tuple of n ints (an int is repeated), or a one-line error naming op and argument."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    try:
        t = tuple(int(i) for i in v)
    except TypeError:
        t = None
    if t is None or len(t) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _batched(input, nd, op):
    """(input with a batch axis, whether one was added): PyTorch also takes unbatched (C, *S)."""
    s = _shape(input)
    if len(s) == nd + 2:
        return input, False
    if len(s) == nd + 1:
        return _f.reshape(input, (1,) + s), True
    raise ValueError(f"{op}: expected {nd + 2}-D input (N, C{', L' if nd == 1 else ', H, W'}) or "
                     f"{nd + 1}-D unbatched input, got shape {s}")


def _unbatch(out, added):
    return _f.reshape(out, _shape(out)[1:]) if added else out


def conv_padding(padding, nd, ksize, stride, dilation, op):
    """PyTorch's padding argument (int, tuple, 'same', 'valid') as ((before, after), ...) per dim."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride})")
            return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(ksize, dilation))
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    return tuple((p, p) for p in ntuple(padding, nd, "padding", op))


def _convnd(nd, op, input, weight, bias, stride, padding, dilation, groups):
    ws = _shape(weight)
    if len(ws) != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}-D (out_channels, in_channels/groups, *kernel), "
                         f"got shape {ws}")
    x, added = _batched(input, nd, op)
    xs = _shape(x)
    stride, dilation = ntuple(stride, nd, "stride", op), ntuple(dilation, nd, "dilation", op)
    if groups < 1 or ws[0] % groups or xs[1] != ws[1] * groups:
        raise ValueError(f"{op}: input shape {_shape(input)} and weight shape {ws} with groups={groups}: "
                         f"expected input channels = weight.shape[1]·groups = {ws[1] * groups} and "
                         f"out_channels {ws[0]} divisible by groups")
    if bias is not None and _shape(bias) != (ws[0],):
        raise ValueError(f"{op}: bias must have shape ({ws[0]},) = (out_channels,), got {_shape(bias)}")
    pad = conv_padding(padding, nd, ws[2:], stride, dilation, op)
    o = _conv.out_size(xs[2:], ws[2:], stride, pad, dilation)
    if min(o) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: input spatial shape {xs[2:]} (padded by {pad}) is too small for kernel "
                         f"{ws[2:]} with dilation {dilation} and stride {stride}: output would be {o}")
    p = dict(stride=stride, padding=pad, dilation=dilation, groups=groups)
    out = _conv.Conv(x, weight, **p) if bias is None else _conv.Conv(x, weight, bias, **p)
    return _unbatch(out, added)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of (N, C_in, L) with weight (C_out, C_in/groups, K).

    >>> F.conv1d(cr.randn(2, 3, 10), cr.randn(4, 3, 3), padding='same').shape
    (2, 4, 10)
    """
    return _convnd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of (N, C_in, H, W) with weight (C_out, C_in/groups, kH, kW).

    padding: int, (pH, pW), 'same' (stride 1) or 'valid'. groups=C_in with C_out = m·C_in is depthwise.

    >>> F.conv2d(cr.randn(2, 3, 8, 8), cr.randn(16, 3, 3, 3), stride=2, padding=1).shape
    (2, 16, 4, 4)
    """
    return _convnd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def _conv_transposend(nd, op, input, weight, bias, stride, padding, output_padding, groups, dilation,
                      output_size=None):
    ws = _shape(weight)
    if len(ws) != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}-D (in_channels, out_channels/groups, *kernel), "
                         f"got shape {ws}")
    x, added = _batched(input, nd, op)
    xs = _shape(x)
    if groups < 1 or ws[0] % groups or xs[1] != ws[0]:
        raise ValueError(f"{op}: input shape {_shape(input)} and weight shape {ws} with groups={groups}: "
                         f"expected input channels = weight.shape[0] = {ws[0]}, divisible by groups")
    cout = ws[1] * groups
    if bias is not None and _shape(bias) != (cout,):
        raise ValueError(f"{op}: bias must have shape ({cout},) = (out_channels,), got {_shape(bias)}")
    stride, dilation = ntuple(stride, nd, "stride", op), ntuple(dilation, nd, "dilation", op)
    pads = ntuple(padding, nd, "padding", op)
    opad = ntuple(output_padding, nd, "output_padding", op)
    if any(q >= max(s, d) for q, s, d in zip(opad, stride, dilation)):
        raise ValueError(f"{op}: output_padding {opad} must be smaller than either stride {stride} or "
                         f"dilation {dilation}")
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + q + 1
                 for n, s, p, d, k, q in zip(xs[2:], stride, pads, dilation, ws[2:], opad))
    if output_size is not None:
        size = tuple(output_size)[-nd:]
    if min(size) < 1:
        raise ValueError(f"{op}: output spatial size {size} is not positive for input shape {xs}")
    p = dict(stride=stride, padding=tuple((q, q) for q in pads), dilation=dilation, groups=groups,
             size=size)
    out = _conv.ConvTranspose(x, weight, **p) if bias is None else _conv.ConvTranspose(x, weight, bias, **p)
    return _unbatch(out, added)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution (the adjoint of conv1d), weight (C_in, C_out/groups, K)."""
    return _conv_transposend(1, "conv_transpose1d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution (the adjoint of conv2d), weight (C_in, C_out/groups, kH, kW).

    Output size (H−1)·stride − 2·padding + dilation·(k−1) + output_padding + 1.

    >>> F.conv_transpose2d(cr.randn(1, 4, 5, 5), cr.randn(4, 2, 3, 3), stride=2).shape
    (1, 2, 11, 11)
    """
    return _conv_transposend(2, "conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding windows of (N, C, H, W) as columns (N, C·kH·kW, L) (im2col), as PyTorch.

    >>> F.unfold(cr.randn(1, 2, 4, 4), 2).shape
    (1, 8, 9)
    """
    x, added = _batched(input, 2, "unfold")
    k = ntuple(kernel_size, 2, "kernel_size", "unfold")
    p = dict(ksize=k, stride=ntuple(stride, 2, "stride", "unfold"),
             padding=tuple((q, q) for q in ntuple(padding, 2, "padding", "unfold")),
             dilation=ntuple(dilation, 2, "dilation", "unfold"))
    if min(_conv.out_size(_shape(x)[2:], k, p["stride"], p["padding"], p["dilation"])) < 1:
        raise ValueError(f"unfold: input shape {_shape(input)} is too small for kernel {k}")
    return _unbatch(_conv.Unfold(x, **p), added)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns (N, C·kH·kW, L) summed back into (N, C, *output_size) (col2im; overlaps add).

    >>> F.fold(cr.ones(1, 4, 9), (4, 4), 2).shape
    (1, 1, 4, 4)
    """
    x, added = _batched(input, 1, "fold")
    p = dict(size=ntuple(output_size, 2, "output_size", "fold"),
             ksize=ntuple(kernel_size, 2, "kernel_size", "fold"),
             stride=ntuple(stride, 2, "stride", "fold"),
             padding=tuple((q, q) for q in ntuple(padding, 2, "padding", "fold")),
             dilation=ntuple(dilation, 2, "dilation", "fold"))
    return _unbatch(_conv.Fold(x, **p), added)


def _pad_index(n, lo, hi, mode):
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    if lo >= n or hi >= n:
        raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the dimension size {n}")
    i = np.abs(i)
    return np.where(i >= n, 2 * (n - 1) - i, i)


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad)//2 dims; pad = (left, right, top, bottom, ...) from the last dim backwards.

    mode: 'constant' (value, default 0), 'reflect', 'replicate' or 'circular' (as PyTorch).

    >>> F.pad(cr.ones(1, 1, 2, 2), (1, 1, 0, 0), mode='replicate').shape
    (1, 1, 2, 4)
    """
    pad = tuple(int(p) for p in pad)
    s = _shape(input)
    k = len(pad) // 2
    if len(pad) % 2 or k > len(s):
        raise ValueError(f"pad: pad {pad} must have an even length of at most 2·ndim = {2 * len(s)} "
                         f"for input shape {s}")
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]   # first padded dim first
    if any(lo < 0 or hi < 0 for lo, hi in pairs):   # negative pads crop (as PyTorch), then pad
        tail = s[len(s) - k:]
        if any(n + min(lo, 0) + min(hi, 0) < 0 for n, (lo, hi) in zip(tail, pairs)):
            raise ValueError(f"pad: negative padding {pad} removes more than shape {s} has")
        input = _f.getitem(input, (Ellipsis,) + tuple(slice(-min(lo, 0), n - (-min(hi, 0)))
                                                      for n, (lo, hi) in zip(tail, pairs)))
        s = _shape(input)
        pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if mode == "constant":
        return _f.pad(input, [(0, 0)] * (len(s) - k) + pairs, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    idx = [_pad_index(n, lo, hi, mode) for n, (lo, hi) in zip(s[len(s) - k:], pairs)]
    grids = np.ix_(*idx) if k > 1 else (idx[0],)
    return _f.getitem(input, (Ellipsis,) + tuple(grids))


# ---------------------------------------------------------------- pooling

def _pool_out(n, k, s, p, d, ceil):
    eff = d * (k - 1) + 1
    o = (n + 2 * p - eff + ((s - 1) if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:   # the last window must start inside the input or left padding
        o -= 1
    return o


def _pool_args(nd, op, input, kernel_size, stride, padding, dilation, ceil_mode):
    x, added = _batched(input, nd, op)
    k = ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        ntuple(stride, nd, "stride", op)
    p = ntuple(padding, nd, "padding", op)
    d = ntuple(dilation, nd, "dilation", op)
    if any(pi * 2 > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} should be at most half of kernel_size {k}")
    size = _shape(x)[2:]
    o = tuple(_pool_out(n, ki, si, pi, di, ceil_mode) for n, ki, si, pi, di in zip(size, k, s, p, d))
    if min(o) < 1:
        raise ValueError(f"{op}: input shape {_shape(input)} is too small for kernel {k} "
                         f"(output would be {o})")
    return x, added, k, s, p, d, size, o


def _max_poolnd(nd, op, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, added, k, s, p, d, size, o = _pool_args(nd, op, input, kernel_size, stride, padding, dilation,
                                               ceil_mode)
    pads = tuple((pi, max(0, (oi - 1) * si + di * (ki - 1) + 1 - n - pi))
                 for n, ki, si, pi, di, oi in zip(size, k, s, p, d, o))
    out = _pool.MaxPool(x, kernel=k, stride=s, padding=pads, dilation=d)
    out = _unbatch(out, added)
    if not return_indices:
        return out
    idx = _pool.max_pool_indices(_data(x), k, s, pads, d)[1].astype(np.int64)
    return out, Tensor._make(idx[0] if added else idx, False)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of (N, C, L); the gradient goes to each window's (first) arg-max."""
    return _max_poolnd(1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of (N, C, H, W) (stride defaults to kernel_size); the max gate routes the
    gradient to each window's first arg-max. return_indices gives flat H·W indices, as PyTorch.

    >>> F.max_pool2d(cr.randn(1, 3, 8, 8), 2).shape
    (1, 3, 4, 4)
    """
    return _max_poolnd(2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def _separable(x, mats):
    """x (N, C, *S) with matrix mats[i] (O_i, S_i) applied along spatial dim i: A_h · x · A_wᵀ.

    None leaves a dim as it is. Two matmuls with small constant matrices (BLAS), for any window rule.
    """
    dt = _dtype(x)
    out = x
    if mats[-1] is not None:
        out = _f.matmul(out, mats[-1].T.astype(dt))
    if len(mats) == 2 and mats[0] is not None:
        out = _f.matmul(mats[0].astype(dt), out)   # (O, H) @ (N, C, H, W'): broadcasts over N, C
    return out


def _avg_matrix(n, k, s, p, ceil, count_include_pad, divisor_override):
    o = _pool_out(n, k, s, p, 1, ceil)
    m = np.zeros((o, n))
    for i in range(o):   # o rows: a loop over output positions of one dim, not over pixels
        start = i * s - p
        end = min(start + k, n + p)
        div = end - start
        a, b = max(start, 0), min(end, n)
        if not count_include_pad:
            div = b - a
        m[i, a:b] = 1.0 if divisor_override else 1.0 / div
    return m


def _avg_poolnd(nd, op, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
    x, added, k, s, p, d, size, o = _pool_args(nd, op, input, kernel_size, stride, padding, 1, ceil_mode)
    mats = [_avg_matrix(n, ki, si, pi, ceil_mode, count_include_pad, divisor_override)
            for n, ki, si, pi in zip(size, k, s, p)]
    out = _separable(x, mats)
    if divisor_override:
        out = out * (1.0 / divisor_override)
    return _unbatch(out, added)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of (N, C, L) (padding counts as zeros when count_include_pad)."""
    return _avg_poolnd(1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over windows of (N, C, H, W), as PyTorch (count_include_pad, ceil_mode, divisor_override).

    >>> F.avg_pool2d(cr.ones(1, 1, 4, 4), 2).shape
    (1, 1, 2, 2)
    """
    return _avg_poolnd(2, "avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override)


def _out_sizes(output_size, size, nd, op):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{op}: output_size must be an int or {nd} ints, got {output_size}")
    return tuple(n if o is None else int(o) for o, n in zip(output_size, size))


def _adaptive_matrix(n, o):
    start, count = _pool.adaptive_tables(n, o)
    m = np.zeros((o, n))
    for i in range(o):
        m[i, start[i]:start[i] + count[i]] = 1.0 / count[i]
    return m


def _adaptive_avg(nd, op, input, output_size):
    x, added = _batched(input, nd, op)
    size = _shape(x)[2:]
    o = _out_sizes(output_size, size, nd, op)
    return _unbatch(_separable(x, [None if oi == n else _adaptive_matrix(n, oi) for n, oi in zip(size, o)]),
                    added)


def adaptive_avg_pool1d(input, output_size):
    """Mean over PyTorch's adaptive windows of (N, C, L) giving length output_size."""
    return _adaptive_avg(1, "adaptive_avg_pool1d", input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Mean over adaptive windows of (N, C, H, W) giving output_size (int, pair; None keeps a dim).

    >>> F.adaptive_avg_pool2d(cr.randn(2, 8, 5, 7), 1).shape
    (2, 8, 1, 1)
    """
    return _adaptive_avg(2, "adaptive_avg_pool2d", input, output_size)


def _adaptive_max(nd, op, input, output_size, return_indices):
    x, added = _batched(input, nd, op)
    o = _out_sizes(output_size, _shape(x)[2:], nd, op)
    out = _unbatch(_pool.AdaptiveMaxPool(x, output_size=o), added)
    if not return_indices:
        return out
    idx = _pool.adaptive_max_pool_indices(_data(x), o)[1].astype(np.int64)
    return out, Tensor._make(idx[0] if added else idx, False)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over adaptive windows of (N, C, L)."""
    return _adaptive_max(1, "adaptive_max_pool1d", input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive windows of (N, C, H, W); the gradient goes to each window's first arg-max."""
    return _adaptive_max(2, "adaptive_max_pool2d", input, output_size, return_indices)


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)
