"""Index-valued ops: arg-max/min, sort orders, top-k, k-th value, running extremes, mode.

Their outputs are integer indices with no gradient (constant_output). They are primitives so
that the values picked with them (`max(dim=)`, `sort`, `topk`, `median`, `cummax`...) are
equations of a traced program: a compiled step finds each call's arg-max instead of keeping the
first trace's.
"""
from __future__ import annotations

import numpy as np

from .base import Sample, register
from .compare import Compare


class IndexOp(Compare):
    """An op whose output is integer indices: no gradient to any input (as a comparison)."""


def order(d, axis, descending):
    """Stable sort order of d along axis (descending: ties keep their order too), int64."""
    if descending:
        # stable descending: sorting the reversed axis ascending would reorder ties; negate instead
        if d.dtype.kind in "fi":
            return np.argsort(-d, axis=axis, kind="stable")
        return np.flip(np.argsort(np.flip(d, axis), axis=axis, kind="stable"), axis)
    return np.argsort(d, axis=axis, kind="stable")


@register
class ArgMax(IndexOp):
    """i = the index of the largest value over an axis (the first on ties)."""
    name = "argmax"
    samples = (Sample((3, 4), axis=1, keepdims=True), Sample((3, 4)))

    def forward(self, x, axis=None, keepdims=False):
        return np.argmax(x, axis=axis, keepdims=keepdims)


@register
class ArgMin(IndexOp):
    """i = the index of the smallest value over an axis (the first on ties)."""
    name = "argmin"
    samples = (Sample((3, 4), axis=0, keepdims=True), Sample((3, 4)))

    def forward(self, x, axis=None, keepdims=False):
        return np.argmin(x, axis=axis, keepdims=keepdims)


@register
class ArgSort(IndexOp):
    """i = the stable sort order along an axis (ties keep their order, also descending)."""
    name = "argsort"
    samples = (Sample((3, 4), axis=1), Sample((3, 4), axis=0, descending=True))

    def forward(self, x, axis=-1, descending=False):
        return order(x, axis, descending).astype(np.int64, copy=False)


@register
class TopKIndex(IndexOp):
    """i = the indices of the k largest (largest=False: smallest) values along an axis, in order."""
    name = "topk_index"
    samples = (Sample((3, 5), k=2, axis=1), Sample((4, 3), k=3, axis=0, largest=False))

    def forward(self, x, k, axis=-1, largest=True):
        return np.take(order(x, axis, largest), np.arange(k), axis=axis).astype(np.int64, copy=False)


@register
class KthIndex(IndexOp):
    """i = the index of the k-th smallest value (k from 1) along an axis, kept as a size-1 axis."""
    name = "kthvalue_index"
    samples = (Sample((3, 5), k=2, axis=1), Sample((4, 3), k=4, axis=0))

    def forward(self, x, k, axis=-1):
        return np.take(order(x, axis, False), [k - 1], axis=axis).astype(np.int64, copy=False)


@register
class CumExtremeIndex(IndexOp):
    """i[..., j] = the index of the running max (largest=False: min) of x[..., :j+1] along an
    axis; as PyTorch, a tie (or a nan) moves the index to the later element."""
    name = "cum_extreme_index"
    samples = (Sample((3, 5), axis=1), Sample((4, 3), axis=0, largest=False))

    def forward(self, x, axis, largest=True):
        better = np.greater if largest else np.less
        m = np.moveaxis(np.asarray(x), axis, -1)
        idx = np.zeros(m.shape, np.int64)
        if m.shape[-1]:
            best, at = m[..., 0].copy(), np.zeros(m.shape[:-1], np.int64)
            for i in range(m.shape[-1]):
                v = m[..., i]
                take = better(v, best) | (v == best) | np.isnan(v)
                take &= ~np.isnan(best) | np.isnan(v)
                best, at = np.where(take, v, best), np.where(take, i, at)
                idx[..., i] = at
        return np.moveaxis(idx, -1, axis)


@register
class ModeIndex(IndexOp):
    """i = the last index of the most frequent value (the smallest on ties) along an axis, kept
    as a size-1 axis."""
    name = "mode_index"
    samples = (Sample(np.array([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 1.0, 1.0]]), axis=1),)

    def forward(self, x, axis=-1):
        m = np.moveaxis(np.asarray(x), axis, -1)
        flat = m.reshape(-1, m.shape[-1])
        idx = np.empty(flat.shape[0], np.int64)
        for r, row in enumerate(flat):
            vals, counts = np.unique(row, return_counts=True)
            best = vals[np.argmax(counts)]   # np.unique sorts, argmax takes the first: the smallest
            idx[r] = np.flatnonzero(row == best)[-1]
        return np.expand_dims(idx.reshape(m.shape[:-1]), axis)
