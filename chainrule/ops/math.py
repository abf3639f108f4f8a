"""More elementwise math with gradients: trigonometric and hyperbolic functions, logs and exps of
other bases, rounding, and the binary ops atan2, hypot, logaddexp, copysign, lerp, remainder, fmod."""
from __future__ import annotations

import numpy as np

from .arith import BCAST, POSITIVE, UNARY, Unary, _broadcast, _fl, _promote
from .base import At, Primitive, Sample, add_tangents, register

UNIT = tuple(Sample(*s.inputs, domain="unit") for s in UNARY)
_LOG2 = float(np.log(2.0))
_LOG10 = float(np.log(10.0))


class Math(Unary):
    method = True
    cli = True

    def __init_subclass__(cls):
        # api, the NumPy ufunc and the exported form follow from the name (tan -> np.tan)
        super().__init_subclass__()
        ufunc = getattr(np, cls.__dict__.get("np_name", cls.name), None)
        if "api" not in cls.__dict__:
            cls.api = cls.name
        if "ufunc" not in cls.__dict__ and isinstance(ufunc, np.ufunc):
            cls.ufunc = ufunc
            cls.flat_forward = f"np.{ufunc.__name__}({{0}})"


@register
class Tan(Math):
    """z = tan x.   dz/dx = 1 + z²."""
    name = "tan"
    saves_ans = True
    saves_inputs = False
    samples = UNIT

    def forward(self, x):
        return np.tan(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g * (1 + ans * ans),)


@register
class Asin(Math):
    """z = asin x.   dz/dx = 1/√(1 - x²)."""
    name = "asin"
    np_name = "arcsin"
    api = ("asin", "arcsin")
    samples = UNIT

    def forward(self, x):
        return np.arcsin(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / np.sqrt(1 - x * x),)


