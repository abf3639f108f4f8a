"""Fused neural-network primitives with their own rules: softmax, log_softmax, linear, cross_entropy."""
from __future__ import annotations

import numpy as np

from ..autograd import grad_buffer
from .base import At, Primitive, Sample, add_tangents, register
from .arith import Maximum, Where
from .compare import NotEqual, OneHot

SOFTMAX = (Sample((3, 4)), Sample((3, 4), axis=0), Sample((2, 3, 4), axis=1), Sample((5,)))


def _stable_shift(x, axis):
    # NOTE: subtracting the max makes exp() overflow-free for any finite input (softmax of 1000).
    # A row that is all -inf gives NaN, as in PyTorch.
    # (ufunc.reduce directly: np.max's Python wrapper costs more than the reduction on small arrays)
    if x.size == 0:   # softmax of an empty tensor is empty (no max to subtract)
        return x.copy()
    return x - np.maximum.reduce(x, axis=axis, keepdims=True)


@register
class Softmax(Primitive):
    """p = eˣ / Σ eˣ along axis.   dL/dx = p ⊙ (g − Σ g⊙p)."""
    name = "softmax"
    flat_forward = None   # exported as a call of its own forward
    saves_ans = True
    saves_inputs = False
    samples = SOFTMAX
    api = "softmax"
    example = "cr.softmax(cr.tensor([0.0, 0.0]))  # tensor([0.5, 0.5])"
    method = True
    spelling = "axis"
    functional = True

    def forward(self, x, axis=-1):
        e = np.exp(_stable_shift(x, axis))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def vjp(self, g, ans, needs, x, axis=-1):
        return (ans * (g - (g * ans).sum(axis=axis, keepdims=True)),)

    def jvp(self, tangents, ans, x, axis=-1):
        t = tangents[0]
        return ans * (t - (t * ans).sum(axis=axis, keepdims=True))


@register
class LogSoftmax(Primitive):
    """z = x − logΣeˣ along axis.   dL/dx = g − softmax(x)·Σg."""
    name = "log_softmax"
    flat_forward = None   # exported as a call of its own forward
    saves_ans = True
    saves_inputs = False
    samples = SOFTMAX
    api = "log_softmax"
    example = "cr.log_softmax(cr.tensor([0.0, 0.0]))  # tensor([-0.6931, -0.6931])"
    method = True
    spelling = "axis"
    functional = True

    def forward(self, x, axis=-1):
        z = _stable_shift(x, axis)
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))

    def vjp(self, g, ans, needs, x, axis=-1):
        return (g - np.exp(ans) * g.sum(axis=axis, keepdims=True),)

    def jvp(self, tangents, ans, x, axis=-1):
        t = tangents[0]
        return t - (np.exp(ans) * t).sum(axis=axis, keepdims=True)


@register
class Linear(Primitive):
    """y = x Wᵀ + b (PyTorch's layout, W is out×in).   dx = g W,  dW = gᵀ x,  db = Σ g."""
    name = "linear"
    reads = ((1,), (0,), ())
    flat_forward = "{0} @ {1}.T + {2}"
    samples = (Sample((4, 3), (5, 3), (5,)), Sample((2, 4, 3), (5, 3), (5,)), Sample((3,), (2, 3), None),
               Sample((4, 3), (5, 3), None))

    def forward(self, x, w, b=None):
        if np.shape(x)[-1:] != np.shape(w)[-1:]:
            raise ValueError(f"linear: input shape {np.shape(x)} does not match weight shape "
                             f"{np.shape(w)}: expected last dimension {np.shape(w)[-1]}, "
                             f"got {np.shape(x)[-1:]}")
        xd, wd = x.dtype, w.dtype
        if xd is not wd and xd.kind in "fbiu" and wd.kind == "f" and xd != wd:   # PyTorch raises
            raise RuntimeError(f"linear: input dtype {xd} {np.shape(x)} and weight dtype {wd} "
                               f"{np.shape(w)} differ (cast one, e.g. x.float())")
        out = x @ w.T
        if b is not None:
            out += b
        return out

    def vjp(self, g, ans, needs, x, w, b=None):
        gx = g @ w if needs[0] else None
        gw = None
        if needs[1]:
            if x.ndim == 1:
                gw = g[:, None] * x
            elif x.ndim == 2:
                buf = grad_buffer(1, w.shape, x, g)
                gw = g.T @ x if buf is None else np.matmul(g.T, x, out=buf)   # into the freed .grad
            else:   # fold the batch dimensions into rows: one matmul
                gw = g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1])
        return gx, gw, (g if len(needs) > 2 and needs[2] else None)   # Σ over rows: sum_to

    def jvp(self, tangents, ans, x, w, b=None):
        tx, tw = tangents[:2]
        tb = tangents[2] if len(tangents) > 2 else None   # linear(x, w) may be called without b
        out = None if tx is None else tx @ w.T
        out = add_tangents(out, None if tw is None else x @ tw.T)
        return add_tangents(out, tb)


