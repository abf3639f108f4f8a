"""cr.linalg: PyTorch's torch.linalg names on NumPy's linalg, with gradients (first and second order
where smooth). The rules live in the primitives of ops/linalg.py; eigh, svd and qr return their
results packed into one array, unpacked here by slicing so gradients flow to every part.
`np.linalg.<name>(tensor)` dispatches here with NumPy's argument names (the `_np_*` adapters).

>>> a = cr.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> cr.linalg.det(a).backward(); a.grad   # det(a) · a⁻ᵀ
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import functions as F
from .functions.expose import expose
from .functions.linalg import cross as _cross
from .ops import linalg as L

SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
SVDResult = namedtuple("SVDResult", "U S Vh")
QRResult = namedtuple("QRResult", "Q R")
LstsqResult = namedtuple("LstsqResult", "solution residuals rank singular_values")

__all__ = ["inv", "det", "slogdet", "solve", "cholesky", "qr", "svd", "svdvals", "eigh",
           "eigvalsh", "pinv", "lstsq", "norm", "vector_norm", "matrix_norm", "cross", "matmul"]


def _square(op, a):
    s = np.shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"linalg.{op}: expects square matrices (..., n, n), got shape {tuple(s)}")


def _data(x):
    return getattr(x, "data", x)


def _needs_grad(x):
    return bool(getattr(x, "requires_grad", False))


def _const(arr, like):
    if F._T(like):
        return F._const(np.asarray(arr))
    return np.asarray(arr)


def _lower_symmetric(a, uplo="L"):
    """The symmetric matrix LAPACK reads from one triangle of a (so gradients match what is read)."""
    n = np.shape(a)[-1]
    tri = np.tril(np.ones((n, n))) if uplo.upper() == "L" else np.triu(np.ones((n, n)))
    strict = tri - np.eye(n)
    return a * tri + F.swapaxes(a * strict, -1, -2) if F._T(a) else \
        a * tri + np.swapaxes(a * strict, -1, -2)


def inv(A):
    """A⁻¹.  >>> cr.linalg.inv(cr.eye(2) * 2)  # 0.5 on the diagonal"""
    _square("inv", A)
    return L.Inv(A)


def det(A):
    """det A (batched).  >>> cr.linalg.det(cr.eye(3) * 2)  # tensor(8.)"""
    _square("det", A)
    return L.Det(A)


def slogdet(A):
    """(sign, log|det A|); the gradient flows through logabsdet."""
    _square("slogdet", A)
    return SlogdetResult(_const(np.linalg.slogdet(_data(A))[0], A), L.LogAbsDet(A))


def solve(A, B):
    """X with A X = B (B a vector when 1-D).  >>> cr.linalg.solve(cr.eye(2) * 2, cr.ones(2))"""
    _square("solve", A)
    n = np.shape(A)[-1]
    rows = np.shape(B)[0] if np.ndim(B) == 1 else np.shape(B)[-2]
    if rows != n:
        raise ValueError(f"linalg.solve: shapes {np.shape(A)} and {np.shape(B)} do not align: "
                         f"{n} != {rows}")
    return L.Solve(A, B)


def cholesky(A, *, upper=False):
    """Lower L with A = L Lᵀ (reads A's lower triangle, as LAPACK); upper=True gives Lᵀ."""
    _square("cholesky", A)
    out = L.Cholesky(_lower_symmetric(A))
    return F.swapaxes(out, -1, -2) if upper else out


