"""Argument handling shared by the op API: axis/dim spellings, one-line axis errors, and the plain
functions generated from a primitive's declared spelling (bound once, at import or registration)."""
from __future__ import annotations

import inspect

import numpy as np

from .. import autograd
from ..ops.base import Primitive

_MISSING = object()
_AxisError = getattr(np, "exceptions", np).AxisError   # NumPy 2 moved it to np.exceptions
_apply = autograd.apply
_Tensor = autograd.Tensor
_NO_PARAMS = autograd.NO_PARAMS


def _axis(axis, dim):
    if dim is not _MISSING:
        axis = dim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis


def _T(x):
    return isinstance(x, autograd.Tensor)


def _data(x):
    return x.data if _T(x) else x


def _const(a):
    return autograd.Tensor._make(np.asarray(a), False)


def _tensor(r):
    """A primitive's result as a Tensor (applied to arrays, a primitive returns an array)."""
    return r if _T(r) else _const(r)


def _dim(op, x, axis, extra=0):
    """`axis` as an index into range(ndim + extra), or a one-line error naming op, shape and range."""
    shape = np.shape(x)
    nd = len(shape) + extra
    lo, hi = (-1, 0) if nd == 0 else (-nd, nd - 1)   # a 0-d tensor accepts axis 0 and -1 (PyTorch)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not lo <= axis <= hi:
        raise _AxisError(f"{op}: axis {axis!r} is out of range for shape {shape} (expected an "
                         f"int in [{lo}, {hi}])")
    return int(axis) % nd if nd else 0


def _check_axes(op, x, axis):
    """Raise a one-line error if `axis` (None, int or tuple) is not valid for x; else return it.

    The hot reductions (sum, mean, max, ...) call it only after NumPy rejected the call, so a
    valid call pays nothing for it.
    """
    if axis is None:
        return axis
    axes = axis if isinstance(axis, tuple) else (axis,)
    seen = [_dim(op, x, a) for a in axes]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{op}: axis {axis} names the same axis twice (shape {np.shape(x)})")
    return axis


def _is_0d(x):
    return (x.data.ndim if _T(x) else np.ndim(x)) == 0


def _reduce(op, prim, x, axis, keepdims):
    if axis is not None and (x.data.ndim if isinstance(x, _Tensor) else np.ndim(x)) == 0:
        # PyTorch: dim 0 / -1 of a 0-d tensor is the tensor itself (NumPy has no such axis)
        _check_axes(op, x, axis)
        axis = None
    try:
        return prim(x, axis=axis, keepdims=bool(keepdims))
    except (IndexError, ValueError):
        _check_axes(op, x, axis)   # a bad axis gets a one-line error naming op and shape
        raise


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


# ---------------------------------------------------------------- generated functions

def forward_arguments(prim):
    """(inputs [(name, default)], variadic?, {param: default}) from prim.forward's signature: the
    first `prim.inputs` parameters (default: those without a default value) are tensor inputs, the
    rest are params (keyword-only ones too)."""
    inputs, params, variadic = [], {}, False
    for i, p in enumerate(list(inspect.signature(type(prim).forward).parameters.values())[1:]):
        if p.kind is p.VAR_POSITIONAL:
            variadic = True
        elif p.kind is p.VAR_KEYWORD:
            continue
        elif (i < prim.inputs if prim.inputs is not None else
              p.default is p.empty and p.kind is not p.KEYWORD_ONLY):
            inputs.append((p.name, p.default))
        else:
            params[p.name] = None if p.default is p.empty else p.default
    return inputs, variadic, params


def _named(fn, name, prim, note=""):
    fn.__name__ = fn.__qualname__ = name
    doc = (type(prim).__doc__ or "").strip() + note
    fn.__doc__ = doc + (f"\n\n    >>> {prim.example}\n    " if prim.example else "")
    fn.__module__ = "chainrule.functions"
    fn._primitive = prim   # marks it generated (a hand-written function of the same name wins)
    return fn


def plain(prim, name):
    """f(inputs..., params...) calling the primitive; one- and two-input ops without params get a
    fixed-arity closure (the hot path: one frame, no argument packing)."""
    inputs, variadic, params = forward_arguments(prim)
    plain_inputs = all(d is inspect.Parameter.empty for _, d in inputs)
    if not params and not variadic and plain_inputs and len(inputs) == 1:
        def fn(x):
            return _apply(prim, (x,))
    elif not params and not variadic and plain_inputs and len(inputs) == 2:
        def fn(x, y):
            return _apply(prim, (x, y))
    else:
        fn = _with_params(prim, inputs, variadic, params)
    return _named(fn, name, prim)


def _with_params(prim, inputs, variadic, params):
    """A function with forward's own signature: f(x, negative_slope=0.01) packs params by name."""
    names = [n for n, _ in inputs]
    sig = [n if d is inspect.Parameter.empty else f"{n}=_i[{n!r}]" for n, d in inputs]
    sig += (["*inputs"] if variadic else []) + [f"{k}=_d[{k!r}]" for k in params]
    args = "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
    if variadic:
        args = f"{args} + inputs" if names else "inputs"
    packed = "{" + ", ".join(f"{k!r}: {k}" for k in params) + "}" if params else "_np"
    src = f"def fn({', '.join(sig)}):\n    return _apply(_prim, {args}, {packed})\n"
    scope = {"_apply": _apply, "_prim": prim, "_d": params, "_np": _NO_PARAMS,
             "_i": {n: d for n, d in inputs}}
    exec(src, scope)   # noqa: S102 - names come from a Python signature, not from user input
    return scope["fn"]


def reflected(prim):
    """b ∘ a for a two-input primitive: the body of __radd__, __rmul__, ..."""
    def fn(x, y):
        return _apply(prim, (y, x))
    return fn


def reduction(prim, name):
    """f(x, axis=None, keepdims=False, *, dim=, keepdim=): NumPy's and PyTorch's spellings."""
    def fn(x, axis=None, keepdims=False, *, dim=_MISSING, keepdim=None):
        if dim is not _MISSING:
            axis = dim
        if axis.__class__ is list:
            axis = tuple(axis)
        return _reduce(name, prim, x, axis, keepdims or keepdim)
    return _named(fn, name, prim, "\n\n    Over `axis` (None = all, an int or a tuple; PyTorch's `dim=`, "
                  "`keepdim=` accepted).")


def along_axis(prim, name):
    """f(x, axis=<forward's default>, *, dim=): ops along one axis (softmax, log_softmax)."""
    default = forward_arguments(prim)[2].get("axis", -1)

    def fn(x, axis=default, *, dim=_MISSING, dtype=None):
        if dim is not _MISSING:
            axis = dim
        if dtype is not None:   # PyTorch: the input is cast first
            x = x.to(dtype) if _T(x) else np.asarray(x, dtype=dtype)
        try:
            return prim(x, axis=axis)
        except (IndexError, ValueError):
            _check_axes(name, x, axis)
            raise
    return _named(fn, name, prim, f"\n\n    Along `axis` (default {default}; PyTorch's `dim=` "
                  f"and `dtype=` accepted).")


SPELLINGS = {None: plain, "reduce": reduction, "axis": along_axis}


def generate(prim: Primitive, name: str):
    """The public function for `prim` under `name`, in its declared spelling."""
    try:
        make = SPELLINGS[prim.spelling]
    except KeyError:
        raise ValueError(f"{prim.name}: unknown spelling {prim.spelling!r}; expected one of "
                         f"{sorted(map(str, SPELLINGS))}") from None
    return make(prim, name)
