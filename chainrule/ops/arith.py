"""Elementwise primitives: arithmetic gates (add distributes, mul swaps, max routes) and activations."""
from __future__ import annotations

import numpy as np

from .. import tensor_base
from .base import Primitive, Sample, add_tangents, register, shape_error

_F64 = np.dtype(np.float64)


def _fl(x):
    """Integers and bools to the default float dtype (PyTorch: exp of an int tensor is float32)."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "biu":
        return x.astype(tensor_base._default_dtype)
    return x


def _widen(out):
    return out.astype(tensor_base._default_dtype, copy=False)


def _promote(out, x, y):
    """PyTorch's rule where NumPy widens: an int array with a Python float (or int / int) gives the
    default float dtype, not float64; float64 stays only when an input is a float64 array."""
    if getattr(out, "dtype", None) is not _F64 or tensor_base._default_dtype is _F64:
        return out   # the float32 and float64-default paths end here
    if getattr(x, "dtype", None) is _F64 or getattr(y, "dtype", None) is _F64:
        return out
    return out.astype(tensor_base._default_dtype)

BCAST = (Sample((3, 4), (3, 4)), Sample((3, 1, 4), (5, 4)), Sample((4,), (2, 3, 4)), Sample((), (3,)))


def _broadcast(op, fn, a, b):
    try:
        return fn(a, b)
    except ValueError:
        raise shape_error(op, "do not broadcast", np.shape(a), np.shape(b)) from None


# ---------------------------------------------------------------- binary gates

@register
class Add(Primitive):
    """z = x + y.   dz/dx = 1, dz/dy = 1: the add gate distributes the upstream gradient."""
    name = "add"
    flat_forward = "{0} + {1}"
    linear = True
    saves_inputs = False
    samples = BCAST
    api = "add"
    example = "cr.add(cr.ones(2, 1), cr.ones(3))  # shape (2, 3), all 2"
    method = True
    operators = ("__add__", "__radd__")
    ufunc = np.add

    def forward(self, x, y):
        try:
            out = x + y
            return out if out.dtype is not _F64 else _promote(out, x, y)
        except AttributeError:   # Python numbers
            return out
        except ValueError:
            raise shape_error("add", "do not broadcast", np.shape(x), np.shape(y)) from None

    def vjp(self, g, ans, needs, x, y):
        return g, g

    def jvp(self, tangents, ans, x, y):
        return add_tangents(*tangents)


@register
class Sub(Primitive):
    """z = x - y.   dz/dx = 1, dz/dy = -1."""
    name = "sub"
    flat_forward = "{0} - {1}"
    linear = True
    saves_inputs = False
    samples = BCAST
    api = ("sub", "subtract")
    example = "cr.sub(cr.tensor([3.0]), 1)  # tensor([2.])"
    method = True
    operators = ("__sub__", "__rsub__")
    ufunc = np.subtract

    def forward(self, x, y):
        try:
            out = x - y
            return out if out.dtype is not _F64 else _promote(out, x, y)
        except AttributeError:   # Python numbers
            return out
        except ValueError:
            raise shape_error("sub", "do not broadcast", np.shape(x), np.shape(y)) from None

    def vjp(self, g, ans, needs, x, y):
        return g, (-g if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        if ty is None:
            return tx
        return -ty if tx is None else tx - ty


@register
class Mul(Primitive):
    """z = x * y.   dz/dx = y, dz/dy = x: the mul gate swaps its inputs."""
    name = "mul"
    reads = ((1,), (0,))   # dx reads y, dy reads x: x * 2.0 keeps only the 2.0
    flat_forward = "{0} * {1}"
    samples = BCAST
    api = ("mul", "multiply")
    example = "cr.mul(cr.tensor([2.0]), 3)  # tensor([6.])"
    method = True
    operators = ("__mul__", "__rmul__")
    ufunc = np.multiply

    def forward(self, x, y):
        try:
            out = x * y
            return out if out.dtype is not _F64 else _promote(out, x, y)
        except AttributeError:   # Python numbers
            return out
        except ValueError:
            raise shape_error("mul", "do not broadcast", np.shape(x), np.shape(y)) from None

    def vjp(self, g, ans, needs, x, y):
        return (g * y if needs[0] else None), (g * x if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        return add_tangents(None if tx is None else tx * y, None if ty is None else x * ty)


@register
class Div(Primitive):
    """z = x / y.   dz/dx = 1/y, dz/dy = -x/y² = -z/y."""
    name = "div"
    reads = ((1,), (1, "ans"))
    flat_forward = "{0} / {1}"
    saves_ans = True
    samples = (Sample((3, 4), (3, 4), domain="positive"), Sample((3, 1, 4), (5, 4), domain="positive"),
               Sample((), (3,), domain="positive"))
    api = ("divide", "true_divide")   # cr.div (rounding_mode=): functions/elementwise.py
    example = "cr.div(cr.tensor([3.0]), 2)  # tensor([1.5])"
    method = True
    operators = ("__truediv__", "__rtruediv__")
    ufunc = np.divide

    def forward(self, x, y):
        try:
            out = x / y
            return out if out.dtype is not _F64 else _promote(out, x, y)
        except AttributeError:   # Python numbers
            return out
        except ValueError:
            raise shape_error("div", "do not broadcast", np.shape(x), np.shape(y)) from None

    def vjp(self, g, ans, needs, x, y):
        gy = g / y
        return (gy if needs[0] else None), (-gy * ans if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        num = add_tangents(tx, None if ty is None else -ans * ty)
        return num / y


@register
class Pow(Primitive):
    """z = x ** p.   dz/dx = p·x^(p-1), dz/dp = z·log x."""
    name = "pow"
    reads = ((0, 1), (0, 1, "ans"))
    flat_forward = "{0} ** {1}"
    saves_ans = True
    samples = (Sample((3, 4), (3, 4), domain="positive"), Sample((2, 3), 3.0),
               Sample((2, 3), 2.0), Sample((4,), 0.5, domain="positive"))
    api = "pow"
    example = "cr.pow(cr.tensor([3.0]), 2)  # tensor([9.])"
    method = True
    operators = ("__pow__", "__rpow__")
    ufunc = np.power

    def forward(self, x, p):
        if _integral(x) and _integral(p) and np.any(np.less(p, 0)):
            # NOTE: PyTorch refuses a negative Python int exponent and computes 0 / ±1 for a
            # negative int tensor exponent; refused here too, as the generated code (**) would
            raise RuntimeError(f"pow: integers to negative integer powers are not allowed "
                               f"(shapes {np.shape(x)} and {np.shape(p)})")
        return _promote(_broadcast("pow", np.power, x, p), x, p)

    # As in PyTorch: dz/dx is 0 where p = 0 (not 0·x^-1 = nan at x = 0), dz/dp is 0 where x = 0
    # and p >= 0 (not 0·log 0 = nan), and nan for x < 0 (log of a negative number).
    def vjp(self, g, ans, needs, x, p):
        gx = gp = None
        if needs[0]:
            if isinstance(p, (int, float)):
                if p == 0:
                    gx = g * np.zeros_like(x)
                else:
                    gx = g * (2 * x) if p == 2 else g * (p * x ** (p - 1))
            else:
                gx = g * np.where(p == 0, 0, p * x ** (p - 1))
        if needs[1]:
            gp = g * _dpow_dp(ans, x, p)
        return gx, gp

    def jvp(self, tangents, ans, x, p):
        tx, tp = tangents
        a = None if tx is None else tx * np.where(np.equal(p, 0), 0, p * x ** (p - 1))
        b = None if tp is None else tp * _dpow_dp(ans, x, p)
        return add_tangents(a, b)


def _integral(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) or \
        getattr(v, "dtype", _F64).kind in "biu"


def _dpow_dp(ans, x, p):
    return np.where(np.logical_and(x == 0, np.greater_equal(p, 0)), 0, ans * np.log(x))


@register
class Maximum(Primitive):
    """z = max(x, y) elementwise. The max gate routes the gradient to the larger input (ties: half each)."""
    name = "maximum"
    flat_forward = "np.maximum({0}, {1})"
    samples = (Sample((3, 4), (3, 4), smooth=False), Sample((3, 1, 4), (5, 4), smooth=False))
    api = "maximum"
    example = "cr.maximum(cr.tensor([1.0, 5.0]), 3)  # tensor([3., 5.])"
    method = True
    ufunc = np.maximum
    cli = ("maximum", "max")

    def forward(self, x, y):
        return _promote(_broadcast("maximum", np.maximum, x, y), x, y)

    def vjp(self, g, ans, needs, x, y):
        gx = np.where(x > y, g, np.where(x == y, g * 0.5, 0))
        return gx, (g - gx if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        w = (x > y) + (x == y) * 0.5
        return add_tangents(None if tx is None else tx * w, None if ty is None else ty * (1 - w))


@register
class Minimum(Primitive):
    """z = min(x, y) elementwise: routes the gradient to the smaller input (ties: half each)."""
    name = "minimum"
    flat_forward = "np.minimum({0}, {1})"
    samples = Maximum.samples
    api = "minimum"
    example = "cr.minimum(cr.tensor([1.0, 5.0]), 3)  # tensor([1., 3.])"
    method = True
    ufunc = np.minimum
    cli = ("minimum", "min")

    def forward(self, x, y):
        return _promote(_broadcast("minimum", np.minimum, x, y), x, y)

    def vjp(self, g, ans, needs, x, y):
        gx = np.where(x < y, g, np.where(x == y, g * 0.5, 0))
        return gx, (g - gx if needs[1] else None)

    def jvp(self, tangents, ans, x, y):
        tx, ty = tangents
        w = (x < y) + (x == y) * 0.5
        return add_tangents(None if tx is None else tx * w, None if ty is None else ty * (1 - w))


@register
class Where(Primitive):
    """z = x where cond else y. cond is a constant mask; the gradient goes to the chosen side."""
    name = "where"
    flat_forward = "np.where({0}, {1}, {2})"
    saves_inputs = False
    samples = (Sample(np.array([[True, False, True, False]] * 3), (3, 4), (3, 4)),
               Sample(np.array([True, False, True]), (2, 3), ()))
    api = "where"            # functions/elementwise.py: cond to a mask, always a Tensor
    numpy = np.where

    def forward(self, cond, x, y):
        try:
            return _promote(np.where(cond, x, y), x, y)   # where(c, 1.0, 0.0): float32, as PyTorch
        except ValueError:
            raise shape_error("where", "do not broadcast", np.shape(cond), np.shape(x),
                              np.shape(y)) from None

    def vjp(self, g, ans, needs, cond, x, y):
        gx = np.where(cond, g, 0) if needs[1] else None
        gy = np.where(cond, 0, g) if needs[2] else None
        return None, gx, gy

    def jvp(self, tangents, ans, cond, x, y):
        _, tx, ty = tangents
        return np.where(cond, 0 if tx is None else tx, 0 if ty is None else ty)


# ---------------------------------------------------------------- unary (elementwise)

UNARY = (Sample((3, 4)), Sample((2, 3, 2)), Sample(()))
POSITIVE = tuple(Sample(*s.inputs, domain="positive") for s in UNARY)
KINKED = tuple(Sample(*s.inputs, smooth=False) for s in UNARY)


class Unary(Primitive):
    elementwise = True


@register
class Neg(Unary):
    """z = -x."""
    name = "neg"
    flat_forward = "-{0}"
    saves_inputs = False
    samples = UNARY
    api = ("neg", "negative")
    example = "cr.neg(cr.tensor([1.0]))  # tensor([-1.])"
    method = True
    operators = ("__neg__",)
    ufunc = np.negative

    def forward(self, x):
        return np.negative(x)

    def vjp(self, g, ans, needs, x):
        return (-g,)


@register
class Exp(Unary):
    """z = eˣ.   dz/dx = eˣ = z."""
    name = "exp"
    flat_forward = "np.exp({0})"
    saves_ans = True
    saves_inputs = False
    samples = UNARY
    api = "exp"
    example = "cr.exp(cr.tensor([0.0]))  # tensor([1.])"
    method = True
    ufunc = np.exp
    cli = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.exp(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (g * ans,)


@register
class Log(Unary):
    """z = ln x.   dz/dx = 1/x."""
    name = "log"
    flat_forward = "np.log({0})"
    samples = POSITIVE
    api = "log"
    example = "cr.log(cr.tensor([1.0]))  # tensor([0.])"
    method = True
    ufunc = np.log
    cli = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.log(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (g / x,)


@register
class Log1p(Unary):
    """z = ln(1 + x).   dz/dx = 1/(1 + x)."""
    name = "log1p"
    flat_forward = "np.log1p({0})"
    samples = POSITIVE
    api = "log1p"
    example = "cr.log1p(cr.tensor([0.0]))  # tensor([0.])"
    method = True
    ufunc = np.log1p
    cli = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.log1p(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (g / (1 + x),)


@register
class Sqrt(Unary):
    """z = √x.   dz/dx = 1/(2√x) = 1/(2z)."""
    name = "sqrt"
    flat_forward = "np.sqrt({0})"
    saves_ans = True
    saves_inputs = False
    samples = POSITIVE
    api = "sqrt"
    example = "cr.sqrt(cr.tensor([4.0]))  # tensor([2.])"
    method = True
    ufunc = np.sqrt
    cli = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.sqrt(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (g / (2 * ans),)


@register
class Abs(Unary):
    """z = |x|.   dz/dx = sign(x) (0 at 0, as in PyTorch)."""
    name = "abs"
    flat_forward = "np.abs({0})"
    samples = KINKED
    api = ("abs", "absolute")
    example = "cr.abs(cr.tensor([-2.0]))  # tensor([2.])"
    method = True
    operators = ("__abs__",)
    ufunc = np.absolute
    cli = True

    def forward(self, x):
        return np.abs(x)

    def vjp(self, g, ans, needs, x):
        return (g * np.sign(x),)


@register
class Sign(Unary):
    """z = sign(x). Piecewise constant: gradient 0."""
    name = "sign"
    flat_forward = "np.sign({0})"
    saves_inputs = False
    differentiable = False
    samples = KINKED
    api = ("sign", "sgn")
    example = "cr.sign(cr.tensor([-2.0]))  # tensor([-1.])"
    method = True
    ufunc = np.sign

    def forward(self, x):
        return np.sign(x)

    def vjp(self, g, ans, needs, x):
        return (g * 0,)


@register
class Sin(Unary):
    """z = sin x.   dz/dx = cos x."""
    name = "sin"
    flat_forward = "np.sin({0})"
    samples = UNARY
    api = "sin"
    example = "cr.sin(cr.tensor([0.0]))  # tensor([0.])"
    method = True
    ufunc = np.sin
    cli = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.sin(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (g * np.cos(x),)


@register
class Cos(Unary):
    """z = cos x.   dz/dx = -sin x."""
    name = "cos"
    flat_forward = "np.cos({0})"
    samples = UNARY
    api = "cos"
    example = "cr.cos(cr.tensor([0.0]))  # tensor([1.])"
    method = True
    ufunc = np.cos
    cli = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.cos(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (-g * np.sin(x),)


@register
class Tanh(Unary):
    """z = tanh x.   dz/dx = 1 - z²."""
    name = "tanh"
    flat_forward = "np.tanh({0})"
    saves_ans = True
    saves_inputs = False
    samples = UNARY
    api = "tanh"
    example = "cr.tanh(cr.tensor([0.0]))  # tensor([0.])"
    method = True
    ufunc = np.tanh
    cli = True
    functional = True

    def forward(self, x):
        # an int or bool array is computed in the default float dtype (PyTorch; NumPy: float64/16)
        return np.tanh(x if type(x) is not np.ndarray or x.dtype.kind not in "biu" else _widen(x))

    def vjp(self, g, ans, needs, x):
        return (g * (1 - ans * ans),)


@register
class Sigmoid(Unary):
    """z = σ(x) = 1/(1 + e⁻ˣ).   dz/dx = (1 - z)·z."""
    name = "sigmoid"
    flat_forward = "1 / (1 + np.exp(-{0}))"
    saves_ans = True
    saves_inputs = False
    samples = UNARY
    api = "sigmoid"
    example = "cr.sigmoid(cr.tensor([0.0]))  # tensor([0.5])"
    method = True
    cli = True
    functional = True

    def forward(self, x):
        # NOTE: with e = exp(-|x|) ≤ 1, σ = 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0 never overflows
        # and keeps full relative precision for x << 0 ((1 + tanh(x/2))/2 rounds σ(-50) to 0).
        x = _fl(x)
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1, e)   # a fresh array (also for 0-d input), divided in place
        out /= e + 1
        return out

    def vjp(self, g, ans, needs, x):
        return (g * (1 - ans) * ans,)


@register
class Relu(Unary):
    """z = max(0, x).   dz/dx = 1 where x > 0, else 0 (max gate with a constant)."""
    name = "relu"
    flat_forward = "np.maximum({0}, 0)"
    saves_ans = True
    saves_inputs = False
    samples = KINKED
    api = "relu"
    example = "cr.relu(cr.tensor([-1.0, 2.0]))  # tensor([0., 2.])"
    method = True
    cli = True
    functional = True   # nn/functional.py keeps its own (inplace=)

    def forward(self, x):
        return np.maximum(x, 0)

    def vjp(self, g, ans, needs, x):
        return (g * (ans > 0),)


@register
class LeakyRelu(Unary):
    """z = x if x > 0 else slope·x.   dz/dx = 1 or slope."""
    name = "leaky_relu"
    flat_forward = "np.where({0} > 0, {0}, {0} * {negative_slope})"
    samples = tuple(Sample(*s.inputs, smooth=False, negative_slope=0.1) for s in UNARY)
    api = "leaky_relu"
    example = "cr.leaky_relu(cr.tensor([-1.0]), 0.1)  # tensor([-0.1])"
    method = True
    functional = True

    def forward(self, x, negative_slope=0.01):
        return np.where(x > 0, x, x * negative_slope)

    def vjp(self, g, ans, needs, x, negative_slope=0.01):
        return (np.where(x > 0, g, g * negative_slope),)


@register
class Elu(Unary):
    """z = x if x > 0 else α(eˣ - 1).   dz/dx = 1 or z + α."""
    name = "elu"
    flat_forward = "np.where({0} > 0, {0}, {alpha} * np.expm1(np.minimum({0}, 0)))"
    saves_ans = True
    samples = tuple(Sample(*s.inputs, smooth=False, alpha=1.5) for s in UNARY)
    api = "elu"
    example = "cr.elu(cr.tensor([0.0]))  # tensor([0.])"
    method = True
    functional = True

    def forward(self, x, alpha=1.0):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))

    def vjp(self, g, ans, needs, x, alpha=1.0):
        return (np.where(x > 0, g, g * (ans + alpha)),)


@register
class Softplus(Unary):
    """z = ln(1 + e^(βx))/β, and z = x where βx > threshold (as PyTorch).   dz/dx = σ(βx) or 1."""
    name = "softplus"
    samples = UNARY + (Sample((3, 4), beta=2.0, threshold=1.0, smooth=False),
                       Sample((2, 3), beta=0.5))
    api = "softplus"
    example = "cr.softplus(cr.tensor([0.0]))  # tensor([0.6931])"
    method = True
    cli = True
    functional = True

    def forward(self, x, beta=1.0, threshold=20.0):
        # NOTE: max(bx, 0) + log1p(e^-|bx|) is exact and does not overflow for large |x|.
        bx = _fl(x) * beta
        out = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / beta
        return np.where(bx > threshold, x, out).astype(out.dtype, copy=False)

    def vjp(self, g, ans, needs, x, beta=1.0, threshold=20.0):
        bx = x * beta   # σ(βx) keeps full precision for x << 0 (4.2e-18 at -40)
        return (g * np.where(bx > threshold, 1.0, Sigmoid(bx)),)


@register
class Clip(Unary):
    """z = min(max(x, lo), hi).   dz/dx = 1 inside [lo, hi], 0 outside."""
    name = "clip"
    flat_forward = "np.clip({0}, {min}, {max})"
    samples = (Sample((3, 4), smooth=False, min=-0.5, max=0.5), Sample((5,), smooth=False, min=0.0, max=None))
    api = ("clip", "clamp")   # functions/elementwise.py: tensor bounds
    method = True

    def forward(self, x, min=None, max=None):
        return _promote(np.clip(x, min, max), x, max if min is None else min)

    def vjp(self, g, ans, needs, x, min=None, max=None):
        if min is None:
            return (g * (x <= max),)
        if max is None:
            return (g * (x >= min),)
        return (g * np.logical_and(x >= min, x <= max),)
