"""cr.nn.utils: gradient clipping and flattening parameters to one vector (PyTorch's names)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .. import autograd
from .. import functions as _f
from ..tensor import Tensor
from . import rnn_utils as rnn  # noqa: F401  (cr.nn.utils.rnn.pad_sequence, as torch.nn.utils.rnn)

import sys as _sys
_sys.modules.setdefault(__name__ + ".rnn", rnn)   # so `from chainrule.nn.utils.rnn import ...` works


def _params(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients in place so their joint norm is at most max_norm; returns the norm before.

    >>> total = cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    # Tensor ops throughout, no Python branch on the norm: cr.compile records the clipping
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return Tensor._make(np.zeros(()), False)
    total = _total_norm(grads, norm_type, error_if_nonfinite,
                        "clip_grad_norm_: the total norm of order {p} of the gradients is {v}; "
                        "set error_if_nonfinite=False to clip anyway")
    _scale(grads, max_norm, total)
    return total


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """The norm of the norms of `tensors` (e.g. gradients), in float64 as clip_grad_norm_ uses it.

    >>> cr.nn.utils.get_total_norm([cr.tensor([3.0]), cr.tensor([4.0])])   # 5
    """
    ts = [t for t in _params(tensors) if t is not None]
    if not ts:
        return Tensor._make(np.zeros(()), False)
    return _total_norm(ts, norm_type, error_if_nonfinite,
                       "get_total_norm: the total norm of order {p} is {v}; set "
                       "error_if_nonfinite=False to go on anyway")


def _total_norm(ts, norm_type, error_if_nonfinite, message):
    with autograd.no_grad():
        if norm_type == float("inf"):
            total = _f.stack([_f.max(_f.abs(t)).astype(np.float64) for t in ts if t.numel()]).max()
        else:
            total = _f.stack([_f.sum(_f.abs(t).astype(np.float64) ** norm_type)
                              for t in ts]).sum() ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(_f.isfinite(total)):
            raise RuntimeError(message.format(p=norm_type, v=total.item()))
    return total


def _scale(grads, max_norm, total):
    """Every gradient times min(1, max_norm / (total + 1e-6)), in place."""
    with autograd.no_grad():
        coef = _f.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.astype(g.dtype))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients in place by min(1, max_norm / (total_norm + 1e-6))."""
    _scale([p.grad for p in _params(parameters) if p.grad is not None], max_norm, total_norm)


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Deprecated spelling of clip_grad_norm_ (as in PyTorch)."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element in place to [−clip_value, clip_value]."""
    with autograd.no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


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
