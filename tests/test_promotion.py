"""PyTorch's type promotion (issue 10): the silent-wrong cases as regressions, without torch."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.base import ShapeError


@pytest.fixture
def default64():
    old = cr.get_default_dtype()
    cr.set_default_dtype(cr.float64)
    yield
    cr.set_default_dtype(old)


@pytest.mark.parametrize("expr", ["cr.exp(a)", "cr.log(a)", "cr.sqrt(a)", "cr.sigmoid(a)", "cr.tanh(a)",
                                  "cr.sin(a)", "cr.erf(a)", "cr.softplus(a)", "a / 2", "a * 0.5",
                                  "a / a", "0.5 + a", "a ** 0.5", "cr.atan2(a, a)",
                                  "cr.hypot(a, 2)", "cr.logaddexp(a, a)", "a % 1.5"])
def test_int_tensor_with_float_gives_default_float(expr):
    a = cr.tensor([1, 2, 4])
    out = eval(expr)
    assert out.dtype == cr.get_default_dtype() == np.float32
    np.testing.assert_allclose(out.data, eval(expr.replace("cr.", "np.").replace("np.sigmoid(a)",
                               "1 / (1 + np.exp(-a))").replace("np.softplus(a)", "np.log1p(np.exp(a))")
                               .replace("np.erf(a)", "np.array([0.8427007929, 0.995322265, 0.9999999846])")
                               .replace("np.atan2", "np.arctan2"),
                               {"np": np, "a": np.array([1, 2, 4])}), rtol=1e-6)


def test_int_promotion_follows_the_default_dtype(default64):
    assert cr.exp(cr.tensor([1, 2])).dtype == np.float64
    assert (cr.tensor([1, 2]) / 2).dtype == np.float64


def test_python_scalars_never_widen_and_tensors_do():
    f32 = cr.tensor([1.0, 2.0])
    f64 = cr.tensor([1.0, 2.0], dtype=cr.float64)
    assert (f32 * 2.5).dtype == (2.5 - f32).dtype == (f32 / np.float64(3)).dtype == np.float32
    assert (f32 + f64).dtype == (f64 * f32).dtype == np.float64
    assert (cr.tensor([1, 2]) * 3).dtype == (cr.tensor([1, 2]) // 2).dtype == np.int64
    assert (cr.tensor([1, 2]) / cr.tensor([1.0, 2.0], dtype=cr.float64)).dtype == np.float64


@pytest.mark.parametrize("make", [lambda x: x.max(), lambda x: x.min(), lambda x: 2.0 ** x,
                                  lambda x: cr.stack([x, x * 2]).max(0)[0], lambda x: cr.erf(x),
                                  lambda x: x % 0.7, lambda x: cr.lerp(x, x * 3, 0.25)])
def test_float32_inputs_get_float32_gradients(make):
    x = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    cr.sum(make(x)).backward()
    assert x.grad.dtype == np.float32


def test_float32_linear_fed_float64_raises_like_torch():
    layer = cr.nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"linear: input dtype float64 \(4, 3\) and weight dtype float32"):
        layer(cr.ones(4, 3, dtype=cr.float64))
    assert layer(cr.ones(4, 3)).dtype == np.float32


def test_shape_errors_are_runtime_errors_and_value_errors():
    with pytest.raises(ShapeError) as info:
        cr.ones(2, 3) + cr.ones(4)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    assert str(info.value) == "add: shapes (2, 3) and (4,) do not broadcast"
    with pytest.raises(RuntimeError, match="glu: halving dimension -1 of shape \\(2, 3\\)"):
        cr.nn.functional.glu(cr.ones(2, 3))


def test_promote_types_and_can_cast_follow_categories():
    assert cr.promote_types(cr.int64, cr.float32) == np.float32   # NumPy says float64
    assert cr.promote_types(np.uint8, np.int8) == np.int16
    assert cr.promote_types(cr.float32, cr.float64) == np.float64
    assert cr.result_type(cr.tensor([1, 2]), 2.5) == cr.get_default_dtype()
    assert cr.result_type(cr.tensor([1.0], dtype=cr.float16), 2.5) == np.float16
    assert not cr.can_cast(cr.float32, cr.int64) and cr.can_cast(cr.int64, cr.float16)
