"""PyTorch's names that other projects' op tests call: aliases (greater, concat, mm, t, unbind),
the alpha= forms of add and sub, and small compositions with no derivative code of their own
(xlogy, fmax, logit, sinc, nan_to_num, aminmax, var_mean, ...)."""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ..ops import arith, compare, linalg, shape as shp
from ..ops.base import ShapeError
from .args import _MISSING, _T, _axis, _data, _tensor
from .expose import expose

def _dtype(x):
    return np.asarray(_data(x)).dtype


# ---------------------------------------------------------------- add / sub with alpha
# Hand-written (functions/__init__ imports them): the add and sub primitives expose these as
# cr.add / Tensor.add, while their operators keep the generated fast path.

def add(input, other, *, alpha=1):
    """input + alpha·other (PyTorch's alpha=).

    >>> cr.add(cr.tensor([1.0]), cr.tensor([2.0]), alpha=3)  # tensor([7.])
    """
    return arith.Add(input, other if alpha == 1 else _alpha("add", input, other, alpha))


def sub(input, other, *, alpha=1):
    """input - alpha·other (PyTorch's alpha=).  >>> cr.sub(cr.tensor([5.0]), 1, alpha=2)  # tensor([3.])"""
    return arith.Sub(input, other if alpha == 1 else _alpha("sub", input, other, alpha))


def _alpha(op, input, other, alpha):
    if isinstance(alpha, float) and all(_dtype(v).kind in "biu" for v in (input, other)):
        raise RuntimeError(f"{op}: alpha={alpha} is a float but both operands are integers "
                           f"(shapes {np.shape(_data(input))} and {np.shape(_data(other))})")
    return arith.Mul(other, alpha)


add._operators_generated = sub._operators_generated = True   # x + y skips the alpha wrapper


@expose(method=True)
def rsub(input, other, *, alpha=1):
    """other - alpha·input.  >>> cr.rsub(cr.tensor([1.0]), 5)  # tensor([4.])"""
    return arith.Sub(other, input if alpha == 1 else arith.Mul(input, alpha))


# ---------------------------------------------------------------- comparison aliases

def _alias(prim, name):
    from .elementwise import _through
    return expose(_through(prim, name, f"PyTorch's {name}: see {prim.name}.\n\n    >>> "
                                       f"cr.{name}(cr.tensor([1, 2]), 1)"), method=True)


greater = _alias(compare.Greater, "greater")
greater_equal = _alias(compare.GreaterEqual, "greater_equal")
less = _alias(compare.Less, "less")
less_equal = _alias(compare.LessEqual, "less_equal")
not_equal = _alias(compare.NotEqual, "not_equal")


# ---------------------------------------------------------------- products

def _need(op, *pairs):
    shapes = " and ".join(str(np.shape(x)) for x, _ in pairs)
    want = " and ".join(f"{n}-D" for _, n in pairs)
    if any(np.ndim(x) != n for x, n in pairs):
        raise ShapeError(f"{op}: expects {want} tensors, got shapes {shapes}")


@expose(method=True)
def mm(input, mat2):
    """Matrix product of two 2-D tensors.  >>> cr.mm(cr.ones(2, 3), cr.ones(3, 4)).shape  # (2, 4)"""
    _need("mm", (input, 2), (mat2, 2))
    return linalg.MatMul(input, mat2)


@expose(method=True)
def bmm(input, mat2):
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting of b).

    >>> cr.bmm(cr.ones(5, 2, 3), cr.ones(5, 3, 4)).shape  # (5, 2, 4)
    """
    _need("bmm", (input, 3), (mat2, 3))
    if np.shape(input)[0] != np.shape(mat2)[0]:
        raise ShapeError(f"bmm: batch sizes differ: shapes {np.shape(input)} and {np.shape(mat2)}")
    return linalg.MatMul(input, mat2)


@expose(method=True)
def mv(input, vec):
    """Matrix-vector product.  >>> cr.mv(cr.ones(2, 3), cr.ones(3)).shape  # (2,)"""
    _need("mv", (input, 2), (vec, 1))
    return linalg.MatMul(input, vec)


