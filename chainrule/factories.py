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
    """The NumPy Generator behind cr.rand/randn and the nn/data helpers (reseeded by manual_seed).

    >>> cr.default_generator().random()  # a float in [0, 1)
    """
    return _rng


class Generator:
    """A seeded random generator with torch.Generator's API, for DataLoader(generator=) and friends.

    Wraps a NumPy Generator (`.numpy`); independent of cr.manual_seed.

    >>> g = cr.Generator().manual_seed(0)
    >>> loader = cr.data.DataLoader(ds, batch_size=8, shuffle=True, generator=g)
    """

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: device {device!r} is not supported; chainrule runs on "
                             f"'cpu' only")
        self.device = "cpu"
        self.seed()

    def manual_seed(self, seed: int) -> "Generator":
        """Reseed; returns self (as torch.Generator.manual_seed)."""
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh OS entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % 2 ** 63))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self.numpy.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        self.numpy.bit_generator.state = state
        return self

    def __repr__(self):
        return f"<cr.Generator seed={self._seed}>"


def as_numpy_generator(generator) -> np.random.Generator:
    """The NumPy Generator behind `generator` (a cr.Generator, a NumPy Generator or None: default)."""
    if generator is None:
        return _rng
    if isinstance(generator, Generator):
        return generator.numpy
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"expected a cr.Generator or numpy.random.Generator, got "
                    f"{type(generator).__name__}")


def _dtype(dtype):
    return np.dtype(dtype) if dtype is not None else _t.get_default_dtype()


