"""Elementwise ops that need argument handling beyond their primitive (clip, where), and the ops
without a gradient (comparisons, bitwise and logical ops) with their operators and NumPy ufuncs.

The plain elementwise ops (cr.exp, cr.add, ...) are generated from their primitives (ops/arith.py).
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..ops import arith, compare
from ..ops import math as _math
from ..ops.base import ShapeError
from .args import _T, _data, _tensor
from .expose import expose

Tensor = autograd.Tensor


def clip(x, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    """Limit values to [min, max] (either may be None; tensors as bounds are allowed).

    >>> cr.clip(cr.tensor([-2.0, 0.5, 2.0]), -1, 1)  # tensor([-1., 0.5, 1.])
    """
    if min is None and max is None:
        raise ShapeError(f"clip: at least one of min and max must be given (input shape "
                         f"{np.shape(_data(x))})")   # PyTorch's RuntimeError, still a ValueError
    if _T(min) or _T(max):
        # As PyTorch: x keeps the gradient where it equals a bound (maximum would split it);
        # crossed bounds (min > max) give max
        out = x if min is None else _tensor(arith.Where(compare.Less(x, min), min, x))
        return out if max is None else _tensor(arith.Where(compare.Greater(out, max), max, out))
    return arith.Clip(x, min=min, max=max)


clamp = clip
_NONE = object()


def where(cond, x=_NONE, y=_NONE):
    """x where cond else y (broadcasting); cond carries no gradient. Always returns a Tensor.
    where(cond) alone is nonzero(cond, as_tuple=True), as in NumPy and PyTorch.

    >>> cr.where(cr.tensor([True, False]), 1.0, cr.tensor([5.0, 6.0]))  # tensor([1., 6.])
    """
    if x is _NONE and y is _NONE:
        from .layout import nonzero
        return nonzero(cond, as_tuple=True)
    if x is _NONE or y is _NONE:
        raise TypeError("where: give both x and y, or neither (where(cond) is nonzero(cond))")
    if _T(cond) and cond.dtype != np.bool_:   # a primitive, so traced programs recompute it
        cond = compare.NotEqual(cond, 0)
    elif not _T(cond):   # a bool Tensor stays one: traced programs recompute the mask
        cond = np.asarray(cond, dtype=bool)
    return _tensor(arith.Where(cond, x, y))


# ---------------------------------------------------------------- no gradient

def _bitwise(ufunc, name, doc):
    """PyTorch's & | ^ ~: bitwise on integers, logical on bool; floats are an error naming the op."""
    bits = {np.bitwise_and: compare.BitwiseAnd, np.bitwise_or: compare.BitwiseOr,
            np.bitwise_xor: compare.BitwiseXor, np.invert: compare.Invert}[ufunc]
    logical = {np.bitwise_and: compare.LogicalAnd, np.bitwise_or: compare.LogicalOr,
               np.bitwise_xor: compare.LogicalXor, np.invert: compare.LogicalNot}[ufunc]

    def fn(*args):
        if all(np.asarray(_data(a)).dtype == np.bool_ for a in args):   # logical, traced
            return _tensor(autograd.apply(logical, args))
        try:   # a primitive, so a traced program recomputes it
            return _tensor(autograd.apply(bits, args))
        except TypeError:
            kinds = " and ".join(str(np.asarray(_data(a)).dtype) for a in args)
            raise TypeError(f"{name}: only integer and bool tensors, got {kinds}") from None
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


_OPERANDS = (Tensor, np.ndarray, np.generic, int, float, complex, bool, list, tuple)


def _through(prim, name, doc):
    """A no-gradient op applied through its primitive (ops/compare.py), so a traced Program
    recomputes the mask instead of baking it in; unknown operands defer (pytest.approx)."""
    apply = autograd.apply
    if prim.ufunc.nin == 1:
        def fn(x):
            return _tensor(apply(prim, (x,)))
    else:
        def fn(x, y):
            if not isinstance(y, _OPERANDS) or not isinstance(x, _OPERANDS):
                return NotImplemented
            return _tensor(apply(prim, (x, y)))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


_CMP = (("eq", compare.Equal, "__eq__", "x == y"), ("ne", compare.NotEqual, "__ne__", "x != y"),
        ("lt", compare.Less, "__lt__", "x < y"), ("le", compare.LessEqual, "__le__", "x <= y"),
        ("gt", compare.Greater, "__gt__", "x > y"), ("ge", compare.GreaterEqual, "__ge__", "x >= y"))
