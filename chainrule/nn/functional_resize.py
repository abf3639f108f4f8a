"""Resizing as functions with PyTorch's names (re-exported by cr.nn.functional): interpolate,
pixel_shuffle, pixel_unshuffle. Interpolation is a separable linear map (two matmuls with small
constant matrices, PyTorch's index rules); pixel shuffles are a reshape and a transpose."""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _f
from .functional_conv import _adaptive_avg, _separable, _shape, ntuple

__all__ = ["interpolate", "pixel_shuffle", "pixel_unshuffle"]


def _interp_matrix(n, o, mode, align_corners, scale):
    m = np.zeros((o, n))
    i = np.arange(o)
    if mode in ("nearest", "nearest-exact"):
        r = (n / o) if scale is None else 1.0 / scale
        src = np.floor((i + 0.5) * r) if mode == "nearest-exact" else np.floor(i * r)
        m[i, np.minimum(src.astype(np.int64), n - 1)] = 1.0
        return m
    if align_corners:
        src = i * ((n - 1) / (o - 1)) if o > 1 else np.zeros(o)
    else:
        r = (n / o) if scale is None else 1.0 / scale
        src = np.maximum((i + 0.5) * r - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    np.add.at(m, (i, i0), 1.0 - lam)
    np.add.at(m, (i, i1), lam)
    return m


_MODES = {"nearest": 0, "nearest-exact": 0, "linear": 1, "bilinear": 2, "area": 0}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L) or (N, C, H, W): mode 'nearest', 'nearest-exact', 'linear' (1-D),
    'bilinear' (2-D) or 'area', with PyTorch's index rules (align_corners for the linear modes).

    >>> F.interpolate(cr.randn(1, 3, 4, 4), scale_factor=2, mode='bilinear').shape
    (1, 3, 8, 8)
    """
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; use one of {sorted(_MODES)}")
    s = _shape(input)
    nd = len(s) - 2
    if nd not in (1, 2) or (_MODES[mode] and _MODES[mode] != nd):
        raise ValueError(f"interpolate: mode {mode!r} got input of shape {s}; expected "
                         f"{'3-D (N, C, L)' if mode == 'linear' else '4-D (N, C, H, W)' if mode == 'bilinear' else '3-D or 4-D'}")
    if align_corners is not None and not _MODES[mode]:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating "
                         "modes: linear | bilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = ntuple(size, nd, "size", "interpolate")
        scales = [None] * nd
    else:
        scales = [float(f) for f in (scale_factor if isinstance(scale_factor, (tuple, list))
                                     else (scale_factor,) * nd)]
        out = tuple(int(math.floor(n * f)) for n, f in zip(s[2:], scales))
        if recompute_scale_factor:
            scales = [None] * nd
    if mode == "area":
        return _adaptive_avg(nd, "interpolate", input, out)
    mats = [_interp_matrix(n, o, mode, bool(align_corners), sc) for n, o, sc in zip(s[2:], out, scales)]
    return _separable(input, mats)


def pixel_shuffle(input, upscale_factor):
    """(N, C·r², H, W) -> (N, C, H·r, W·r), as PyTorch (a reshape and a transpose).

    >>> F.pixel_shuffle(cr.randn(1, 8, 3, 3), 2).shape
    (1, 2, 6, 6)
    """
    r = int(upscale_factor)
    s = _shape(input)
    if len(s) < 3 or s[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected input (..., C·{r * r}, H, W), got shape {s}")
    lead, (c, h, w) = s[:-3], s[-3:]
    x = _f.reshape(input, lead + (c // (r * r), r, r, h, w))
    n = len(lead)
    x = _f.permute(x, *range(n), n, n + 3, n + 1, n + 4, n + 2)
    return _f.reshape(x, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(N, C, H·r, W·r) -> (N, C·r², H, W): the inverse of pixel_shuffle."""
    r = int(downscale_factor)
    s = _shape(input)
    if len(s) < 3 or s[-1] % r or s[-2] % r:
        raise ValueError(f"pixel_unshuffle: expected input (..., C, H·{r}, W·{r}), got shape {s}")
    lead, (c, h, w) = s[:-3], s[-3:]
    x = _f.reshape(input, lead + (c, h // r, r, w // r, r))
    n = len(lead)
    x = _f.permute(x, *range(n), n, n + 2, n + 4, n + 1, n + 3)
    return _f.reshape(x, lead + (c * r * r, h // r, w // r))
