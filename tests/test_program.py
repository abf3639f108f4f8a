"""The traced program: readable equations, replay equal to eager, a backward derived from the rules."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.program import Var


def _f64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_str_shows_one_equation_per_line_with_shapes_and_dtypes():
    p = cr.make_program(lambda x, w: cr.tanh(x @ w).sum(), cr.ones(2, 3), cr.ones(3, 4))
    lines = str(p).splitlines()
    assert lines[0] == "program(x:f32[2,3], w:f32[3,4]) -> s2:f32[]"
    assert lines[1:] == ["  s0:f32[2,4] = matmul(x, w)", "  s1:f32[2,4] = tanh(s0)",
                         "  s2:f32[] = sum(s1, axis=None, keepdims=False)"]
    assert [e.prim.name for e in p.eqns] == ["matmul", "tanh", "sum"]
    assert all(isinstance(v, Var) for e in p.eqns for v in e.inputs)


def test_replay_equals_eager_on_new_inputs():
    f = lambda x, y: cr.sigmoid(x * y + cr.exp(-x)).mean(axis=0)   # noqa: E731
    p = cr.make_program(f, _f64(3, 4), _f64(4))
    x, y = _f64(3, 4, seed=1), _f64(4, seed=2)
    np.testing.assert_allclose(p(x, y), f(cr.tensor(x, dtype=cr.float64), cr.tensor(y, dtype=cr.float64)).data, rtol=1e-12)


def test_masks_are_equations_not_constants_baked_at_trace_time():
    p = cr.make_program(lambda x: cr.relu(x).sum(), np.array([1.0, -1.0])).grad()
    assert "greater" in [e.prim.name for e in p.eqns]   # relu's rule compares, in the program
    _, g = p(np.array([-1.0, 1.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0])


def test_grad_program_matches_eager_gradients_and_is_made_of_primitives():
    def f(x, w, b):
        return cr.nn.functional.cross_entropy(cr.tanh(x @ w + b), cr.tensor([0, 2, 1]))

    args = [_f64(3, 4), _f64(4, 3, seed=1), _f64(3, seed=2)]
    gp = cr.make_program(f, *args).grad()
    out, gx, gw, gb = gp(*args)
    ts = [cr.tensor(a, dtype=cr.float64, requires_grad=True) for a in args]
    f(*ts).backward()
    np.testing.assert_allclose(out, f(*[cr.tensor(a, dtype=cr.float64) for a in args]).data)
    for g, t in zip((gx, gw, gb), ts):
        np.testing.assert_allclose(g, t.grad.data, rtol=1e-12, atol=1e-14)
    text = str(gp)
    assert "# backward" in text and "grad_w" in text
    assert all(hasattr(e.prim, "vjp") for e in gp.eqns)   # backward = equations of primitives


def test_backward_is_derived_from_the_rule_a_changed_rule_changes_the_program(monkeypatch):
    mul = type(cr.ops.REGISTRY["mul"])
    monkeypatch.setattr(mul, "vjp", lambda self, g, ans, needs, x, y: (g * y * 2, g * x * 2))
    gp = cr.make_program(lambda x, y: (x * y).sum(), np.array([3.0]), np.array([4.0])).grad()
    _, gx, gy = gp(np.array([3.0]), np.array([4.0]))
    assert gx.item() == 8.0 and gy.item() == 6.0


def test_hessian_through_the_programs_own_backward():
    f = lambda x: (x ** 3).sum() + (x[0] * x[1]) * x[2]   # noqa: E731
    x = np.array([1.0, 2.0, -0.5])
    g = cr.make_program(f, x).grad()              # outputs: f, df/dx
    h = g.grad(of=1)                              # vᵀ d²f/dx²: v is the new input grad_grad_x
    rows = [h(x, e)[-1] for e in np.eye(3)]
    np.testing.assert_allclose(np.stack(rows), cr.hessian(f)(cr.tensor(x, dtype=cr.float64)).data,
                               rtol=1e-12)


def test_prod_at_zeros_in_the_program_and_hessian():
    x = np.array([0.0, 2.0, 3.0])
    g = cr.make_program(lambda t: t.prod(), x).grad()
    np.testing.assert_allclose(g(x)[1], [6.0, 0.0, 0.0])
    h = g.grad(of=1)
    rows = np.stack([h(x, e)[-1] for e in np.eye(3)])
    np.testing.assert_allclose(rows, [[0, 3, 2], [3, 0, 0], [2, 0, 0]])


def test_captured_parameters_are_read_live_and_can_be_differentiated():
    lin = cr.nn.Linear(3, 2)
    x = cr.ones(4, 3)
    p = cr.make_program(lambda x: lin(x).sum(), x)
    names = [v.name for v, _ in p.consts]
    assert len(names) == 2 and all(t.requires_grad for _, t in p.consts)
    before = p(x.data)
    with cr.no_grad():
        lin.bias += 1.0
    assert p(x.data) == pytest.approx(before + 4 * 2)   # the program saw the new bias
    gp = p.grad(wrt=names)
    _, gw, gb = gp(x.data)
    np.testing.assert_allclose(gb, [4.0, 4.0])
    np.testing.assert_allclose(gw, np.full((2, 3), 4.0))
    assert lin.weight.grad is None                  # tracing a backward touched no .grad


def test_grad_of_a_non_float_output_or_unknown_name_is_a_clear_error():
    p = cr.make_program(lambda x: x.sum(), np.ones(3))
    with pytest.raises(ValueError, match="not inputs or captured"):
        p.grad(wrt=["nope"])
    q = cr.make_program(lambda x: x > 0, np.ones(3))
    with pytest.raises(ValueError, match="not a floating value"):
        q.grad()


def test_tracing_is_per_thread_and_leaves_nothing_behind():
    from chainrule import autograd
    cr.make_program(lambda x: x * 2, np.ones(2))
    assert autograd.current_tracer() is None
    assert not autograd._tls.watch


def test_mean_over_an_empty_axis_is_nan_with_gradients_of_the_right_shape():
    x = cr.ones(0, 3, requires_grad=True)
    m = x.mean()
    assert np.isnan(m.item())
    m.backward()
    assert x.grad.shape == (0, 3)
    assert cr.ones(0, 3).mean(0).shape == (3,) and np.isnan(cr.ones(0, 3).mean(0).data).all()
