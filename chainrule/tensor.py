"""Tensor: a NumPy array with a gradient and the node that made it. Operators delegate to the op API."""
from __future__ import annotations

import weakref

import numpy as np

from . import autograd
from . import functions as F
from .ops import arith as _A
from .ops import linalg as _L
from .ops import shape as shp

_apply = autograd.apply

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
    """Convert data to an ndarray the way `cr.tensor` does (floats become the default dtype)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    arr = np.array(data)
    if arr.dtype.kind == "f" and arr.dtype != _default_dtype:
        arr = arr.astype(_default_dtype)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "biufc":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data")
    return arr


def _check_grad_dtype(arr):
    if arr.dtype.kind not in "fc":
        raise TypeError(f"requires_grad=True needs a floating dtype, got {arr.dtype} "
                        f"(only floating tensors can have gradients)")


class Tensor:
    """An n-dimensional array that records the ops applied to it, so gradients can flow back.

    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """
    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_vc", "_tangent", "_hooks", "name",
                 "_post_acc_hooks", "__weakref__")   # _post_acc_hooks: unset until registered
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = as_array(data, dtype)
        self.grad = None
        self.grad_fn = None
        self._vc = None
        self._tangent = None
        self._hooks = None
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, requires_grad):
        t = object.__new__(Tensor)
        t.data = data if type(data) is np.ndarray else np.asarray(data)
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = None
        t._vc = None
        t._tangent = None
        t._hooks = None
        t.name = None
        return t

    # ---------------------------------------------------------------- attributes
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
    def T(self):
        return F.transpose(self)

    @property
    def mT(self):
        return F.swapaxes(self, -1, -2)

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
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python "
                             f"number, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), as in PyTorch."""
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
        if self.data.dtype != _default_dtype and self.data.dtype.kind == "f" or self.data.dtype.kind not in "fbi":
            extra.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.prim.name}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ---------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Backpropagate: add d self / d leaf into `.grad` of every leaf that requires grad.

        >>> w = cr.tensor(2.0, requires_grad=True); (w * 3).backward(); w.grad   # tensor(3.)
        """
        autograd.backward(self, gradient, retain_graph, create_graph)

    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            _check_grad_dtype(self.data)
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring grad; "
                               "use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """Same data, cut from the graph (in-place changes to either are seen by both)."""
        t = Tensor._make(self.data, False)
        if self._vc is None:
            self._vc = [0]
        t._vc = self._vc
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def clone(self):
        """A copy of the data that stays in the graph."""
        return self * 1 if self.data.dtype.kind in "fc" else Tensor._make(self.data.copy(), False)

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward."""
        if self.grad_fn is not None:
            node = self.grad_fn
            if not any(isinstance(h, autograd.RetainGrad) for h in node.hooks or ()):
                node.hooks = (node.hooks or []) + [autograd.RetainGrad(self)]
        elif not self.requires_grad:
            raise RuntimeError("retain_grad: tensor does not require grad")
        return self

    def register_hook(self, fn):
        """Call fn(grad) when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        if self.grad_fn is not None:
            node = self.grad_fn
            hooks = node.hooks or []
            # user hooks run before the retain_grad hook, so .grad sees their result (as in PyTorch)
            retain = [h for h in hooks if isinstance(h, autograd.RetainGrad)]
            node.hooks = [h for h in hooks if h not in retain] + [fn] + retain
            return _Handle(node, "hooks", fn)
        self._hooks = (self._hooks or []) + [fn]
        return _Handle(self, "_hooks", fn)

    def register_post_accumulate_grad_hook(self, fn):
        """Call fn(tensor) after backward has added into this leaf's `.grad` (as in PyTorch).

        >>> h = w.register_post_accumulate_grad_hook(lambda p: print(p.grad)); ...; h.remove()
        """
        if not self.requires_grad or self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only a leaf tensor that "
                               "requires grad accepts it")
        self._post_acc_hooks = (getattr(self, "_post_acc_hooks", None) or []) + [fn]
        return _Handle(self, "_post_acc_hooks", fn)

    def zero_grad_(self, set_to_none: bool = True):
        """Reset `.grad`: to None, or to zeros in place (what Module/Optimizer.zero_grad do)."""
        if self.grad is None:
            return
        if set_to_none:
            self.grad = None
        elif self.grad.grad_fn is not None or not self.grad.data.flags.writeable:
            self.grad = Tensor._make(np.zeros_like(self.data), False)
        else:
            self.grad.data[...] = 0

    # ---------------------------------------------------------------- dtype
    def astype(self, dtype):
        return self.to(dtype)

    def to(self, dtype=None, *args, **kwargs):
        """Cast (differentiably between float types); devices other than 'cpu' are not supported."""
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"to: {dtype!r} is neither a dtype nor a supported device; chainrule "
                            f"runs on the CPU") from None
        if dtype == self.data.dtype:
            return self
        if dtype.kind == "f" and self.requires_grad:
            return _Cast(self, dtype=dtype)
        return Tensor._make(self.data.astype(dtype), False)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    # ---------------------------------------------------------------- arithmetic
    # The hottest operators call the engine directly (one Python frame less per op).
    def __add__(self, o): return _apply(_A.Add, (self, o))
    def __radd__(self, o): return _apply(_A.Add, (o, self))
    def __sub__(self, o): return _apply(_A.Sub, (self, o))
    def __rsub__(self, o): return _apply(_A.Sub, (o, self))
    def __mul__(self, o): return _apply(_A.Mul, (self, o))
    def __rmul__(self, o): return _apply(_A.Mul, (o, self))
    def __truediv__(self, o): return _apply(_A.Div, (self, o))
    def __rtruediv__(self, o): return _apply(_A.Div, (o, self))
    def __pow__(self, o): return _apply(_A.Pow, (self, o))
    def __rpow__(self, o): return _apply(_A.Pow, (o, self))
    def __matmul__(self, o): return _apply(_L.MatMul, (self, o))
    def __rmatmul__(self, o): return _apply(_L.MatMul, (o, self))
    def __neg__(self): return _apply(_A.Neg, (self,))
    def __pos__(self): return self
    def __abs__(self): return F.abs(self)

    # comparisons and logic: no gradient
    def __lt__(self, o): return _cmp(np.less, self, o)
    def __le__(self, o): return _cmp(np.less_equal, self, o)
    def __gt__(self, o): return _cmp(np.greater, self, o)
    def __ge__(self, o): return _cmp(np.greater_equal, self, o)
    def __eq__(self, o): return _cmp(np.equal, self, o)
    def __ne__(self, o): return _cmp(np.not_equal, self, o)
    def __and__(self, o): return _cmp(np.logical_and, self, o)
    def __or__(self, o): return _cmp(np.logical_or, self, o)
    def __invert__(self): return Tensor._make(np.logical_not(self.data), False)

    def eq(self, o): return self == o
    def ne(self, o): return self != o
    def lt(self, o): return self < o
    def le(self, o): return self <= o
    def gt(self, o): return self > o
    def ge(self, o): return self >= o

    def any(self, axis=None):
        return Tensor._make(np.any(self.data, axis=axis), False)

    def all(self, axis=None):
        return Tensor._make(np.all(self.data, axis=axis), False)

    # ---------------------------------------------------------------- math methods
    def add(self, o): return F.add(self, o)
    def sub(self, o): return F.sub(self, o)
    def mul(self, o): return F.mul(self, o)
    def div(self, o): return F.div(self, o)
    def pow(self, o): return F.pow(self, o)
    def matmul(self, o): return F.matmul(self, o)
    def dot(self, o): return F.dot(self, o)
    def neg(self): return F.neg(self)
    def exp(self): return _apply(_A.Exp, (self,))
    def log(self): return F.log(self)
    def log1p(self): return F.log1p(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def sign(self): return F.sign(self)
    def sin(self): return F.sin(self)
    def cos(self): return F.cos(self)
    def tanh(self): return _apply(_A.Tanh, (self,))
    def sigmoid(self): return _apply(_A.Sigmoid, (self,))
    def relu(self): return _apply(_A.Relu, (self,))
    def leaky_relu(self, negative_slope=0.01): return F.leaky_relu(self, negative_slope)
    def elu(self, alpha=1.0): return F.elu(self, alpha)
    def softplus(self): return F.softplus(self)
    def maximum(self, o): return F.maximum(self, o)
    def minimum(self, o): return F.minimum(self, o)
    def clip(self, min=None, max=None): return F.clip(self, min, max)  # noqa: A002
    clamp = clip

    def sum(self, axis=None, keepdims=False, **kw): return F.sum(self, axis, keepdims, **kw)
    def mean(self, axis=None, keepdims=False, **kw): return F.mean(self, axis, keepdims, **kw)
    def max(self, axis=None, keepdims=False, **kw): return F.max(self, axis, keepdims, **kw)
    def min(self, axis=None, keepdims=False, **kw): return F.min(self, axis, keepdims, **kw)
    def prod(self, axis=None, keepdims=False, **kw): return F.prod(self, axis, keepdims, **kw)
    def var(self, axis=None, keepdims=False, **kw): return F.var(self, axis, keepdims, **kw)
    def std(self, axis=None, keepdims=False, **kw): return F.std(self, axis, keepdims, **kw)
    def logsumexp(self, axis=None, keepdims=False, **kw): return F.logsumexp(self, axis, keepdims, **kw)
    def norm(self, p=2, axis=None, keepdims=False, **kw): return F.norm(self, p, axis, keepdims, **kw)
    def argmax(self, axis=None, keepdims=False, **kw): return F.argmax(self, axis, keepdims, **kw)
    def argmin(self, axis=None, keepdims=False, **kw): return F.argmin(self, axis, keepdims, **kw)
    def softmax(self, axis=-1, **kw): return F.softmax(self, axis, **kw)
    def log_softmax(self, axis=-1, **kw): return F.log_softmax(self, axis, **kw)
    def amax(self, axis=None, keepdims=False, **kw): return F.amax(self, axis, keepdims, **kw)
    def amin(self, axis=None, keepdims=False, **kw): return F.amin(self, axis, keepdims, **kw)

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape): return F.reshape(self, *shape)
    def view(self, *shape): return F.reshape(self, *shape)
    def transpose(self, *axes): return F.transpose(self, *axes)
    def permute(self, *dims): return F.permute(self, *dims)
    def swapaxes(self, a, b): return F.swapaxes(self, a, b)
    swapdims = swapaxes
    def squeeze(self, axis=None, **kw): return F.squeeze(self, axis, **kw)
    def unsqueeze(self, axis=None, **kw): return F.unsqueeze(self, axis, **kw) if axis is not None else F.unsqueeze(self, **kw)
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim, end_dim)
    def expand(self, *sizes): return F.expand(self, *sizes)
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)
    def expand_as(self, other): return F.broadcast_to(self, other.shape)
    def split(self, size, axis=0, **kw): return F.split(self, size, axis, **kw)
    def chunk(self, chunks, axis=0, **kw): return F.chunk(self, chunks, axis, **kw)
    def gather(self, dim, index): return F.gather(self, dim, index)
    def take_along_axis(self, indices, axis): return F.take_along_axis(self, indices, axis)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # ---------------------------------------------------------------- in place
    def _bump(self):
        autograd.bump_version(self)

    def _inplace(self, op_name, outofplace, inplace, other=None):
        """Run an in-place op: recorded (rebinding this tensor to the op's node) or on the array."""
        needs_graph = autograd._grad_enabled and (
            self.requires_grad or (isinstance(other, Tensor) and other.requires_grad))
        carries_tangent = autograd._fwd_active and (
            self._tangent is not None or (isinstance(other, Tensor) and other._tangent is not None))
        if needs_graph or carries_tangent:
            if self.is_leaf and self.requires_grad:
                raise RuntimeError(
                    f"{op_name}: a leaf tensor that requires grad (shape {self.shape}) is used in "
                    f"an in-place operation; do it under cr.no_grad() (as optimizers do) or on a "
                    f"clone")
            # The op's node must save the value *before* the change: record it on an alias that
            # keeps the old array and node (self's version is bumped below, the alias's never is).
            old = Tensor._make(self.data, self.requires_grad)
            old.grad_fn = self.grad_fn
            old._tangent = self._tangent
            out = outofplace(old, old if other is self else other)   # x.mul_(x) uses the old x twice
            if out.data.dtype != self.data.dtype:   # in-place ops keep the tensor's dtype
                out = out.to(self.data.dtype)
            self.data, self.grad_fn, self.requires_grad = out.data, out.grad_fn, out.requires_grad
            self._tangent = out._tangent
        else:
            inplace()
        self._bump()
        return self

    def add_(self, o, alpha=1):
        od = o.data if isinstance(o, Tensor) else o
        if alpha != 1:
            od = od * alpha
        return self._inplace("add_", lambda s, o: s + (o if alpha == 1 else o * alpha),
                             lambda: np.add(self.data, od, out=self.data, casting="unsafe"), o)

    def sub_(self, o, alpha=1):
        return self.add_(-o if alpha == 1 else o, alpha=1 if alpha == 1 else -alpha)

    def mul_(self, o):
        od = o.data if isinstance(o, Tensor) else o
        return self._inplace("mul_", lambda s, o: s * o,
                             lambda: np.multiply(self.data, od, out=self.data, casting="unsafe"), o)

    def div_(self, o):
        od = o.data if isinstance(o, Tensor) else o
        return self._inplace("div_", lambda s, o: s / o,
                             lambda: np.divide(self.data, od, out=self.data, casting="unsafe"), o)

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._inplace("clamp_", lambda s, _: F.clip(s, min, max),
                             lambda: np.clip(self.data, min, max, out=self.data))

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        def run():
            self.data[...] = value
        # recorded: where(False, s, value) gives value (even where s is inf) and a zero gradient to s
        return self._inplace("fill_", lambda s, _: F.where(np.zeros(s.shape, bool), s, value), run)

    def copy_(self, src):
        sd = src.data if isinstance(src, Tensor) else np.asarray(src)

        def run():
            self.data[...] = sd
        return self._inplace("copy_", lambda s, o: F.where(np.zeros(s.shape, bool), s, o), run, src)

    def __iadd__(self, o): return self.add_(o)
    def __isub__(self, o): return self.sub_(o)
    def __imul__(self, o): return self.mul_(o)
    def __itruediv__(self, o): return self.div_(o)

    def __setitem__(self, index, value):
        index = F._index(index)
        vd = value.data if isinstance(value, Tensor) else value

        def run():
            self.data[index] = vd
        self._inplace("setitem", lambda s, v: shp.IndexPut(s, v, index=index), run, value)

    # ---------------------------------------------------------------- NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _UFUNCS.get(ufunc)
        if method != "__call__" or kwargs or fn is None:
            return NotImplemented
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        fn = _FUNCTIONS.get(func)
        if fn is None:
            return NotImplemented
        return fn(*args, **kwargs)


class _Handle:
    """Returned by register_hook; `.remove()` takes the hook off."""

    def __init__(self, owner, attr, fn):
        self._owner, self._attr, self._fn = weakref.ref(owner), attr, fn

    def remove(self):
        owner = self._owner()
        if owner is not None and getattr(owner, self._attr):
            setattr(owner, self._attr, [h for h in getattr(owner, self._attr) if h is not self._fn])


def _cmp(ufunc, a, b):
    return Tensor._make(ufunc(a.data if isinstance(a, Tensor) else a,
                              b.data if isinstance(b, Tensor) else b), False)


def _nograd(ufunc):
    def run(*args):
        return Tensor._make(ufunc(*[a.data if isinstance(a, Tensor) else a for a in args]), False)
    return run


_UFUNCS = {
    np.add: F.add, np.subtract: F.sub, np.multiply: F.mul, np.true_divide: F.div,
    np.power: F.pow, np.negative: F.neg, np.exp: F.exp, np.log: F.log, np.log1p: F.log1p,
    np.sqrt: F.sqrt, np.absolute: F.abs, np.sign: F.sign, np.sin: F.sin, np.cos: F.cos,
    np.tanh: F.tanh, np.maximum: F.maximum, np.minimum: F.minimum, np.matmul: F.matmul,
    np.positive: lambda x: x,
}
for _u in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
           np.logical_and, np.logical_or, np.logical_not, np.isfinite, np.isnan, np.isinf,
           np.bitwise_and, np.bitwise_or, np.invert, np.floor, np.ceil, np.round):
    _UFUNCS[_u] = _nograd(_u)