def _rows(x):
    """Flat position of each row's first logit in a C-contiguous (N, C) array."""
    return np.arange(0, x.shape[0] * x.shape[1], x.shape[1])


def unsigned_top(t):
    """The largest of integer targets t viewed as unsigned, so one reduction checks 0 <= t < C
    (a negative target is huge there); 0 when empty, None for other dtypes or byte orders."""
    d = t.dtype
    if d.kind not in "iu" or not d.isnative:
        return None
    u = np.uint64 if d == np.int64 else f"u{d.itemsize}"   # int64 first: no dtype string parsed
    return np.maximum.reduce(t.view(u), axis=None) if t.size else 0


def _ce_targets(target, ignore_index, rows, classes):
    """(valid rows or None when every row counts, flat positions rows + target of the target
    logits) on arrays; decided per call. One max over the targets viewed as unsigned answers
    both "all in range?" and "none equal to a negative ignore_index?"."""
    t = target
    top = unsigned_top(t)
    if top is not None and top < classes and (ignore_index is None or ignore_index < 0
                          or not np.count_nonzero(t == ignore_index)):
        return None, rows + t
    valid = None
    if ignore_index is not None:
        hit = t == ignore_index
        if np.count_nonzero(hit):
            valid, t = ~hit, np.where(hit, 0, t)
    if t.size and not 0 <= np.min(t) <= np.max(t) < classes:
        bad = t[(t < 0) | (t >= classes)][0]
        raise IndexError(f"cross_entropy: target {bad} is out of range for {classes} classes "
                         f"(logits {(len(rows), classes)}): expected 0..{classes - 1}"
                         f"{'' if ignore_index is None else f' or {ignore_index}'}")
    return valid, rows + t


def _ce_forward(x, valid, idx, reduction):
    """(loss, softmax(x)) of cross_entropy given the targets' flat positions idx in x."""
    z = _stable_shift(x, -1)
    e = np.exp(z)
    s = np.add.reduce(e, axis=-1, keepdims=True)
    losses = np.log(s[:, 0]) - z.reshape(-1)[idx]
    e /= s   # e is now softmax(x): the residual for backward
    if valid is not None:
        losses = losses * valid
    if reduction == "none":
        return losses, e
    out = np.add.reduce(losses)
    if reduction == "mean":
        n = x.shape[0] if valid is None else np.count_nonzero(valid)
        if n:
            out = out / n
        else:
            with np.errstate(invalid="ignore", divide="ignore"):   # all ignored or empty: nan
                out = out / n
    return np.asarray(out, dtype=x.dtype), e


