"""More activations (PyTorch's torch.nn.functional), composed of primitives: no derivative code here,
the gradients come from the ops they are written with."""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _f
from ..ops import compare as _compare
from ..tensor import Tensor

__all__ = ["gelu", "silu", "mish", "selu", "celu", "relu6", "hardswish", "hardsigmoid", "hardtanh",
           "softsign", "logsigmoid", "softmin", "tanhshrink", "threshold", "glu", "prelu",
           "normalize", "one_hot", "hardshrink", "softshrink"]

_GELU_C = math.sqrt(2.0 / math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def gelu(input, approximate="none"):
    """x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (PyTorch's default); approximate='tanh' gives
    0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).

    >>> F.gelu(cr.tensor([1.0]))  # tensor([0.8413])
    """
    if approximate == "none":
        return input * (_f.erf(input * _SQRT_HALF) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * _GELU_C
        return input * (_f.tanh(inner) + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input, inplace=False):
    """x·σ(x).  >>> F.silu(cr.tensor([0.0]))  # tensor([0.])"""
    return input * _f.sigmoid(input)


def mish(input, inplace=False):
    """x·tanh(softplus(x)).  >>> F.mish(cr.tensor([0.0]))  # tensor([0.])"""
    return input * _f.tanh(_f.softplus(input))


def selu(input, inplace=False):
    """scale·elu(x, α) with PyTorch's constants.  >>> F.selu(cr.tensor([1.0]))  # tensor([1.0507])"""
    return _f.elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """x if x > 0 else α(e^(x/α) − 1).  >>> F.celu(cr.tensor([-1.0]), 2.0)  # tensor([-0.7869])"""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _f.elu(input * (1.0 / alpha), 1.0) * alpha


def _hard(input, lo, hi):
    """input clipped to [lo, hi] with gradient 1 strictly inside only (PyTorch's hardtanh; clamp
    passes it at the bounds too)."""
    inside = _f.logical_and(input > lo, input < hi)
    return _f.where(inside, input, _f.where(input <= lo, lo, hi))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clipped to [min_val, max_val].  >>> F.hardtanh(cr.tensor([2.0]))  # tensor([1.])"""
    return _hard(input, min_val, max_val)


def relu6(input, inplace=False):
    """min(max(0, x), 6).  >>> F.relu6(cr.tensor([7.0]))  # tensor([6.])"""
    return _hard(input, 0.0, 6.0)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3)/6.  >>> F.hardsigmoid(cr.tensor([0.0]))  # tensor([0.5])"""
    return _hard(input * (1 / 6) + 0.5, 0.0, 1.0)


def hardswish(input, inplace=False):
    """x·relu6(x + 3)/6.  >>> F.hardswish(cr.tensor([1.0]))  # tensor([0.6667])"""
    return input * hardsigmoid(input)


def softsign(input):
    """x/(1 + |x|).  >>> F.softsign(cr.tensor([1.0]))  # tensor([0.5])"""
    return input / (_f.abs(input) + 1.0)


def logsigmoid(input):
    """log σ(x) = −softplus(−x), stable for large |x|.  >>> F.logsigmoid(cr.tensor([0.0]))"""
    return -_f.softplus(-input)


def softmin(input, dim=None):
    """softmax(−x) along dim (the last when None).  >>> F.softmin(cr.tensor([0.0, 1.0]), 0)"""
    return _f.softmax(-input, axis=-1 if dim is None else dim)


def tanhshrink(input):
    """x − tanh x.  >>> F.tanhshrink(cr.tensor([0.0]))  # tensor([0.])"""
    return input - _f.tanh(input)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value.  >>> F.threshold(cr.tensor([0.5, 2.0]), 1.0, 0.0)"""
    return _f.where(input > threshold, input, value)


def glu(input, dim=-1):
    """a·σ(b) where a, b are the two halves of input along dim.  >>> F.glu(cr.ones(2, 4)).shape"""
    n = np.shape(input)[dim]
    if n % 2:
        raise RuntimeError(f"glu: halving dimension {dim} of shape {tuple(np.shape(input))} "
                           f"needs an even size, got {n}")
    a, b = _f.split(input, n // 2, dim)
    return a * _f.sigmoid(b)


def prelu(input, weight):
    """x if x > 0 else a·x, a learned per channel (dim 1) or one shared slope.

    >>> F.prelu(cr.tensor([[-1.0, 2.0]]), cr.tensor([0.25]))  # tensor([[-0.25, 2.]])
    """
    shape = tuple(np.shape(input))
    k = int(np.size(_data(weight)))
    if np.ndim(_data(weight)) > 1 or (k != 1 and (len(shape) < 2 or shape[1] != k)):
        raise RuntimeError(f"prelu: weight of shape {tuple(np.shape(weight))} must have 1 or "
                           f"channels (input shape {shape}, dim 1) elements")
    if k != 1:
        weight = _f.reshape(weight, (k,) + (1,) * (len(shape) - 2))
    return _f.where(input > 0, input, input * weight)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """x / max(‖x‖_p, eps) along dim.  >>> F.normalize(cr.tensor([[3.0, 4.0]]))  # [[0.6, 0.8]]"""
    # max(‖x‖, eps) as (max(Σ|x|ᵖ, epsᵖ))^(1/p): the same value, and a zero gradient through the
    # norm of an all-zero x (PyTorch's), where the root's derivative at 0 would give 0·inf = nan
    if p == 2:
        norm = _f.sqrt(_f.clip(_f.sum(input * input, dim, True), min=eps * eps))
    else:
        norm = _f.clip(_f.sum(_f.abs(input) ** p, dim, True), min=eps ** p) ** (1.0 / p)
    return input / norm


def one_hot(tensor, num_classes=-1):
    """Integer class indices to int64 one-hot rows (num_classes=-1: max + 1).

    >>> F.one_hot(cr.tensor([0, 2]), 3)  # tensor([[1, 0, 0], [0, 0, 1]])
    """
    idx = np.asarray(_data(tensor))
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected an integer tensor of class indices, got {idx.dtype}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got "
                           f"[{idx.min()}, {idx.max()}] (shape {idx.shape})")
    out = _compare.OneHot(tensor if isinstance(tensor, Tensor) else idx, num_classes=num_classes,
                          dtype=np.int64)
    return out if isinstance(out, Tensor) else Tensor._make(np.asarray(out), False)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0.  >>> F.hardshrink(cr.tensor([0.3, -2.0]))  # tensor([0., -2.])"""
    return _f.where(_f.abs(input) > lambd, input, 0.0)


def softshrink(input, lambd=0.5):
    """x − lambd·sign(x) where |x| > lambd, else 0.  >>> F.softshrink(cr.tensor([1.0]))  # [0.5]"""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return input - _f.clip(input, -lambd, lambd)
