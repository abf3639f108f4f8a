"""The Tensor class itself: an array, its gradient and the node that made it (no ops here).

The engine (autograd.py) makes Tensors of this class directly; tensor.py adds the operators and op
methods, generated from the primitive registry, to the same class.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

_default_dtype = np.dtype(np.float32)


def get_default_dtype():
    """The floating dtype new tensors get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype):
    """Set the floating dtype of new tensors: `cr.set_default_dtype(cr.float64)`."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def as_array(data, dtype=None):
    """Convert data to an ndarray the way `cr.tensor` does, as torch.tensor: NumPy arrays and
    scalars (also inside lists) keep their dtype; Python floats become the default dtype, Python
    complex numbers its complex counterpart and Python ints int64."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    arr = np.array(data)
    kind = arr.dtype.kind
    if kind not in "biufc":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data")
    if isinstance(data, (np.ndarray, np.generic)) or kind == "b":
        return arr
    if kind == "f":
        want = _default_dtype
    elif kind == "c":
        want = np.result_type(_default_dtype, np.complex64)
    else:
        want = np.dtype(np.int64)
    if arr.dtype != want and not (isinstance(data, (list, tuple)) and _holds_numpy(data)):
        arr = arr.astype(want)
    return arr


def _holds_numpy(data):
    """Whether a nested list or tuple holds a NumPy array or scalar (whose dtype then counts)."""
    stack = [data]
    while stack:
        for x in stack.pop():
            if isinstance(x, (list, tuple)):
                stack.append(x)
            elif isinstance(x, (np.ndarray, np.generic)):
                return True
    return False


def check_grad_dtype(arr):
    if arr.dtype.kind not in "fc":
        raise TypeError(f"requires_grad=True needs a floating dtype, got {arr.dtype} "
                        f"(only floating tensors can have gradients)")


# cr.compile sets this: called as _read_hook(tensor, "item") where Python reads a tensor's value
_read_hook = None

_warned_grad = weakref.WeakSet()   # non-leaf tensors whose `.grad` read was already warned about


class Tensor:
    """An n-dimensional array that records the ops applied to it, so gradients can flow back.

    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """
    __slots__ = ("data", "_grad", "requires_grad", "grad_fn", "_vc", "_tangent", "_hooks", "name",
                 "_post_acc_hooks", "_spare", "__weakref__")
    # _post_acc_hooks: unset until registered; _spare: unset until zero_grad keeps a freed .grad
    # array for the next backward (autograd.recycle_grad)
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = as_array(data, dtype)
        self._grad = None
        self.grad_fn = None
        self._vc = None
        self._tangent = None
        self._hooks = self._post_acc_hooks = None
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, requires_grad):
        t = object.__new__(Tensor)
        t.data = data if type(data) is np.ndarray else np.asarray(data)
        t.requires_grad = requires_grad
        t._grad = None
        t.grad_fn = None
        t._vc = None
        t._tangent = None
        t._hooks = t._post_acc_hooks = None
        t.name = None
        return t

    @property
    def grad(self):
        """The accumulated gradient (leaves, and non-leaves that called `retain_grad()`)."""
        g = self._grad
        if g is None and self.grad_fn is not None and self not in _warned_grad:
            _warned_grad.add(self)
            if not any(type(h).__name__ == "RetainGrad" for h in self.grad_fn.hooks or ()):
                warnings.warn(
                    f"The .grad attribute of a Tensor that is not a leaf (made by "
                    f"'{self.grad_fn.name}', shape {self.shape}) is not filled by backward(); "
                    f"call .retain_grad() on it before backward() to keep its gradient",
                    UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value):
        self._grad = value

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (not by an op recorded in the graph)."""
        return self.grad_fn is None

    @property
    def device(self):
        return "cpu"

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    def size(self, dim=None):
        """Shape (PyTorch's spelling), or the length of one dimension."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def item(self):
        if _read_hook is not None:
            _read_hook(self, ".item()")
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python "
                             f"number, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        if _read_hook is not None:
            _read_hook(self, ".tolist()")
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), as in PyTorch."""
        if _read_hook is not None:
            _read_hook(self, ".numpy()")
        return self.data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self):
        if _read_hook is not None:
            _read_hook(self, "bool()")
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             f"use .any() or .all()")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(",
                               suppress_small=True, threshold=60, edgeitems=3)
        extra = []
        kind = self.data.dtype.kind
        if (kind == "f" and self.data.dtype != _default_dtype) or kind not in "fbi":
            extra.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            check_grad_dtype(self.data)
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring grad; "
                               "use .detach()")
        self.requires_grad = bool(requires_grad)
        return self
