"""The per-call rewrites of generated steps give eager's bits: a k=1 matmul as an outer product,
-(c·mask) folded into (-c)·mask, Python numbers bound as 0-d arrays of the arrays' dtype, relu and
comparisons into planned buffers, the L2 penalty kept a NumPy scalar inside the step."""
import numpy as np
import pytest

import chainrule as cr

F = cr.nn.functional
pytestmark = pytest.mark.usefixtures("kernel_cache")


def _bits(a):
    a = np.asarray(a)
    return a.view({4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_outer_product_matmul_keeps_the_sign_of_zero_as_blas_does(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 1)).astype(dtype)
    b = rng.standard_normal((1, 5)).astype(dtype)
    a[1, 0], a[2, 0], b[0, 3] = 0.0, -0.0, -0.0   # products -0.0: a matmul's sum makes +0.0
    A, B = cr.tensor(a, dtype=dtype), cr.tensor(b, dtype=dtype)

    def f(A, B):
        return (A @ B) * 2.0   # the product stays inside the step (a planned buffer)
    step = cr.compile(f)
    for _ in range(2):
        got = step(A, B).data
        np.testing.assert_array_equal(_bits(got), _bits((a @ b) * 2.0))
        np.testing.assert_array_equal(_bits(got), _bits(f(A, B).data))
    assert np.signbit(got).sum() < np.signbit(a * b).sum()   # the zeros' signs were at stake
    body = step.source.split("def f(")[1]
    assert "np.multiply(" in body and "np.matmul(" not in body


def test_a_negated_mask_times_a_constant_folds_and_keeps_the_bits():
    rng = np.random.default_rng(1)
    y = cr.tensor(np.sign(rng.standard_normal((50, 1))).astype(np.float32))
    w = cr.tensor(rng.standard_normal((50, 1)).astype(np.float32), requires_grad=True)

    def hinge():
        w.grad = None
        loss = F.relu(1 - y * w).mean()
        loss.backward()
        return loss, w.grad
    step = cr.compile(hinge)
    got = [t.data.copy() for t in step()]
    want = [t.data.copy() for t in hinge()]
    for g, e in zip(got, want):
        np.testing.assert_array_equal(_bits(g), _bits(e))
    body = step.source.split("def hinge(")[1].split("def _run(")[0]
    assert "np.negative(" not in body   # -(c * mask) became (-c) * mask


def test_python_numbers_beside_float32_arrays_round_as_numpy_makes_them():
    x = cr.tensor(np.linspace(-1, 1, 41, dtype=np.float32) + np.float32(0.1))

    def f(x):
        return (x > 0.1) * (1.1 - x) + F.relu(x - 0.3)
    step = cr.compile(f)
    for _ in range(2):
        np.testing.assert_array_equal(_bits(step(x).data), _bits(f(x).data))


def test_an_l2_penalty_inside_the_step_equals_eager_and_a_returned_one_is_an_array():
    cr.manual_seed(0)
    m = cr.nn.Linear(3, 4)
    X = cr.tensor(np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32))
    params = list(m.parameters())

    def loss():
        return m(X).square().mean() + 1e-3 * F.l2_penalty(params)

    def both():
        return loss(), F.l2_penalty(params)
    fast, fast_both = cr.compile(loss), cr.compile(both)
    for _ in range(2):
        assert fast().data.tobytes() == loss().data.tobytes()
        got, want = fast_both(), both()
        assert isinstance(got[1].data, np.ndarray) and got[1].data.dtype == np.float32
        assert got[1].data.tobytes() == want[1].data.tobytes()
