"""Products with argument checks: dot and outer (1-D, as in PyTorch) and einsum's error messages.

matmul is generated from its primitive (ops/linalg.py); NumPy's own np.dot is in numpy_api.py.
"""
from __future__ import annotations

import numpy as np

from ..ops import arith, linalg, shape as shp
from .expose import expose


@expose(method=True)
def dot(x, y):
    """Inner product of two 1-D tensors.

    >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))  # tensor(11.)
    """
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ValueError(f"dot: expects two 1-D tensors, got shapes {np.shape(x)} and {np.shape(y)}")
    return linalg.MatMul(x, y)


@expose(numpy=np.outer)
def outer(x, y):
    """Outer product x yᵀ of two 1-D tensors.  >>> cr.outer(cr.ones(2), cr.ones(3)).shape  # (2, 3)"""
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {np.shape(x)} and "
                         f"{np.shape(y)}")
    return arith.Mul(shp.Reshape(x, shape=(-1, 1)), shp.Reshape(y, shape=(1, -1)))


def einsum(subscripts, *operands):
    """Einstein summation, differentiable.  >>> cr.einsum("ij,jk->ik", a, b)  # a @ b"""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string like 'ij,jk->ik', got "
                        f"{type(subscripts).__name__} (NumPy's sublist form: use np.einsum)")
    try:
        return linalg.einsum(subscripts, *operands)
    except ValueError as e:
        if str(e).startswith("einsum"):
            raise
        shapes = " and ".join(str(np.shape(o)) for o in operands)
        raise ValueError(f"einsum: subscripts {subscripts!r} do not fit shapes {shapes} "
                         f"({str(e).strip()})".replace("\n", " ")) from None
