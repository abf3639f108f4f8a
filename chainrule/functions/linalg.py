"""Products with argument checks: dot and outer (1-D, as in PyTorch) and einsum's error messages.

matmul is generated from its primitive (ops/linalg.py); NumPy's own np.dot is in numpy_api.py.
"""
from __future__ import annotations

import numpy as np

from ..ops import arith, linalg, shape as shp
from ..ops.base import ShapeError
from .expose import expose


@expose(method=True)
def dot(x, y):
    """Inner product of two 1-D tensors.

    >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))  # tensor(11.)
    """
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ShapeError(f"dot: expects two 1-D tensors, got shapes {np.shape(x)} and {np.shape(y)}")
    return linalg.MatMul(x, y)


@expose(numpy=np.outer)
def outer(x, y):
    """Outer product x yᵀ of two 1-D tensors.  >>> cr.outer(cr.ones(2), cr.ones(3)).shape  # (2, 3)"""
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ShapeError(f"outer: expects two 1-D tensors, got shapes {np.shape(x)} and "
                         f"{np.shape(y)}")
    return arith.Mul(shp.Reshape(x, shape=(-1, 1)), shp.Reshape(y, shape=(1, -1)))


def einsum(subscripts, *operands):
    """Einstein summation, differentiable.  >>> cr.einsum("ij,jk->ik", a, b)  # a @ b"""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string like 'ij,jk->ik', got "
                        f"{type(subscripts).__name__} (NumPy's sublist form: use np.einsum)")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):   # einsum(eq, [a, b])
        operands = tuple(operands[0])
    try:
        return linalg.einsum(subscripts, *operands)
    except ValueError as e:
        if str(e).startswith("einsum"):
            raise
        shapes = " and ".join(str(np.shape(o)) for o in operands)
        raise ShapeError(f"einsum: subscripts {subscripts!r} do not fit shapes {shapes} "
                         f"({str(e).strip()})".replace("\n", " ")) from None


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _tensordot_axes(dims, na, nb):
    if isinstance(dims, (int, np.integer)):
        d = int(dims)
        if d < 0 or d > min(na, nb):
            raise ValueError(f"tensordot: dims={d} does not fit {na}-D and {nb}-D operands")
        return list(range(na - d, na)), list(range(d))
    da, db = dims
    da = [da] if isinstance(da, (int, np.integer)) else list(da)
    db = [db] if isinstance(db, (int, np.integer)) else list(db)
    return [d % na for d in da], [d % nb for d in db]


@expose(numpy=np.tensordot)
def tensordot(a, b, dims=2, *, axes=None):
    """Sum over `dims` (the last dims of a against the first of b, or two lists of axes; NumPy's
    name axes= too).  >>> cr.tensordot(cr.ones(2, 3), cr.ones(3, 4), dims=1).shape  # (2, 4)"""
    na, nb = np.ndim(a), np.ndim(b)
    da, db = _tensordot_axes(dims if axes is None else axes, na, nb)
    sa, sb = np.shape(a), np.shape(b)
    if len(da) != len(db) or any(sa[i] != sb[j] for i, j in zip(da, db)):
        raise ShapeError(f"tensordot: shapes {sa} and {sb} do not match on axes {da} and {db}")
    la = _LETTERS[:na]
    lb = list(_LETTERS[na:na + nb])
    for i, j in zip(da, db):
        lb[j] = la[i]
    lb = "".join(lb)
    out = "".join(c for k, c in enumerate(la) if k not in da) + \
        "".join(c for k, c in enumerate(lb) if k not in db)
    return linalg.einsum(f"{la},{lb}->{out}", a, b)


@expose(method=True, numpy=np.inner)
def inner(a, b):
    """Sum over the last axes (a scalar operand multiplies).  >>> cr.inner(a, b)  # a·b for 1-D"""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


@expose(method=True)
def vdot(a, b):
    """Dot product of two 1-D tensors (real; as PyTorch: np.vdot flattens any shapes).

    >>> cr.vdot(cr.ones(4), cr.ones(4))  # tensor(4.)
    """
    if np.ndim(a) != 1 or np.ndim(b) != 1:
        raise ShapeError(f"vdot: expects two 1-D tensors, got shapes {np.shape(a)} and "
                         f"{np.shape(b)} (np.vdot flattens)")
    return numpy_vdot(a, b)


@expose(name=False, numpy=np.vdot)
def numpy_vdot(a, b):
    """np.vdot: the dot product of the flattened inputs."""
    if np.size(a) != np.size(b):
        raise ShapeError(f"vdot: shapes {np.shape(a)} and {np.shape(b)} have different sizes")
    return linalg.MatMul(shp.Reshape(a, shape=(-1,)), shp.Reshape(b, shape=(-1,)))


@expose(method=True, numpy=np.kron)
def kron(a, b):
    """Kronecker product.  >>> cr.kron(cr.eye(2), cr.ones(2, 2)).shape  # (4, 4)"""
    sa, sb = np.shape(a), np.shape(b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + tuple(sa), (1,) * (nd - len(sb)) + tuple(sb)
    ra = shp.Reshape(a, shape=tuple(x for n in sa for x in (n, 1)))
    rb = shp.Reshape(b, shape=tuple(x for n in sb for x in (1, n)))
    return shp.Reshape(arith.Mul(ra, rb), shape=tuple(p * q for p, q in zip(sa, sb)))


@expose(method=True)
def cross(a, b, dim=-1):
    """Cross product of 3-vectors along `dim` (broadcasting).  >>> cr.cross(x, y, dim=-1)"""
    from .shape import getitem, moveaxis
    sa, sb = np.shape(a), np.shape(b)
    if sa[dim] != 3 or sb[dim] != 3:
        raise ShapeError(f"cross: shapes {sa} and {sb} need size 3 along dim {dim}")
    a, b = moveaxis(a, dim, -1), moveaxis(b, dim, -1)
    i1, i2 = (Ellipsis, [1, 2, 0]), (Ellipsis, [2, 0, 1])
    c = getitem(a, i1) * getitem(b, i2) - getitem(a, i2) * getitem(b, i1)
    return moveaxis(c, -1, dim)


@expose(name=False, numpy=np.cross)
def numpy_cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """np.cross: NumPy's axisa/axisb/axisc/axis names; 2-vectors give the z component."""
    from .shape import getitem, moveaxis
    if axis is not None:
        axisa = axisb = axisc = axis
    if np.shape(a)[axisa] == 2 and np.shape(b)[axisb] == 2:
        a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
        x0, x1 = (Ellipsis, 0), (Ellipsis, 1)
        return getitem(a, x0) * getitem(b, x1) - getitem(a, x1) * getitem(b, x0)
    c = cross(moveaxis(a, axisa, -1), moveaxis(b, axisb, -1), -1)
    return moveaxis(c, -1, axisc)
