"""erf, erfc and erfinv with gradients, on NumPy alone (float64 accuracy; no SciPy)."""
from __future__ import annotations

import numpy as np

from .arith import UNARY
from .base import At, Sample, register
from .math import UNIT, Math

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
