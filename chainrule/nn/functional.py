"""cr.nn.functional: layers and losses as functions (PyTorch's names and signatures).

Activations, linear, dropout and normalisation are here; the losses live in `losses.py` and are
re-exported, so `import chainrule.nn.functional as F; F.cross_entropy(...)` works as in PyTorch.
"""
from __future__ import annotations


import numpy as np

from .. import autograd
from .. import functions as _f
from ..ops import nn as _nnops
from ..tensor import Tensor
from .functional_activation import *  # noqa: F401,F403  (gelu, silu, mish, ..., one_hot)
from .functional_activation import __all__ as _act_all
from .functional_conv import *  # noqa: F401,F403  (conv, pooling, resizing)
from .functional_conv import __all__ as _conv_all
from .functional_norm import *  # noqa: F401,F403  (group/instance/local response norm, dropout2d)
from .functional_norm import __all__ as _norm_all
from .functional_norm import dropout_scale, normalize_running, update_running
from .functional_resize import *  # noqa: F401,F403  (interpolate, pixel_shuffle)
from .functional_resize import __all__ as _resize_all
from .functional_extra import *  # noqa: F401,F403  (lp_pool, pdist, rrelu, channel_shuffle)
from .functional_extra import __all__ as _extra_all
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: F401
                     cross_entropy, l1_loss, l2_penalty, mse_loss, multi_margin_loss, nll_loss)
from .losses_extended import *  # noqa: F401,F403  (kl_div, huber_loss, cosine_similarity, ...)
from .losses_extended import __all__ as _losses_all

__all__ = [
    "linear", "bilinear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "softmax", "log_softmax",
    "softplus", "maxout", "dropout", "batch_norm", "layer_norm", "cross_entropy", "multi_margin_loss",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "nll_loss", "l2_penalty",
] + _conv_all + _norm_all + _resize_all + _losses_all + _extra_all + [n for n in _act_all if n != "gelu"]


def _alias(e):
    """F.<name> = cr.<name> for ops declaring `functional` (e.g. sigmoid, tanh, softplus)."""
    undo = []
    for name in e.functional:
        if name not in _HAND:
            undo.append(_f.put(globals(), name, e.fn))
            if name not in __all__:
                __all__.append(name)
                undo.append(lambda name=name: __all__.remove(name))
    return undo


def _shape(x):
    return tuple(np.shape(x.data if isinstance(x, Tensor) else x))


# ---------------------------------------------------------------- linear

