"""The elementwise ops of issue 10 against PyTorch (values, gradients, dtypes; float64, rtol 1e-7),
on the registry's samples, plus the activations of nn.functional. Skipped without torch."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import build_sample

import chainrule as cr
from chainrule.ops import REGISTRY

torch = pytest.importorskip("torch")
F = cr.nn.functional
TF = torch.nn.functional

# primitive name -> the PyTorch function taking the same inputs and params
TORCH = {
    "tan": torch.tan, "asin": torch.asin, "acos": torch.acos, "atan": torch.atan,
    "sinh": torch.sinh, "cosh": torch.cosh, "asinh": torch.asinh, "acosh": torch.acosh,
    "atanh": torch.atanh, "log2": torch.log2, "log10": torch.log10, "exp2": torch.exp2,
    "expm1": torch.expm1, "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal,
    "square": torch.square, "erf": torch.erf, "erfc": torch.erfc, "erfinv": torch.erfinv,
    "frac": torch.frac, "floor": torch.floor, "ceil": torch.ceil, "trunc": torch.trunc,
    "round": lambda x, decimals=0: torch.round(x, decimals=decimals),
    "atan2": torch.atan2, "hypot": torch.hypot, "logaddexp": torch.logaddexp,
    "logaddexp2": torch.logaddexp2, "copysign": torch.copysign, "lerp": torch.lerp,
    "remainder": torch.remainder, "fmod": torch.fmod,
    "softplus": lambda x, beta=1.0, threshold=20.0: TF.softplus(x, beta, threshold),
    "sign": torch.sign,
}
NO_GRAD = {"floor", "ceil", "trunc", "round", "sign"}


def _cases():
    return [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(TORCH)
            for k in range(len(REGISTRY[name].samples))]


def _t(a, grad=True):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("name,k", _cases())
def test_matches_torch_on_samples(name, k, rng):
    prim = REGISTRY[name]
    sample = prim.samples[k]
    arrays, f = build_sample(prim, sample, rng)
    xs = [cr.tensor(a, dtype=cr.float64, requires_grad=True) for a in arrays]
    out = f(*xs)
    fixed = [i for i in sample.inputs if not isinstance(i, tuple) and type(i).__name__ != "At"]
    ts = [_t(a) for a in arrays]
    it = iter(ts)
    args = [i if not (isinstance(i, tuple) or type(i).__name__ == "At") else next(it)
            for i in sample.inputs]
    ref = TORCH[name](*[torch.tensor(a, dtype=torch.float64) if isinstance(a, np.ndarray) else a
                        for a in args], **sample.params)
    assert out.dtype == np.float64 and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-7, atol=1e-12)
    if name in NO_GRAD or not ref.requires_grad:
        return
    w = rng.standard_normal(out.shape)
    cr.sum(out * w).backward()
    (ref * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-7, atol=1e-12)
    assert fixed is not None


X = np.array([-30.0, -4.0, -3.0, -2.5, -1.0, -0.3, 0.0, 0.2, 0.5, 1.0, 2.5, 3.0, 3.5, 6.0, 6.5, 30.0])
ACT = [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}), ("selu", {}),
       ("celu", {"alpha": 1.7}), ("relu6", {}), ("hardswish", {}), ("hardsigmoid", {}),
       ("hardtanh", {"min_val": -2.0, "max_val": 0.5}), ("softsign", {}), ("logsigmoid", {}),
       ("tanhshrink", {}), ("threshold", {"threshold": 0.1, "value": -3.0}),
       ("softplus", {"beta": 2.0, "threshold": 3.0}), ("softmin", {"dim": 0}), ("glu", {"dim": 0}),
       ("normalize", {"dim": 0}), ("normalize", {"p": 1.0, "dim": 0})]


@pytest.mark.parametrize("name,kw", ACT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ACT)])
def test_activations_match_torch(name, kw):
    x = cr.tensor(X, dtype=cr.float64, requires_grad=True)
    t = _t(X)
    out = getattr(F, name)(x, **kw)
    ref = getattr(TF, name)(t, **kw)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-7, atol=1e-12)
    w = np.linspace(-1, 1, out.shape[0])
    cr.sum(out * w).backward()
    (ref * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_prelu_module_and_one_hot_match_torch(rng):
    x = rng.standard_normal((2, 3, 4))
    m = cr.nn.PReLU(3, dtype=cr.float64)
    tm = torch.nn.PReLU(3).double()
    xc, xt = cr.tensor(x, dtype=cr.float64, requires_grad=True), _t(x)
    out, ref = m(xc), tm(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-7)
    cr.sum(out * out).backward()
    (ref * ref).sum().backward()
    np.testing.assert_allclose(m.weight.grad.data, tm.weight.grad.numpy(), rtol=1e-7)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-7)
    idx = np.array([[0, 3], [2, 1]])
    oh, toh = F.one_hot(cr.tensor(idx)), TF.one_hot(torch.tensor(idx))
    assert oh.dtype == np.int64 and np.array_equal(oh.data, toh.numpy())
    assert np.array_equal(F.one_hot(cr.tensor(idx), 6).data, TF.one_hot(torch.tensor(idx), 6).numpy())


def test_erf_family_extremes_match_torch():
    x = np.concatenate([np.linspace(-9, 9, 3001), [0.0, -0.0, 1e-300, 2.5, np.inf, -np.inf, np.nan]])
    for name in ("erf", "erfc"):
        np.testing.assert_allclose(getattr(cr, name)(cr.tensor(x, dtype=cr.float64)).data,
                                   getattr(torch, name)(torch.tensor(x)).numpy(), rtol=1e-11,
                                   atol=1e-300)
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 2001), [-1.0, 1.0, 1.5, 0.0]])
    np.testing.assert_allclose(cr.erfinv(cr.tensor(y, dtype=cr.float64)).data,
                               torch.erfinv(torch.tensor(y)).numpy(), rtol=1e-9)


@pytest.mark.parametrize("op", ["remainder", "fmod", "floor_divide", "div_trunc", "div_floor"])
def test_integer_division_family_matches_torch(op):
    a, b = np.array([-7, -6, 5, 7, 0, 9]), np.array([2, -4, 3, -2, 5, 4])
    fn = {"div_trunc": lambda x, y, m: m.div(x, y, rounding_mode="trunc"),
          "div_floor": lambda x, y, m: m.div(x, y, rounding_mode="floor")}.get(
        op, lambda x, y, m: getattr(m, op)(x, y))
    for x, y in ((a, b), (a * 1.5, b), (a, 2)):
        cx = cr.tensor(x, dtype=x.dtype) if not np.isscalar(x) else x
        tx = torch.tensor(x) if not np.isscalar(x) else x
        cy = cr.tensor(y, dtype=y.dtype) if not np.isscalar(y) else y
        ty = torch.tensor(y) if not np.isscalar(y) else y
        out, ref = fn(cx, cy, cr), fn(tx, ty, torch)
        assert str(out.dtype) == str(ref.dtype).replace("torch.", ""), (op, out.dtype, ref.dtype)
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-7)
    assert np.array_equal((cr.tensor(a) % cr.tensor(b)).data, (torch.tensor(a) % torch.tensor(b)).numpy())
    assert np.array_equal((cr.tensor(a) // 3).data, (torch.tensor(a) // 3).numpy())


UNARY_FLOAT = ["exp", "log", "sin", "cos", "sqrt", "tanh", "sigmoid", "log1p", "tan", "atan",
               "erf", "expm1", "log2", "rsqrt", "reciprocal"]


@pytest.mark.parametrize("name", UNARY_FLOAT)
def test_unary_float_functions_on_ints_give_torch_dtype(name):
    out, ref = getattr(cr, name)(cr.tensor([1, 2, 3])), getattr(torch, name)(torch.tensor([1, 2, 3]))
    assert str(out.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("expr", ["a / 2", "a * 0.5", "a / a", "a + 1.5", "a - 0.5", "a * 2",
                                  "a ** 0.5", "a ** 2", "f32 + f64", "f32 * 2.0", "i32 + 1.5",
                                  "f32 * a", "b + 1", "b * 1.5", "2.0 ** f32", "a // 2", "a % 2.5"])
def test_binary_promotion_matches_torch(expr):
    ours = dict(a=cr.tensor([1, 2, 3]), f32=cr.tensor([1.0, 2.0, 3.0]),
                f64=cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64), i32=cr.tensor([1, 2, 3], dtype=cr.int32),
                b=cr.tensor([True, False, True]))
    theirs = dict(a=torch.tensor([1, 2, 3]), f32=torch.tensor([1.0, 2.0, 3.0]),
                  f64=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
                  i32=torch.tensor([1, 2, 3], dtype=torch.int32), b=torch.tensor([True, False, True]))
    out, ref = eval(expr, {}, ours), eval(expr, {}, theirs)
    assert str(out.dtype) == str(ref.dtype).replace("torch.", ""), expr
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-6)


def test_promote_types_result_type_can_cast_match_torch():
    pairs = [(np.int64, np.float32), (np.uint8, np.int8), (np.bool_, np.int32), (np.float32, np.float64),
             (np.int16, np.float16), (np.bool_, np.float64), (np.int32, np.int64)]
    tt = {np.int64: torch.int64, np.float32: torch.float32, np.uint8: torch.uint8, np.int8: torch.int8,
          np.bool_: torch.bool, np.int32: torch.int32, np.float64: torch.float64,
          np.int16: torch.int16, np.float16: torch.float16}
    for a, b in pairs:
        assert str(cr.promote_types(a, b)) == str(torch.promote_types(tt[a], tt[b])).replace("torch.", "")
        for x, y in ((a, b), (b, a)):
            assert cr.can_cast(x, y) == torch.can_cast(tt[x], tt[y]), (x, y)
    for v in (2, 2.5, True):
        for dt in (np.int64, np.float32, np.bool_, np.float64):
            ours = cr.result_type(cr.tensor(np.ones(2), dtype=dt), v)
            ref = torch.result_type(torch.ones(2, dtype=tt[dt]), v)
            assert str(ours) == str(ref).replace("torch.", ""), (dt, v)
