"""Parameter: a leaf Tensor that a Module registers as learnable when assigned as an attribute."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_array, get_default_dtype


class Parameter(Tensor):
    """A Tensor marked as a module parameter (a leaf with requires_grad=True by default).

    Wrapping a Tensor shares its array (no copy), as in PyTorch.

    >>> w = cr.nn.Parameter(cr.zeros(3))
    >>> w.requires_grad, isinstance(w, cr.Tensor)
    (True, True)
    """
    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            arr = np.empty((0,), dtype=get_default_dtype())
        elif isinstance(data, Tensor):
            arr = data.data   # shared, not copied, as torch.nn.Parameter(t) shares t's storage
        elif isinstance(data, np.ndarray) and data.dtype.kind in "fc":
            arr = data   # an array keeps its dtype (Linear(..., dtype=float64) builds float64)
        else:
            arr = as_array(data)
        self.data = arr
        self.grad = self.grad_fn = self._vc = self._tangent = self._hooks = self.name = None
        self._post_acc_hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
