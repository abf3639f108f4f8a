"""User-defined ops ("gates") with their own forward and backward, as PyTorch's autograd.Function."""
from __future__ import annotations

import numpy as np

from .autograd import record
from .grad_mode import enable_grad, no_grad
from .tensor_base import Tensor

_make = Tensor._make


class Context:
    """What `Function.forward` leaves for `Function.backward`: saved tensors and any attributes."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class _FunctionPrim:
    """Adapter that lets a user `Function` sit in the graph like a primitive."""
    keeps = None
    constant_output = False
    saves_ans = False
    saves_inputs = False
    residual = False

    def __init__(self, cls, ctx):
        self.cls = cls
        self.ctx = ctx
        self.name = cls.__name__

    def vjp(self, g, ans, needs, *inputs):
        tensor_mode = isinstance(g, Tensor)
        gt = g if tensor_mode else _make(g, False)
        with enable_grad() if tensor_mode else no_grad():
            out = self.cls.backward(self.ctx, gt)
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) != len(inputs):
            raise TypeError(f"{self.name}.backward returned {len(out)} gradients; "
                            f"forward took {len(inputs)} inputs")
        res = []
        for o in out:
            if o is None or tensor_mode:
                res.append(o)
            else:
                res.append(o.data if isinstance(o, Tensor) else np.asarray(o))
        return res

    def jvp(self, tangents, ans, *inputs):
        fn = getattr(self.cls, "jvp", None)
        if fn is None:
            raise NotImplementedError(
                f"{self.name} has no tangent rule for forward mode (cr.jvp); add "
                f"`@staticmethod def jvp(ctx, *tangents)` returning the output tangent")
        tangents = [None if t is None else (t if isinstance(t, Tensor) else _make(t, False))
                    for t in tangents]
        out = fn(self.ctx, *tangents)
        return out.data if isinstance(out, Tensor) and not isinstance(ans, Tensor) else out


class Function:
    """A user-defined op (a "gate") with its own forward and backward, as in PyTorch.

    >>> class Square(cr.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * g
    >>> y = Square.apply(cr.tensor(3.0, requires_grad=True))
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            out = _make(np.asarray(out), False)
        prim = _FunctionPrim(cls, ctx)
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        return record(prim, tuple(args), {}, arrays, out.data)
