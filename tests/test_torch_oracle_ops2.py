"""The core op surface against PyTorch, as other projects' op tests call it (tinygrad's
helper_test_op, micrograd's engine tests, OpInfo-style samples): the same inputs through torch and
chainrule under torch's names (cr.<name>, Tensor.<method>, operators); forward values, result
dtype and shape, gradients of a random cotangent, and error-vs-error. Skipped without torch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
# nan from log(-1), torch's "degrees of freedom <= 0": the values are compared, the noise is not
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

R = np.random.default_rng(0)


def r(*shape, lo=-2.0, hi=2.0):
    return R.uniform(lo, hi, shape)


X, Y, Z, X3, S, E = r(3, 4), r(3, 4), r(4), r(2, 3, 4), np.array(1.5), np.zeros((0, 4))
INT = np.array([[5, -6, 7, 0], [-5, 6, -7, 3]])
INT2 = np.array([[2, 3, -3, 1], [-2, 4, 5, -1]])
BOOL = np.array([[True, False, True, False], [False, False, True, True]])
KINKS = np.array([[0.0, 1, 1, -2], [3, -0.5, 0.5, 3], [-1, 2, 0, 3]])   # zeros and ties


class Lib:
    """torch or chainrule under one interface: m.<name>, m.F.<name>, m.T(index data)."""

    def __init__(self, lib, functional):
        self.lib, self.F = lib, functional

    def __getattr__(self, name):
        return getattr(self.lib, name)

    def T(self, v):
        return self.lib.tensor(v)


TORCH, CR = Lib(torch, torch.nn.functional), Lib(cr, cr.nn.functional)

CASES = {}   # name -> (fn(m, *inputs), inputs, also in float32?)


def case(name, f, *inputs, f32=False):
    assert name not in CASES, name
    CASES[name] = (f, inputs, f32)


# ---------------------------------------------------------------- elementwise unary
UNARY = ["abs", "neg", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "exp2",
         "log2", "log10", "log1p", "expm1", "rsqrt", "reciprocal", "square", "sign", "floor", "ceil",
         "trunc", "round", "frac", "erf", "asin", "acos", "atan", "sinh", "cosh", "asinh", "sgn",
         "signbit", "positive", "isnan", "isinf", "isfinite", "logical_not", "erfc", "deg2rad",
         "rad2deg", "nan_to_num", "sinc"]
for _u in UNARY:
    case(f"{_u}", lambda m, x, u=_u: getattr(m, u)(x), X, f32=True)
    case(f"{_u}_method", lambda m, x, u=_u: getattr(x, u)(), KINKS)
    case(f"{_u}_0d", lambda m, x, u=_u: getattr(m, u)(x), S)
    case(f"{_u}_empty", lambda m, x, u=_u: getattr(m, u)(x), E)
for _u in ["abs", "neg", "sign", "square", "relu", "exp", "sqrt", "sin", "floor", "sigmoid",
           "logical_not", "reciprocal", "isnan", "bitwise_not", "ceil", "round", "deg2rad", "sinc"]:
    case(f"{_u}_int", lambda m, x, u=_u: getattr(m, u)(x), INT)
for _u in ["exp", "sqrt", "sin", "sigmoid", "logical_not", "isnan", "bitwise_not", "deg2rad"]:
    case(f"{_u}_bool", lambda m, x, u=_u: getattr(m, u)(x), BOOL)   # exp(bool) is float32
case("nan_to_num_specials", lambda m, x: m.nan_to_num(x, posinf=9.0), np.array([np.nan, np.inf, -np.inf, 1.0]))
case("signbit_negzero", lambda m, x: m.signbit(x), np.array([-0.0, 0.0, -1.0, np.nan]))
case("logit", lambda m, x: m.logit(x), R.uniform(0.05, 0.95, (3, 4)), f32=True)
case("logit_method_eps", lambda m, x: x.logit(eps=0.1), R.uniform(0, 1, 8))

# ---------------------------------------------------------------- elementwise binary
OPERATORS = {"add": lambda m, a, b: a + b, "sub": lambda m, a, b: a - b, "mul": lambda m, a, b: a * b,
             "truediv": lambda m, a, b: a / b, "floordiv": lambda m, a, b: a // b,
             "mod": lambda m, a, b: a % b, "pow": lambda m, a, b: a ** b,
             "eq": lambda m, a, b: a == b, "ne": lambda m, a, b: a != b, "lt": lambda m, a, b: a < b,
             "le": lambda m, a, b: a <= b, "gt": lambda m, a, b: a > b, "ge": lambda m, a, b: a >= b}
NAMED = {n: (lambda n: lambda m, a, b: getattr(m, n)(a, b))(n) for n in [
    "div", "true_divide", "floor_divide", "remainder", "fmod", "maximum", "minimum", "fmax", "fmin",
    "eq", "gt", "greater", "greater_equal", "less", "less_equal", "not_equal", "logical_and",
    "logical_or", "logical_xor", "atan2", "hypot", "copysign", "subtract", "multiply", "divide",
    "xlogy", "logaddexp", "rsub", "isclose", "equal", "allclose"]}
NAMED.update({
    "add_method": lambda m, a, b: a.add(b), "sub_method": lambda m, a, b: a.sub(b),
    "mul_method": lambda m, a, b: a.mul(b), "div_method": lambda m, a, b: a.div(b),
    "pow_method": lambda m, a, b: a.pow(b), "add_alpha": lambda m, a, b: m.add(a, b, alpha=2),
    "sub_alpha": lambda m, a, b: m.sub(a, b, alpha=0.5), "add_alpha_method": lambda m, a, b: a.add(b, alpha=-3),
    "div_trunc": lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
    "div_floor": lambda m, a, b: a.div(b, rounding_mode="floor"),
    "maximum_method": lambda m, a, b: a.maximum(b), "max_binary": lambda m, a, b: m.max(a, b),
    "min_binary": lambda m, a, b: a.min(b), "fmax_method": lambda m, a, b: a.fmax(b)})
SCALAR_OK = set(OPERATORS) | {"div", "true_divide", "floor_divide", "remainder", "fmod", "eq", "gt",
                              "greater", "greater_equal", "less", "less_equal", "not_equal",
                              "subtract", "multiply", "divide", "xlogy", "rsub", "add_method",
                              "sub_method", "mul_method", "div_method", "pow_method", "add_alpha",
                              "sub_alpha", "add_alpha_method", "div_trunc", "div_floor"}
NO_INTS = {"logaddexp", "hypot", "isclose", "allclose"}   # torch refuses (not implemented for Long)
for _n, _f in {**OPERATORS, **NAMED}.items():
    case(f"{_n}", _f, X, Y, f32=True)
    case(f"{_n}_broadcast", _f, r(3, 1), r(1, 4))
    case(f"{_n}_0d", _f, S, X)
    case(f"{_n}_empty", _f, E, Z)
    case(f"{_n}_badshape", _f, X, r(3))
    case(f"{_n}_ties", _f, KINKS, KINKS[::-1].copy())
    if _n in SCALAR_OK:
        case(f"{_n}_int_scalar", lambda m, a, f=_f: f(m, a, 2), X, f32=True)
        case(f"{_n}_float_scalar", lambda m, a, f=_f: f(m, a, 0.7), X, f32=True)
        case(f"{_n}_int_tensor_float_scalar", lambda m, a, f=_f: f(m, a, 1.5), INT)
    if _n not in NO_INTS and not _n.startswith("pow"):   # int ** negative int: see below
        case(f"{_n}_int", _f, INT, INT2)
        case(f"{_n}_int_float", _f, INT, r(2, 4), f32=True)   # int64 with float32 gives float32
for _n in ["add", "mul", "truediv", "floordiv", "mod", "pow", "sub"]:
    _f = OPERATORS[_n]
    case(f"{_n}_reflected", lambda m, a, f=_f: f(m, 3, a), R.uniform(0.5, 2, (3, 4)), f32=True)
for _n in ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"]:
    case(_n, lambda m, a, b, n=_n: getattr(m, n)(a, b), INT, np.abs(INT2))
case("bitwise_and_bool", lambda m, a, b: m.bitwise_and(a, b), BOOL, BOOL[::-1].copy())
case("and_operator", lambda m, a, b: a & b, INT, INT2)
case("or_operator_bool", lambda m, a, b: a | b, BOOL, BOOL[::-1].copy())
case("invert_operator", lambda m, a: ~a, BOOL)
case("lshift_operator", lambda m, a: a << 2, INT)
case("rshift_operator", lambda m, a: a >> 1, INT)
case("rlshift_operator", lambda m, a: 2 << a, np.abs(INT2))
case("pow_zero_zero", lambda m, a, b: a ** b, np.array([0.0, 0.0, 2.0, 0.0]), np.array([0.0, 2.0, 0.0, -1.0]))
case("pow_negative_base", lambda m, a, b: a ** b, np.array([-2.0, -0.5, 3.0]), np.array([2.0, 0.5, 1.5]))
case("pow_int", lambda m, a, b: a ** b, INT, np.abs(INT2))
case("pow_int_negative_scalar_refused", lambda m, a: a ** -1, INT)
case("pow_scalar_base", lambda m, a: 2 ** a, X, f32=True)
case("floordiv_int_by_zero", lambda m, a, b: a // b, INT, INT2 * 0)
case("mod_int_by_zero", lambda m, a, b: a % b, INT, INT2 * 0)
case("floordiv_float_by_zero", lambda m, a, b: a // b, X, Y * 0)
case("remainder_negative_divisor", lambda m, a: m.remainder(a, -1.5), X)
case("fmod_negative_divisor", lambda m, a: m.fmod(a, -1.5), X)
case("float_power", lambda m, a, b: m.float_power(a, b), R.uniform(0.5, 2, (3, 4)), Y)
case("fmax_nan", lambda m, a, b: m.fmax(a, b), np.array([1.0, np.nan, np.nan, 2.0]), np.array([np.nan, 0.0, np.nan, 2.0]))

# ---------------------------------------------------------------- clamp, where
case("clamp", lambda m, x: m.clamp(x, -0.5, 0.5), KINKS, f32=True)
case("clamp_min_only", lambda m, x: m.clamp(x, min=0), KINKS)
case("clamp_max_method", lambda m, x: x.clamp(max=0.5), KINKS)
case("clip", lambda m, x: m.clip(x, -1, 1), KINKS)
case("clamp_tensor_bounds", lambda m, x, lo, hi: m.clamp(x, lo, hi), X, r(3, 4) - 1, r(3, 4) + 1, f32=True)
case("clamp_tensor_bounds_broadcast", lambda m, x, lo, hi: m.clamp(x, lo, hi), X, r(4) - 1, r(1) + 1)
case("clamp_tensor_min", lambda m, x, lo: m.clamp(x, min=lo), X, r(3, 4))
case("clamp_tensor_max", lambda m, x, hi: x.clamp(max=hi), X, r(4))
case("clamp_crossed", lambda m, x: m.clamp(x, 1, -1), X)
case("clamp_tensor_crossed", lambda m, x, lo, hi: m.clamp(x, lo, hi), X, r(3, 4) + 1, r(3, 4) - 1)
case("clamp_tensor_tie", lambda m, x, lo: m.clamp(x, min=lo), KINKS, KINKS.copy())   # x keeps the gradient
case("clamp_tensor_tie_max", lambda m, x, hi: m.clamp(x, max=hi), KINKS, KINKS.copy())
case("clamp_no_bounds", lambda m, x: m.clamp(x), X)
case("clamp_int", lambda m, x: m.clamp(x, -3, 3), INT)
case("clamp_int_float_bounds", lambda m, x: m.clamp(x, -3.5, 3.5), INT)   # float32
case("clamp_min_fn", lambda m, x: m.clamp_min(x, 0.2), X)
case("clamp_max_method_fn", lambda m, x: x.clamp_max(0.2), X)
case("where", lambda m, x, y: m.where(x > 0, x, y), X, Y, f32=True)
case("where_scalar", lambda m, x: m.where(x > 0, x, 0.0), X, f32=True)
case("where_two_scalars", lambda m, x: m.where(x > 0, 1.0, 0.0), X)
case("where_int_scalars", lambda m, x: m.where(x > 0, 4, 2), X)
case("where_method", lambda m, x, y: x.where(x > 0, y), X, Y)
case("where_broadcast", lambda m, x, y: m.where(x > 0, x, y), X, Z)
case("where_condition_only", lambda m, x: m.where(x > 0), X)
case("where_int_with_float", lambda m, x, y: m.where(y > 0, x, 1.5), INT, INT2)

# ---------------------------------------------------------------- reductions
REDUCE = ["sum", "mean", "prod", "amax", "amin", "logsumexp", "std", "var", "nansum", "nanmean",
          "count_nonzero", "all", "any", "norm", "max", "min", "argmax", "argmin", "median"]
NEEDS_DIM = {"logsumexp"}
for _r in REDUCE:
    for _tag, _x in [("", X), ("_3d", X3), ("_0d", S), ("_ties", KINKS)]:
        if _r not in NEEDS_DIM:
            case(f"{_r}_all{_tag}", lambda m, x, f=_r: getattr(m, f)(x), _x, f32=not _tag)
            case(f"{_r}_method_all{_tag}", lambda m, x, f=_r: getattr(x, f)(), _x)
        for _d in (0, -1):
            case(f"{_r}_dim{_d}{_tag}", lambda m, x, f=_r, d=_d: getattr(m, f)(x, dim=d), _x)
            if _r != "norm":   # norm's second positional is p
                case(f"{_r}_dim{_d}_keepdim{_tag}", lambda m, x, f=_r, d=_d: getattr(m, f)(x, d, keepdim=True), _x)
                case(f"{_r}_method_dim{_d}{_tag}", lambda m, x, f=_r, d=_d: getattr(x, f)(d), _x)
        if np.ndim(_x) >= 2 and _r not in ("prod", "max", "min", "argmax", "argmin", "median", "norm"):
            case(f"{_r}_dims{_tag}", lambda m, x, f=_r: getattr(m, f)(x, dim=(0, -1)), _x)
            case(f"{_r}_dims_keepdim{_tag}", lambda m, x, f=_r: getattr(x, f)((0, 1), keepdim=True), _x)
    case(f"{_r}_empty_dim1", lambda m, x, f=_r: getattr(m, f)(x, 1), E)
    case(f"{_r}_bad_dim", lambda m, x, f=_r: getattr(m, f)(x, 2), X)
    case(f"{_r}_bad_negative_dim", lambda m, x, f=_r: getattr(m, f)(x, -3), X)
    if _r not in ("median", "logsumexp", "norm", "std", "var", "mean", "nanmean"):   # torch: float only
        case(f"{_r}_int_all", lambda m, x, f=_r: getattr(m, f)(x), INT)
        case(f"{_r}_int_dim1", lambda m, x, f=_r: getattr(m, f)(x, 1), INT)
for _r in ["sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "nansum", "all", "any"]:
    case(f"{_r}_empty_dim0", lambda m, x, f=_r: getattr(m, f)(x, 0), E)
case("max_empty_all", lambda m, x: m.max(x), E)
case("argmax_empty_all", lambda m, x: m.argmax(x), E)
case("logsumexp_int", lambda m, x: m.logsumexp(x, 1), INT)            # float32, as PyTorch
case("logsumexp_bool_method", lambda m, x: x.logsumexp(0), BOOL)
case("sum_dtype", lambda m, x: m.sum(x, dtype=m.float64), INT)
case("mean_dtype", lambda m, x: m.mean(x, dtype=m.float64), INT)
case("prod_dtype", lambda m, x: m.prod(x, 1, dtype=m.float64), INT)
case("cumsum_dtype", lambda m, x: m.cumsum(x, 1, dtype=m.float64), INT)
case("cumsum_negative_dim", lambda m, x: m.cumsum(x, dim=-1), X, f32=True)
case("cumsum_bool", lambda m, x: m.cumsum(x, 0), BOOL)
case("cumprod_zeros", lambda m, x: m.cumprod(x, dim=1), KINKS)
case("cumprod_int", lambda m, x: m.cumprod(x, 1), INT)
case("std_correction0", lambda m, x: m.std(x, dim=1, correction=0), X)
case("std_correction2", lambda m, x: x.std(0, correction=2), X)
case("var_unbiased_false", lambda m, x: m.var(x, 1, unbiased=False), X)
case("var_positional_unbiased", lambda m, x: x.var(1, False), X)          # var(dim, unbiased)
case("var_positional_keepdim", lambda m, x: x.var(0, True, True), X)      # var(dim, unbiased, keepdim)
case("std_positional_unbiased", lambda m, x: x.std(False), X)             # std(unbiased)
case("var_one_element", lambda m, x: m.var(x, 0), X[:1])
case("var_mean", lambda m, x: m.var_mean(x, 1), X)
case("std_mean_keepdim", lambda m, x: m.std_mean(x, 0, keepdim=True), X)
case("std_mean_all", lambda m, x: m.std_mean(x), X)
case("aminmax", lambda m, x: m.aminmax(x), KINKS)
case("aminmax_dim", lambda m, x: x.aminmax(dim=1, keepdim=True), KINKS)
case("norm_p1", lambda m, x: m.norm(x, p=1), X)
case("norm_pinf", lambda m, x: m.norm(x, p=float("inf")), X)
case("norm_pminusinf", lambda m, x: m.norm(x, p=float("-inf")), X)
case("norm_p0", lambda m, x: m.norm(x, p=0), KINKS)
case("norm_fro", lambda m, x: m.norm(x, p="fro"), X)
case("norm_nuc", lambda m, x: m.norm(x, p="nuc"), X)
case("norm_p3_dim_keepdim", lambda m, x: x.norm(3, dim=0, keepdim=True), X)
case("norm_zero_vector", lambda m, x: m.norm(x * 0), X)
case("linalg_vector_norm", lambda m, x: m.linalg.vector_norm(x, ord=1, dim=1), X)
case("logsumexp_two_dims", lambda m, x: m.logsumexp(x, (0, 1)), X3)
case("logsumexp_all_neg_inf", lambda m, x: m.logsumexp(x * 0 - math.inf, 1), X)
case("max_dim_ties", lambda m, x: m.max(x, 1), KINKS)                  # (values, indices)
case("max_dim_indices", lambda m, x: m.max(x, 0).indices, KINKS)
case("max_dim_values_attr", lambda m, x: x.max(dim=1).values, KINKS)
case("max_dim_getitem", lambda m, x: x.max(1)[0], KINKS)              # tinygrad's torch side
case("min_dim_keepdim", lambda m, x: m.min(x, 1, True), KINKS)
case("max_all_three_ties", lambda m, x: x.max(), np.array([1.0, 3.0, 3.0]))   # ties share
case("argmax_ties", lambda m, x: m.argmax(x), KINKS)
case("argmax_ties_dim_keepdim", lambda m, x: m.argmax(x, dim=1, keepdim=True), KINKS)
case("argmin_ties_method", lambda m, x: x.argmin(0), KINKS)
case("median_even", lambda m, x: m.median(x), r(4))
case("prod_two_zeros", lambda m, x: m.prod(x), np.array([0.0, 2.0, 0.0]))
case("prod_one_zero", lambda m, x: x.prod(), np.array([0.0, 2.0, 3.0]))
case("all_dim", lambda m, x: m.all(x, dim=1), BOOL)
case("any_dim_keepdim", lambda m, x: x.any(1, keepdim=True), BOOL)
case("any_float", lambda m, x: m.any(x, 0), KINKS)
case("sum_list_dims", lambda m, x: x.sum([0, 1]), X3)

# ---------------------------------------------------------------- shape ops
def idx(m, v):
    return m.T(v)


SHAPE = {
    "view": (lambda m, x: x.view(4, 3), X), "view_minus_one": (lambda m, x: x.view(-1), X),
    "view_tuple": (lambda m, x: x.view((2, -1)), X), "view_bad": (lambda m, x: x.view(5, 3), X),
    "reshape_bad": (lambda m, x: x.reshape(-1, 5), X), "view_two_minus_ones": (lambda m, x: x.view(-1, -1), X),
    "reshape_fn": (lambda m, x: m.reshape(x, (2, 6)), X), "reshape_0d": (lambda m, x: x.reshape(1, 1), S),
    "reshape_empty": (lambda m, x: x.reshape(0, 2, 2), E),
    "view_as": (lambda m, x, y: x.view_as(y), X, r(2, 6)), "reshape_as": (lambda m, x, y: x.reshape_as(y), X, r(12)),
    "permute": (lambda m, x: x.permute(2, 0, 1), X3), "permute_tuple": (lambda m, x: x.permute((1, 0, 2)), X3),
    "permute_negative": (lambda m, x: m.permute(x, (-1, 0, 1)), X3),   # gradient was wrong
    "permute_too_few": (lambda m, x: x.permute(0, 1), X3), "permute_repeated": (lambda m, x: x.permute(0, 0, 1), X3),
    "transpose": (lambda m, x: x.transpose(0, 2), X3), "transpose_fn": (lambda m, x: m.transpose(x, -1, 0), X3),
    "transpose_bad": (lambda m, x: x.transpose(0, 3), X3), "T": (lambda m, x: x.T, X), "mT": (lambda m, x: x.mT, X3),
    "t": (lambda m, x: x.t(), X), "t_fn": (lambda m, x: m.t(x), X), "t_1d": (lambda m, x: x.t(), r(3)),
    "t_3d": (lambda m, x: x.t(), X3),
    "expand": (lambda m, x: x.expand(3, 4), r(1, 4)), "expand_minus_one": (lambda m, x: x.expand(2, -1, 4), r(3, 1)),
    "expand_bad": (lambda m, x: x.expand(3, 5), r(2, 4)), "expand_as": (lambda m, x, y: x.expand_as(y), r(1, 4), X),
    "repeat": (lambda m, x: x.repeat(2, 3), X), "repeat_more_dims": (lambda m, x: x.repeat(2, 1, 1), X),
    "repeat_too_few": (lambda m, x: x.repeat(2), X),
    "flatten": (lambda m, x: x.flatten(), X3), "flatten_start": (lambda m, x: x.flatten(1), X3),
    "flatten_range": (lambda m, x: m.flatten(x, 0, 1), X3), "flatten_0d": (lambda m, x: x.flatten(), S),
    "flatten_negative": (lambda m, x: x.flatten(-2, -1), X3),
    "unflatten": (lambda m, x: x.unflatten(-1, (2, 2)), X3), "unflatten_fn": (lambda m, x: m.unflatten(x, 1, (3, 1)), X3),
    "squeeze": (lambda m, x: x.squeeze(), r(1, 3, 1)), "squeeze_dim": (lambda m, x: x.squeeze(0), r(1, 3, 1)),
    "squeeze_not_one": (lambda m, x: x.squeeze(1), r(1, 3, 1)), "squeeze_dims": (lambda m, x: x.squeeze((0, 2)), r(1, 3, 1)),
    "squeeze_0d": (lambda m, x: x.squeeze(0), S),
    "unsqueeze": (lambda m, x: x.unsqueeze(0), X), "unsqueeze_negative": (lambda m, x: x.unsqueeze(-1), X),
    "unsqueeze_0d": (lambda m, x: x.unsqueeze(0), S), "unsqueeze_bad": (lambda m, x: x.unsqueeze(4), X),
    "cat": (lambda m, x, y: m.cat([x, y]), X, r(2, 4)), "cat_dim1": (lambda m, x, y: m.cat((x, y), dim=1), X, r(3, 2)),
    "cat_bad": (lambda m, x, y: m.cat([x, y], 0), X, r(3, 2)), "cat_with_empty": (lambda m, x, y: m.cat([x, y]), X, E),
    "cat_int_with_float": (lambda m, x: m.cat([x, m.T([[1, 2, 3, 4]])]), X),   # float32 stays
    "cat_bool_with_int": (lambda m: m.cat([m.T([True]), m.T([2])]),),
    "cat_dim_out_of_range": (lambda m, x: m.cat([x, x], 2), X), "concat": (lambda m, x, y: m.concat([x, y]), X, X),
    "stack": (lambda m, x, y: m.stack([x, y]), X, Y), "stack_negative": (lambda m, x, y: m.stack([x, y], dim=-1), X, Y),
    "stack_bad": (lambda m, x, y: m.stack([x, y]), X, r(3, 3)), "stack_0d": (lambda m, x, y: m.stack([x, y]), S, S.copy()),
    "split": (lambda m, x: x.split(2), r(5, 3)), "split_sizes": (lambda m, x: m.split(x, [1, 4]), r(5, 3)),
    "split_bad_sizes": (lambda m, x: m.split(x, [1, 3]), r(5, 3)), "split_dim": (lambda m, x: x.split(2, dim=1), r(3, 5)),
    "chunk": (lambda m, x: x.chunk(2), r(5, 3)), "chunk_dim": (lambda m, x: m.chunk(x, 3, dim=1), r(3, 5)),
    "unbind": (lambda m, x: x.unbind(1), X), "unbind_fn": (lambda m, x: m.unbind(x), X),
    "gather": (lambda m, x: m.gather(x, 1, idx(m, [[0, 0], [3, 1], [2, 2]])), X),
    "gather_out_of_range": (lambda m, x: m.gather(x, 1, idx(m, [[0, 4]])), X),
    "scatter": (lambda m, x, s: x.scatter(1, idx(m, [[0, 1], [2, 3]]), s), r(2, 4), r(2, 2)),
    "scatter_add": (lambda m, x, s: x.scatter_add(0, idx(m, [[0, 1, 0, 1], [1, 1, 0, 0]]), s), r(2, 4), r(2, 4)),
    "index_select": (lambda m, x: m.index_select(x, 0, idx(m, [2, 0, 2])), X),
    "index_select_out_of_range": (lambda m, x: m.index_select(x, 0, idx(m, [3])), X),
    "masked_fill": (lambda m, x: x.masked_fill(x > 0, 0.0), X),
    "narrow": (lambda m, x: m.narrow(x, 0, 1, 2), X), "narrow_out_of_range": (lambda m, x: x.narrow(0, 2, 2), X),
    "flip": (lambda m, x: m.flip(x, [0]), X), "flip_varargs": (lambda m, x: x.flip(0, 1), X),
    "roll": (lambda m, x: x.roll((1, 2), (0, 1)), X), "tril": (lambda m, x: x.tril(), X),
    "triu_negative": (lambda m, x: m.triu(x, -1), X), "tril_batched": (lambda m, x: x.tril(1), X3),
    "pad": (lambda m, x: m.F.pad(x, (1, 2)), X), "pad_value": (lambda m, x: m.F.pad(x, (1, 1), value=2.0), X),
    "pad_negative": (lambda m, x: m.F.pad(x, (-1, 1)), X),
    "take_along_dim": (lambda m, x: m.take_along_dim(x, idx(m, [[0], [1], [3]]), dim=1), X),
    "tril_indices": (lambda m: m.tril_indices(3, 3),), "triu_indices": (lambda m: m.triu_indices(3, 4, 1),),
    "index_int": (lambda m, x: x[1], X), "index_negative": (lambda m, x: x[-1, -2], X),
    "index_slices": (lambda m, x: x[1:, ::2], X), "index_ellipsis": (lambda m, x: x[..., 1], X3),
    "index_none": (lambda m, x: x[None, :, None], X), "index_list": (lambda m, x: x[[0, 2, 0]], X),
    "index_tensor": (lambda m, x: x[idx(m, [0, 2, 0])], X),
    "index_two_tensors": (lambda m, x: x[idx(m, [0, 2]), idx(m, [1, 3])], X),
    "index_bool_mask": (lambda m, x: x[x > 0], X), "index_bool_rows": (lambda m, x: x[idx(m, [True, False, True])], X),
    "index_separated_advanced": (lambda m, x: x[idx(m, [0, 1]), :, idx(m, [1, 2])], X3),
    "index_out_of_range": (lambda m, x: x[3], X), "index_tensor_out_of_range": (lambda m, x: x[idx(m, [0, 5])], X),
    "index_bool_wrong_length": (lambda m, x: x[idx(m, [True, False])], X),
    "index_repeated": (lambda m, x: x[idx(m, [1, 1, 1])], X),
}
for _n, (_f, *_ins) in SHAPE.items():
    case(_n, _f, *_ins, f32=_n in ("cat", "cat_int_with_float", "permute_negative", "gather"))


def _setitem_row(m, x, v):
    y = x * 1
    y[1] = v
    return y


def _setitem_mask_and_slice(m, x, v):
    y = x.clone()
    y[x > 0] = 0.0
    y[:, 1:3] = v[:, :2]
    return y


def _setitem_bad(m, x):
    y = x.clone()
    y[0] = m.T([1.0, 2.0])
    return y


case("setitem_row", _setitem_row, X, r(4))
case("setitem_mask_and_slice", _setitem_mask_and_slice, X, Y)
case("setitem_bad_shape", _setitem_bad, X)

# ---------------------------------------------------------------- products
PRODUCTS = {
    "matmul": (lambda m, a, b: a @ b, r(3, 4), r(4, 5)), "matmul_1d": (lambda m, a, b: a @ b, r(4), r(4)),
    "matmul_1d_2d": (lambda m, a, b: m.matmul(a, b), r(4), r(4, 2)), "matmul_2d_1d": (lambda m, a, b: a.matmul(b), r(3, 4), r(4)),
    "matmul_batched": (lambda m, a, b: a @ b, r(2, 1, 3, 4), r(5, 4, 2)), "matmul_bad": (lambda m, a, b: a @ b, r(3, 4), r(3, 4)),
    "matmul_0d": (lambda m, a, b: a @ b, S, S.copy()), "matmul_empty": (lambda m, a, b: a @ b, r(3, 0), r(0, 2)),
    "mm": (lambda m, a, b: m.mm(a, b), r(3, 4), r(4, 5)), "mm_method": (lambda m, a, b: a.mm(b), r(3, 4), r(4, 5)),
    "mm_1d": (lambda m, a, b: m.mm(a, b), r(3, 4), r(4)), "bmm": (lambda m, a, b: m.bmm(a, b), r(2, 3, 4), r(2, 4, 5)),
    "bmm_2d": (lambda m, a, b: m.bmm(a, b), r(3, 4), r(4, 5)), "bmm_batch_mismatch": (lambda m, a, b: a.bmm(b), r(2, 3, 4), r(3, 4, 5)),
    "mv": (lambda m, a, b: m.mv(a, b), r(3, 4), r(4)), "dot": (lambda m, a, b: m.dot(a, b), r(4), r(4)),
    "dot_2d": (lambda m, a, b: m.dot(a, b), r(3, 4), r(4, 2)), "outer": (lambda m, a, b: m.outer(a, b), r(3), r(4)),
    "outer_method": (lambda m, a, b: a.outer(b), r(3), r(4)), "ger_method": (lambda m, a, b: a.ger(b), r(3), r(4)),
    "addmm": (lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2), r(3, 5), r(3, 4), r(4, 5)),
    "baddbmm": (lambda m, c, a, b: m.baddbmm(c, a, b), r(2, 3, 5), r(2, 3, 4), r(2, 4, 5)),
    "einsum": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), r(3, 4), r(4, 5)),
    "einsum_list": (lambda m, a, b: m.einsum("ij,jk", [a, b]), r(3, 4), r(4, 5)),
    "einsum_trace": (lambda m, a: m.einsum("ii", a), r(3, 3)),
    "einsum_ellipsis": (lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b), r(2, 3, 4), r(2, 4, 5)),
    "einsum_bad": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), r(3, 4), r(5, 5)),
    "tensordot": (lambda m, a, b: m.tensordot(a, b, dims=([1, 2], [0, 1])), X3, r(3, 4, 2)),
    "matmul_int": (lambda m, a, b: a @ b, np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)),
}
for _n, (_f, *_ins) in PRODUCTS.items():
    case(_n, _f, *_ins, f32=_n in ("matmul", "bmm", "einsum"))

# ---------------------------------------------------------------- activations
ACT = np.concatenate([KINKS.ravel(), r(8) * 3]).reshape(4, 5)   # zeros and kinks included
for _n in ["relu", "gelu", "silu", "softplus", "elu", "selu", "celu", "hardtanh", "leaky_relu",
           "sigmoid", "tanh", "relu6", "hardsigmoid", "hardswish", "mish", "logsigmoid", "softsign",
           "tanhshrink", "glu"]:
    case(f"F_{_n}", lambda m, x, n=_n: getattr(m.F, n)(x), ACT, f32=True)
ACTIVATIONS = {
    "F_gelu_tanh": lambda m, x: m.F.gelu(x, approximate="tanh"),
    "F_softplus_beta_threshold": lambda m, x: m.F.softplus(x, beta=2, threshold=1),
    "F_elu_alpha": lambda m, x: m.F.elu(x, alpha=0.5),
    "F_leaky_relu_slope": lambda m, x: m.F.leaky_relu(x, negative_slope=0.2),
    "F_hardtanh_bounds": lambda m, x: m.F.hardtanh(x, -0.5, 0.5),
    "F_softmax": lambda m, x: m.F.softmax(x, dim=1), "F_log_softmax": lambda m, x: m.F.log_softmax(x, -1),
    "softmax_method": lambda m, x: x.softmax(-1), "log_softmax_method": lambda m, x: x.log_softmax(dim=0),
    "softmax_fn": lambda m, x: m.softmax(x, 1), "softmax_bad_dim": lambda m, x: m.softmax(x, 2),
    "F_softmin": lambda m, x: m.F.softmin(x, dim=1), "F_normalize": lambda m, x: m.F.normalize(x, dim=1),
}
for _n, _f in ACTIVATIONS.items():
    case(_n, _f, ACT)
case("softmax_dtype", lambda m, x: m.softmax(x, 1, dtype=m.float64), ACT.astype(np.float32))
case("softmax_neg_inf", lambda m, x: m.softmax(x, 1), np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]]))
case("log_softmax_neg_inf", lambda m, x: m.log_softmax(x, 1), np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]]))
case("softmax_0d", lambda m, x: m.softmax(x, 0), S)


# ---------------------------------------------------------------- micrograd's engine tests, in place
def _micrograd_sanity(m, x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    return h + q + q * x


def _micrograd_more(m, a, b):
    c = a + b
    d = a * b + b ** 3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    return g + 10.0 / f


def _inplace_chain(m, x):
    y = x * 1
    y.add_(1)
    y.mul_(2)
    y.sub_(0.5)
    y.div_(3)
    y.clamp_(-1, 1)
    y.pow_(2)
    return y


def _inplace(op, *args):
    def f(m, x):
        y = x.clone()
        getattr(y, op)(*args)
        return y
    return f


case("micrograd_sanity", _micrograd_sanity, np.array(-4.0))
case("micrograd_more", _micrograd_more, np.array(-4.0), np.array(2.0))
case("inplace_chain", _inplace_chain, X)
for _op, _args in [("relu_", ()), ("exp_", ()), ("sigmoid_", ()), ("tanh_", ()), ("neg_", ()),
                   ("abs_", ()), ("pow_", (3,)), ("clamp_min_", (0.5,)), ("floor_", ())]:
    case(f"inplace_{_op}", _inplace(_op, *_args), X)
case("inplace_sqrt_", _inplace("sqrt_"), R.uniform(0.5, 2, (3, 4)))
case("addcmul", lambda m, a, b, c: m.addcmul(a, b, c, value=0.5), X, Y, r(3, 4))
case("addcdiv_method", lambda m, a, b, c: a.addcdiv(b, c, value=2), X, Y, r(3, 4) + 3)
case("diff", lambda m, a: m.diff(a, dim=1), X)
case("diff_twice_method", lambda m, a: a.diff(n=2), X)
case("diff_prepend", lambda m, a, p: m.diff(a, dim=0, prepend=p), X, r(1, 4))
case("isin", lambda m: m.isin(m.T([1, 2, 3]), m.T([2, 5])))
case("broadcast_tensors", lambda m, a, b: m.broadcast_tensors(a, b), r(3, 1), r(4))
case("broadcast_tensors_bad", lambda m, a, b: m.broadcast_tensors(a, b), r(3, 2), r(4))
case("index_put", lambda m, x, v: x.index_put((m.T([0, 1]),), v), r(2, 4), r(2, 4))
case("index_put_accumulate", lambda m, x, v: x.index_put((m.T([0, 0]),), v, accumulate=True), r(2, 4), r(2, 4))
case("type_as", lambda m, x: m.T([1, 2]).type_as(x), X)
case("contiguous", lambda m, x: x.t().contiguous() * 2, X)


# ---------------------------------------------------------------- the comparison

def _dtype_name(d):
    return str(d).replace("torch.", "")


def _leaves(v):
    return [p for q in v for p in _leaves(q)] if isinstance(v, (tuple, list)) else [v]


def _inputs(lib, inputs, dt):
    out = []
    for a in inputs:
        if a.dtype.kind == "f":
            out.append(torch.tensor(a.astype(dt), requires_grad=True) if lib is torch
                       else cr.tensor(a.astype(dt), requires_grad=True))
        else:
            out.append(lib.tensor(a))
    return out


def _run(f, m, xs):
    try:
        return f(m, *xs), None
    except Exception as e:   # noqa: BLE001 - an error is an outcome to compare
        return None, e


def _check(name, dt):
    f, inputs, _ = CASES[name]
    rtol, atol = (1e-7, 1e-10) if dt == np.float64 else (1e-4, 1e-5)
    ti, ci = _inputs(torch, inputs, dt), _inputs(cr, inputs, dt)
    to, terr = _run(f, TORCH, ti)
    co, cerr = _run(f, CR, ci)
    if terr is not None:   # torch refuses: chainrule must raise an error of the same kind
        assert cerr is not None, f"torch raises {type(terr).__name__}: {terr}; chainrule returns"
        assert isinstance(cerr, type(terr)), f"torch raises {type(terr).__name__}, chainrule {cerr!r}"
        assert "\n" not in str(cerr).strip(), f"chainrule's error is not one line: {cerr}"
        return
    assert cerr is None, f"chainrule raises {cerr!r}; torch returns"
    to, co = _leaves(to), _leaves(co)
    assert len(to) == len(co)
    pairs = []
    for a, b in zip(co, to):
        if not isinstance(b, torch.Tensor):   # a Python number, bool, or shape
            assert not isinstance(a, cr.Tensor) and tuple(np.atleast_1d(a)) == tuple(np.atleast_1d(b))
            continue
        assert isinstance(a, cr.Tensor), type(a)
        assert a.shape == tuple(b.shape)
        assert str(a.dtype) == _dtype_name(b.dtype)
        bn = b.detach().numpy()
        if bn.dtype.kind in "fc":
            np.testing.assert_allclose(a.data, bn, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(a.data, bn)
        assert a.requires_grad == b.requires_grad
        pairs.append((a, b))
    grads = [(c, t) for c, t in zip(ci, ti) if t.requires_grad]
    outs = [(a, b) for a, b in pairs if b.requires_grad]
    if not grads or not outs:
        return
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal(b.shape).astype(dt) for _, b in outs]
    try:
        gt = torch.autograd.grad(sum((b * torch.tensor(w)).sum() for (_, b), w in zip(outs, ws)),
                                 [t for _, t in grads], allow_unused=True)
    except RuntimeError as e:   # floor_divide, remainder: torch has no derivative (chainrule: 0)
        assert "not implemented" in str(e), e
        return
    gc = cr.autograd.grad(sum((a * cr.tensor(w)).sum() for (a, _), w in zip(outs, ws)),
                          [c for c, _ in grads], allow_unused=True)
    for (c, t), a, b in zip(grads, gc, gt):
        b = np.zeros(t.shape) if b is None else b.detach().numpy(force=True)
        a = np.zeros(t.shape) if a is None else a.data
        np.testing.assert_allclose(a, b, rtol=rtol * 10, atol=atol * 10, equal_nan=True)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_float64(name):
    _check(name, np.float64)


@pytest.mark.parametrize("name", [n for n, (_, _, f32) in CASES.items() if f32])
def test_matches_torch_float32(name):
    _check(name, np.float32)