@register
class Acos(Math):
    """z = acos x.   dz/dx = -1/√(1 - x²)."""
    name = "acos"
    np_name = "arccos"
    api = ("acos", "arccos")
    samples = UNIT

    def forward(self, x):
        return np.arccos(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (-g / np.sqrt(1 - x * x),)


@register
class Atan(Math):
    """z = atan x.   dz/dx = 1/(1 + x²)."""
    name = "atan"
    np_name = "arctan"
    api = ("atan", "arctan")
    samples = UNARY

    def forward(self, x):
        return np.arctan(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / (1 + x * x),)


@register
class Sinh(Math):
    """z = sinh x.   dz/dx = cosh x."""
    name = "sinh"
    samples = UNARY

    def forward(self, x):
        return np.sinh(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g * np.cosh(x),)


@register
class Cosh(Math):
    """z = cosh x.   dz/dx = sinh x."""
    name = "cosh"
    samples = UNARY

    def forward(self, x):
        return np.cosh(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g * np.sinh(x),)


@register
class Asinh(Math):
    """z = asinh x.   dz/dx = 1/√(x² + 1)."""
    name = "asinh"
    np_name = "arcsinh"
    api = ("asinh", "arcsinh")
    samples = UNARY

    def forward(self, x):
        return np.arcsinh(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / np.sqrt(x * x + 1),)


@register
class Acosh(Math):
    """z = acosh x (x >= 1).   dz/dx = 1/√(x² - 1)."""
    name = "acosh"
    np_name = "arccosh"
    api = ("acosh", "arccosh")
    samples = (Sample(At([[1.5, 2.0, 3.0], [1.2, 4.0, 10.0]])), Sample(At(2.0)))

    def forward(self, x):
        return np.arccosh(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / np.sqrt(x * x - 1),)


@register
class Atanh(Math):
    """z = atanh x.   dz/dx = 1/(1 - x²)."""
    name = "atanh"
    np_name = "arctanh"
    api = ("atanh", "arctanh")
    samples = UNIT

    def forward(self, x):
        return np.arctanh(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / (1 - x * x),)


@register
class Log2(Math):
    """z = log₂ x.   dz/dx = 1/(x ln 2)."""
    name = "log2"
    samples = POSITIVE

    def forward(self, x):
        return np.log2(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / (x * _LOG2),)


@register
class Log10(Math):
    """z = log₁₀ x.   dz/dx = 1/(x ln 10)."""
    name = "log10"
    samples = POSITIVE

    def forward(self, x):
        return np.log10(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g / (x * _LOG10),)


@register
class Exp2(Math):
    """z = 2ˣ.   dz/dx = z ln 2."""
    name = "exp2"
    saves_ans = True
    saves_inputs = False
    samples = UNARY

    def forward(self, x):
        return np.exp2(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g * ans * _LOG2,)


@register
class Expm1(Math):
    """z = eˣ - 1 (exact near 0).   dz/dx = z + 1."""
    name = "expm1"
    saves_ans = True
    saves_inputs = False
    samples = UNARY

    def forward(self, x):
        return np.expm1(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g * (ans + 1),)


@register
class Rsqrt(Math):
    """z = 1/√x.   dz/dx = -z³/2."""
    name = "rsqrt"
    flat_forward = "1 / np.sqrt({0})"
    saves_ans = True
    saves_inputs = False
    samples = POSITIVE

    def forward(self, x):
        return 1 / np.sqrt(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (g * ans * ans * ans * -0.5,)


@register
class Reciprocal(Math):
    """z = 1/x.   dz/dx = -z²."""
    name = "reciprocal"
    saves_ans = True
    saves_inputs = False
    samples = POSITIVE

    def forward(self, x):
        return np.reciprocal(_fl(x))

    def vjp(self, g, ans, needs, x):
        return (-g * ans * ans,)


@register
class Square(Math):
    """z = x².   dz/dx = 2x (integers stay integers, as PyTorch)."""
    name = "square"
    samples = UNARY

    def forward(self, x):
        return np.square(x)

    def vjp(self, g, ans, needs, x):
        return (g * (2 * x),)


@register
class Frac(Math):
    """z = x - trunc(x).   dz/dx = 1."""
    name = "frac"
    flat_forward = "{0} - np.trunc({0})"
    saves_inputs = False
    samples = (Sample(At([[0.3, -1.7, 2.2], [5.5, -0.25, 0.0]]), smooth=False),)

    def forward(self, x):
        return x - np.trunc(x)

    def vjp(self, g, ans, needs, x):
        return (g,)


class Rounding(Math):
    """Piecewise constant: gradient 0 everywhere (as PyTorch)."""
    saves_inputs = False
    differentiable = False
    samples = (Sample((3, 4), smooth=False), Sample((), smooth=False))

    def vjp(self, g, ans, needs, x, **params):
        return (g * 0,)


@register
class Floor(Rounding):
    """z = ⌊x⌋."""
    name = "floor"

    def forward(self, x):
        return np.floor(x)


@register
class Ceil(Rounding):
    """z = ⌈x⌉."""
    name = "ceil"

    def forward(self, x):
        return np.ceil(x)


@register
class Trunc(Rounding):
    """z = x rounded toward 0."""
    name = "trunc"
    api = ("trunc", "fix")

    def forward(self, x):
        return np.trunc(x)


@register
class Round(Rounding):
    """z = x rounded to `decimals` places, halves to even (as PyTorch and NumPy)."""
    name = "round"
    ufunc = ()
    flat_forward = "np.round({0}, {decimals})"
    samples = Rounding.samples + (Sample((3,), smooth=False, decimals=2),)

    def forward(self, x, decimals=0):
        return np.round(x, decimals)


# ---------------------------------------------------------------- binary

@register
class Atan2(Primitive):
    """z = atan2(y, x), the angle of (x, y).   dz/dy = x/(x²+y²), dz/dx = -y/(x²+y²)."""
    name = "atan2"
    flat_forward = "np.arctan2({0}, {1})"
    samples = BCAST
    api = ("atan2", "arctan2")
    method = True
    ufunc = np.arctan2
    cli = True

    def forward(self, y, x):
        return _promote(_broadcast("atan2", np.arctan2, _fl(y), _fl(x)), y, x)

    def vjp(self, g, ans, needs, y, x):
        r = g / (x * x + y * y)
        return (r * x if needs[0] else None), (-r * y if needs[1] else None)

    def jvp(self, tangents, ans, y, x):
        ty, tx = tangents
        num = add_tangents(None if ty is None else ty * x, None if tx is None else -tx * y)
        return num / (x * x + y * y)


@register
class Hypot(Primitive):
    """z = √(x² + y²).   dz/dx = x/z, dz/dy = y/z."""
    name = "hypot"
    flat_forward = "np.hypot({0}, {1})"
    saves_ans = True
    samples = BCAST
    api = "hypot"
    method = True
    ufunc = np.hypot

    def forward(self, x, y):
        return _promote(_broadcast("hypot", np.hypot, _fl(x), _fl(y)), x, y)

    def vjp(self, g, ans, needs, x, y):
        r = g / ans
        return (r * x if needs[0] else None), (r * y if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        return add_tangents(None if tx is None else tx * x, None if ty is None else ty * y) / ans


@register
class Logaddexp(Primitive):
    """z = ln(eˣ + eʸ).   dz/dx = e^(x-z), dz/dy = e^(y-z)."""
    name = "logaddexp"
    flat_forward = "np.logaddexp({0}, {1})"
    saves_ans = True
    samples = BCAST
    api = "logaddexp"
    method = True
    ufunc = np.logaddexp

    def forward(self, x, y):
        return _promote(_broadcast("logaddexp", np.logaddexp, _fl(x), _fl(y)), x, y)

    def vjp(self, g, ans, needs, x, y):
        return ((g * np.exp(x - ans) if needs[0] else None),
                (g * np.exp(y - ans) if needs[1] else None))

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        return add_tangents(None if tx is None else tx * np.exp(x - ans),
                            None if ty is None else ty * np.exp(y - ans))


@register
class Logaddexp2(Primitive):
    """z = log₂(2ˣ + 2ʸ).   dz/dx = 2^(x-z), dz/dy = 2^(y-z)."""
    name = "logaddexp2"
    flat_forward = "np.logaddexp2({0}, {1})"
    saves_ans = True
    samples = BCAST
    api = "logaddexp2"
    method = True
    ufunc = np.logaddexp2

    def forward(self, x, y):
        return _promote(_broadcast("logaddexp2", np.logaddexp2, _fl(x), _fl(y)), x, y)

    def vjp(self, g, ans, needs, x, y):
        return ((g * np.exp2(x - ans) if needs[0] else None),
                (g * np.exp2(y - ans) if needs[1] else None))

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        return add_tangents(None if tx is None else tx * np.exp2(x - ans),
                            None if ty is None else ty * np.exp2(y - ans))


@register
class Copysign(Primitive):
    """z = |x| with the sign of y.   dz/dx = sign(x)·sign(z) (0 at x = 0), dz/dy = 0."""
    name = "copysign"
    flat_forward = "np.copysign({0}, {1})"
    saves_ans = True
    samples = tuple(Sample(*s.inputs, smooth=False) for s in BCAST)
    api = "copysign"
    method = True
    ufunc = np.copysign

    def forward(self, x, y):
        return _promote(_broadcast("copysign", np.copysign, _fl(x), y), x, y)

    def vjp(self, g, ans, needs, x, y):
        gx = g * np.sign(x) * np.sign(ans) if needs[0] else None
        return gx, (g * 0 if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx = tangents[0]
        return ans * 0 if tx is None else tx * np.sign(x) * np.sign(ans)


@register
class Lerp(Primitive):
    """z = x + w·(end - x).   dz/dx = 1 - w, dz/dend = w, dz/dw = end - x."""
    name = "lerp"
    flat_forward = "{0} + {2} * ({1} - {0})"
    samples = (Sample((3, 4), (3, 4), (3, 4)), Sample((3, 1), (4,), 0.3), Sample((), (3,), (2, 3)))
    api = "lerp"
    method = True

    def forward(self, x, end, weight):
        return x + weight * (end - x)

    def vjp(self, g, ans, needs, x, end, weight):
        return ((g * (1 - weight) if needs[0] else None), (g * weight if needs[1] else None),
                (g * (end - x) if needs[2] else None))

    def jvp(self, tangents, ans, x, end, weight):
        tx, te, tw = tangents
        out = None if tx is None else tx * (1 - weight)
        out = add_tangents(out, None if te is None else te * weight)
        return add_tangents(out, None if tw is None else tw * (end - x))


def _integer(v):
    return isinstance(v, (int, np.integer)) or getattr(v, "dtype", _F).kind in "biu"


_F = np.dtype(np.float64)


def _divides(op, fn, x, y):
    """fn(x, y), an integer division by zero raising as in PyTorch (NumPy gives 0 with a warning)."""
    if _integer(x) and _integer(y) and not np.all(y):
        raise ZeroDivision(f"{op}: integer division by zero (shapes {np.shape(x)} and {np.shape(y)})")
    return _promote(_broadcast(op, fn, x, y), x, y)


class ZeroDivision(RuntimeError, ZeroDivisionError):
    """An integer division by zero: PyTorch's RuntimeError, still Python's ZeroDivisionError."""


@register
class Remainder(Primitive):
    """z = x - y·⌊x/y⌋ (Python's %, sign of y).   dz/dx = 1, dz/dy = -⌊x/y⌋."""
    name = "remainder"
    flat_forward = "np.remainder({0}, {1})"
    samples = (Sample(At([[5.3, -5.3, 2.2], [7.7, -1.1, 0.4]]), At([[2.0, 2.0, -1.5], [3.0, 0.7, 3.0]]),
                      smooth=False),)
    api = "remainder"
    method = True
    operators = ("__mod__", "__rmod__")
    ufunc = np.remainder

    def forward(self, x, y):
        return _divides("remainder", np.remainder, x, y)

    def vjp(self, g, ans, needs, x, y):
        return g, (-g * np.floor(x / y) if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        return add_tangents(tx, None if ty is None else -ty * np.floor(x / y))


@register
class Fmod(Primitive):
    """z = x - y·trunc(x/y) (C's fmod, sign of x).   dz/dx = 1, dz/dy = -trunc(x/y)."""
    name = "fmod"
    flat_forward = "np.fmod({0}, {1})"
    samples = Remainder.samples
    api = "fmod"
    method = True
    ufunc = np.fmod

    def forward(self, x, y):
        return _divides("fmod", np.fmod, x, y)

    def vjp(self, g, ans, needs, x, y):
        return g, (-g * np.trunc(x / y) if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        return add_tangents(tx, None if ty is None else -ty * np.trunc(x / y))


@register
class FloorDivide(Primitive):
    """z = ⌊x/y⌋ (rounding_mode='floor', Python's //) or trunc(x/y) ('trunc'); integers stay
    integers. Piecewise constant: gradient 0 (as PyTorch's div with a rounding mode)."""
    name = "floor_divide"
    saves_inputs = False
    differentiable = False
    samples = (Sample((3, 4), (3, 4), smooth=False, domain="positive"),
               Sample((3, 1), (4,), smooth=False, domain="positive", rounding_mode="trunc"))
    api = "floor_divide"
    method = True
    operators = ("__floordiv__", "__rfloordiv__")
    ufunc = np.floor_divide

    def print_form(self, params):
        """NumPy's expression (the generated code casts to eager's dtype; an integer division by
        zero gives 0 there, as NumPy does, where eager raises)."""
        if params.get("rounding_mode", "floor") == "floor":
            return "np.floor_divide({0}, {1})"
        return "np.trunc(np.true_divide({0}, {1})).astype(np.result_type({0}, {1}))"

    def forward(self, x, y, rounding_mode="floor"):
        if rounding_mode == "floor":
            return _divides("floor_divide", np.floor_divide, x, y)
        if _integer(x) and _integer(y):   # integers stay integers (no float32 round trip)
            if not np.all(y):
                raise ZeroDivision(f"div: integer division by zero (shapes {np.shape(x)} and "
                                   f"{np.shape(y)})")
            return np.trunc(np.true_divide(x, y)).astype(np.result_type(x, y))
        return _divides("div", lambda a, b: np.trunc(np.true_divide(a, b)), x, y)

    def vjp(self, g, ans, needs, x, y, rounding_mode="floor"):
        return (g * 0 if needs[0] else None), (g * 0 if needs[1] else None)

    def jvp(self, tangents, ans, x, y, rounding_mode="floor"):
        return ans * 0
