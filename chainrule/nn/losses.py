"""Loss functions (PyTorch's names and signatures), with one-line errors for bad targets and NaN inputs."""
from __future__ import annotations

import math

import numpy as np

from .. import autograd
from .. import functions as _f
from ..ops import nn as _nnops
from ..ops.compare import OneHot
from ..tensor import Tensor, get_default_dtype


_REDUCTIONS = ("mean", "sum", "none")


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _floating(x):
    """Integer or bool inputs of a float-only loss, promoted to the default float dtype (as a
    constant: integer tensors carry no gradient), so the loss is never computed in integers."""
    if x is None:
        return None
    a = _arr(x)
    if a.dtype.kind in "biu":
        return Tensor._make(a.astype(get_default_dtype()), False)
    return x


def _check_reduction(fn, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_nan(fn, x, what="input"):
    a = _arr(x)
    if a.dtype.kind in "fc" and np.isnan(a).any():
        raise ValueError(f"{fn}: NaN in {what} (shape {a.shape}, {int(np.isnan(a).sum())} NaN values)")


def _reduce(loss, reduction):
    if reduction == "mean":
        if _arr(loss).size == 0:   # the mean of nothing is nan (as PyTorch), and so is its grad
            return _f.sum(loss) * np.asarray(np.nan, dtype=_arr(loss).dtype)
        return _f.mean(loss)
    if reduction == "sum":
        return _f.sum(loss)
    return loss


def _same_shape(fn, input, target):
    xs, ts = _arr(input).shape, _arr(target).shape
    if xs != ts:
        raise ValueError(f"{fn}: target shape {ts} does not match input shape {xs}")




def _class_targets(fn, input, target, ignore_index=None):
    """Validate integer class targets for (N, C, ...) / (C,) input.

    Returns (int64 array, C, whether any target equals ignore_index). The common case (all
    labels in range) costs one max() over the targets.
    """
    x = _arr(input)
    t = _arr(target)
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension, got a scalar")
    kind = t.dtype.kind
    if kind not in "iu":
        if kind == "f" and t.size and np.all(np.mod(t, 1) == 0) and t.shape != x.shape:
            hint = " (they look like class indices: pass them as integers, e.g. target.long())"
        else:
            hint = ""
        raise TypeError(f"{fn}: class-index targets must be integers, got dtype {t.dtype}{hint}")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    want = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if t.shape != want:
        raise ValueError(f"{fn}: target shape {t.shape} does not match input shape {x.shape}: "
                         f"expected target shape {want}")
    ignored = False
    if t.size:
        top = _nnops.unsigned_top(t)   # one max(): labels in 0..C-1, none negative
        if top is None:   # a non-native byte order
            top = t.max() if kind == "u" or t.min() >= 0 else c
        if top >= c:   # a label out of range, or one equal to a negative ignore_index
            valid = None if ignore_index is None else t != ignore_index
            live = t if valid is None else t[valid]
            ignored = valid is not None and live.size < t.size
            if live.size and (live.min() < 0 or live.max() >= c):
                bad = live[(live < 0) | (live >= c)]
                raise IndexError(f"{fn}: target label {int(bad.reshape(-1)[0])} is out of range "
                                 f"for {c} classes (labels must be in 0..{c - 1})")
        elif ignore_index is not None and 0 <= ignore_index < c:
            ignored = bool((t == ignore_index).any())
    return t.astype(np.int64, copy=False), c, ignored


def _targets(target, t):
    """The checked int64 targets as a Tensor made from `target` by primitives: index math on it
    is recorded, so a traced program (cr.compile, make_program) reads each call's targets."""
    if isinstance(target, Tensor):
        return target if target.dtype == np.int64 else target.astype(np.int64)
    return Tensor._make(t, False)


def _rows(input, t):
    """(M, C) view of input with the class axis last, and the matching (M,) targets."""
    x = input
    nd = np.ndim(_arr(input))
    if nd == 1:
        return _f.reshape(x, (1, -1)), t.reshape(1)
    if nd > 2:
        x = _f.reshape(_f.moveaxis(x, 1, -1), (-1, _arr(input).shape[1]))
    return x, t.reshape(-1)


def _nll_rows(logp, t, c, weight, ignore_index, label_smoothing):
    """Per-row loss and per-row weight for log-probabilities logp (M, C) and targets t (M,)."""
    valid = _f.ne(t, ignore_index)
    safe = _f.where(valid, t, 0)
    dt = _arr(logp).dtype
    picked = _f.take_along_axis(logp, safe[:, None], 1)[:, 0]
    w_cls = None if weight is None else Tensor._make(_arr(weight).astype(dt), False)
    w_row = valid.astype(dt) if w_cls is None else w_cls[safe] * valid
    loss = -picked * w_row
    if label_smoothing:
        smooth = logp if w_cls is None else logp * w_cls
        smooth = -_f.sum(smooth, axis=-1) * valid.astype(dt)
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / c)
    return loss, w_row


