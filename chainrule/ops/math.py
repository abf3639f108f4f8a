"""More elementwise math with gradients: trigonometric and hyperbolic functions, logs and exps of
other bases, erf, and the binary ops atan2, hypot, logaddexp, copysign, lerp, remainder, fmod."""
from __future__ import annotations

import numpy as np

from .arith import BCAST, POSITIVE, UNARY, Unary, _fl, _promote
from .base import At, Primitive, Sample, add_tangents, register

UNIT = tuple(Sample(*s.inputs, domain="unit") for s in UNARY)
_LOG2 = float(np.log(2.0))
_LOG10 = float(np.log(10.0))
_TWO_SQRT_PI = float(2 / np.sqrt(np.pi))


# ---------------------------------------------------------------- erf (NumPy has none; no SciPy)
# erf, erfc and erfinv on NumPy arrays to float64 accuracy (NumPy has none; no SciPy).
#
# |x| <= 2.5: erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (1·3···(2n+1)) (all terms positive: no
# cancellation). |x| > 2.5: erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), the
# continued fraction evaluated bottom-up. erfinv: a starting guess refined by Newton steps on erf.
# (Literal constants: exported flat code copies these functions, not module globals.)

def _erf_series(x):
    """erf(x) for |x| <= 2.5 (float64)."""
    x2 = x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, 80):   # ratio 2x²/(2n+1) <= 12.5/(2n+1): 80 terms reach 1e-17 at 2.5
        term *= 2 * x2 / (2 * n + 1)
        total += term
    return total * np.exp(-x2) * (2 / 1.7724538509055159)


def _erfc_cfrac(x):
    """erfc(x) for x >= 2.5 (float64)."""
    f = x.copy()
    for k in range(60, 0, -1):
        f = x + (k / 2) / f
    return np.exp(-x * x) / (1.7724538509055159 * f)


def _erf_split(x):
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)  # ints: PyTorch default
    x64 = x.astype(np.float64)
    a = np.abs(x64)
    small = a <= 2.5
    return x64, a, small, dtype


def _erf(x):
    x64, a, small, dtype = _erf_split(x)
    out = np.empty_like(x64)
    out[small] = _erf_series(x64[small])
    big = ~small & ~np.isnan(x64)
    out[big] = np.copysign(1 - _erfc_cfrac(a[big]), x64[big])
    out[np.isnan(x64)] = np.nan
    return out.astype(dtype, copy=False)


def _erfc(x):
    x64, a, small, dtype = _erf_split(x)
    out = np.empty_like(x64)
    out[small] = 1 - _erf_series(x64[small])
    pos = ~small & (x64 > 0)
    neg = ~small & (x64 < 0)
    out[pos] = _erfc_cfrac(x64[pos])
    out[neg] = 2 - _erfc_cfrac(-x64[neg])
    out[np.isnan(x64)] = np.nan
    return out.astype(dtype, copy=False)


def _erfinv(y):
    y = np.asarray(y)
    dtype = y.dtype if y.dtype.kind == "f" else np.dtype(np.float32)
    y64 = y.astype(np.float64)
    inside = np.abs(y64) < 1
    yi = np.where(inside, y64, 0.0)
    # Giles' approximation (single precision) as the start; Newton then doubles the digits
    w = -np.log((1 - yi) * (1 + yi))
    x = np.where(w < 5, _giles_small(w - 2.5), _giles_big(np.sqrt(np.maximum(w, 5)) - 3)) * yi
    for _ in range(4):
        err = _erf(x) - yi
        x = x - err / (2 / 1.7724538509055159 * np.exp(-x * x))
    out = np.where(inside, x, np.where(np.abs(y64) == 1, np.copysign(np.inf, y64), np.nan))
    return out.astype(dtype, copy=False)


def _giles_small(w):
    p = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p = c + p * w
    return p


def _giles_big(w):
    p = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p = c + p * w
    return p


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
class Erf(Math):
    """z = erf x = 2/√π ∫₀ˣ e^(-t²) dt.   dz/dx = 2/√π e^(-x²)."""
    name = "erf"
    samples = UNARY + (Sample(At([-3.0, -1.0, 0.0, 2.4, 2.6, 4.0])),)

    def forward(self, x):
        return _erf(x)

    def vjp(self, g, ans, needs, x):
        return (g * np.exp(-x * x) * _TWO_SQRT_PI,)


@register
class Erfc(Math):
    """z = erfc x = 1 - erf x.   dz/dx = -2/√π e^(-x²)."""
    name = "erfc"
    samples = Erf.samples

    def forward(self, x):
        return _erfc(x)

    def vjp(self, g, ans, needs, x):
        return (g * np.exp(-x * x) * -_TWO_SQRT_PI,)


@register
class Erfinv(Math):
    """z = erf⁻¹ x on (-1, 1).   dz/dx = √π/2 · e^(z²)."""
    name = "erfinv"
    saves_ans = True
    saves_inputs = False
    samples = UNIT

    def forward(self, x):
        return _erfinv(x)

    def vjp(self, g, ans, needs, x):
        return (g * np.exp(ans * ans) / _TWO_SQRT_PI,)


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
        return _promote(np.arctan2(_fl(y), _fl(x)), y, x)

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
        return _promote(np.hypot(_fl(x), _fl(y)), x, y)

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
        return _promote(np.logaddexp(_fl(x), _fl(y)), x, y)

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
        return _promote(np.logaddexp2(_fl(x), _fl(y)), x, y)

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
        return _promote(np.copysign(_fl(x), y), x, y)

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
        return _promote(np.remainder(x, y), x, y)

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
        return _promote(np.fmod(x, y), x, y)

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

    def forward(self, x, y, rounding_mode="floor"):
        if rounding_mode == "floor":
            return np.floor_divide(x, y)
        q = np.trunc(np.true_divide(x, y))
        kind = np.result_type(x, y)
        return q.astype(kind) if kind.kind in "iu" else q

    def vjp(self, g, ans, needs, x, y, rounding_mode="floor"):
        return (g * 0 if needs[0] else None), (g * 0 if needs[1] else None)

    def jvp(self, tangents, ans, x, y, rounding_mode="floor"):
        return ans * 0
