"""Matrix products without Jacobians (matmul, einsum) and NumPy's linalg with gradients
(inv, det, slogdet, solve, cholesky, eigh, svd, qr, pinv): rules from the standard matrix-calculus
results, written with ops that work on arrays and Tensors, so second order works too."""
from __future__ import annotations

import numpy as np

from ..autograd import grad_buffer
from .base import At, Primitive, Sample, ShapeError, add_tangents, register


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
                raise ShapeError(f"matmul: shapes {xs} and {ws}: both operands need at least "
                                 f"one dimension") from None
            k1, k2 = xs[-1], ws[-2] if len(ws) > 1 else ws[0]
            if k1 != k2:
                raise ShapeError(f"matmul: shapes {xs} and {ws} do not align: "
                                 f"{k1} != {k2}") from None
            raise ShapeError(f"matmul: batch dimensions of shapes {xs} and {ws} do not "
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
            elif w.ndim == 2 and (buf := grad_buffer(1, w.shape, x, g)) is not None:
                gw = np.matmul(_mT(x), g, out=buf)   # into the weight's freed .grad (W2)
            else:
                gw = _mT(x) @ g
        return gx, gw

    def jvp(self, tangents, ans, x, w):
        tx, tw = tangents
        return add_tangents(None if tx is None else tx @ w, None if tw is None else x @ tw)


_SPARE = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse(subscripts, nops, shapes=None):
    """(input subscripts, output subscript), '...' written out as spare letters for these shapes."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins, out = subscripts, None
    ins = ins.split(",")
    if len(ins) != nops:
        raise ValueError(f"einsum: '{subscripts}' names {len(ins)} operands, got {nops}")
    if "..." in subscripts:
        if shapes is None:
            raise ValueError("einsum: '...' needs the operand shapes")
        spare = [c for c in _SPARE if c not in subscripts]
        nell = max(len(shp) - (len(s) - 3) for s, shp in zip(ins, shapes) if "..." in s)
        ell = "".join(spare[:nell])
        ins = [s.replace("...", ell[nell - (len(shp) - (len(s) - 3)):]) if "..." in s else s
               for s, shp in zip(ins, shapes)]
        if out is not None:
            out = out.replace("...", ell)
        else:
            letters = "".join(c for c in "".join(ins) if c not in ell)
            out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if out is None:
        letters = "".join(ins)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ins, out


def _unique(s):
    return "".join(dict.fromkeys(s))


def _to_diagonal(gu, u, sub, shape):
    """Gradient of an operand with a repeated index ('ii'): gu (over the distinct letters u) placed
    on the diagonal of `shape`, zeros elsewhere. Indexing and a constant mask: arrays or Tensors."""
    nd = len(sub)
    first = {c: sub.index(c) for c in u}
    grids = [np.arange(n).reshape([-1 if k == p else 1 for k in range(nd)]) for p, n in enumerate(shape)]
    mask = np.ones(shape, dtype=bool)
    for p, c in enumerate(sub):
        mask = mask & (grids[p] == grids[first[c]])
    picked = gu[tuple(grids[first[c]] for c in u)]
    return picked * mask.astype(picked.dtype if hasattr(picked, "dtype") else float)


@register
class Einsum(Primitive):
    """Z = einsum(spec, A, B, ...).   dL/dA = einsum(out, B, ... -> a) of the upstream gradient."""
    name = "einsum"
    flat_forward = "np.einsum({subscripts}, {inputs})"
    samples = (Sample((3, 4), (4, 5), subscripts="ij,jk->ik"), Sample((3, 4), subscripts="ij->j"),
               Sample((2, 3), (2, 3), subscripts="ij,ij->i"), Sample((3,), (4,), subscripts="i,j->ij"),
               Sample((2, 3, 4), (2, 4, 5), subscripts="bij,bjk->bik"), Sample((3, 3), subscripts="ij->ji"),
               Sample((3, 3), subscripts="ii->i"), Sample((3, 3), subscripts="ii->"),
               Sample((3, 3), (3,), subscripts="ii,i->i"), Sample((2, 3, 3), subscripts="...ii->...i"),
               Sample((2, 3, 4), (4, 5), subscripts="...j,jk->...k"), Sample((3, 4), subscripts="...")
               )
    api = "einsum"          # np.einsum (sublist form too): functions/numpy_api.py

    def forward(self, *ops, subscripts):
        return np.einsum(subscripts, *ops)

    def vjp(self, g, ans, needs, *ops, subscripts):
        ins, out = _parse(subscripts, len(ops), [np.shape(o) for o in ops])
        grads = []
        for i, op in enumerate(ops):
            if not needs[i]:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(ins, ops)) if j != i]
            have = set(out).union(*[set(s) for s, _ in others])
            u = _unique(ins[i])
            size = {c: n for c, n in zip(ins[i], op.shape)}
            target = "".join(c for c in u if c in have)
            spec = ",".join([out] + [s for s, _ in others]) + "->" + target
            gi = einsum(spec, g, *[o for _, o in others])
            if target != u:   # letters summed away inside op i alone: broadcast back
                gi = np.broadcast_to(gi.reshape(tuple(size[c] if c in have else 1 for c in u)),
                                     tuple(size[c] for c in u))
            if u != ins[i]:
                gi = _to_diagonal(gi, u, ins[i], op.shape)
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


# ---------------------------------------------------------------- NumPy's linalg, with gradients
# Decompositions with several results (eigh, svd, qr) return them packed into one array, which
# chainrule.linalg unpacks by slicing; so each is one primitive with one output, as the engine wants.

_SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
_GEN = np.array([[2.0, 0.5, -0.3], [0.4, 1.5, 0.2], [-0.1, 0.3, 1.8]])
_BATCH = np.stack([_GEN, _GEN.T + np.eye(3)])


def _sym(a):
    return (a + _mT(a)) * 0.5


def _eye_like(n, like):
    return np.eye(n, dtype=getattr(like, "dtype", np.float64))


def _diag_embed(v):
    """(..., n) -> (..., n, n) with v on the diagonal (arrays or Tensors)."""
    return v[..., None] * _eye_like(v.shape[-1], v)


def _col(v):
    return v[..., None]


def _row(v):
    return v[..., None, :]


@register
class Inv(Primitive):
    """X = A⁻¹.   dL/dA = -Xᵀ (dL/dX) Xᵀ."""
    name = "inv"
    saves_ans = True
    saves_inputs = False
    samples = (Sample(At(_GEN)), Sample(At(_BATCH)))

    def forward(self, a):
        return np.linalg.inv(a)

    def vjp(self, g, ans, needs, a):
        xt = _mT(ans)
        return [-(xt @ g @ xt)]

    def jvp(self, tangents, ans, a):
        return -(ans @ tangents[0] @ ans)


@register
class Det(Primitive):
    """d = det(A).   dL/dA = g · d · A⁻ᵀ  (A invertible)."""
    name = "det"
    saves_ans = True
    samples = (Sample(At(_GEN)), Sample(At(_BATCH)), Sample((0, 2, 2)))

    def forward(self, a):
        return np.linalg.det(a)

    def vjp(self, g, ans, needs, a):
        return [_col(_col(g * ans)) * _mT(Inv(a))]

    def jvp(self, tangents, ans, a):
        return ans * einsum("...ii->...", Inv(a) @ tangents[0])


@register
class LogAbsDet(Primitive):
    """log|det A| (slogdet's second result).   dL/dA = g · A⁻ᵀ."""
    name = "logabsdet"
    samples = (Sample(At(_GEN)), Sample(At(-_BATCH)))

    def forward(self, a):
        return np.linalg.slogdet(a)[1]

    def vjp(self, g, ans, needs, a):
        return [_col(_col(g)) * _mT(Inv(a))]

    def jvp(self, tangents, ans, a):
        return einsum("...ii->...", Inv(a) @ tangents[0])


@register
class Solve(Primitive):
    """X = A⁻¹ B (B a vector when 1-D, as NumPy).   dL/dB = A⁻ᵀ g,  dL/dA = -(dL/dB) Xᵀ."""
    name = "solve"
    saves_ans = True
    samples = (Sample(At(_GEN), (3, 2)), Sample(At(_GEN), (3,)), Sample(At(_BATCH), (2, 3, 1)))

    def forward(self, a, b):
        if np.ndim(b) == 1:
            return np.linalg.solve(a, b[:, None])[..., 0]
        return np.linalg.solve(a, b)

    def vjp(self, g, ans, needs, a, b):
        gb = Solve(_mT(a), g)
        ga = None
        if needs[0]:
            ga = -(_col(gb) * _row(ans)) if b.ndim == 1 else -(gb @ _mT(ans))
        return [ga, gb if needs[1] else None]

    def jvp(self, tangents, ans, a, b):
        ta, tb = tangents
        rhs = tb
        if ta is not None:
            dx = (ta @ _col(ans))[..., 0] if b.ndim == 1 else ta @ ans
            rhs = -dx if rhs is None else rhs - dx
        return Solve(a, rhs)


@register
class Cholesky(Primitive):
    """L = cholesky(A) (A symmetric positive definite, read as (A + Aᵀ)/2).
    dL/dA = sym(L⁻ᵀ Φ(Lᵀ gL) L⁻¹) with Φ = lower triangle, diagonal halved."""
    name = "cholesky"
    saves_ans = True
    saves_inputs = False
    samples = (Sample(At(_SPD)), Sample(At(np.stack([_SPD, _SPD + np.eye(3)]))))

    def forward(self, a):
        return np.linalg.cholesky((a + np.swapaxes(a, -1, -2)) / 2)

    def vjp(self, g, ans, needs, a):
        n = ans.shape[-1]
        low = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
        li = Inv(ans)
        s = _mT(li) @ ((_mT(ans) @ g) * low) @ li
        return [_sym(s)]

    def jvp(self, tangents, ans, a):
        n = ans.shape[-1]
        low = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
        li = Inv(ans)
        return ans @ ((li @ _sym(tangents[0]) @ _mT(li)) * low)


@register
class Eigh(Primitive):
    """w, V = eigh(A) of symmetric A (read as (A + Aᵀ)/2), packed as (..., n+1, n): row 0 = w.
    dL/dA = sym(V (diag(gw) + F ∘ Vᵀ gV) Vᵀ), F_ij = 1/(w_j - w_i) off the diagonal."""
    name = "eigh_packed"
    saves_ans = True
    saves_inputs = False
    samples = (Sample(At(_SPD)), Sample(At(np.stack([_SPD, _GEN + _GEN.T]))))

    def forward(self, a):
        w, v = np.linalg.eigh((a + np.swapaxes(a, -1, -2)) / 2)
        return np.concatenate([w[..., None, :], v], axis=-2)

    def vjp(self, g, ans, needs, a):
        w, v = ans[..., 0, :], ans[..., 1:, :]
        gw, gv = g[..., 0, :], g[..., 1:, :]
        n = v.shape[-1]
        off = 1.0 - np.eye(n)
        f = off / (_row(w) - _col(w) + np.eye(n))
        inner = _diag_embed(gw) + f * (_mT(v) @ gv)
        return [_sym(v @ inner @ _mT(v))]

    def jvp(self, tangents, ans, a):
        w, v = ans[..., 0, :], ans[..., 1:, :]
        n = v.shape[-1]
        m = _mT(v) @ _sym(tangents[0]) @ v
        dw = einsum("...ii->...i", m)
        f = (1.0 - np.eye(n)) / (_row(w) - _col(w) + np.eye(n))
        dv = v @ (f * m)
        return concat_rows(_row(dw), dv)


def concat_rows(top, rest, axis=-2):
    """Concatenate along `axis` (arrays or Tensors)."""
    if hasattr(top, "grad_fn") or hasattr(rest, "grad_fn"):
        from ..functions import cat
        return cat([top, rest], axis)
    return np.concatenate([top, rest], axis=axis)


@register
class QR(Primitive):
    """Q, R = qr(A) (reduced, m >= n), packed as (..., m+n, n): Q above R.
    dL/dA = (gQ + Q copyltu(M)) R⁻ᵀ with M = R gRᵀ - gQᵀ Q."""
    name = "qr_packed"
    saves_ans = True
    saves_inputs = False
    samples = (Sample((4, 3)), Sample((3, 3)), Sample((2, 4, 2)))

    def forward(self, a):
        q, r = np.linalg.qr(a)
        return np.concatenate([q, r], axis=-2)

    def vjp(self, g, ans, needs, a):
        n = ans.shape[-1]
        m = ans.shape[-2] - n
        q, r = ans[..., :m, :], ans[..., m:, :]
        gq, gr = g[..., :m, :], g[..., m:, :]
        mm = r @ _mT(gr) - _mT(gq) @ q
        low = np.tril(np.ones((n, n)), -1)
        sym = mm * low + _mT(mm * low) + mm * np.eye(n)
        return [(gq + q @ sym) @ _mT(Inv(r))]

    def jvp(self, tangents, ans, a):
        n = ans.shape[-1]
        m = ans.shape[-2] - n
        q, r = ans[..., :m, :], ans[..., m:, :]
        ri = Inv(r)
        dari = tangents[0] @ ri
        c = _mT(q) @ dari
        low = c * np.tril(np.ones((n, n)), -1)
        upper = c - low + _mT(low)             # dR R⁻¹: upper triangular; Qᵀ dQ = C - it is skew
        return concat_rows(dari - q @ upper, upper @ r)


@register
class SVD(Primitive):
    """U, S, Vh = svd(A) (reduced), packed flat as (..., m·k + k + k·n).
    dL/dA = U[(skew(UᵀgU)/E) S + S (skew(VᵀgV)/E) + diag(gS)]Vᵀ + (I-UUᵀ)gU S⁻¹Vᵀ + U S⁻¹gVᵀ(I-VVᵀ),
    E_ij = s_j² - s_i² (distinct singular values)."""
    name = "svd_packed"
    saves_ans = True
    samples = (Sample((4, 3)), Sample((3, 4)), Sample((2, 3, 3)))

    def forward(self, a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        b = a.shape[:-2]
        return np.concatenate([u.reshape(b + (-1,)), s, vh.reshape(b + (-1,))], axis=-1)

    def vjp(self, g, ans, needs, a):
        m, n = a.shape[-2:]
        u, s, vh = unpack_svd(ans, m, n)
        gu, gs, gvh = unpack_svd(g, m, n)
        k = min(m, n)
        v, gv = _mT(vh), _mT(gvh)
        eye = np.eye(k)
        e = _row(s * s) - _col(s * s) + eye
        f = (1.0 - eye) / e
        utgu = _mT(u) @ gu
        vtgv = _mT(v) @ gv
        j = f * (utgu - _mT(utgu))
        kk = f * (vtgv - _mT(vtgv))
        inner = j * _row(s) + _col(s) * kk + _diag_embed(gs)
        out = u @ inner @ vh
        sinv = 1.0 / s
        if m > k:
            out = out + (gu - u @ utgu) * _row(sinv) @ vh
        if n > k:
            out = out + (u * _row(sinv)) @ _mT(gv - v @ vtgv)
        return [out]

    def jvp(self, tangents, ans, a):
        m, n = a.shape[-2:]
        u, s, vh = unpack_svd(ans, m, n)
        k = min(m, n)
        v, da = _mT(vh), tangents[0]
        eye = np.eye(k)
        f = (1.0 - eye) / (_row(s * s) - _col(s * s) + eye)
        p = _mT(u) @ da @ v
        ds = einsum("...ii->...i", p)
        du = u @ (f * (p * _row(s) + _col(s) * _mT(p)))
        dv = v @ (f * (_col(s) * p + _mT(p) * _row(s)))
        if m > k:
            du = du + (da @ v - u @ p) * _row(1.0 / s)
        if n > k:
            dv = dv + (_mT(da) @ u - v @ _mT(p)) * _row(1.0 / s)
        b = tuple(a.shape[:-2])
        return concat_rows(concat_rows(du.reshape(b + (-1,)), ds, -1), _mT(dv).reshape(b + (-1,)), -1)


def unpack_svd(packed, m, n):
    """(U, S, Vh) from SVD's packed output (arrays or Tensors)."""
    k = min(m, n)
    b = tuple(packed.shape[:-1])
    u = packed[..., :m * k].reshape(b + (m, k))
    s = packed[..., m * k:m * k + k]
    vh = packed[..., m * k + k:].reshape(b + (k, n))
    return u, s, vh


@register
class Pinv(Primitive):
    """X = A⁺ (constant rank).  dL/dA = -Xᵀ G Xᵀ + (I - A X) Gᵀ X Xᵀ + Xᵀ X Gᵀ (I - X A)."""
    name = "pinv"
    saves_ans = True
    samples = (Sample((4, 3)), Sample((3, 4)), Sample(At(_BATCH)))

    def forward(self, a, rcond=None):
        return np.linalg.pinv(a) if rcond is None else np.linalg.pinv(a, rcond=rcond)

    def vjp(self, g, ans, needs, a, rcond=None):
        x, xt, gt = ans, _mT(ans), _mT(g)
        m, n = a.shape[-2:]
        return [-(xt @ g @ xt) + (np.eye(m) - a @ x) @ gt @ x @ xt
                + xt @ x @ gt @ (np.eye(n) - x @ a)]

    def jvp(self, tangents, ans, a, rcond=None):
        x, t = ans, tangents[0]
        m, n = a.shape[-2:]
        return (-(x @ t @ x) + x @ _mT(x) @ _mT(t) @ (np.eye(m) - a @ x)
                + (np.eye(n) - x @ a) @ _mT(t) @ _mT(x) @ x)
