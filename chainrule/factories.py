"""Making tensors: cr.tensor, zeros, ones, arange, rand, ... and the seeded random generator."""
from __future__ import annotations

import numpy as np

from . import tensor as _t
from .tensor import Tensor, as_array

_rng = np.random.default_rng()


def manual_seed(seed: int):
    """Seed every random draw chainrule makes (rand, randn, init, dropout, shuffling).

    >>> cr.manual_seed(0); a = cr.randn(3); cr.manual_seed(0); bool((a == cr.randn(3)).all())
    True
    """
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def default_generator() -> np.random.Generator:
    """The generator behind cr.rand/randn and the nn/data helpers."""
    return _rng


def _dtype(dtype):
    return np.dtype(dtype) if dtype is not None else _t.get_default_dtype()


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(int(s) for s in size)


def _new(arr, requires_grad):
    t = Tensor._make(arr, False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, requires_grad=False, name=None) -> Tensor:
    """A new leaf tensor holding a copy of data; Python and float64 floats become float32 by default.

    `name` labels it in drawings and traces (cr.viz).

    >>> cr.tensor([[1.0, 2.0]], requires_grad=True).shape
    (1, 2)
    """
    t = _new(as_array(data, dtype), requires_grad)
    t.name = name
    return t


def zeros(*size, dtype=None, requires_grad=False):
    return _new(np.zeros(_shape(size), dtype=_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _new(np.ones(_shape(size), dtype=_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, (bool, int)) and not isinstance(fill_value, float):
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64
    return _new(np.full(tuple(size) if not isinstance(size, int) else (size,), fill_value,
                        dtype=_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return _new(np.empty(_shape(size), dtype=_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _new(np.zeros(np.shape(t), dtype=dtype or np.asarray(t).dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _new(np.ones(np.shape(t), dtype=dtype or np.asarray(t).dtype), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return _new(np.full(np.shape(t), fill_value, dtype=dtype or np.asarray(t).dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Like PyTorch: integer arguments give int64, any float gives the default float dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else _t.get_default_dtype()
    return _new(np.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    return _new(np.linspace(start, end, steps, dtype=_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return _new(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    """Uniform [0, 1) samples from the seeded generator."""
    return _new(_rng.random(_shape(size)).astype(_dtype(dtype)), requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    """Standard normal samples from the seeded generator."""
    return _new(_rng.standard_normal(_shape(size)).astype(_dtype(dtype)), requires_grad)


def randint(low, high=None, size=(), dtype=np.int64):
    """Integers in [low, high) (PyTorch: randint(low, high, size))."""
    if high is None:
        low, high = 0, low
    return _new(_rng.integers(low, high, size=tuple(size) if not isinstance(size, int) else (size,),
                              dtype=np.dtype(dtype)), False)


def randperm(n):
    return _new(_rng.permutation(n).astype(np.int64), False)


def from_numpy(arr):
    """Wrap an existing array without copying or changing its dtype."""
    return Tensor._make(np.asarray(arr), False)
