"""The lecture's worked backprop examples, with the numbers from the slides."""
import numpy as np
import pytest

import chainrule as cr


def leaf(v):
    return cr.tensor(v, dtype=np.float64, requires_grad=True)


def test_add_then_mul_circuit():
    # f = (x + y) z at x=-2, y=5, z=-4: q = 3, f = -12, df/dx = df/dy = z = -4, df/dz = q = 3
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    q = x + y
    q.retain_grad()
    f = q * z
    assert f.item() == -12.0
    f.backward()
    assert (x.grad.item(), y.grad.item(), z.grad.item(), q.grad.item()) == (-4.0, -4.0, 3.0, -4.0)


def _neuron_grads(use_sigmoid):
    w0, x0, w1, x1, w2 = (leaf(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    s = w0 * x0 + w1 * x1 + w2
    f = cr.sigmoid(s) if use_sigmoid else 1.0 / (1.0 + cr.exp(-s))
    f.backward()
    return f.item(), [t.grad.item() for t in (w0, x0, w1, x1, w2)]


@pytest.mark.parametrize("use_sigmoid", [False, True], ids=["exp-gates", "sigmoid-gate"])
def test_sigmoid_neuron(use_sigmoid):
    f, grads = _neuron_grads(use_sigmoid)
    assert f == pytest.approx(0.73, abs=0.005)
    np.testing.assert_allclose(grads, [-0.20, 0.39, -0.39, -0.59, 0.20], atol=0.005)
    # closed form: df/ds = f (1 - f), and ds/dw0 = x0 etc.
    fs = f * (1 - f)
    np.testing.assert_allclose(grads, [fs * -1.0, fs * 2.0, fs * -2.0, fs * -3.0, fs], rtol=1e-12)


def test_both_neuron_versions_agree_exactly_enough():
    f1, g1 = _neuron_grads(False)
    f2, g2 = _neuron_grads(True)
    assert f1 == pytest.approx(f2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_squared_norm_of_matrix_vector_product():
    W = leaf([[0.1, 0.5], [-0.3, 0.8]])
    x = leaf([0.2, 0.4])
    q = W @ x
    np.testing.assert_allclose(q.data, [0.22, 0.26], atol=1e-15)
    f = (q * q).sum()
    f.backward()
    np.testing.assert_allclose(W.grad.data, [[0.088, 0.176], [0.104, 0.208]], atol=1e-15)
    np.testing.assert_allclose(x.grad.data, [-0.112, 0.636], atol=1e-15)
    # and the closed forms 2 q xᵀ, 2 Wᵀ q
    np.testing.assert_allclose(W.grad.data, 2 * np.outer(q.data, x.data), rtol=1e-14)
    np.testing.assert_allclose(x.grad.data, 2 * W.data.T @ q.data, rtol=1e-14)


def test_relu_routes_upstream_where_input_positive():
    x = leaf([1.0, -2.0, 3.0, -1.0])
    y = cr.relu(x)
    np.testing.assert_array_equal(y.data, [1.0, 0.0, 3.0, 0.0])
    y.backward(np.array([4.0, -1.0, 5.0, 9.0]))
    np.testing.assert_array_equal(x.grad.data, [4.0, 0.0, 5.0, 0.0])


def test_matrix_multiply_backward():
    x = leaf([[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]])
    w = leaf([[3.0, 2.0, 1.0, -1.0], [2.0, 1.0, 3.0, 2.0], [3.0, 2.0, 1.0, -2.0]])
    y = x @ w
    np.testing.assert_array_equal(y.data, [[-1.0, -1.0, 2.0, 6.0], [5.0, 2.0, 11.0, 7.0]])
    dy = np.array([[2.0, 3.0, -3.0, 9.0], [-8.0, 1.0, 4.0, 6.0]])
    y.backward(dy)
    np.testing.assert_array_equal(x.grad.data, [[0.0, 16.0, -9.0], [-24.0, 9.0, -30.0]])
    np.testing.assert_array_equal(w.grad.data, [[28.0, 3.0, -18.0, 0.0], [-30.0, 7.0, 13.0, 33.0],
                                                [-22.0, -7.0, 17.0, -15.0]])
    # dL/dx = dy wᵀ and dL/dw = xᵀ dy
    np.testing.assert_array_equal(x.grad.data, dy @ w.data.T)
    np.testing.assert_array_equal(w.grad.data, x.data.T @ dy)


# ---------------------------------------------------------------- gate patterns

def test_add_gate_distributes():
    x, y = leaf(3.0), leaf(-7.0)
    (x + y).backward(np.array(2.5))
    assert x.grad.item() == 2.5 and y.grad.item() == 2.5


def test_mul_gate_swaps():
    x, y = leaf(3.0), leaf(-7.0)
    (x * y).backward(np.array(2.0))
    assert x.grad.item() == -14.0 and y.grad.item() == 6.0


def test_copy_gate_adds():
    # x fans out into three uses: the gradients of the three branches add up
    x = leaf(2.0)
    f = x * 3.0 + x * x + cr.exp(x)
    f.backward()
    assert x.grad.item() == pytest.approx(3.0 + 2 * 2.0 + np.exp(2.0), rel=1e-14)


def test_copy_gate_adds_for_broadcast_vector():
    # b is copied to every row: its gradient is the column sum of the upstream gradient
    b = leaf([1.0, 2.0, 3.0])
    y = cr.zeros(4, 3, dtype=np.float64) + b
    g = np.arange(12.0).reshape(4, 3)
    y.backward(g)
    np.testing.assert_array_equal(b.grad.data, g.sum(axis=0))


def test_max_gate_routes_to_larger_input():
    x, y = leaf(4.0), leaf(-1.0)
    cr.maximum(x, y).backward(np.array(3.0))
    assert x.grad.item() == 3.0 and y.grad.item() == 0.0
    v = leaf([1.0, 5.0, 2.0])
    cr.max(v).backward(np.array(7.0))
    np.testing.assert_array_equal(v.grad.data, [0.0, 7.0, 0.0])