@expose(method=True)
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta·input + alpha·(mat1 @ mat2).  >>> cr.addmm(cr.zeros(2, 4), cr.ones(2, 3), cr.ones(3, 4))"""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


@expose(method=True)
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta·input + alpha·bmm(batch1, batch2)."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def _scaled_sum(input, prod, beta, alpha):
    prod = prod if alpha == 1 else arith.Mul(prod, alpha)
    if beta == 0:   # PyTorch: input is ignored (nan and inf in it do not propagate)
        return prod
    return arith.Add(input if beta == 1 else arith.Mul(input, beta), prod)


@expose(name=False, method="outer")
def _outer_method(self, vec2):
    from .linalg import outer
    return outer(self, vec2)


@expose(name=False, method="ger")
def _ger_method(self, vec2):
    from .linalg import outer
    return outer(self, vec2)


# ---------------------------------------------------------------- shapes

@expose(method=True)
def t(input):
    """Transpose of a tensor with at most 2 dims (0-d and 1-d come back as they are).

    >>> cr.ones(2, 3).t().shape  # (3, 2)
    """
    if np.ndim(input) > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dims, got shape {np.shape(input)} "
                         f"(use transpose or permute)")
    return shp.Transpose(input, axes=(1, 0)) if np.ndim(input) == 2 else _tensor(input)


@expose
def concat(tensors, dim=0, *, axis=_MISSING):
    """PyTorch's alias of cat.  >>> cr.concat([cr.ones(2), cr.ones(1)]).shape  # (3,)"""
    return shp.Concatenate(*tensors, axis=_axis(dim, axis))


@expose(method=True)
def unbind(input, dim=0):
    """The slices along `dim`, as a tuple.  >>> len(cr.unbind(cr.ones(3, 2)))  # 3"""
    from .shape import split, squeeze
    return tuple(squeeze(p, dim) for p in split(input, 1, dim))


@expose
def take_along_dim(input, indices, dim=None):
    """PyTorch's take_along_axis (dim=None: of the flattened input).

    >>> cr.take_along_dim(cr.tensor([[1.0, 2.0]]), cr.tensor([[1]]), dim=1)  # tensor([[2.]])
    """
    from .shape import reshape, take_along_axis
    if dim is None:
        return take_along_axis(reshape(input, (-1,)), reshape(_tensor(indices), (-1,)), 0)
    return take_along_axis(input, indices, dim)


@expose
def tril_indices(row, col, offset=0, *, dtype=np.int64):
    """(2, n) indices of the lower triangle of a row × col matrix.

    >>> cr.tril_indices(2, 2).tolist()  # [[0, 1, 1], [0, 0, 1]]
    """
    return _tensor(np.array(np.tril_indices(row, offset, col), dtype=dtype).reshape(2, -1))


@expose
def triu_indices(row, col, offset=0, *, dtype=np.int64):
    """(2, n) indices of the upper triangle of a row × col matrix."""
    return _tensor(np.array(np.triu_indices(row, offset, col), dtype=dtype).reshape(2, -1))


# ---------------------------------------------------------------- elementwise compositions

@expose(method=True)
def clamp_min(input, min):  # noqa: A002
    """max(input, min).  >>> cr.clamp_min(cr.tensor([-1.0, 2.0]), 0)  # tensor([0., 2.])"""
    from .elementwise import clip
    return clip(input, min=min)


@expose(method=True)
def clamp_max(input, max):  # noqa: A002
    """min(input, max).  >>> cr.clamp_max(cr.tensor([-1.0, 2.0]), 0)  # tensor([-1., 0.])"""
    from .elementwise import clip
    return clip(input, max=max)


@expose(name=False, method="where")
def _where_method(self, condition, other):
    """x.where(condition, other): self where condition, else other (PyTorch's method)."""
    from .elementwise import where
    return where(condition, self, other)


@expose(method=True)
def fmax(input, other):
    """Elementwise maximum ignoring NaN (NaN only where both are); ties give input the gradient.

    >>> cr.fmax(cr.tensor([1.0, float("nan")]), cr.tensor([2.0, 0.0]))  # tensor([2., 0.])
    """
    pick = compare.LogicalOr(compare.GreaterEqual(input, other), compare.IsNan(other))
    return _tensor(arith.Where(pick, input, other))