@register
class CrossEntropy(Primitive):
    """L = −log softmax(x)[y], averaged (or summed) over rows.   dL/dx = (softmax(x) − onehot(y))·g/N.

    The forward keeps softmax(x) as its residual, so the backward is one in-place update. Rows
    whose target equals ignore_index count for nothing (N counts the others), decided per call.
    """
    name = "cross_entropy"
    flat_forward = None   # exported as a call of its own forward
    saves_ans = True
    residual = True
    samples = (Sample((4, 5), np.array([0, 3, 4, 1])), Sample((3, 2), np.array([1, 1, 0]), reduction="sum"),
               Sample((3, 4), np.array([2, 0, 1]), reduction="none"),
               Sample((4, 3), np.array([2, -100, 1, 0]), ignore_index=-100),
               Sample((3, 3), np.array([1, 0, 0]), reduction="none", ignore_index=0))

    def forward(self, x, target, reduction="mean", ignore_index=None):
        valid, idx = _ce_targets(target, ignore_index, _rows(x), x.shape[1])
        return _ce_forward(x, valid, idx, reduction)

    def vjp(self, g, ans, needs, x, target, reduction="mean", ignore_index=None):
        if isinstance(x, np.ndarray) and isinstance(ans, np.ndarray):
            # fast path: update the saved softmax in place (it is used once)
            valid, idx = _ce_targets(target, ignore_index, _rows(x), x.shape[1])
            return _ce_grad_into(ans, valid, idx, g, reduction), None
        # recorded (create_graph, cr.compile): softmax, then one primitive that decides per call
        return CrossEntropyGrad(Softmax(x, axis=-1), target, g, reduction=reduction,
                                ignore_index=ignore_index), None

    def jvp(self, tangents, ans, x, target, reduction="mean", ignore_index=None):
        t = tangents[0]
        p = Softmax(x, axis=-1)
        valid, safe = _ignored(np.asarray(getattr(target, "data", target)), ignore_index)
        onehot = OneHot(safe, num_classes=x.shape[-1], dtype=x.dtype)
        per_row = (t * (p - onehot)).sum(axis=-1)
        if valid is not None:
            per_row = per_row * valid.astype(per_row.dtype)
        if reduction == "mean":
            return per_row.mean() if valid is None else per_row.sum() / max(np.count_nonzero(valid), 1)
        if reduction == "sum":
            return per_row.sum()
        return per_row


def _ignored(target, ignore_index):
    """(valid rows or None when every row counts, targets safe to index with) on arrays."""
    if ignore_index is None:
        return None, target
    hit = target == ignore_index
    if not np.count_nonzero(hit):
        return None, target
    return ~hit, np.where(hit, 0, target)


def _ce_grad_into(out, valid, idx, g, reduction, scale=None):
    """out ← (out − onehot(target))·valid·g/N in place, out holding softmax(x) and idx the
    targets' flat positions: the array backward of cross_entropy and the forward of
    cross_entropy_grad (so both give the same bits). scale: g/N (mean) or g (sum) made once
    by the caller, used when every row counts."""
    if out.flags.c_contiguous:
        out.reshape(-1)[idx] -= 1
    else:   # a softmax of transposed logits keeps their layout
        out.flat[idx] -= 1
    if valid is not None:
        out *= valid[:, None]
    if reduction == "none":
        out *= g[:, None]
    elif valid is None and scale is not None:
        out *= scale
    else:
        n = out.shape[0] if valid is None else max(np.count_nonzero(valid), 1)
        out *= g / n if reduction == "mean" else g
    return out


@register
class CrossEntropyGrad(Primitive):
    """G = (P − onehot(y))·valid·g/N: cross_entropy's gradient given P = softmax(x), rows whose
    target is ignore_index zeroed (N = the other rows).   Linear in P and in g:
    dL/dP = dL/dG·valid·g/N, dL/dg = Σ dL/dG·(P − onehot(y))·valid/N."""
    name = "cross_entropy_grad"
    samples = (Sample((4, 5), np.array([0, 3, 4, 1]), ()),
               Sample((3, 4), np.array([2, 0, 1]), (3,), reduction="none"),
               Sample((4, 3), np.array([2, -100, 1, 0]), (), reduction="sum", ignore_index=-100))

    def forward(self, p, target, g, reduction="mean", ignore_index=None):
        valid, idx = _ce_targets(target, ignore_index, _rows(p), p.shape[1])
        return _ce_grad_into(p.copy(), valid, idx, g, reduction)

    def vjp(self, gg, ans, needs, p, target, g, reduction="mean", ignore_index=None):
        gp = gg_ = None
        if needs[0]:   # the same map applied to dL/dG with P − onehot replaced by dL/dG itself
            zero = CrossEntropyGrad(p * 0.0, target, g, reduction=reduction, ignore_index=ignore_index)
            gp = CrossEntropyGrad(gg, target, g, reduction=reduction, ignore_index=ignore_index) - zero
        if needs[2]:
            unit = CrossEntropyGrad(p, target, g * 0.0 + 1.0, reduction=reduction,
                                    ignore_index=ignore_index)
            gg_ = (gg * unit).sum(axis=1) if reduction == "none" else (gg * unit).sum()
        return gp, None, gg_

    def jvp(self, tangents, ans, p, target, g, reduction="mean", ignore_index=None):
        tp, _, tg = tangents
        kw = {"reduction": reduction, "ignore_index": ignore_index}
        out = None
        if tp is not None:   # linear in P: the map without its −onehot part
            out = CrossEntropyGrad(tp, target, g, **kw) - CrossEntropyGrad(tp * 0.0, target, g, **kw)
        if tg is not None:
            d = CrossEntropyGrad(p, target, tg, **kw)
            out = d if out is None else out + d
        return out


