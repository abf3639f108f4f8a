"""Tensor: a NumPy array with a gradient and the node that made it. Operators delegate to the op API."""
from __future__ import annotations

import weakref

import numpy as np

from . import autograd
from . import functions as F
from .ops import shape as shp
from .ops.base import ShapeError, put

from .tensor_base import Tensor, as_array, check_grad_dtype, get_default_dtype, set_default_dtype  # noqa: F401

_check_grad_dtype = check_grad_dtype


class _Methods:
    """Tensor's operators and methods; installed onto the Tensor class (tensor_base) below."""
    __hash__ = object.__hash__

    @property
    def T(self):
        return F.transpose(self)

    @property
    def mT(self):
        return F.swapaxes(self, -1, -2)

    # ---------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Backpropagate: add d self / d leaf into `.grad` of every leaf that requires grad.

        >>> w = cr.tensor(2.0, requires_grad=True); (w * 3).backward(); w.grad   # tensor(3.)
        """
        autograd.backward(self, gradient, retain_graph, create_graph)

    def detach(self):
        """Same data, cut from the graph (in-place changes to either are seen by both)."""
        t = Tensor._make(self.data, False)
        t._vc = autograd.version_cell(self)
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
        """Reset `.grad`: to None, or to zeros in place (what Module/Optimizer.zero_grad do).

        With set_to_none, a large gradient array nothing else references is kept hidden for the
        next backward to write into (autograd.recycle_grad): `.grad` is None, as in PyTorch.
        """
        if not autograd._fast:   # some thread is in a special mode: maybe tracing (compile)
            tracer = autograd.current_tracer()
            if tracer is not None and hasattr(tracer, "zero_grad"):
                tracer.zero_grad(self, set_to_none)   # cr.compile records it as a write of .grad
                return
        g = self._grad
        if g is None:
            return
        if set_to_none:
            if g.data.nbytes < autograd.SPARE_MIN:
                self._grad = None
                return
            del g   # so recycle_grad sees the only reference to the gradient
            autograd.recycle_grad(self)
        elif g.grad_fn is not None or not g.data.flags.writeable:
            self._grad = Tensor._make(np.zeros_like(self.data), False)
        else:
            g.data[...] = 0

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
        if autograd.current_tracer() is not None and not self.requires_grad:
            return _Cast(self, dtype=dtype)   # traced: the cast is an equation, not a constant
        return Tensor._make(self.data.astype(dtype), False)

    # ---- PyTorch conveniences (issue 10): device, new_*, type, half/bfloat16
    def cpu(self):
        """This tensor (chainrule runs on the CPU)."""
        return self

    def new_tensor(self, data, dtype=None, requires_grad=False):
        """A new leaf from data, with this tensor's dtype unless given."""
        return Tensor._make(np.array(getattr(data, "data", data), dtype=dtype or self.data.dtype),
                            requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        """A tensor of `size` filled with fill_value, this tensor's dtype unless given."""
        return Tensor._make(np.full(tuple(np.atleast_1d(size)) if np.ndim(size) else (size,),
                                    fill_value, dtype=dtype or self.data.dtype), requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return Tensor._make(np.zeros(tuple(size), dtype=dtype or self.data.dtype), requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return Tensor._make(np.ones(tuple(size), dtype=dtype or self.data.dtype), requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, requires_grad=requires_grad)

    def type(self, dtype=None):
        """The dtype's name (no argument, as 'torch.FloatTensor' names it: here NumPy's name), or
        a cast to dtype."""
        if dtype is None:
            return str(self.data.dtype)
        return self.to(dtype)

    def half(self):
        return self.to(np.float16)

    def bfloat16(self):
        raise TypeError("bfloat16: NumPy has no bfloat16 dtype, so chainrule cannot store it; "
                        "use .half() (float16) or .float()")

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

    # ---------------------------------------------------------------- ops
    # Op methods and operators (x.exp(), x.sum(dim=1), x * y, x & y, ...) are installed from the
    # op registry below (`_expose`): each primitive or composition declares its own.
    def __pos__(self): return self

    def any(self, axis=None):
        return Tensor._make(np.any(self.data, axis=axis), False)

    def all(self, axis=None):
        return Tensor._make(np.all(self.data, axis=axis), False)

    def expand_as(self, other): return F.broadcast_to(self, other.shape)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # ---------------------------------------------------------------- in place
    def _bump(self):
        autograd.bump_version(self)

    def _inplace(self, op_name, outofplace, inplace, other=None):
        """Run an in-place op: recorded (rebinding this tensor to the op's node) or on the array."""
        needs_graph = autograd.is_grad_enabled() and (
            self.requires_grad or (isinstance(other, Tensor) and other.requires_grad))
        carries_tangent = autograd.is_forward_active() and (
            self._tangent is not None or (isinstance(other, Tensor) and other._tangent is not None))
        tracer = autograd.current_tracer()
        if tracer is not None and not (needs_graph or carries_tangent) \
                and getattr(tracer, "records_backward", False):
            # cr.compile: the change becomes an equation and a write-back (the array keeps its
            # identity, so views and other holders see the new values as in eager code)
            with autograd.no_grad():
                out = outofplace(self, other)
            if out.data.dtype != self.data.dtype:
                out = tracer.cast(out, self.data.dtype)
            tracer.assign(self, out)
            self._bump()
            return self
        if needs_graph or carries_tangent:
            if self.is_leaf and self.requires_grad:
                raise RuntimeError(
                    f"{op_name}: a leaf tensor that requires grad (shape {self.shape}) is used in "
                    f"an in-place operation; do it under cr.no_grad() (as optimizers do) or on a "
                    f"clone")
            # The op's node must save the value *before* the change: record it on an alias that
            # keeps the old array and node (self's version is bumped below, the alias's never is).
            autograd.version_cell(self)   # before self is rebound: the node that saved it sees it
            old = Tensor._make(self.data, self.requires_grad)
            old.grad_fn = self.grad_fn
            old._tangent = self._tangent
            out = outofplace(old, old if other is self else other)   # x.mul_(x) uses the old x twice
            if out.data.dtype != self.data.dtype:   # in-place ops keep the tensor's dtype
                out = out.to(self.data.dtype)
            self.data, self.grad_fn, self.requires_grad = out.data, out.grad_fn, out.requires_grad
            self._tangent = out._tangent
            if tracer is not None and hasattr(tracer, "rebind"):
                tracer.rebind(self, out)
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

    # ---- PyTorch conveniences met in op tests: shapes and dtypes of another tensor, layout
    def view_as(self, other):
        return F.reshape(self, np.shape(other))

    def reshape_as(self, other):
        return F.reshape(self, np.shape(other))

    def type_as(self, other):
        return self.to(other.dtype)

    def contiguous(self, memory_format=None):
        """This tensor (chainrule's results need no separate contiguous copy)."""
        return self

    def is_contiguous(self, memory_format=None):
        return bool(self.data.flags.c_contiguous)

    def nelement(self):
        return int(self.data.size)

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
        try:
            self._inplace("setitem", lambda s, v: shp.index_put(s, v, index=index), run, value)
        except ValueError as e:
            if "broadcast" not in str(e) or isinstance(e, ShapeError):
                raise
            raise ShapeError(f"setitem: value of shape {np.shape(vd)} does not broadcast to the "
                             f"indexed part of a tensor of shape {self.shape}") from None

    # ---------------------------------------------------------------- scatter family, in place (issue 10)
    def _inplace_call(self, name, fn, args, other=None):
        """x.fn_(...): the out-of-place composition, recorded (rebinding) or written into the array."""
        def run():
            with autograd.no_grad():
                out = fn(Tensor._make(self.data, False), *args)
            self.data[...] = out.data
        return self._inplace(name, lambda s, o: fn(s, *[o if a is other and a is not None else a
                                                          for a in args]), run, other)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        return self._inplace_call("scatter_", lambda s, d, i, v: F.scatter(s, d, i, v, reduce=reduce),
                                  (dim, index, value if src is None else src), src)

    def scatter_add_(self, dim, index, src):
        return self._inplace_call("scatter_add_", F.scatter_add, (dim, index, src), src)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        return self._inplace_call("scatter_reduce_", lambda s, d, i, v, r: F.scatter_reduce(
            s, d, i, v, r, include_self=include_self), (dim, index, src, reduce), src)

    def index_add_(self, dim, index, source, *, alpha=1):
        return self._inplace_call("index_add_", lambda s, d, i, v: F.index_add(s, d, i, v, alpha=alpha),
                                  (dim, index, source), source)

    def index_copy_(self, dim, index, source):
        return self._inplace_call("index_copy_", F.index_copy, (dim, index, source), source)

    def index_fill_(self, dim, index, value):
        return self._inplace_call("index_fill_", F.index_fill, (dim, index, value), value)

    def masked_fill_(self, mask, value):
        return self._inplace_call("masked_fill_", F.masked_fill, (mask, value), value)

    def masked_scatter_(self, mask, source):
        return self._inplace_call("masked_scatter_", F.masked_scatter, (mask, source), source)

    def put_(self, index, source, accumulate=False):
        from .functions.index import put as put_fn   # F.put is the registry's install helper
        return self._inplace_call("put_", put_fn, (index, source, accumulate), source)

    # ---------------------------------------------------------------- NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _UFUNCS.get(ufunc)
        if method != "__call__" or kwargs or fn is None:
            what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            extra = f" with {', '.join(kwargs)}=" if kwargs and fn is not None and method == "__call__" else ""
            raise TypeError(f"{what}{extra} is not supported on chainrule Tensors; use a cr op, or "
                            f"np.asarray(t) for a detached array")
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        fn = _FUNCTIONS.get(func)
        if fn is None:
            raise TypeError(f"numpy.{func.__name__} is not supported on chainrule Tensors; use a cr "
                            f"op, or np.asarray(t) for a detached array (no gradient)")
        return fn(*args, **kwargs)


class _Handle:
    """Returned by register_hook; `.remove()` takes the hook off."""

    def __init__(self, owner, attr, fn):
        self._owner, self._attr, self._fn = weakref.ref(owner), attr, fn

    def remove(self):
        owner = self._owner()
        if owner is not None and getattr(owner, self._attr):
            setattr(owner, self._attr, [h for h in getattr(owner, self._attr) if h is not self._fn])


_UFUNCS = {np.positive: lambda x: x}   # NumPy ufunc -> cr function (filled from the registry)
_FUNCTIONS = {}                        # NumPy function -> cr function (filled from the registry)


class _CastPrim:
    """dtype cast between floating types: the gradient is cast back."""
    name = "cast"
    keeps = None
    constant_output = False
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



def _inplace_of(name):
    """x.<name>_(...): the out-of-place op, recorded (rebinding) or written into the array."""
    def method(self, *args, **kwargs):
        fn = getattr(F, name)

        def run():
            with autograd.no_grad():
                out = fn(Tensor._make(self.data, False), *args, **kwargs)
            self.data[...] = out.data
        return self._inplace(name + "_", lambda s, _: fn(s, *args, **kwargs), run)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place {name} (as PyTorch's {name}_)."
    return method


for _name in ("pow", "relu", "sigmoid", "tanh", "exp", "log", "neg", "abs", "sqrt", "rsqrt",
              "floor", "ceil", "round", "trunc", "sin", "cos", "reciprocal", "square", "sign",
              "clamp_min", "clamp_max", "fmod", "remainder", "lerp", "addmm", "nan_to_num",
              "logit", "leaky_relu", "elu"):   # same shape in and out
    if not hasattr(_Methods, _name + "_"):
        setattr(_Methods, _name + "_", _inplace_of(_name))


def _install(methods):
    for name, value in vars(methods).items():
        if name not in ("__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"):
            setattr(Tensor, name, value)


_install(_Methods)


def _expose(e):
    """Install one exposure (see chainrule/functions/expose.py): methods, operators, NumPy tables."""
    undo = [put(Tensor, name, e.fn) for name in e.methods]
    undo += [put(Tensor, name, fn) for name, fn in e.operators.items()]
    undo += [put(_UFUNCS, u, e.fn) for u in e.ufuncs]
    undo += [put(_FUNCTIONS, f, e.fn) for f in e.numpy]
    return undo


F.on_expose(_expose)