_FUNCTIONS = {
    np.where: F.where, np.sum: F.sum, np.mean: F.mean, np.max: F.max, np.min: F.min,
    np.amax: F.amax, np.amin: F.amin, np.prod: F.prod, np.var: F.var, np.std: F.std,
    np.reshape: lambda x, shape: F.reshape(x, shape),
    np.transpose: lambda x, axes=None: F.transpose(x) if axes is None else F.permute(x, axes),
    np.swapaxes: F.swapaxes, np.moveaxis: F.moveaxis, np.broadcast_to: F.broadcast_to,
    np.expand_dims: F.unsqueeze, np.squeeze: F.squeeze, np.concatenate: F.concatenate,
    np.stack: F.stack, np.clip: F.clip, np.dot: F.dot, np.outer: F.outer, np.einsum: F.einsum,
    np.take_along_axis: F.take_along_axis, np.pad: F.pad, np.matmul: F.matmul,
    np.shape: lambda x: x.shape, np.ndim: lambda x: x.ndim, np.size: lambda x: x.data.size,
    np.zeros_like: lambda x, dtype=None: Tensor._make(np.zeros_like(x.data, dtype=dtype), False),
    np.ones_like: lambda x, dtype=None: Tensor._make(np.ones_like(x.data, dtype=dtype), False),
    np.argmax: F.argmax, np.argmin: F.argmin,
}


class _CastPrim:
    """dtype cast between floating types: the gradient is cast back."""
    name = "cast"
    saves_ans = False
    saves_inputs = False
    residual = False
    linear = True

    def forward(self, x, dtype):
        return x.astype(dtype)

    def vjp(self, g, ans, needs, x, dtype):
        return (g.astype(x.dtype) if isinstance(g, np.ndarray) else g.to(x.dtype),)

    def jvp(self, tangents, ans, x, dtype):
        t = tangents[0]
        return t.astype(dtype) if isinstance(t, np.ndarray) else t.to(dtype)

    def __call__(self, x, dtype):
        return autograd.apply(self, (x,), {"dtype": dtype})


_Cast = _CastPrim()

autograd.Tensor = Tensor