for _name, _prim, _op, _doc in _CMP:
    globals()[_name] = expose(_through(_prim, _name, f"{_doc} elementwise (bool, no gradient)."
                                       f"\n\n    >>> cr.{_name}(cr.tensor([1, 2]), 1)"),
                              method=True, operators=(_op,), ufunc=_prim.ufunc)

bitwise_and = expose(_bitwise(np.bitwise_and, "bitwise_and", "x & y: bitwise on integers, "
                              "logical on bool.\n\n    >>> cr.tensor([1, 2, 3]) & cr.tensor([3, 1, 2])"
                              "  # tensor([1, 0, 2])"),
                     method=True, operators=("__and__", "__rand__"), ufunc=np.bitwise_and)
bitwise_or = expose(_bitwise(np.bitwise_or, "bitwise_or", "x | y: bitwise on integers, logical "
                             "on bool.\n\n    >>> cr.tensor([1, 2]) | 4  # tensor([5, 6])"),
                    method=True, operators=("__or__", "__ror__"), ufunc=np.bitwise_or)
bitwise_xor = expose(_bitwise(np.bitwise_xor, "bitwise_xor", "x ^ y: bitwise on integers, "
                              "logical on bool.\n\n    >>> cr.tensor([3]) ^ 1  # tensor([2])"),
                     method=True, operators=("__xor__", "__rxor__"), ufunc=np.bitwise_xor)
bitwise_not = expose(_bitwise(np.invert, "bitwise_not", "~x: bitwise not on integers, logical "
                              "not on bool.\n\n    >>> ~cr.tensor([0, 1])  # tensor([-1, -2])"),
                     method=True, operators=("__invert__",), ufunc=np.invert)
logical_and = expose(_through(compare.LogicalAnd, "logical_and", "x and y elementwise (bool)."),
                     method=True, ufunc=np.logical_and)
logical_or = expose(_through(compare.LogicalOr, "logical_or", "x or y elementwise (bool)."),
                    method=True, ufunc=np.logical_or)
logical_xor = expose(_through(compare.LogicalXor, "logical_xor", "x xor y elementwise (bool)."),
                     method=True, ufunc=np.logical_xor)
logical_not = expose(_through(compare.LogicalNot, "logical_not", "not x elementwise (bool)."),
                     method=True, ufunc=np.logical_not)
isfinite = expose(_through(compare.IsFinite, "isfinite", "True where x is finite."), method=True,
                  ufunc=np.isfinite)
isnan = expose(_through(compare.IsNan, "isnan", "True where x is NaN."), method=True, ufunc=np.isnan)
isinf = expose(_through(compare.IsInf, "isinf", "True where x is ±inf."), method=True, ufunc=np.isinf)
signbit = expose(_through(compare.SignBit, "signbit", "True where the sign bit is set (-0.0 too)."),
                 method=True, ufunc=np.signbit)
bitwise_left_shift = expose(
    _through(compare.LeftShift, "bitwise_left_shift",
             "x << y on integers.\n\n    >>> cr.tensor([1, 2]) << 2  # tensor([4, 8])"),
    method=True, operators=("__lshift__", "__rlshift__"), ufunc=np.left_shift)
bitwise_right_shift = expose(
    _through(compare.RightShift, "bitwise_right_shift",
             "x >> y on integers (arithmetic).\n\n    >>> cr.tensor([8]) >> 2  # tensor([2])"),
    method=True, operators=("__rshift__", "__rrshift__"), ufunc=np.right_shift)
expose(_through(compare.Rint, "numpy_rint", "np.rint on a Tensor (no gradient)."), name=False,
       ufunc=np.rint)   # floor, ceil, trunc are primitives with a zero gradient (ops/math.py)


@expose(name=False, numpy=np.round)
def numpy_round(a, decimals=0, out=None):
    """np.round on a Tensor (no gradient)."""
    if out is not None:
        raise TypeError("numpy.round: out= is not supported on chainrule Tensors")
    return _tensor(_math.Round(a.detach() if _T(a) else a, decimals=decimals))


# ---------------------------------------------------------------- issue 10: division, closeness

