"""cr.nn.utils: gradient clipping and flattening parameters to one vector (PyTorch's names)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .. import autograd
from ..tensor import Tensor
from . import rnn_utils as rnn  # noqa: F401  (cr.nn.utils.rnn.pad_sequence, as torch.nn.utils.rnn)

import sys as _sys
_sys.modules.setdefault(__name__ + ".rnn", rnn)   # so `from chainrule.nn.utils.rnn import ...` works


def _params(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients in place so their joint norm is at most max_norm; returns the norm before.

    >>> total = cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    grads = [p.grad.data for p in _params(parameters) if p.grad is not None]
    if not grads:
        return Tensor._make(np.zeros(()), False)
    if norm_type == float("inf"):
        total = max(float(np.abs(g).max()) for g in grads if g.size)
    else:
        total = float(sum(float(np.sum(np.abs(g, dtype=np.float64) ** norm_type))
                          for g in grads)) ** (1.0 / norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}; set error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        with autograd.no_grad():
            for g in grads:
                g *= coef
    return Tensor._make(np.asarray(total), False)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element in place to [−clip_value, clip_value]."""
    for p in _params(parameters):
        if p.grad is not None:
            np.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (a copy, no graph)."""
    return Tensor._make(np.concatenate([p.data.reshape(-1) for p in parameters]), False)


def vector_to_parameters(vec, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of `vec` into the parameters, in place (inverse of the above)."""
    v = vec.data if isinstance(vec, Tensor) else np.asarray(vec)
    ps = list(parameters)
    n = sum(p.data.size for p in ps)
    if v.shape != (n,):
        raise ValueError(f"vector_to_parameters: expected a vector of {n} elements, got shape {v.shape}")
    i = 0
    for p in ps:
        p.data[...] = v[i:i + p.data.size].reshape(p.data.shape)
        p._bump()
        i += p.data.size
