"""Normalisation and regularisation for feature maps, as functions with PyTorch's names (re-exported
by cr.nn.functional): group_norm, instance_norm, local_response_norm, dropout1d/2d, alpha_dropout.

All are compositions of recorded ops (mean, sub, mul, matmul, ...), so they need no rule of their own.
"""
from __future__ import annotations

import math

import numpy as np

from .. import autograd
from .. import functions as _f
from ..factories import sample
from ..tensor import Tensor

__all__ = ["group_norm", "instance_norm", "local_response_norm", "dropout1d", "dropout2d",
           "alpha_dropout", "dropout3d"]


def _shape(x):
    return tuple(np.shape(x.data if isinstance(x, Tensor) else x))


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _affine(out, weight, bias, nd):
    shape = (1, -1) + (1,) * nd
    if weight is not None:
        out = out * _f.reshape(weight, shape)
    if bias is not None:
        out = out + _f.reshape(bias, shape)
    return out


def _normalize(x, axes, eps):
    mean = _f.mean(x, axis=axes, keepdims=True)
    d = x - mean
    var = _f.mean(d * d, axis=axes, keepdims=True)
    return d / _f.sqrt(var + eps), mean, var


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample over groups of C/num_groups channels (and all positions), then scale.

    >>> F.group_norm(cr.randn(2, 6, 4, 4), 3).shape
    (2, 6, 4, 4)
    """
    s = _shape(input)
    if len(s) < 2 or s[1] % num_groups:
        raise ValueError(f"group_norm: input shape {s} needs (N, C, ...) with C divisible by "
                         f"num_groups={num_groups}")
    x = _f.reshape(input, (s[0], num_groups, math.prod(s[1:]) // num_groups))   # N may be 0
    out, _, _ = _normalize(x, (2,), eps)
    return _affine(_f.reshape(out, s), weight, bias, len(s) - 2)


def update_running(running, stat, momentum):
    """running ← (1−momentum)·running + momentum·stat, in place (call under no_grad).

    In-place Tensor ops, so cr.compile repeats the update on every call. momentum is a float or a
    0-d Tensor (the cumulative average 1/(batches+1)), rounded to running's dtype as a float would be.
    """
    keep = 1 - momentum
    if isinstance(momentum, Tensor):
        keep, momentum = keep.astype(running.dtype), momentum.astype(running.dtype)
    running.mul_(keep).add_(momentum * stat)


def normalize_running(input, running_mean, running_var, bshape, eps):
    """(input − running_mean) / √(running_var + eps), the statistics broadcast to bshape.

    Tensor ops on the buffers (they need no gradient, so eager code records nothing for them), so a
    compiled step reads each call's statistics.
    """
    inv = 1.0 / _f.sqrt(_f.reshape(running_var, bshape) + eps)
    return (input - _f.reshape(running_mean, bshape)) * inv


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) over its positions (N, C, *S), as PyTorch.

    With running stats and use_input_stats, they are updated with the batch mean of the per-instance
    mean and unbiased variance; use_input_stats=False normalises with the running stats instead.
    """
    s = _shape(input)
    if len(s) < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *spatial), got shape {s}")
    axes = tuple(range(2, len(s)))
    bshape = (1, s[1]) + (1,) * (len(s) - 2)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        out = normalize_running(input, running_mean, running_var, bshape, eps)
        return _affine(out, weight, bias, len(s) - 2)
    n = int(np.prod(s[2:]))
    out, mean, var = _normalize(input, axes, eps)
    if running_mean is not None and running_var is not None:
        with autograd.no_grad():
            update_running(running_mean, _f.mean(_f.reshape(mean, s[:2]), 0), momentum)
            update_running(running_var, _f.mean(_f.reshape(var, s[:2]) * (n / max(n - 1, 1)), 0),
                           momentum)
    return _affine(out, weight, bias, len(s) - 2)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """AlexNet's local response normalisation across channels:
    x / (k + α/size · Σ_{nearby size channels} x²)^β (zero-padded at the ends, as PyTorch).

    >>> F.local_response_norm(cr.randn(1, 8, 3, 3), size=5).shape
    (1, 8, 3, 3)
    """
    s = _shape(input)
    if len(s) < 3:
        raise ValueError(f"local_response_norm: expected input (N, C, *spatial), got shape {s}")
    c = s[1]
    i = np.arange(c)
    lo, hi = size // 2, (size - 1) // 2
    band = ((i[None, :] >= i[:, None] - lo) & (i[None, :] <= i[:, None] + hi)) / size   # (C, C)
    sq = _f.moveaxis(input * input, 1, -1)
    div = _f.moveaxis(_f.matmul(sq, band.T.astype(_data(input).dtype)), -1, 1)
    return input / (div * alpha + k) ** beta


def keep_mask(shape, p):
    """True with probability 1 − p, drawn from cr's default generator: an array, or under
    cr.compile a recorded draw (every call draws fresh numbers from the same generator)."""
    return sample("random", (tuple(shape),)) >= p


def dropout_scale(shape, p, dtype):
    """The inverted-dropout multiplier: 1/(1−p) where kept, 0 where dropped (one multiply, so the
    gradient is the same mask)."""
    dtype = np.dtype(dtype)
    return keep_mask(shape, p).astype(dtype) * dtype.type(1.0 / (1.0 - p))


def _channel_dropout(op, input, p, training, nd):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be in [0, 1], got {p}")
    s = _shape(input)
    if len(s) not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected {nd + 2}-D (N, C, ...) or {nd + 1}-D unbatched input, got shape {s}")
    if not training or p == 0.0:
        return input
    dt = _data(input).dtype
    lead = s[:len(s) - nd]
    if p == 1.0:
        return input * np.zeros(lead + (1,) * nd, dtype=dt)
    return input * dropout_scale(lead + (1,) * nd, p, dt)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) with probability p, scale the rest by 1/(1−p)."""
    return _channel_dropout("dropout1d", input, p, training, 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (feature maps) of (N, C, H, W) with probability p; scale the rest by 1/(1−p).

    >>> F.dropout2d(cr.ones(2, 4, 3, 3), 0.5, training=False).shape
    (2, 4, 3, 3)
    """
    return _channel_dropout("dropout2d", input, p, training, 2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) with probability p; scale the rest by 1/(1−p)."""
    return _channel_dropout("dropout3d", input, p, training, 3)


_SELU_ALPHA = 1.7580993408473766   # λ·α of SELU: dropped units go to its negative saturation


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped units are set to −λα, then an affine map a·x + b keeps the
    mean and variance (PyTorch's formula)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"alpha_dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    data = _data(input)
    if p == 1.0:
        return input * np.zeros(data.shape, dtype=data.dtype)
    keep = keep_mask(data.shape, p).astype(data.dtype)
    a = 1.0 / np.sqrt((_SELU_ALPHA ** 2 * p + 1) * (1 - p))
    b = ((keep - 1) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p).astype(data.dtype)
    return input * (keep * a).astype(data.dtype) + b