def _shape(size, who):
    """Sizes given as ints or as one tuple/list, checked: no negative dimensions."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: size must be ints or one tuple of ints, got {size}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"{who}: size {shape} has a negative dimension")
    return shape


def sample(method, args, kw=None, astype=None):
    """`default_generator().method(*args, **kw)` (cast to astype) as an array; under cr.compile a
    recorded draw (a Tensor), so each call of the compiled step draws fresh numbers from the same
    generator, as eager code does."""
    from . import autograd
    tracer = autograd.current_tracer()
    if tracer is not None and hasattr(tracer, "draw"):
        return tracer.draw(method, args, kw or {}, astype)
    out = getattr(_rng, method)(*args, **(kw or {}))
    return out if astype is None else out.astype(astype)


def _draw(method, args, kw=None, astype=None, requires_grad=False):
    """sample() as a new tensor (a leaf requiring grad is made eagerly, never traced)."""
    if requires_grad:
        out = getattr(_rng, method)(*args, **(kw or {}))
        return _new(out if astype is None else out.astype(astype), True)
    out = sample(method, args, kw, astype)
    return out if isinstance(out, Tensor) else _new(out, False)


def _new(arr, requires_grad):
    t = Tensor._make(arr, False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, requires_grad=False, name=None) -> Tensor:
    """A new leaf tensor holding a copy of data. As torch.tensor: NumPy arrays and scalars keep
    their dtype, Python floats get the default dtype (float32), Python ints int64.

    `name` labels it in drawings and traces (cr.viz).

    >>> cr.tensor([[1.0, 2.0]], requires_grad=True).shape
    (1, 2)
    """
    try:
        arr = as_array(data, dtype)
    except ValueError as e:
        raise ValueError(f"tensor: cannot make a tensor from this data: "
                         f"{str(e).splitlines()[0]}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data (dtype "
                        f"{arr.dtype}); expected numbers, nested lists of numbers or an array")
    t = _new(arr, requires_grad)
    t.name = name
    return t


def zeros(*size, dtype=None, requires_grad=False):
    """A tensor of zeros; size as ints or one tuple.

    >>> cr.zeros(2, 3).shape  # (2, 3)
    """
    return _new(np.zeros(_shape(size, "zeros"), dtype=_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    """A tensor of ones; size as ints or one tuple.

    >>> cr.ones((2,), dtype=cr.float64)  # tensor([1., 1.], dtype=float64)
    """
    return _new(np.ones(_shape(size, "ones"), dtype=_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """A tensor filled with `fill_value` (ints give int64, bools bool, floats the default dtype).

    >>> cr.full((2,), 7.0)  # tensor([7., 7.])
    """
    if dtype is None and isinstance(fill_value, (bool, int)) and not isinstance(fill_value, float):
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64
    return _new(np.full(tuple(size) if not isinstance(size, int) else (size,), fill_value,
                        dtype=_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    """An uninitialised tensor (values are whatever memory held).

    >>> cr.empty(2, 3).shape  # (2, 3)
    """
    return _new(np.empty(_shape(size, "empty"), dtype=_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    """Zeros with the shape (and dtype, unless given) of t.

    >>> cr.zeros_like(cr.ones(2, 3)).shape  # (2, 3)
    """
    return _new(np.zeros(np.shape(t), dtype=dtype or np.asarray(t).dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    """Ones with the shape (and dtype, unless given) of t.

    >>> cr.ones_like(cr.zeros(2))  # tensor([1., 1.])
    """
    return _new(np.ones(np.shape(t), dtype=dtype or np.asarray(t).dtype), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    """A tensor of t's shape (and dtype, unless given) filled with `fill_value`.

    >>> cr.full_like(cr.zeros(2), 3)  # tensor([3., 3.])
    """
    return _new(np.full(np.shape(t), fill_value, dtype=dtype or np.asarray(t).dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Values start, start+step, ... below end. As in PyTorch, integer arguments give int64 and
    any float gives the default float dtype.

    >>> cr.arange(3)  # tensor([0, 1, 2])
    """
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else _t.get_default_dtype()
    return _new(np.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    """`steps` evenly spaced values from start to end inclusive.

    >>> cr.linspace(0, 1, 3)  # tensor([0., 0.5, 1.])
    """
    if steps < 0:
        raise ValueError(f"linspace: steps must be >= 0, got {steps}")
    return _new(np.linspace(start, end, steps, dtype=_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    """Identity matrix n×n (or n×m).

    >>> cr.eye(2)  # tensor([[1., 0.], [0., 1.]])
    """
    return _new(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    """Uniform [0, 1) samples from the seeded generator.

    >>> cr.rand(2, 3).shape  # (2, 3)
    """
    return _draw("random", (_shape(size, "rand"),), astype=_dtype(dtype), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    """Standard normal samples from the seeded generator.

    >>> cr.manual_seed(0); cr.randn(3).shape  # (3,)
    """
    return _draw("standard_normal", (_shape(size, "randn"),), astype=_dtype(dtype),
                 requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=np.int64):
    """Integers in [low, high), PyTorch's spelling: randint(low, high, size) or randint(high, size).

    >>> cr.randint(0, 10, (2, 3)).shape
    (2, 3)
    """
    if isinstance(high, (tuple, list)):   # randint(high, size) as in PyTorch
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    return _draw("integers", (low, high), {"size": tuple(size) if not isinstance(size, int) else
                                            (size,), "dtype": np.dtype(dtype)})


def randperm(n):
    """A random permutation of 0..n-1 (int64).

    >>> sorted(cr.randperm(4).tolist())  # [0, 1, 2, 3]
    """
    return _draw("permutation", (n,), astype=np.int64)


def from_numpy(arr):
    """Wrap an existing array without copying or changing its dtype.

    >>> a = np.ones(2); cr.from_numpy(a).data is a  # True
    """
    return Tensor._make(np.asarray(arr), False)


def as_tensor(data, dtype=None):
    """data as a tensor, sharing memory when it already is one (or a NumPy array) of that dtype;
    otherwise a copy as `cr.tensor` makes (torch.as_tensor).

    >>> a = np.ones(2); cr.as_tensor(a).data is a, cr.as_tensor(a, cr.float32).dtype  # True, float32
    """
    if isinstance(data, Tensor):
        if dtype is None or np.dtype(dtype) == data.data.dtype:
            return data
        return data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype) \
            and data.dtype.kind in "biufc":
        return Tensor._make(data, False)
    return tensor(data, dtype)


asarray = as_tensor


def _like(t, dtype):
    a = getattr(t, "data", np.asarray(t))
    return a.shape, np.dtype(dtype) if dtype is not None else a.dtype


def rand_like(t, dtype=None, requires_grad=False):
    """Uniform [0, 1) samples shaped like t (its dtype unless given).  >>> cr.rand_like(x).shape"""
    shape, dt = _like(t, dtype)
    return _draw("random", (shape,), astype=dt, requires_grad=requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    """Standard normal samples shaped like t (its dtype unless given)."""
    shape, dt = _like(t, dtype)
    return _draw("standard_normal", (shape,), astype=dt, requires_grad=requires_grad)


def randint_like(t, low, high=None, dtype=None):
    """Integers in [low, high) shaped like t (its dtype unless given); randint_like(t, high) too."""
    if high is None:
        low, high = 0, low
    shape, dt = _like(t, dtype)
    return _draw("integers", (low, high), {"size": shape}, astype=dt)
