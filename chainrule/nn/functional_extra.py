"""More of torch.nn.functional: lp_pool1d/2d, pdist, rrelu, channel_shuffle. Re-exported by
cr.nn.functional."""
from __future__ import annotations

import numpy as np

from .. import functions as _f
from ..factories import default_generator
from ..tensor import Tensor
from .functional_conv import avg_pool1d, avg_pool2d

__all__ = ["lp_pool1d", "lp_pool2d", "pdist", "rrelu", "channel_shuffle", "rms_norm",
           "gumbel_softmax", "triplet_margin_with_distance_loss"]


def _lp_pool(pool, input, norm_type, kernel_size, stride, ceil_mode, window):
    out = pool(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    # PyTorch's form: sign(out)·relu(|out|) keeps a negative mean of odd powers from the root
    out = _f.sign(out) * _f.relu(_f.abs(out)) * window
    return out ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(Σ over each window of xᵖ)^(1/p) on (N, C, L).  >>> F.lp_pool1d(cr.ones(1, 1, 4), 2, 2)"""
    k = kernel_size[0] if isinstance(kernel_size, (tuple, list)) else kernel_size
    return _lp_pool(avg_pool1d, input, norm_type, kernel_size, stride, ceil_mode, k)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(Σ over each window of xᵖ)^(1/p) on (N, C, H, W).

    >>> F.lp_pool2d(cr.ones(1, 1, 4, 4), 2, 2).shape
    (1, 1, 2, 2)
    """
    kh, kw = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    return _lp_pool(avg_pool2d, input, norm_type, kernel_size, stride, ceil_mode, kh * kw)


def pdist(input, p: float = 2.0):
    """‖x_i − x_j‖_p for every pair of rows i < j of an (N, M) input, in row-major order.

    >>> F.pdist(cr.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]))   # [5, 1, 4.2426]
    """
    s = tuple(np.shape(input.data if isinstance(input, Tensor) else input))
    if len(s) != 2:
        raise ValueError(f"pdist: expected a 2-D input (N, M), got shape {s}")
    i, j = np.triu_indices(s[0], 1)
    return _f.norm(input[i] - input[j], p, -1)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False):
    """Randomized leaky ReLU: negative slope ~ U(lower, upper) per element in training, their
    mean (lower + upper)/2 otherwise.  >>> F.rrelu(cr.tensor([-1.0, 2.0]))"""
    if not training:
        return _f.leaky_relu(input, (lower + upper) / 2)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    slope = default_generator().uniform(lower, upper, x.shape).astype(x.dtype)
    return _f.where(input >= 0, input, input * Tensor._make(slope, False))


def channel_shuffle(input, groups: int):
    """(N, g·c, ...) -> (N, c·g, ...): interleave the channels of `groups` groups (ShuffleNet)."""
    from .padding import ChannelShuffle
    return ChannelShuffle(groups)(input)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / √(mean(x²) + eps) over the trailing normalized_shape dims, times weight (Zhang &
    Sennrich 2019); eps None: the dtype's machine epsilon, as PyTorch.

    >>> F.rms_norm(cr.tensor([[3.0, 4.0]]), (2,))   # x / √12.5
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    if x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"rms_norm: normalized_shape {shape} does not match the trailing dims of "
                         f"input shape {x.shape}")
    if eps is None:
        eps = float(np.finfo(x.dtype if x.dtype.kind == "f" else np.float32).eps)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    out = input / _f.sqrt(_f.mean(input * input, axis=axes, keepdims=True) + eps)
    return out if weight is None else out * weight


def gumbel_softmax(logits, tau: float = 1.0, hard: bool = False, eps: float = 1e-10, dim: int = -1):
    """softmax((logits + g)/tau) with Gumbel(0, 1) noise g; hard: one-hot of the argmax forward,
    the soft sample's gradient backward (straight-through), as PyTorch.

    >>> F.gumbel_softmax(cr.zeros(2, 3), hard=True).sum(-1)   # one 1 per row
    """
    x = logits.data if isinstance(logits, Tensor) else np.asarray(logits)
    g = -np.log(default_generator().exponential(1.0, x.shape)).astype(x.dtype)
    y = _f.softmax((logits + Tensor._make(g, False)) / tau, axis=dim)
    if not hard:
        return y
    idx = np.argmax(y.data if isinstance(y, Tensor) else y, axis=dim)
    onehot = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(onehot, np.expand_dims(idx, dim), 1, axis=dim)
    return Tensor._make(onehot, False) - y.detach() + y


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean"):
    """max(d(a, p) − d(a, n) + margin, 0) with any distance d (default pairwise_distance); swap
    uses min(d(a, n), d(p, n)) as the negative distance."""
    from .losses import _check_reduction, _reduce
    from .losses_extended import pairwise_distance
    _check_reduction("triplet_margin_with_distance_loss", reduction)
    d = distance_function if distance_function is not None else pairwise_distance
    dp, dn = d(anchor, positive), d(anchor, negative)
    if swap:
        dn = _f.minimum(dn, d(positive, negative))
    return _reduce(_f.relu(dp - dn + margin), reduction)