@expose(method=True)
def fmin(input, other):
    """Elementwise minimum ignoring NaN.  >>> cr.fmin(cr.tensor([1.0]), cr.tensor([2.0]))  # tensor([1.])"""
    pick = compare.LogicalOr(compare.LessEqual(input, other), compare.IsNan(other))
    return _tensor(arith.Where(pick, input, other))


@expose(method=True)
def xlogy(input, other):
    """input·log(other), 0 where input is 0 (unless other is NaN).

    >>> cr.xlogy(cr.tensor([0.0, 2.0]), cr.tensor([0.0, 1.0]))  # tensor([0., 0.])
    """
    zero = compare.LogicalAnd(compare.Equal(input, 0), compare.LogicalNot(compare.IsNan(other)))
    safe = arith.Where(zero, 1.0, other)   # log(0) in the unused branch would poison the gradient
    return _tensor(arith.Where(zero, 0.0, arith.Mul(input, arith.Log(safe))))


@expose(method=True)
def positive(input):
    """input itself (PyTorch's torch.positive).  >>> cr.positive(cr.tensor([-1.0]))  # tensor([-1.])"""
    return _tensor(input)


@expose(method=True)
def deg2rad(input):
    """Degrees to radians.  >>> cr.deg2rad(cr.tensor([180.0]))  # tensor([3.1416])"""
    return arith.Mul(input, math.pi / 180)


@expose(method=True)
def rad2deg(input):
    """Radians to degrees.  >>> cr.rad2deg(cr.tensor([math.pi]))  # tensor([180.])"""
    return arith.Mul(input, 180 / math.pi)


@expose(method=True)
def logit(input, eps=None):
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given (gradient 0 outside).

    >>> cr.logit(cr.tensor([0.5]))  # tensor([0.])
    """
    p = input if eps is None else arith.Clip(input, min=eps, max=1 - eps)
    return arith.Log(arith.Div(p, arith.Sub(1, p)))


@expose(method=True, numpy=np.sinc)
def sinc(input):
    """sin(πx)/(πx), 1 at 0 (normalized sinc, as torch.sinc and np.sinc).

    >>> cr.sinc(cr.tensor([0.0, 1.0]))  # tensor([1., 0.])
    """
    at0 = compare.Equal(input, 0)
    px = arith.Mul(arith.Where(at0, 1.0, input), math.pi)   # no 0/0 in the unused branch
    return _tensor(arith.Where(at0, 1.0, arith.Div(arith.Sin(px), px)))


@expose(method=True)
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced (by 0 and the dtype's largest and smallest finite values by
    default); the gradient passes where input was finite.

    >>> cr.nan_to_num(cr.tensor([float("nan"), 1.0]))  # tensor([0., 1.])
    """
    dt = _dtype(input)
    if dt.kind not in "fc":
        return _tensor(input)
    fi = np.finfo(dt)
    out = arith.Where(compare.IsNan(input), nan, input)
    out = arith.Where(compare.Equal(input, np.inf), fi.max if posinf is None else posinf, out)
    return _tensor(arith.Where(compare.Equal(input, -np.inf), fi.min if neginf is None else neginf,
                               out))


@expose(name=False, numpy=np.nan_to_num)
def _numpy_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return nan_to_num(x, nan, posinf, neginf)   # a new tensor either way (copy= has no effect)


@expose(method=True)
def float_power(input, exponent):
    """input ** exponent in float64 (PyTorch's float_power).

    >>> cr.float_power(cr.tensor([2]), 0.5).dtype  # dtype('float64')
    """
    def f64(v):
        if _T(v):
            return v.to(np.float64)
        return np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) else float(v)
    return arith.Pow(f64(input), f64(exponent))