def eigh(A, UPLO="L"):
    """(eigenvalues ascending, eigenvectors) of a symmetric matrix (reads the UPLO triangle)."""
    _square("eigh", A)
    packed = L.Eigh(_lower_symmetric(A, UPLO))
    return EighResult(packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(A, UPLO="L"):
    """Eigenvalues of a symmetric matrix, ascending."""
    return eigh(A, UPLO).eigenvalues


def svd(A, full_matrices=True):
    """(U, S, Vh) with A = U diag(S) Vh. Gradients need full_matrices=False (or a square A)."""
    m, n = np.shape(A)[-2:]
    if full_matrices and m != n:
        if _needs_grad(A):
            raise ValueError(f"linalg.svd: full_matrices=True on shape {np.shape(A)} has no "
                             f"gradient; pass full_matrices=False")
        u, s, vh = np.linalg.svd(_data(A), full_matrices=True)
        return SVDResult(*(_const(x, A) for x in (u, s, vh)))
    return SVDResult(*L.unpack_svd(L.SVD(A), m, n))


def svdvals(A):
    """Singular values, descending."""
    return svd(A, full_matrices=False).S


def qr(A, mode="reduced"):
    """(Q, R) with A = Q R; mode 'reduced' (gradients), 'complete' or 'r'."""
    m, n = np.shape(A)[-2:]
    if mode == "complete" and m > n:
        if _needs_grad(A):
            raise ValueError(f"linalg.qr: mode='complete' on shape {np.shape(A)} has no gradient")
        return QRResult(*(_const(x, A) for x in np.linalg.qr(_data(A), mode="complete")))
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    if m >= n:
        packed = L.QR(A)
        q, r = packed[..., :m, :], packed[..., m:, :]
    else:   # wide: Q R_x = A[:, :m], and R = [R_x | Qᵀ A[:, m:]]
        packed = L.QR(A[..., :m])
        q = packed[..., :m, :]
        r = F.cat([packed[..., m:, :], F.swapaxes(q, -1, -2) @ A[..., m:]], -1) \
            if F._T(A) else np.concatenate([packed[..., m:, :], np.swapaxes(q, -1, -2)
                                                        @ A[..., m:]], -1)
    return r if mode == "r" else QRResult(q, r)


def pinv(A, rcond=None, hermitian=False, *, rtol=None, atol=None):
    """Moore-Penrose pseudo-inverse (gradient where the rank is constant)."""
    if atol is not None:
        raise ValueError("linalg.pinv: atol= is not supported; use rtol=")
    rc = rtol if rtol is not None else rcond
    return L.Pinv(A) if rc is None else L.Pinv(A, rcond=rc)


def lstsq(A, B, rcond=None, *, driver=None):
    """Least squares: (solution, residuals, rank, singular_values); the solution is pinv(A) @ B,
    differentiable where A has full rank."""
    x = pinv(A, rcond) @ B
    a, b = _data(A), _data(B)
    s = np.linalg.svd(a, compute_uv=False)
    rank = np.linalg.matrix_rank(a)
    m, n = a.shape[-2:]
    if np.all(rank == n) and m > n:
        r = np.atleast_1d(np.sum((a @ _data(x) - b) ** 2, axis=-2 if b.ndim == a.ndim else -1))
    else:
        r = np.zeros((0,))
    return LstsqResult(x, _const(r, A), _const(rank, A), _const(s, A))


def _squeeze_axes(x, axes):
    shape = tuple(n for k, n in enumerate(np.shape(x)) if k not in axes)
    return F.reshape(x, shape) if F._T(x) else np.reshape(x, shape)


def vector_norm(x, ord=2, dim=None, keepdim=False):
    """‖x‖_ord over dim (all elements by default): ord 2, 1, p, inf, -inf, 0."""
    if ord == 2:
        return F.norm(x, 2, dim, keepdim)
    if ord == float("inf"):
        return F.amax(F.abs(x), dim, keepdim) if dim is not None or np.ndim(x) else F.abs(x)
    if ord == float("-inf"):
        return F.amin(F.abs(x), dim, keepdim) if dim is not None or np.ndim(x) else F.abs(x)
    if ord == 0:
        return F.sum((F.abs(x) > 0) * 1.0, dim, keepdim)
    return F.sum(F.abs(x) ** ord, dim, keepdim) ** (1.0 / ord)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False):
    """Matrix norm over the two axes `dim`: 'fro', 'nuc', 2, -2, 1, -1, inf, -inf."""
    nd = np.ndim(A)
    r, c = (d % nd for d in dim)
    if ord == "fro":
        return F.norm(A, 2, (r, c), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(F.moveaxis(F.moveaxis(A, r, -2), c if c > r else c, -1)
                    if (r, c) != (nd - 2, nd - 1) else A)
        out = F.sum(s, -1) if ord == "nuc" else (F.amax(s, -1) if ord == 2 else F.amin(s, -1))
        if keepdim:
            out = F.unsqueeze(F.unsqueeze(out, min(r, c)), max(r, c))
        return out
    inner, outer = {1: (r, c), -1: (r, c), float("inf"): (c, r), float("-inf"): (c, r)}[ord]
    sums = F.sum(F.abs(A), inner, True)
    out = (F.amax if ord > 0 else F.amin)(sums, outer, True)
    return out if keepdim else _squeeze_axes(out, (r, c))


def norm(A, ord=None, dim=None, keepdim=False):
    """torch.linalg.norm: the 2-norm of all elements by default; a vector norm for one dim or a
    1-D input, a matrix norm for two dims or a 2-D input."""
    if dim is None:
        if ord is None:
            return F.norm(A, 2, None, keepdim)
        if np.ndim(A) == 1:
            return vector_norm(A, ord, None, keepdim)
        if np.ndim(A) == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim)
        raise ValueError(f"linalg.norm: ord={ord!r} needs a 1-D or 2-D input or dim=, got shape "
                         f"{np.shape(A)}")
    if isinstance(dim, (int, np.integer)) or len(dim) == 1:
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim)
    return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim)


