"""Comparisons and logic: primitives without a gradient, so traced programs compute masks anew.

A rule such as relu's `g * (ans > 0)` compares; in a traced Program that comparison must be an
equation (not a constant mask baked in at trace time), so comparisons are primitives too. Their
outputs never require grad.
"""
from __future__ import annotations

import numpy as np

from .base import Primitive, Sample, register, shape_error


class Compare(Primitive):
    """An op whose output never requires grad (comparisons, logic): no gradient to any input."""
    constant_output = True
    saves_inputs = False
    ufunc = None
    samples = (Sample((3, 4), (3, 4)), Sample((3, 1, 4), (5, 4)), Sample((), (3,)))

    def forward(self, *xs):
        try:
            return self.ufunc(*xs)
        except ValueError:   # operands that do not broadcast: a one-line ShapeError
            raise shape_error(self.name, "do not broadcast", *(np.shape(x) for x in xs)) from None

    def vjp(self, g, ans, needs, *xs):
        return [None] * len(xs)

    def jvp(self, tangents, ans, *xs):
        return None


def _compare(name, ufunc, symbol, what="(bool)", samples=None):
    body = {"__doc__": f"z = x {symbol} y elementwise {what}; no gradient.",
            "name": name, "ufunc": staticmethod(ufunc),
            "flat_forward": f"np.{ufunc.__name__}({{0}}, {{1}})" if symbol.isalpha()
            else f"{{0}} {symbol} {{1}}"}
    if samples:
        body["samples"] = samples
    return register(type(name.title().replace("_", ""), (Compare,), body))


Greater = _compare("greater", np.greater, ">")
GreaterEqual = _compare("greater_equal", np.greater_equal, ">=")
Less = _compare("less", np.less, "<")
LessEqual = _compare("less_equal", np.less_equal, "<=")
Equal = _compare("equal", np.equal, "==")
NotEqual = _compare("not_equal", np.not_equal, "!=")
LogicalAnd = _compare("logical_and", np.logical_and, "and")
LogicalOr = _compare("logical_or", np.logical_or, "or")
LogicalXor = _compare("logical_xor", np.logical_xor, "xor")


@register
class LogicalNot(Compare):
    """z = not x elementwise (bool); no gradient."""
    name = "logical_not"
    ufunc = staticmethod(np.logical_not)
    samples = (Sample((3, 4)), Sample(()))
    flat_forward = "np.logical_not({0})"


def _test(name, ufunc, doc):
    cls = type(name.title().replace("_", ""), (Compare,), {
        "__doc__": doc + " (bool); no gradient.", "name": name, "ufunc": staticmethod(ufunc),
        "samples": (Sample(np.array([1.0, np.nan, np.inf, -np.inf])), Sample((3, 4))),
        "flat_forward": f"np.{ufunc.__name__}({{0}})"})
    return register(cls)


IsNan = _test("isnan", np.isnan, "z = x is NaN elementwise")
IsFinite = _test("isfinite", np.isfinite, "z = x is finite elementwise")
IsInf = _test("isinf", np.isinf, "z = x is ±inf elementwise")
SignBit = _test("signbit", np.signbit, "z = the sign bit of x is set (True for -0.0) elementwise")


_INTS = (Sample(np.array([[5, 3, 12], [0, -7, 9]]), np.array([6, 1, 10])),
         Sample(np.array([True, False, True]), np.array([True, True, False])))


_BITS = "(bitwise on integers, logical on bool)"
BitwiseAnd = _compare("bitwise_and", np.bitwise_and, "&", _BITS, _INTS)
BitwiseOr = _compare("bitwise_or", np.bitwise_or, "|", _BITS, _INTS)
BitwiseXor = _compare("bitwise_xor", np.bitwise_xor, "^", _BITS, _INTS)


_SHIFTS = (Sample(np.array([[5, 3, 12], [0, -7, 9]]), np.array([2, 0, 1])),
           Sample(np.array([1, 8, -16]), 3))
LeftShift = _compare("left_shift", np.left_shift, "<<", "(integers)", _SHIFTS)
RightShift = _compare("right_shift", np.right_shift, ">>", "(integers, arithmetic)", _SHIFTS)


@register
class Invert(Compare):
    """z = ~x elementwise: bitwise not on integers (logical not on bool); no gradient."""
    name = "invert"
    ufunc = staticmethod(np.invert)
    samples = (Sample(np.array([[5, 0], [-7, 9]])), Sample(np.array([True, False])))
    flat_forward = "~{0}"


@register
class Rint(Compare):
    """z = x rounded to the nearest integer (halves to even), NumPy's np.rint; no gradient."""
    name = "rint"
    ufunc = staticmethod(np.rint)
    samples = (Sample(np.array([0.5, 1.5, -2.5, 2.4])), Sample((3, 4)))
    flat_forward = "np.rint({0})"


@register
class OnesLike(Compare):
    """z = ones with x's shape and dtype (the seed dL/dL = 1 of a traced backward); no gradient."""
    name = "ones_like"
    flat_forward = "np.ones_like({0})"
    samples = (Sample((3, 4)), Sample(()))

    def forward(self, x):
        return np.ones_like(x)


@register
class OneHot(Compare):
    """z[i, c] = 1 where target[i] == c (rows of the identity picked by integer targets); no gradient."""
    name = "one_hot"
    flat_forward = "np.eye({num_classes}, dtype={dtype})[{0}]"
    samples = (Sample(np.array([0, 2, 1]), num_classes=3, dtype=np.float64),)

    def forward(self, target, num_classes, dtype=np.float32):
        return np.eye(num_classes, dtype=dtype)[target]