@register
class SumOfSquares(Primitive):
    """R = Σₖ Σ xₖ² over all inputs (the lecture's L2 penalty R(W)).   dR/dxₖ = 2·xₖ.

    One node for any number of parameter tensors, instead of a square, a sum and an add each.
    """
    name = "sum_of_squares"
    flat_forward = "sum(np.sum(x * x) for x in ({inputs},))"
    samples = (Sample((3, 4)), Sample((3, 4), (5,)), Sample((2, 3), (), (4, 1)))

    def forward(self, *xs):
        total = 0.0
        for x in xs:
            # vdot flattens in C order and takes the same BLAS dot as np.dot of two raveled
            # copies, in one call (it conjugates: complex arrays keep np.dot)
            if np.iscomplexobj(x):
                flat = np.ravel(x)
                total += np.dot(flat, flat)
            else:
                total += np.vdot(x, x)
        return np.asarray(total, dtype=np.result_type(*xs))

    def vjp(self, g, ans, needs, *xs):
        g2 = g * 2
        return [g2 * x if n else None for x, n in zip(xs, needs)]

    def jvp(self, tangents, ans, *xs):
        total = None
        for t, x in zip(tangents, xs):
            if t is not None:
                term = (t * x).sum() * 2
                total = term if total is None else total + term
        return total


def _clamped_log(x):
    """log x clamped at −100 as PyTorch's BCE; arrays or Tensors (log(0) never evaluated)."""
    tiny = np.finfo(x.dtype).smallest_subnormal
    return np.maximum(np.log(np.maximum(x, tiny)), -100.0)


def _neg_logit(p):
    with np.errstate(divide="ignore"):   # ±inf at p = 0, 1, as PyTorch
        return np.log(1 - p) - np.log(p)


_P = np.array([[0.1, 0.35, 0.6, 0.9], [0.05, 0.5, 0.75, 0.2]])
_T = np.array([[0.0, 1.0, 0.3, 1.0], [1.0, 0.0, 0.5, 0.8]])


@register
class BinaryCrossEntropy(Primitive):
    """ℓ = −[t·log p + (1 − t)·log(1 − p)] elementwise, logs clamped at −100 (PyTorch's BCE).

    dℓ/dp = (p − t) / max(p(1 − p), 1e-12) and dℓ/dt = −logit p = log(1 − p) − log p, the rules
    PyTorch uses, so the gradients at p = 0 or 1 are PyTorch's too (dℓ/dp 0 where p = t, ±1e12
    otherwise; dℓ/dt ±inf).
    """
    name = "binary_cross_entropy"
    flat_forward = None   # exported as a call of its own forward
    samples = (Sample(At(_P), At(_T)), Sample(At(_P[0]), At(_T[0])))

    def forward(self, p, t):
        return -(t * _clamped_log(p) + (1 - t) * _clamped_log(1 - p))

    def vjp(self, g, ans, needs, p, t):
        gp = g * (p - t) / np.maximum(p * (1 - p), 1e-12) if needs[0] else None
        gt = g * _neg_logit(p) if needs[1] else None
        return gp, gt

    def jvp(self, tangents, ans, p, t):
        tp, tt = tangents
        out = None if tp is None else tp * (p - t) / np.maximum(p * (1 - p), 1e-12)
        return add_tangents(out, None if tt is None else tt * _neg_logit(p))