def cross(a, b, dim=-1):
    """Cross product of 3-vectors along dim."""
    return _cross(a, b, dim)


def matmul(a, b):
    return a @ b


# ---------------------------------------------------------------- np.linalg.* on Tensors
def _np(np_fn):
    def deco(f):
        f.__name__ = f"_np_{np_fn.__name__}"
        return expose(f, name=False, numpy=np_fn)
    return deco


@_np(np.linalg.inv)
def _np_inv(a):
    return inv(a)


@_np(np.linalg.det)
def _np_det(a):
    return det(a)


@_np(np.linalg.slogdet)
def _np_slogdet(a):
    return slogdet(a)


@_np(np.linalg.solve)
def _np_solve(a, b):
    return solve(a, b)


@_np(np.linalg.cholesky)
def _np_cholesky(a, /, *, upper=False):
    return cholesky(a, upper=upper)


@_np(np.linalg.eigh)
def _np_eigh(a, UPLO="L"):
    return eigh(a, UPLO)


@_np(np.linalg.eigvalsh)
def _np_eigvalsh(a, UPLO="L"):
    return eigvalsh(a, UPLO)


@_np(np.linalg.svd)
def _np_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if not compute_uv:
        return svdvals(a)
    return svd(a, full_matrices)


@_np(np.linalg.qr)
def _np_qr(a, mode="reduced"):
    return qr(a, mode)


@_np(np.linalg.pinv)
def _np_pinv(a, rcond=None, hermitian=False, *, rtol=None):
    return pinv(a, rcond, rtol=rtol)


@_np(np.linalg.lstsq)
def _np_lstsq(a, b, rcond=None):
    return tuple(lstsq(a, b, rcond))


@_np(np.linalg.norm)
def _np_norm(x, ord=None, axis=None, keepdims=False):
    return norm(x, ord, axis, keepdims)


for _name in ("vector_norm", "matrix_norm", "svdvals", "cross", "matmul"):
    _fn = getattr(np.linalg, _name, None)
    if _fn is not None:
        if _name == "vector_norm":
            _np(_fn)(lambda x, /, *, axis=None, keepdims=False, ord=2: vector_norm(x, ord, axis,
                                                                                 keepdims))
        elif _name == "matrix_norm":
            _np(_fn)(lambda x, /, *, keepdims=False, ord="fro": matrix_norm(x, ord, (-2, -1),
                                                                              keepdims))
        elif _name == "svdvals":
            _np(_fn)(lambda x, /: svdvals(x))
        elif _name == "cross":
            _np(_fn)(lambda x1, x2, /, *, axis=-1: cross(x1, x2, axis))
        else:
            _np(_fn)(lambda x1, x2, /: x1 @ x2)
