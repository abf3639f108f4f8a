"""Matrix products without Jacobians: matmul (1-D, 2-D, batched) and einsum."""
from __future__ import annotations

import numpy as np

from .base import Primitive, Sample, add_tangents, register


def _mT(a):
    """Swap the last two axes (matrix transpose, batched)."""
    return a.swapaxes(-1, -2)


@register
class MatMul(Primitive):
    """Z = X @ W.   dL/dX = dL/dZ @ Wᵀ,  dL/dW = Xᵀ @ dL/dZ  (the Jacobian is never built)."""
    name = "matmul"
    reads = ((1,), (0,))
    flat_forward = "{0} @ {1}"
    samples = (Sample((3, 4), (4, 5)), Sample((4,), (4, 5)), Sample((3, 4), (4,)), Sample((4,), (4,)),
               Sample((2, 3, 4), (4, 5)), Sample((2, 1, 3, 4), (5, 4, 2)), Sample((3, 4), (2, 4, 5)))
    api = "matmul"
    example = "cr.matmul(cr.ones(2, 3), cr.ones(3, 4)).shape  # (2, 4)"
    method = True
    operators = ("__matmul__", "__rmatmul__")
    ufunc = np.matmul

    def forward(self, x, w):
        try:
            return np.matmul(x, w)
        except ValueError:
            xs, ws = np.shape(x), np.shape(w)
            if len(xs) == 0 or len(ws) == 0:
                raise ValueError(f"matmul: shapes {xs} and {ws}: both operands need at least "
                                 f"one dimension") from None
            k1, k2 = xs[-1], ws[-2] if len(ws) > 1 else ws[0]
            if k1 != k2:
                raise ValueError(f"matmul: shapes {xs} and {ws} do not align: "
                                 f"{k1} != {k2}") from None
            raise ValueError(f"matmul: batch dimensions of shapes {xs} and {ws} do not "
                             f"broadcast") from None

    def vjp(self, g, ans, needs, x, w):
        gx = gw = None
        if x.ndim == 1 and w.ndim == 1:              # dot product: g is a scalar
            return (g * w if needs[0] else None), (g * x if needs[1] else None)
        if x.ndim == 1:                              # (k) @ (..., k, n) -> (..., n)
            if needs[0]:
                gx = (w @ g[..., None])[..., 0]
            if needs[1]:
                gw = x[:, None] * g[..., None, :]
            return gx, gw
        if w.ndim == 1:                              # (..., m, k) @ (k) -> (..., m)
            if needs[0]:
                gx = g[..., None] * w
            if needs[1]:
                gw = (_mT(x) @ g[..., None])[..., 0]
            return gx, gw
        if needs[0]:
            gx = g @ _mT(w)
        if needs[1]:
            if w.ndim == 2 and x.ndim > 2:           # fold the batch into rows: one big matmul
                gw = x.reshape(-1, x.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gw = _mT(x) @ g
        return gx, gw

    def jvp(self, tangents, ans, x, w):
        tx, tw = tangents
        return add_tangents(None if tx is None else tx @ w, None if tw is None else x @ tw)


def _parse(subscripts, nops):
    if "..." in subscripts:
        raise NotImplementedError("einsum: '...' is not supported; write the axes out")
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins = subscripts
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    if len(ins) != nops:
        raise ValueError(f"einsum: '{subscripts}' names {len(ins)} operands, got {nops}")
    return ins, out


@register
class Einsum(Primitive):
    """Z = einsum(spec, A, B, ...).   dL/dA = einsum(out, B, ... -> a) of the upstream gradient."""
    name = "einsum"
    flat_forward = "np.einsum({subscripts}, {inputs})"
    samples = (Sample((3, 4), (4, 5), subscripts="ij,jk->ik"), Sample((3, 4), subscripts="ij->j"),
               Sample((2, 3), (2, 3), subscripts="ij,ij->i"), Sample((3,), (4,), subscripts="i,j->ij"),
               Sample((2, 3, 4), (2, 4, 5), subscripts="bij,bjk->bik"), Sample((3, 3), subscripts="ij->ji"))
    api = "einsum"          # np.einsum (sublist form too): functions/numpy_api.py

    def forward(self, *ops, subscripts):
        return np.einsum(subscripts, *ops)

    def vjp(self, g, ans, needs, *ops, subscripts):
        ins, out = _parse(subscripts, len(ops))
        grads = []
        for i, op in enumerate(ops):
            if not needs[i]:
                grads.append(None)
                continue
            if len(set(ins[i])) != len(ins[i]):
                raise NotImplementedError(f"einsum: gradient with a repeated index in '{ins[i]}'")
            others = [(s, o) for j, (s, o) in enumerate(zip(ins, ops)) if j != i]
            have = set(out).union(*[set(s) for s, _ in others])
            target = "".join(c for c in ins[i] if c in have)
            spec = ",".join([out] + [s for s, _ in others]) + "->" + target
            gi = einsum(spec, g, *[o for _, o in others])
            if target != ins[i]:   # letters summed away inside op i alone: broadcast back
                shape = tuple(n if c in have else 1 for c, n in zip(ins[i], op.shape))
                gi = np.broadcast_to(gi.reshape(shape), op.shape)
            grads.append(gi)
        return grads

    def jvp(self, tangents, ans, *ops, subscripts):
        total = None
        for i, t in enumerate(tangents):
            if t is not None:
                args = list(ops)
                args[i] = t
                total = add_tangents(total, einsum(subscripts, *args))
        return total


def einsum(subscripts, *operands):
    """Einstein summation on arrays or Tensors: einsum("ij,jk->ik", a, b)."""
    return Einsum(*operands, subscripts=subscripts)