def _finish(loss, w_row, reduction, out_shape):
    if reduction == "none":
        return _f.reshape(loss, out_shape)
    total = _f.sum(loss)
    if reduction == "sum":
        return total
    # an empty batch, or every target ignored: nan with zero gradients (PyTorch); no Python
    # branch on the data, so a traced program decides per call
    weight = _f.sum(w_row)
    none = _f.eq(weight, 0)
    return total / _f.where(none, 1, weight) + _f.where(none, np.nan, 0).astype(_arr(w_row).dtype)


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Softmax cross-entropy from logits: L_i = −log softmax(x_i)[y_i], averaged over the batch.

    target: class indices (int, shape (N,) for input (N, C), or (N, d...) for (N, C, d...)) or
    class probabilities (float, same shape as input). Plain class-index targets take one fused
    primitive (gradient softmax − onehot); weight / ignore_index / label_smoothing work as in PyTorch.

    >>> F.cross_entropy(cr.zeros(2, 4), cr.tensor([0, 3]))   # log 4
    tensor(1.3863)
    """
    fn = "cross_entropy"
    _check_reduction(fn, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    input, weight = _floating(input), _floating(weight)
    x, t = _arr(input), _arr(target)
    if t.dtype.kind == "f" and t.shape == x.shape:   # probabilities: the gradient reaches them too
        out = _soft_cross_entropy(input, target if isinstance(target, Tensor) else t, weight,
                                  reduction, label_smoothing)
    else:
        t, c, ignored = _class_targets(fn, input, target, ignore_index)
        shape, t = t.shape, _targets(target, t)
        if x.ndim == 2 and weight is None and not label_smoothing and math.prod(shape):
            # ignored rows are masked inside the primitive, per call; while tracing it always
            # checks, since a later call's targets may hold ignore_index (cr.compile)
            check = ignored or autograd.current_tracer() is not None
            out = _nnops.CrossEntropy(input, t, reduction=reduction,
                                      ignore_index=ignore_index if check else None)
        else:
            rows, tr = _rows(input, t)
            loss, w_row = _nll_rows(_f.log_softmax(rows, axis=-1), tr, c, weight, ignore_index,
                                    label_smoothing)
            out = _finish(loss, w_row, reduction, shape)
    # A NaN anywhere in a row of logits makes that row's softmax, and so the loss, NaN: the
    # (small) result is checked, and the input searched only when it is NaN.
    o = _arr(out)
    if math.isnan(o) if o.ndim == 0 else np.isnan(o).any():
        _check_nan(fn, input)
    return out


def _soft_cross_entropy(input, t, weight, reduction, label_smoothing):
    x = _arr(input)
    _check_nan("cross_entropy", t, "target")
    cdim = 0 if x.ndim == 1 else 1
    c = x.shape[cdim]
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / c
    if not isinstance(t, Tensor):
        t = t.astype(x.dtype, copy=False)
    if weight is not None:
        shape = [1] * x.ndim
        shape[cdim] = c
        t = t * _arr(weight).astype(x.dtype).reshape(shape)
    loss = -_f.sum(_f.log_softmax(input, axis=cdim) * t, axis=cdim)
    return _reduce(loss, reduction)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities: L_i = −input[i, y_i] (weighted mean as PyTorch).

    >>> F.nll_loss(F.log_softmax(cr.zeros(2, 4), dim=1), cr.tensor([0, 3]))   # log 4
    tensor(1.3863)
    """
    fn = "nll_loss"
    _check_reduction(fn, reduction)
    input, weight = _floating(input), _floating(weight)
    _check_nan(fn, input)
    t, c, _ = _class_targets(fn, input, target, ignore_index)
    rows, tr = _rows(input, _targets(target, t))
    loss, w_row = _nll_rows(rows, tr, c, weight, ignore_index, 0.0)
    return _finish(loss, w_row, reduction, t.shape)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,
                      reduction: str = "mean"):
    """Multi-class SVM hinge loss: L_i = Σ_{j≠y_i} max(0, s_j − s_{y_i} + margin)^p / C.

    As in PyTorch, each sample's sum is divided by the number of classes C (the lecture's SVM
    loss is C times this value), then averaged over the batch. p is 1 or 2.

    >>> F.multi_margin_loss(cr.tensor([[0.1, 0.2, 0.4]]), cr.tensor([2]))   # (0.7 + 0.8) / 3
    tensor(0.5)
    """
    fn = "multi_margin_loss"
    _check_reduction(fn, reduction)
    if p not in (1, 2):
        raise ValueError(f"{fn}: p must be 1 or 2, got {p}")
    input, weight = _floating(input), _floating(weight)
    _check_nan(fn, input)
    t, c, _ = _class_targets(fn, input, target)
    x = _arr(input)
    if x.ndim > 2:
        raise ValueError(f"{fn}: expected input of shape (N, C) or (C,), got {x.shape}")
    rows, tr = _rows(input, _targets(target, t))
    sy = _f.take_along_axis(rows, tr[:, None], 1)
    h = _f.relu(rows - sy + margin)
    if p == 2:
        h = h * h
    # the j = y_i term is not part of the sum (a one-hot primitive: traced programs recompute it)
    mask = 1 - OneHot(tr, num_classes=c, dtype=x.dtype)
    if weight is not None:
        mask = mask * Tensor._make(_arr(weight).astype(x.dtype), False)[tr][:, None]
    loss = _f.sum(h * (mask / c), axis=1)
    if x.ndim == 1 and reduction == "none":
        return _f.reshape(loss, ())
    return _reduce(loss, reduction)


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error (x − y)², averaged over all elements.

    >>> F.mse_loss(cr.tensor([1.0, 3.0]), cr.tensor([0.0, 0.0]))   # (1 + 9) / 2
    tensor(5.)
    """
    _check_reduction("mse_loss", reduction)
    input, target = _floating(input), _floating(target)
    _same_shape("mse_loss", input, target)
    _check_nan("mse_loss", input)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """Mean absolute error |x − y|.

    >>> F.l1_loss(cr.tensor([1.0, -3.0]), cr.tensor([0.0, 0.0]))
    tensor(2.)
    """
    _check_reduction("l1_loss", reduction)
    input, target = _floating(input), _floating(target)
    _same_shape("l1_loss", input, target)
    _check_nan("l1_loss", input)
    return _reduce(_f.abs(input - target), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression: softplus(x) − t·x.

    With pos_weight: pos_weight·t·softplus(−x) + (1 − t)·softplus(x). Safe for logits of ±1000.

    >>> F.binary_cross_entropy_with_logits(cr.tensor([0.0]), cr.tensor([1.0]))   # log 2
    tensor(0.6931)
    """
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(fn, reduction)
    input, target = _floating(input), _floating(target)
    weight, pos_weight = _floating(weight), _floating(pos_weight)
    _same_shape(fn, input, target)
    _check_nan(fn, input)
    if pos_weight is None:
        loss = _f.softplus(input) - input * target
    else:
        loss = pos_weight * target * _f.softplus(-input) + (1 - target) * _f.softplus(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """Binary cross-entropy of probabilities: −[t·log p + (1 − t)·log(1 − p)], logs clamped at −100."""
    fn = "binary_cross_entropy"
    _check_reduction(fn, reduction)
    input, target, weight = _floating(input), _floating(target), _floating(weight)
    _same_shape(fn, input, target)
    _check_nan(fn, input)
    p = _arr(input)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"{fn}: input must be probabilities in [0, 1], got values in "
                         f"[{p.min():.4g}, {p.max():.4g}] (use binary_cross_entropy_with_logits)")
    # one primitive with PyTorch's rules: dℓ/dp = (p − t)/max(p(1 − p), 1e-12), also at p = 0, 1
    loss = _nnops.BinaryCrossEntropy(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def l2_penalty(params) -> Tensor:
    """R(W) = Σ W² over the given tensors (add λ·R(W) to a loss for L2 regularisation).

    Pass only weights to leave biases unregularised, e.g. `[m.weight for m in layers]`; a Module
    means all of its parameters.

    >>> F.l2_penalty([cr.tensor([1.0, 2.0]), cr.tensor([[3.0]])])
    tensor(14.)
    """
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    params = list(params)
    if not params:
        raise ValueError("l2_penalty: got no parameters")
    return _nnops.SumOfSquares(*params)   # one fused node: dR/dW = 2W for every W


from .losses_extended import (cosine_embedding_loss, cosine_similarity, gaussian_nll_loss,  # noqa: E402,F401
                              hinge_embedding_loss, multilabel_margin_loss, huber_loss, kl_div, margin_ranking_loss, multilabel_soft_margin_loss,
                              pairwise_distance, poisson_nll_loss, smooth_l1_loss, soft_margin_loss,
                              triplet_margin_loss)
