"""cr.compile keeps eager's result dtypes where NumPy would widen (PyTorch's promotion: float32 with
an int64 0-d tensor stays float32, int / int gives the default float dtype)."""
import itertools
import operator
import warnings

import numpy as np
import pytest

import chainrule as cr

VALUES = {"f32": np.array([1.5, -2.0, 3.0], np.float32), "f64": np.array([1.5, -2.0, 3.0]),
          "i64": np.array([1, -2, 3]), "i32": np.array([1, 2, 3], np.int32),
          "bool": np.array([True, False, True]), "f32-0d": np.array(2.5, np.float32),
          "i64-0d": np.array(3)}
NUMBERS = {"int": 2, "float": 0.5, "True": True}
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
       "pow": operator.pow, "maximum": cr.maximum}


@pytest.mark.parametrize("op", sorted(OPS))
def test_mixed_dtype_arithmetic_compiled_equals_eager(op):
    f = OPS[op]
    checked = 0
    pairs = itertools.product(VALUES.items(), list(VALUES.items()) + list(NUMBERS.items()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for (an, a), (bn, b) in pairs:
            args = (cr.tensor(a, dtype=a.dtype),) + \
                ((cr.tensor(b, dtype=b.dtype),) if isinstance(b, np.ndarray) else ())
            fn = (lambda x, y: f(x, y)) if len(args) == 2 else (lambda x, b=b: f(x, b))
            try:
                want = fn(*args)
            except (TypeError, ValueError, RuntimeError):
                continue   # eager refuses it (e.g. bool - bool): nothing to compare
            step = cr.compile(fn)
            step(*args)
            got = step(*args)   # the second call runs the generated code
            assert got.dtype == want.dtype, (op, an, bn)
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=f"{op} {an} {bn}")
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize("x,y,dtype", [(1.0, 2.0, np.float32), ("i64", 0.5, np.float32),
                                       ("i64", 3, np.int64), ("f64", 0.5, np.float64),
                                       ("f32", 0.5, np.float32), (1, 2, np.int64)])
def test_where_with_numbers_follows_pytorch_promotion_eager_and_compiled(x, y, dtype):
    """torch.where(c, 1.0, 2.0) is float32 (the default dtype) and an int tensor with 0.5 too;
    NumPy would give float64. Compiled code keeps eager's dtype."""
    arrays = {"i64": np.array([1, 2]), "f64": np.array([1.0, 2.0]), "f32": np.array([1, 2], np.float32)}
    c = cr.tensor([True, False])
    xs = cr.tensor(arrays[x], dtype=arrays[x].dtype) if isinstance(x, str) else x

    def fn(c):
        return cr.where(c, xs, y)
    assert fn(c).dtype == dtype
    step = cr.compile(fn)
    step(c)
    got = step(c)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), fn(c).numpy())