@expose(method=True)
def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value·tensor1·tensor2 (optimizers' update step).

    >>> cr.addcmul(cr.zeros(2), cr.ones(2), cr.ones(2), value=3)  # tensor([3., 3.])
    """
    prod = arith.Mul(tensor1, tensor2)
    return arith.Add(input, prod if value == 1 else arith.Mul(prod, value))


@expose(method=True)
def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value·tensor1/tensor2.  >>> cr.addcdiv(cr.zeros(1), cr.ones(1), cr.tensor([4.0]))"""
    q = arith.Div(tensor1, tensor2)
    return arith.Add(input, q if value == 1 else arith.Mul(q, value))


@expose(method=True)
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """n-th forward difference along dim (prepend/append joined first), differentiable.

    >>> cr.diff(cr.tensor([1.0, 4.0, 9.0]))  # tensor([3., 5.])
    """
    from .args import _dim
    from .shape import getitem
    parts = [p for p in (prepend, input, append) if p is not None]
    x = shp.Concatenate(*parts, axis=dim) if len(parts) > 1 else _tensor(input)
    a = _dim("diff", x, dim)
    lead = (slice(None),) * a
    for _ in range(n):
        x = arith.Sub(getitem(x, lead + (slice(1, None),)), getitem(x, lead + (slice(None, -1),)))
    return x


@expose(name=False, numpy=np.diff)
def _numpy_diff(a, n=1, axis=-1, prepend=None, append=None):
    return diff(a, n, axis, prepend, append)


@expose(name=False, numpy=np.isin)
def _numpy_isin(element, test_elements, assume_unique=False, invert=False, *, kind=None):
    return isin(element, test_elements, invert=invert)


@expose(method=True)
def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """True where an element of `elements` is in `test_elements` (bool, no gradient).

    >>> cr.isin(cr.tensor([1, 2, 3]), cr.tensor([2, 5]))  # tensor([False,  True, False])
    """
    return _tensor(np.isin(_data(elements), _data(test_elements), invert=invert))


@expose
def broadcast_tensors(*tensors):
    """The tensors broadcast to one shape (differentiable: gradients are summed back).

    >>> [t.shape for t in cr.broadcast_tensors(cr.ones(3, 1), cr.ones(4))]  # [(3, 4), (3, 4)]
    """
    from .shape import broadcast_to
    try:
        shape = np.broadcast_shapes(*(np.shape(_data(t)) for t in tensors))
    except ValueError:
        raise ShapeError("broadcast_tensors: shapes " + " and ".join(
            str(np.shape(_data(t))) for t in tensors) + " do not broadcast") from None
    return tuple(broadcast_to(t, shape) for t in tensors)


@expose(name=False, method="index_put")
def _index_put_method(self, indices, values, accumulate=False):
    """x.index_put(indices, values, accumulate=False): out of place (PyTorch's method)."""
    from .shape import _index
    index = _index(tuple(indices))
    if accumulate:
        return arith.Add(self, shp.scatter_add(values if _T(values) else _tensor(np.asarray(values)),
                                               shape=np.shape(_data(self)), index=index))
    return shp.index_put(self, values, index=index)


# ---------------------------------------------------------------- paired reductions

MinMax = namedtuple("MinMax", ["min", "max"])


@expose(method=True)
def aminmax(input, *, dim=None, keepdim=False):
    """(amin, amax) over dim (all elements by default).

    >>> cr.aminmax(cr.tensor([3.0, 1.0, 2.0]))  # MinMax(min=tensor(1.), max=tensor(3.))
    """
    from . import amax, amin
    return MinMax(amin(input, dim=dim, keepdim=keepdim), amax(input, dim=dim, keepdim=keepdim))


def _with_mean(stat, input, dim, unbiased, keepdim, correction):
    from .numpy_api import mean
    if isinstance(dim, bool):   # PyTorch's var_mean(x, unbiased)
        dim, unbiased = None, dim
    s = stat(input, dim, unbiased, keepdim, correction=correction)
    m = mean(input, dim=dim, keepdim=keepdim) if dim is not None else mean(input)
    if dim is None and keepdim:
        m = arith.Mul(shp.Reshape(m, shape=(1,) * np.ndim(input)), 1)
    return s, m


@expose
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over dim, var unbiased by default.

    >>> cr.var_mean(cr.tensor([1.0, 3.0]))  # (tensor(2.), tensor(2.))
    """
    from .reduce import var
    return _with_mean(var, input, dim, unbiased, keepdim, correction)


@expose
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over dim, std unbiased by default.

    >>> cr.std_mean(cr.tensor([1.0, 3.0]))  # (tensor(1.4142), tensor(2.))
    """
    from .reduce import std
    return _with_mean(std, input, dim, unbiased, keepdim, correction)