@expose(method=True)
def div(input, other, *, rounding_mode=None):
    """input / other; rounding_mode 'trunc' or 'floor' rounds the quotient (integers stay integers).

    >>> cr.div(cr.tensor([-7, 7]), 2, rounding_mode="trunc")  # tensor([-3, 3])
    """
    if rounding_mode is None:
        return arith.Div(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    return _math.FloorDivide(input, other, rounding_mode=rounding_mode)


@expose(method=True, numpy=np.isclose)
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol·|other| elementwise (bool Tensor, no gradient).

    >>> cr.isclose(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.1]))  # tensor([ True, False])
    """
    # primitives (no graph), so a traced program compares anew: finite pairs by the tolerance,
    # infinities by equality, NaNs equal only with equal_nan (np.isclose's rules)
    with autograd.no_grad():
        a = input.detach() if _T(input) else np.asarray(input)
        b = other.detach() if _T(other) else np.asarray(other)
        if np.asarray(_data(a)).dtype.kind not in "fc":
            a = _tensor(a).astype(np.float64)
        if np.asarray(_data(b)).dtype.kind not in "fc":
            b = _tensor(b).astype(np.float64)
        near = compare.LessEqual(arith.Abs(a - b), atol + rtol * arith.Abs(b))
        finite = compare.LogicalAnd(compare.IsFinite(a), compare.IsFinite(b))
        out = compare.LogicalOr(compare.LogicalAnd(finite, near), compare.Equal(a, b))
        if equal_nan:
            out = compare.LogicalOr(out, compare.LogicalAnd(compare.IsNan(a), compare.IsNan(b)))
    return _tensor(out)


@expose(method=True, numpy=np.allclose)
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when isclose holds everywhere (a Python bool, as PyTorch).

    >>> cr.allclose(cr.tensor([1.0]), cr.tensor([1.0 + 1e-9]))  # True
    """
    try:
        return bool(np.allclose(_data(input), _data(other), rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise ShapeError(f"allclose: shapes {np.shape(_data(input))} and {np.shape(_data(other))} "
                         f"do not broadcast") from None


@expose(method=True)
def equal(input, other):
    """True when both have the same shape and the same values (a Python bool, as PyTorch).

    >>> cr.equal(cr.tensor([1, 2]), cr.tensor([1, 2]))  # True
    """
    a, b = np.asarray(_data(input)), np.asarray(_data(other))
    return a.shape == b.shape and bool(np.array_equal(a, b))


# ---------------------------------------------------------------- issue 10: PyTorch's type promotion

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}   # bool < int < float < complex


def _category(dtype):
    return _CATEGORY[dtype.kind]


@expose
def promote_types(type1, type2):
    """The dtype both promote to, by PyTorch's rules: a higher category (bool < int < float) wins
    (int64 with float32 is float32, not NumPy's float64); within one category the wider.

    >>> cr.promote_types(cr.int64, cr.float32)  # dtype('float32')
    """
    a, b = np.dtype(type1), np.dtype(type2)
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


@expose
def result_type(tensor, other):
    """The dtype of an arithmetic op on these operands: tensors promote with promote_types; a
    Python number never widens a tensor, it only raises the category (int tensor with 0.5 gives
    the default float dtype).

    >>> cr.result_type(cr.tensor([1, 2]), 0.5)  # dtype('float32')
    """
    from ..tensor_base import get_default_dtype
    scalar = {bool: np.dtype(bool), int: np.dtype(np.int64), float: get_default_dtype(),
              complex: np.dtype(np.complex64)}

    def dtype_of(v):
        if isinstance(v, (bool, int, float, complex)) and not isinstance(v, np.generic):
            return scalar[type(v) if type(v) in scalar else int], True
        return np.asarray(_data(v)).dtype, False

    (a, wa), (b, wb) = dtype_of(tensor), dtype_of(other)
    if wa and not wb:
        a, b, wa, wb = b, a, wb, wa
    if wb and not wa:   # a Python number: only its category counts
        return a if _category(a) >= _category(b) else b
    return promote_types(a, b)


@expose
def can_cast(from_, to):
    """Whether PyTorch allows casting from_ to `to` in type promotion: not to a lower category
    (float to int, int to bool).

    >>> cr.can_cast(cr.float64, cr.int32)  # False
    """
    return _category(np.dtype(from_)) <= _category(np.dtype(to))
