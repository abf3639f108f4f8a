"""User gates (cr.Function) and the checking tools: numerical_grad, gradcheck, gradgradcheck, check_backward."""
import re

import numpy as np
import pytest

import chainrule as cr
from helpers import Cube


class WrongCube(Cube):
    """The classic bug: the power rule without the factor 3."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return x * x * g


class ScaledMul(cr.Function):
    """y = a · b · s for tensors a, b and a Python number s (which gets no gradient)."""

    @staticmethod
    def forward(ctx, a, b, s):
        ctx.save_for_backward(a, b)
        ctx.s = s
        return a * b * s

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b * ctx.s if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.s if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_function_forward_and_backward():
    x = cr.tensor([1.0, -2.0, 3.0], dtype=np.float64, requires_grad=True)
    y = Cube.apply(x)
    np.testing.assert_array_equal(y.data, [1.0, -8.0, 27.0])
    assert y.requires_grad and y.grad_fn is not None and "Cube" in y.grad_fn.name
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0, 27.0])


def test_function_inside_a_bigger_graph_is_gradchecked(rng):
    a, b, w = rng.standard_normal((3, 4)), rng.standard_normal((4,)), rng.standard_normal((4, 2))

    def f(a, b, w):
        h = cr.tanh(ScaledMul.apply(a, b, 0.7))       # broadcasting (3,4)*(4,) inside the Function
        return (Cube.apply(h @ w) + h.sum()).mean()
    assert cr.gradcheck(f, a, b, w)


def test_function_needs_input_grad_and_constant_inputs():
    a = cr.tensor([2.0], dtype=np.float64, requires_grad=True)
    b = cr.tensor([5.0], dtype=np.float64)               # no grad wanted
    out = ScaledMul.apply(a, b, 3.0)
    out.backward(np.ones(1))
    assert a.grad.item() == 15.0 and b.grad is None


def test_function_second_derivative_through_create_graph():
    x = cr.tensor(1.5, dtype=np.float64, requires_grad=True)
    (g,) = cr.autograd.grad(Cube.apply(x), x, create_graph=True)
    assert g.item() == pytest.approx(3 * 1.5 ** 2)
    (h,) = cr.autograd.grad(g, x)
    assert h.item() == pytest.approx(6 * 1.5)


def test_function_with_retain_graph():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = Cube.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 24.0])


def test_function_backward_returning_wrong_count_raises():
    class Bad(cr.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g

    a = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="Bad.backward returned 1 gradients; forward took 2"):
        Bad.apply(a, a).sum().backward()


# ---------------------------------------------------------------- numerical_grad

def test_numerical_grad_scalar_and_upstream_forms():
    x = np.array([1.0, 2.0, -0.5])
    np.testing.assert_allclose(cr.numerical_grad(lambda v: (v ** 3).sum(), x), 3 * x ** 2, rtol=1e-8)
    up = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(cr.numerical_grad(lambda v: np.sin(v), x, upstream=up), up * np.cos(x),
                               rtol=1e-8)
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    ga, gb = cr.numerical_grad(lambda p, q: (p @ q).sum(), a, b)
    np.testing.assert_allclose(ga, b.T, rtol=1e-8)
    np.testing.assert_allclose(gb, a.T, rtol=1e-8)
    assert x.tolist() == [1.0, 2.0, -0.5]              # inputs are not modified
    with pytest.raises(ValueError, match="upstream"):
        cr.numerical_grad(lambda v: v * 2, x)


def test_lecture_w_plus_h_example(rng):
    # The lecture's way to get a gradient: nudge one weight, W + h, and watch the loss change.
    W = rng.standard_normal((3, 4)) * 0.01
    X = rng.standard_normal((4, 5))
    y = np.array([0, 2, 1, 1, 0])

    def svm_loss(W):
        scores = W @ X
        correct = scores[y, np.arange(5)]
        margins = np.maximum(0, scores - correct + 1.0)
        margins[y, np.arange(5)] = 0
        return margins.sum() / 5

    h = 1e-5
    Wh = W.copy()
    Wh[0, 0] += h
    one_sided = (svm_loss(Wh) - svm_loss(W)) / h
    grad = cr.numerical_grad(svm_loss, W)
    assert grad.shape == W.shape
    assert one_sided == pytest.approx(grad[0, 0], abs=1e-4)
    # and backprop through chainrule gives the same gradient
    Wt = cr.tensor(W, dtype=np.float64, requires_grad=True)
    scores = Wt @ X
    correct = scores[y, np.arange(5)]
    margins = cr.relu(scores - correct + 1.0) * (1 - np.eye(3)[:, y])
    (margins.sum() / 5).backward()
    np.testing.assert_allclose(Wt.grad.data, grad, atol=1e-7)


# ---------------------------------------------------------------- gradcheck / gradgradcheck

def test_gradcheck_passes_and_reports_the_wrong_gate():
    x = np.array([[0.5, -1.0], [2.0, 1.5]])
    assert cr.gradcheck(Cube.apply, x)
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda t: WrongCube.apply(t).sum(), x)
    msg = str(info.value)
    # the worst element: x = 2.0 at (1, 0), analytic x² = 4 vs numerical 3x² = 12
    assert "input 0" in msg and "index (1, 0)" in msg
    m = re.search(r"analytic (\S+) vs numerical (\S+) \(relative error (\S+);", msg)
    assert m, msg
    assert float(m.group(1)) == pytest.approx(4.0, rel=1e-5)
    assert float(m.group(2)) == pytest.approx(12.0, rel=1e-5)
    assert float(m.group(3).rstrip(";")) == pytest.approx(8.0 / 12.0, rel=1e-3)


def test_gradcheck_names_the_right_input():
    class BadSecond(cr.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * b      # second one should be g * a

    with pytest.raises(cr.GradcheckError, match="input 1"):
        cr.gradcheck(BadSecond.apply, np.array([1.0, 2.0]), np.array([3.0, 5.0]))


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class NotTwiceDiff(Cube):
        """Right first derivative of x³, but computed from constants so its own derivative is lost."""

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * cr.tensor(3 * x.data ** 2, dtype=x.dtype)

    x = np.array([0.5, -1.2, 2.0])
    assert cr.gradcheck(NotTwiceDiff.apply, x)
    assert cr.gradgradcheck(Cube.apply, x)
    with pytest.raises(cr.GradcheckError):
        cr.gradgradcheck(NotTwiceDiff.apply, x)


# ---------------------------------------------------------------- check_backward (hand-written NumPy)

def _two_layer_forward(X, W1, b1, W2, b2, y):
    h = np.maximum(0, X @ W1 + b1)
    scores = h @ W2 + b2
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(y)), y]).mean()


def _two_layer_backward(dout, X, W1, b1, W2, b2, y, forget_relu=False):
    n = len(y)
    pre = X @ W1 + b1
    h = np.maximum(0, pre)
    scores = h @ W2 + b2
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dscores = p.copy()
    dscores[np.arange(n), y] -= 1
    dscores *= dout / n
    dW2, db2 = h.T @ dscores, dscores.sum(axis=0)
    dh = dscores @ W2.T
    dpre = dh if forget_relu else dh * (pre > 0)
    return X.T @ dpre, dpre.sum(axis=0), dW2, db2


def _net(rng):
    return (rng.standard_normal((6, 4)), rng.standard_normal((4, 5)) * 0.5, rng.standard_normal(5) * 0.1,
            rng.standard_normal((5, 3)) * 0.5, rng.standard_normal(3) * 0.1)


def test_check_backward_accepts_a_correct_flat_backprop(rng):
    y = np.array([0, 2, 1, 1, 0, 2])
    X, W1, b1, W2, b2 = _net(rng)
    fwd = lambda X, W1, b1, W2, b2: _two_layer_forward(X, W1, b1, W2, b2, y)  # noqa: E731

    def bwd(d, X, W1, b1, W2, b2):
        return (None,) + _two_layer_backward(d, X, W1, b1, W2, b2, y)
    with pytest.raises(Exception):   # None for X is not a gradient: check_backward wants all of them
        cr.check_backward(fwd, bwd, X, W1, b1, W2, b2)

    def bwd_all(d, X, W1, b1, W2, b2):
        dW1, db1, dW2, db2 = _two_layer_backward(d, X, W1, b1, W2, b2, y)
        pre = X @ W1 + b1
        scores = np.maximum(0, pre) @ W2 + b2
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        dX = ((p * d / len(y)) @ W2.T * (pre > 0)) @ W1.T
        return dX, dW1, db1, dW2, db2
    assert cr.check_backward(fwd, bwd_all, X, W1, b1, W2, b2)


def test_check_backward_rejects_a_wrong_backprop(rng):
    y = np.array([0, 2, 1, 1, 0, 2])
    X, W1, b1, W2, b2 = _net(rng)
    fwd = lambda W1, b1, W2, b2: _two_layer_forward(X, W1, b1, W2, b2, y)  # noqa: E731
    bwd = lambda d, W1, b1, W2, b2: _two_layer_backward(d, X, W1, b1, W2, b2, y, forget_relu=True)  # noqa: E731
    assert cr.check_backward(fwd, lambda d, *p: _two_layer_backward(d, X, *p, y), W1, b1, W2, b2)
    with pytest.raises(cr.GradcheckError, match=r"check_backward: gradient of input 0 at index \(\d+, \d+\)"):
        cr.check_backward(fwd, bwd, W1, b1, W2, b2)
    with pytest.raises(cr.GradcheckError, match="returned 1 gradients for 4 inputs"):
        cr.check_backward(fwd, lambda d, *p: (p[0],), W1, b1, W2, b2)


def test_check_backward_with_array_output(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    assert cr.check_backward(lambda a, b: a @ b, lambda d, a, b: (d @ b.T, a.T @ d), a, b)
    with pytest.raises(cr.GradcheckError, match="shape"):
        cr.check_backward(lambda a, b: a @ b, lambda d, a, b: (d @ b.T, d.T @ a), a, b)
