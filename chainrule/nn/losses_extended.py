"""More of PyTorch's losses (regression, margin, embedding, likelihood), composed from cr ops so
first and second derivatives come from the ops' own rules. Re-exported by losses.py."""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _f
from ..tensor import Tensor
from .losses import _arr, _check_reduction, _floating, _reduce, _same_shape


def _softplus(x):
    return _f.softplus(x)


def _rd(fn, loss, reduction):
    _check_reduction(fn, reduction)
    return _reduce(loss, reduction)


def _t(x, like=None):
    """Targets as Tensors (a Tensor keeps its graph: the gradient may flow into it); plain arrays
    and numbers take the input's float dtype, so they never widen a float32 loss."""
    x = _floating(x)
    if isinstance(x, Tensor):
        return x
    dt = _arr(like).dtype if like is not None and _arr(like).dtype.kind == "f" else np.float64
    return Tensor._make(np.asarray(x, dtype=dt), False)


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False):
    """KL(target ‖ exp(input)) pointwise: target·(log target − input) (0 where target = 0);
    reduction 'batchmean' divides the sum by the batch size, as PyTorch recommends."""
    input = _floating(input)
    target = _t(target, input)
    if log_target:
        loss = _f.exp(target) * (target - input)
    else:
        pos = target > 0   # a comparison primitive: traced programs recompute the mask
        safe = _f.where(pos, target, 1.0)
        loss = _f.where(pos, target * (_f.log(safe) - input), input * 0.0)
    if reduction == "batchmean":
        n = _arr(input).shape[0] if _arr(input).ndim else 1
        return _f.sum(loss) / n
    return _rd("kl_div", loss, reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """½d² where |d| < delta, delta·(|d| − ½delta) beyond (d = input − target)."""
    _same_shape("huber_loss", input, target)
    d = _f.abs(_floating(input) - _floating(target))
    loss = _f.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _rd("huber_loss", loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0):
    """½d²/beta where |d| < beta, |d| − ½beta beyond (huber_loss / beta); beta=0 is l1."""
    _same_shape("smooth_l1_loss", input, target)
    d = _f.abs(_floating(input) - _floating(target))
    if beta == 0:
        return _rd("smooth_l1_loss", d, reduction)
    loss = _f.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _rd("smooth_l1_loss", loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """log(1 + exp(−y·x)) for labels y = ±1."""
    _same_shape("soft_margin_loss", input, target)
    return _rd("soft_margin_loss", _softplus(-_t(target, input) * _floating(input)), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean"):
    """−mean over classes of y·log σ(x) + (1 − y)·log σ(−x), per sample (N,)."""
    _same_shape("multilabel_soft_margin_loss", input, target)
    x = _floating(input)
    y = _t(target, x)
    per = y * _softplus(-x) + (1 - y) * _softplus(x)
    if weight is not None:
        per = per * _floating(weight)
    loss = _f.mean(per, axis=-1)
    return _rd("multilabel_soft_margin_loss", loss, reduction)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """x1·x2 / (max(‖x1‖, eps)·max(‖x2‖, eps)) along dim (broadcasting)."""
    x1, x2 = _floating(x1), _floating(x2)
    n1 = _f.clamp(_f.norm(x1, 2, dim, True), min=eps)
    n2 = _f.clamp(_f.norm(x2, 2, dim, True), min=eps)
    return _f.sum((x1 / n1) * (x2 / n2), axis=dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """‖x1 − x2 + eps‖_p over the last dim."""
    return _f.norm(_floating(x1) - _floating(x2) + eps, p, -1, keepdim)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                          reduce=None, reduction: str = "mean"):
    """1 − cos(x1, x2) for y = 1, max(0, cos − margin) for y = −1 (cos over dim 1)."""
    x1, x2 = _floating(input1), _floating(input2)
    eps = 1e-12   # as PyTorch: cos = Σx1x2 / sqrt((Σx1² + eps)(Σx2² + eps))
    d = _arr(x1).ndim - 1
    cos = _f.sum(x1 * x2, axis=d) / _f.sqrt((_f.sum(x1 * x1, axis=d) + eps) *
                                             (_f.sum(x2 * x2, axis=d) + eps))
    y = target if isinstance(target, Tensor) else _arr(target)   # compared by primitives
    loss = _f.where(y == 1, 1 - cos, _f.clamp(cos - margin, min=0.0))
    loss = _f.where((y == 1) | (y == -1), loss, cos * 0.0)
    return _rd("cosine_embedding_loss", loss, reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                        reduce=None, reduction: str = "mean"):
    """max(0, −y·(x1 − x2) + margin)."""
    loss = _f.clamp(-_t(target, input1) * (_floating(input1) - _floating(input2)) + margin, min=0.0)
    return _rd("margin_ranking_loss", loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """max(0, d(a, p) − d(a, n) + margin) with d the pairwise p-distance (swap: the nearer of
    d(a, n) and d(p, n))."""
    dp = pairwise_distance(anchor, positive, p, eps)
    dn = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dn = _f.minimum(dn, pairwise_distance(positive, negative, p, eps))
    return _rd("triplet_margin_loss", _f.clamp(dp - dn + margin, min=0.0), reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean"):
    """exp(x) − y·x (log_input) or x − y·log(x + eps); full adds Stirling's y log y − y + ½log 2πy
    where y > 1."""
    x = _floating(input)
    y = _t(target, x)
    loss = _f.exp(x) - y * x if log_input else x - y * _f.log(x + eps)
    if full:
        ya = _arr(y)
        safe = np.where(ya > 1, ya, 1.0)
        stirling = np.where(ya > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * math.pi * safe), 0.0)
        loss = loss + stirling.astype(_arr(loss).dtype)
    return _rd("poisson_nll_loss", loss, reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean"):
    """½(log var + (x − y)²/var) (+ ½log 2π if full); var clamped at eps without changing its
    gradient (as PyTorch); var may have one dim fewer, or size 1 in the last dim."""
    x, y, v = _floating(input), _floating(target), _floating(var)
    xs, vs = _arr(x).shape, _arr(v).shape
    if vs != xs:
        if len(vs) == len(xs) - 1 and vs == xs[:-1]:
            v = _f.unsqueeze(v, -1) if isinstance(v, Tensor) else np.expand_dims(v, -1)
        elif not (len(vs) == len(xs) and vs[:-1] == xs[:-1] and vs[-1] == 1):
            raise ValueError(f"gaussian_nll_loss: var shape {vs} does not fit input shape {xs}")
    va = _arr(v)
    if np.any(va < 0):
        raise ValueError("gaussian_nll_loss: var has negative entries")
    v = v + (np.maximum(va, eps) - va)   # the clamp as a constant shift: gradient 1, as PyTorch
    loss = 0.5 * (_f.log(v) + (x - y) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _rd("gaussian_nll_loss", loss, reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """x where y = 1, max(0, margin − x) where y = −1 (both terms for other y, as PyTorch).

    >>> F.hinge_embedding_loss(cr.tensor([0.3, 0.2]), cr.tensor([1.0, -1.0]))   # (0.3 + 0.8) / 2
    tensor(0.55)
    """
    input = _floating(input)
    y = _arr(target)
    if np.shape(y) != np.shape(_arr(input)):
        raise ValueError(f"hinge_embedding_loss: target shape {np.shape(y)} does not match input "
                         f"shape {np.shape(_arr(input))}")
    dt = _arr(input).dtype
    neg = Tensor._make(np.asarray(y != 1, dtype=dt), False)
    pos = Tensor._make(np.asarray(y != -1, dtype=dt), False)
    loss = _f.relu(margin - input) * neg + input * pos
    return _rd("hinge_embedding_loss", loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Σ over target classes j and non-target classes i of max(0, 1 − (x_j − x_i)) / C; the target
    row lists class indices and ends at the first −1 (as PyTorch).

    >>> F.multilabel_margin_loss(cr.tensor([[0.1, 0.2, 0.4, 0.8]]), cr.tensor([[3, 0, -1, 1]]))
    tensor(0.85)
    """
    fn = "multilabel_margin_loss"
    input = _floating(input)
    x = _arr(input)
    y = np.asarray(_arr(target))
    if x.ndim not in (1, 2) or y.shape != x.shape or y.dtype.kind not in "iu":
        raise ValueError(f"{fn}: expected input (C,) or (N, C) and an integer target of the same "
                         f"shape, got input {x.shape} and target {y.shape} {y.dtype}")
    c = x.shape[-1]
    x2 = input if x.ndim == 2 else _f.reshape(input, (1, c))
    y2 = y.reshape(-1, c)
    if y2.size and (y2.min() < -1 or y2.max() >= c):
        raise IndexError(f"{fn}: target values must be in [-1, {c}), got [{y2.min()}, {y2.max()}]")
    slot = np.cumprod(y2 != -1, axis=1).astype(bool)        # target slots before the first -1
    yi = np.where(slot, y2, 0)
    is_target = np.zeros(y2.shape, bool)
    rows = np.nonzero(slot)
    is_target[rows[0], yi[rows]] = True
    xy = _f.take_along_axis(x2, Tensor._make(yi, False), 1)              # (N, slots)
    h = _f.relu(1.0 - _f.unsqueeze(xy, 2) + _f.unsqueeze(x2, 1))          # (N, slots, C)
    w = (slot[:, :, None] & ~is_target[:, None, :]).astype(x.dtype) / c
    loss = _f.sum(h * Tensor._make(w, False), axis=(1, 2))
    if x.ndim == 1:
        loss = _f.reshape(loss, ())
    return _rd(fn, loss, reduction)


__all__ = ["hinge_embedding_loss", "multilabel_margin_loss", "kl_div", "huber_loss", "smooth_l1_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "cosine_similarity", "pairwise_distance",
           "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss",
           "poisson_nll_loss", "gaussian_nll_loss"]
