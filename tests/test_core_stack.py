"""cr.stack is one primitive: one equation for any number of inputs, gradients are views of dL/dZ."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.check import numerical_grad


def test_stack_of_many_records_one_equation():
    xs = [cr.tensor(np.full(3, float(i))) for i in range(50)]
    prog = cr.make_program(lambda *a: cr.stack(a, dim=1), *xs)
    assert [e.prim.name for e in prog.eqns] == ["stack"]
    np.testing.assert_array_equal(prog(*xs).data, np.stack([x.data for x in xs], axis=1))


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_stack_gradients_match_numerical(axis):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3)) for _ in range(4)]
    w = rng.standard_normal(np.stack(arrays, axis=axis).shape)
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    (cr.stack(xs, axis) * cr.tensor(w)).sum().backward()
    for k, a in enumerate(arrays):
        def f(v, k=k):
            parts = list(arrays)
            parts[k] = v
            return float((np.stack(parts, axis=axis) * w).sum())
        np.testing.assert_allclose(xs[k].grad.data, numerical_grad(f, a.copy()), atol=1e-6)


def test_stack_fan_in_from_one_tensor_adds_up():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    cs = np.arange(1.0, 101.0)
    s = cr.stack([c * x for c in cs])
    (s * s).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * (cs ** 2).sum() * np.array([1.0, 2.0]))


def test_stack_second_order_and_errors():
    x = cr.tensor([0.5, -1.0], requires_grad=True)
    y = cr.stack([x * x, x], dim=0).sum()
    (g,) = cr.autograd.grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.data, 2 * x.data + 1)
    (h,) = cr.autograd.grad(g.sum(), [x])
    np.testing.assert_allclose(h.data, [2.0, 2.0])
    with pytest.raises(ValueError, match=r"stack: expects tensors of one shape, got shapes \(2,\) and \(3,\)"):
        cr.stack([cr.ones(2), cr.ones(3)])
    with pytest.raises(IndexError, match="stack: axis 2 is out of range"):
        cr.stack([cr.ones(2), cr.ones(2)], 2)
    with pytest.raises(ValueError, match="empty"):
        cr.stack([])