def linear(input, weight, bias=None):
    """y = x Wᵀ + b with W of shape (out_features, in_features), one fused primitive.

    >>> F.linear(cr.ones(2, 3), cr.ones(4, 3)).shape
    (2, 4)
    """
    ws, xs = _shape(weight), _shape(input)
    if len(ws) != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: expected input with last dimension in_features={ws[1]}, got "
                         f"input shape {xs}")
    if bias is not None and _shape(bias) != (ws[0],):
        raise ValueError(f"linear: bias must have shape ({ws[0]},) = (out_features,), got "
                         f"{_shape(bias)}")
    return _nnops.Linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1ᵀ W_k x2 + b_k with W of shape (out_features, in1_features, in2_features).

    >>> F.bilinear(cr.ones(2, 3), cr.ones(2, 4), cr.ones(5, 3, 4)).shape
    (2, 5)
    """
    s1, s2, ws = _shape(input1), _shape(input2), _shape(weight)
    if len(ws) != 3 or not s1 or not s2 or s1[-1] != ws[1] or s2[-1] != ws[2] or s1[:-1] != s2[:-1]:
        raise ValueError(f"bilinear: expected inputs (..., {ws[1:2]}) and (..., {ws[2:3]}) with the "
                         f"same leading dims for weight {ws}, got {s1} and {s2}")
    out = _f.einsum("...i,kij,...j->...k", input1, weight, input2)
    return out if bias is None else out + bias


# ---------------------------------------------------------------- activations

def relu(input, inplace=False):
    return _f.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope·x."""
    return _f.leaky_relu(input, negative_slope)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else α(eˣ − 1)."""
    return _f.elu(input, alpha)


def softmax(input, dim=-1):
    """eˣ / Σ eˣ along dim (one fused primitive, stable for large inputs)."""
    return _f.softmax(input, axis=-1 if dim is None else dim)


def log_softmax(input, dim=-1):
    """x − log Σ eˣ along dim (one fused primitive, stable)."""
    return _f.log_softmax(input, axis=-1 if dim is None else dim)


# ---------------------------------------------------------------- dropout

def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1−p).

    Draws from cr.factories.default_generator(), so cr.manual_seed makes it reproducible.
    Identity when training=False or p=0.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    data = input.data if isinstance(input, Tensor) else np.asarray(input)
    if p == 1.0:
        return input * np.zeros(data.shape, dtype=data.dtype)
    return input * dropout_scale(data.shape, p, data.dtype)


# ---------------------------------------------------------------- normalisation

def _bn_axes(x, num_features, fn, ndims=None):
    """(axes to reduce, shape of the per-channel stats) for (N, C, *S); ndims restricts len(shape)."""
    s = _shape(x)
    ok = len(s) >= 2 if ndims is None else len(s) in ndims
    if not ok or (num_features is not None and s[1] != num_features):
        c = "C" if num_features is None else num_features
        want = {(2, 3): f"(N, {c}) or (N, {c}, L)", (4,): f"(N, {c}, H, W)", (5,): f"(N, {c}, D, H, W)"
                }.get(ndims, f"(N, {c}, ...)")
        raise ValueError(f"{fn}: expected input of shape {want}, got {s}")
    return (0,) + tuple(range(2, len(s))), (1, s[1]) + (1,) * (len(s) - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over the batch (and length) axes of (N, C) or (N, C, L) input.

    training=True: normalise with the batch mean and biased variance and, if running stats are
    given, update them in place: r ← (1−momentum)·r + momentum·stat, with the unbiased variance
    for running_var (PyTorch's convention). training=False: normalise with the running stats.
    """
    c = _shape(input)[1] if len(_shape(input)) > 1 else None
    axes, bshape = _bn_axes(input, c, "batch_norm")
    if training:
        n = int(np.prod([_shape(input)[a] for a in axes]))
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input shape {_shape(input)}")
        mean = _f.mean(input, axis=axes, keepdims=True)
        d = input - mean
        var = _f.mean(d * d, axis=axes, keepdims=True)
        if running_mean is not None and running_var is not None:
            with autograd.no_grad():
                update_running(running_mean, _f.reshape(mean, (-1,)), momentum)
                update_running(running_var, _f.reshape(var, (-1,)) * (n / (n - 1)), momentum)
        out = d / _f.sqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                             "running_var")
        out = normalize_running(input, running_mean, running_var, bshape, eps)
    if weight is not None:
        out = out * _f.reshape(weight, bshape)
    if bias is not None:
        out = out + _f.reshape(bias, bshape)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` dims (biased variance), then scale and shift."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    s = _shape(input)
    k = len(normalized_shape)
    if k > len(s) or s[len(s) - k:] != normalized_shape:
        raise ValueError(f"layer_norm: expected input whose last dims are {normalized_shape}, got "
                         f"shape {s}")
    axes = tuple(range(len(s) - k, len(s)))
    mean = _f.mean(input, axis=axes, keepdims=True)
    d = input - mean
    var = _f.mean(d * d, axis=axes, keepdims=True)
    out = d / _f.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def maxout(input, pieces: int):
    """Maxout: max over groups of `pieces` consecutive features, (..., out·pieces) → (..., out).

    The gradient is routed to the largest piece of each group (the max gate).

    >>> F.maxout(cr.randn(5, 6), pieces=2).shape
    (5, 3)
    """
    n = input.shape[-1]
    if pieces < 1 or n % pieces:
        raise ValueError(f"maxout: last dimension {n} of input shape {tuple(input.shape)} must be "
                         f"a multiple of pieces={pieces}")
    return _f.max(_f.reshape(input, tuple(input.shape[:-1]) + (n // pieces, pieces)), axis=-1)


# sequence-model functions live next to their modules; re-exported under PyTorch's names
from .attention import scaled_dot_product_attention  # noqa: E402,F401
from .sparse import embedding  # noqa: E402,F401

__all__ += ["scaled_dot_product_attention", "embedding"]

_HAND = {k for k in globals() if not k.startswith("_")}   # hand-written here (PyTorch's
_f.on_expose(_alias)                                      # signatures: inplace=, dim=) beat aliases
