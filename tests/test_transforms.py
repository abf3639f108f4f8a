"""Function transforms (grad, vjp, jvp, jacobian, hessian, hvp): closed forms, every primitive, no leaks."""
import gc
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import autograd
from helpers import Cube, build_sample, primitive_cases


# ---------------------------------------------------------------- the lecture's Jacobian example

def lecture_F(x):
    """F: R³ → R⁴,  y = (x1, 5x3, 4x2² − 2x3, x3·sin x1)."""
    return cr.stack([x[0], 5 * x[2], 4 * x[1] ** 2 - 2 * x[2], x[2] * cr.sin(x[0])])


def lecture_J(x):
    x1, x2, x3 = x
    return np.array([[1, 0, 0], [0, 0, 5], [0, 8 * x2, -2], [x3 * np.cos(x1), 0, np.sin(x1)]])


@pytest.mark.parametrize("point", [(0.0, 0.0, 0.0), (1.0, 2.0, 3.0), (-0.7, 0.4, 2.5)])
@pytest.mark.parametrize("mode", ["rev", "fwd", "auto"])
def test_lecture_jacobian_both_modes(point, mode):
    x = np.array(point)
    J = cr.jacobian(lecture_F, mode=mode)(x)
    assert isinstance(J, cr.Tensor) and J.shape == (4, 3) and J.dtype == np.float64
    np.testing.assert_allclose(J.data, lecture_J(x), rtol=0, atol=1e-14)


def test_lecture_jvp_and_vjp_are_columns_and_rows():
    x = np.array([1.0, 2.0, 3.0])
    J = lecture_J(x)
    y, col = cr.jvp(lecture_F, (x,), (np.array([0.0, 1.0, 0.0]),))
    np.testing.assert_allclose(col.data, J[:, 1], atol=1e-14)
    np.testing.assert_allclose(y.data, [1.0, 15.0, 10.0, 3 * np.sin(1.0)], atol=1e-14)
    assert y.grad_fn is None and col.grad_fn is None
    _, vjp_fn = cr.vjp(lecture_F, x)
    for i in range(4):
        (row,) = vjp_fn(np.eye(4)[i])
        np.testing.assert_allclose(row.data, J[i], atol=1e-14)


def test_jvp_is_one_forward_pass():
    """Dual numbers: f runs once, values and tangents together, and gives J·t exactly."""
    calls = []

    def F(x):
        calls.append(1)
        return lecture_F(x)

    x = np.array([-0.7, 0.4, 2.5])
    t = np.array([0.3, -1.0, 2.0])
    _, tan = cr.jvp(F, (x,), (t,))
    assert calls == [1]
    np.testing.assert_allclose(tan.data, lecture_J(x) @ t, rtol=1e-14, atol=1e-14)


def test_jacrev_jacfwd_names_and_tuple_argnums():
    a, b = np.array([0.5, -1.0]), np.array([2.0, 3.0, 4.0])
    f = lambda x, y: cr.outer(x, y).sum(axis=1) * x   # noqa: E731  z_i = x_i² Σy
    for jac in (cr.jacrev, cr.jacfwd):
        Jx, Jy = jac(f, argnums=(0, 1))(a, b)
        np.testing.assert_allclose(Jx.data, np.diag(2 * a * b.sum()), atol=1e-13)
        np.testing.assert_allclose(Jy.data, np.outer(a * a, np.ones(3)), atol=1e-13)


def test_jacobian_shape_is_out_shape_plus_in_shape():
    x = np.random.default_rng(0).standard_normal((2, 3))
    for mode in ("rev", "fwd"):
        J = cr.jacobian(lambda t: cr.softmax(t, axis=1)[:, :2].T, mode=mode)(x)
        assert J.shape == (2, 2, 2, 3)
        p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
        for i in range(2):    # d p[r, i] / d x[r, j] = p_i (δ_ij − p_j), zero across rows
            for r in range(2):
                np.testing.assert_allclose(J.data[i, r, r], p[r, i] * (np.eye(3)[i] - p[r]), atol=1e-14)
                np.testing.assert_allclose(J.data[i, r, 1 - r], 0, atol=0)


def test_jacobian_auto_picks_the_mode_with_fewer_passes():
    calls = []

    def wide(x):            # R² → R⁵: forward mode needs 2 passes, reverse 5
        calls.append("wide")
        return cr.stack([x[0], x[1], x[0] * x[1], x[0] ** 2, cr.sin(x[1])])

    def tall(x):            # R⁵ → R: reverse needs 1 pass, forward 5
        calls.append("tall")
        return (x * x).sum()

    x2, x5 = np.array([0.5, 2.0]), np.arange(5.0)
    J = cr.jacobian(wide)(x2)
    assert calls == ["wide"] * 3          # one recorded call to learn the output size, then 2 jvps
    np.testing.assert_allclose(J.data, cr.jacrev(wide)(x2).data, atol=1e-15)
    calls.clear()
    np.testing.assert_allclose(cr.jacobian(tall)(x5).data, 2 * x5)
    assert calls == ["tall"]              # one forward pass with a graph, one backward pass


# ---------------------------------------------------------------- grad, value_and_grad, vjp

def test_grad_of_grad_of_tanh_matches_closed_form():
    x = np.linspace(-2, 2, 9)
    t = np.tanh(x)
    d1 = cr.grad(lambda v: cr.tanh(v).sum())(x)
    np.testing.assert_allclose(d1.data, 1 - t * t, rtol=1e-14)
    for xi, ti in zip(x, t):
        d2 = cr.grad(cr.grad(cr.tanh))(xi)
        np.testing.assert_allclose(d2.data, -2 * ti * (1 - ti * ti), rtol=1e-12, atol=1e-15)
        d3 = cr.grad(cr.grad(cr.grad(cr.tanh)))(xi)   # (6t² − 2)(1 − t²)
        np.testing.assert_allclose(d3.data, (6 * ti ** 2 - 2) * (1 - ti ** 2), rtol=1e-12)


def test_grad_inputs_tensors_arrays_and_floats():
    f = lambda x: (x ** 3).sum()   # noqa: E731
    g = cr.grad(f)(2.0)
    assert isinstance(g, cr.Tensor) and g.dtype == cr.get_default_dtype() and g.item() == 12.0
    g64 = cr.grad(f)(np.array([1.0, 2.0]))
    assert g64.dtype == np.float64 and g64.tolist() == [3.0, 12.0]
    x = cr.tensor([1.0, -1.0])
    g32 = cr.grad(f)(x)
    assert g32.dtype == np.float32 and g32.tolist() == [3.0, 3.0] and x.grad is None
    assert g32.grad_fn is None and not g32.requires_grad
    with pytest.raises(TypeError, match="grad: argument 0 has dtype int64"):
        cr.grad(f)(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"grad: f must return a scalar .* shape \(2,\)"):
        cr.grad(lambda x: x * 2)(np.ones(2))


def test_grad_argnums_and_pytree_arguments():
    def loss(params, x):
        return ((x @ params["w"] + params["b"]) ** 2).sum()
    w, b, x = np.array([[1.0], [2.0]]), np.array([0.5]), np.array([[1.0, -1.0], [2.0, 0.0]])
    g = cr.grad(loss)({"w": w, "b": b}, x)
    r = x @ w + b                      # residuals (2, 1)
    np.testing.assert_allclose(g["w"].data, 2 * x.T @ r)
    np.testing.assert_allclose(g["b"].data, 2 * r.sum(0))
    gp, gx = cr.grad(loss, argnums=(0, 1))({"w": w, "b": b}, x)
    np.testing.assert_allclose(gx.data, 2 * r @ w.T)
    np.testing.assert_allclose(gp["w"].data, g["w"].data)
    with pytest.raises(ValueError, match="argnums 2 out of range"):
        cr.grad(loss, argnums=2)({"w": w, "b": b}, x)


def test_unused_input_gets_zero_gradient():
    g0, g1 = cr.grad(lambda x, y: (x * 2).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    assert g0.tolist() == [2.0, 2.0] and g1.tolist() == [0.0, 0.0, 0.0]


def test_value_and_grad_and_has_aux():
    x = np.array([1.0, 2.0, 3.0])
    v, g = cr.value_and_grad(lambda t: (t * t).sum())(x)
    assert v.item() == 14.0 and g.tolist() == [2.0, 4.0, 6.0] and v.grad_fn is None

    def f(t):
        y = t * t
        return y.sum(), {"y": y, "n": 3}
    (v, aux), g = cr.value_and_grad(f, has_aux=True)(x)
    assert v.item() == 14.0 and aux["y"].tolist() == [1.0, 4.0, 9.0] and aux["n"] == 3
    assert aux["y"].grad_fn is None and g.tolist() == [2.0, 4.0, 6.0]
    g, aux = cr.grad(f, has_aux=True)(x)
    assert g.tolist() == [2.0, 4.0, 6.0] and aux["y"].tolist() == [1.0, 4.0, 9.0]
    with pytest.raises(TypeError, match="has_aux=True f must return a pair"):
        cr.grad(lambda t: t.sum(), has_aux=True)(x)


def test_vjp_multiple_primals_pytree_outputs_and_aux():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    out, vjp_fn, aux = cr.vjp(lambda x, y: ((x * y, x.sum()), "tag"), a, b, has_aux=True)
    assert aux == "tag" and out[0].tolist() == [3.0, -2.0] and out[1].item() == 3.0
    gx, gy = vjp_fn((np.array([1.0, 10.0]), np.array(2.0)))
    np.testing.assert_allclose(gx.data, b * [1, 10] + 2)
    np.testing.assert_allclose(gy.data, a * [1, 10])
    gx2, _ = vjp_fn((np.zeros(2), np.array(1.0)))      # callable again: the graph is kept
    np.testing.assert_allclose(gx2.data, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"vjp_fn: cotangent 0 has shape \(3,\)"):
        vjp_fn((np.zeros(3), np.array(1.0)))


def test_nested_grad_keeps_levels_apart():
    # d/dx [x · (d/dy x·y)|_{y=x}] = d/dx x² = 2x  (confusing the levels would give 4x)
    g = cr.grad(lambda x: x * cr.grad(lambda y: x * y)(x))(3.0)
    assert g.item() == pytest.approx(6.0)
    # an inner grad at a constant point still depends on the outer variable: d/dx x = 1
    g = cr.grad(lambda x: cr.grad(lambda y: x * y)(np.float32(5.0)))(3.0)
    assert g.item() == pytest.approx(1.0)


def test_grad_of_a_tensor_that_requires_grad_stays_connected():
    x = cr.tensor([0.5, -0.3], dtype=cr.float64, requires_grad=True)
    g = cr.grad(lambda t: (t ** 3).sum())(x)     # 3x², recorded because x requires grad
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


# ---------------------------------------------------------------- second order

def test_hessian_of_quadratic_form_is_A_plus_At():
    rng = np.random.default_rng(3)
    A, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    f = lambda v: v @ (A @ v)   # noqa: E731
    H = cr.hessian(f)(x)
    assert H.shape == (4, 4)
    np.testing.assert_allclose(H.data, A + A.T, atol=1e-13)
    for other in (cr.jacrev(cr.grad(f)), cr.jacfwd(cr.jacrev(f)), cr.jacrev(cr.jacfwd(f)),
                  cr.jacobian(cr.grad(f))):
        np.testing.assert_allclose(other(x).data, A + A.T, atol=1e-13)


def test_hvp_equals_hessian_times_v_without_building_it():
    rng = np.random.default_rng(4)
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    f = lambda t: (cr.sin(t) * t.sum() + cr.exp(t) / (1 + t * t)).sum()   # noqa: E731
    H = cr.hessian(f)(x)
    np.testing.assert_allclose(cr.hvp(f, x, v).data, H.data @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H.data, H.data.T, atol=1e-12)
    # against central differences of the gradient
    g = lambda t: cr.grad(f)(t).data   # noqa: E731
    num = (g(x + 1e-6 * v) - g(x - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(cr.hvp(f, x, v).data, num, rtol=1e-6, atol=1e-7)


def test_hessian_of_softmax_cross_entropy_and_mlp():
    rng = np.random.default_rng(5)
    x, W = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    target = np.array([0, 1, 1])
    loss = lambda w: _ce(x, w, target)  # noqa: E731
    H = cr.hessian(loss)(W)
    assert H.shape == (2, 4, 2, 4)
    # closed form: (1/N) Σ_n (diag p_n − p_n p_nᵀ) ⊗ x_n x_nᵀ
    p = np.exp(x @ W.T)
    p /= p.sum(1, keepdims=True)
    ref = sum(np.einsum("ab,ij->aibj", np.diag(pn) - np.outer(pn, pn), np.outer(xn, xn))
              for pn, xn in zip(p, x)) / 3
    np.testing.assert_allclose(H.data, ref, atol=1e-13)


def _ce(x, w, target):
    from chainrule.ops.nn import CrossEntropy, Linear
    return CrossEntropy(Linear(cr.Tensor._make(x, False), w, None), target)


def test_grad_of_jvp_reverse_over_forward():
    x, v = np.array([0.3, -1.2, 0.8]), np.array([1.0, 2.0, -1.0])
    # d/dx Σ (J_exp(x) v) = d/dx Σ eˣ v = eˣ v  (needs the tangent rule to stay differentiable)
    g = cr.grad(lambda t: cr.jvp(cr.exp, (t,), (v,))[1].sum())(x)
    np.testing.assert_allclose(g.data, np.exp(x) * v, rtol=1e-14)
    g = cr.grad(lambda t: cr.jvp(lambda s: 1 / s, (t,), (v,))[1].sum())(x)   # d/dx (−v/x²) = 2v/x³
    np.testing.assert_allclose(g.data, 2 * v / x ** 3, rtol=1e-13)


def test_jvp_of_jvp_raises_clearly():
    with pytest.raises(NotImplementedError, match="jvp: forward mode inside forward mode"):
        cr.jacfwd(cr.jacfwd(lambda t: (t ** 3).sum()))(np.ones(2))


# ---------------------------------------------------------------- jvp: no graph, no leaks

def test_jvp_records_no_graph():
    x, t = cr.tensor([0.5, 1.5]), cr.tensor([1.0, 0.0])
    w = cr.tensor([2.0, 3.0], requires_grad=True)   # a parameter f closes over
    gc.collect()
    nodes_before = sum(isinstance(o, autograd.Node) for o in gc.get_objects())
    seq_before = autograd.node_counter()
    out, tan = cr.jvp(lambda a: (cr.tanh(a * w) ** 2).sum(), (x,), (t,))
    assert out.grad_fn is None and tan.grad_fn is None and not out.requires_grad
    assert autograd.node_counter() == seq_before + 1   # no Node was created at all
    gc.collect()
    assert sum(isinstance(o, autograd.Node) for o in gc.get_objects()) <= nodes_before
    assert x._tangent is None and not autograd.is_forward_active()
    th = np.tanh(x.data * w.data)
    np.testing.assert_allclose(tan.data, (2 * th * (1 - th ** 2) * w.data * t.data).sum(), rtol=1e-6)


def test_jvp_memory_does_not_grow_over_10000_calls():
    x, t = np.array([0.5, 1.5]), np.array([1.0, -1.0])
    f = lambda a: cr.sin(a) * a   # noqa: E731
    for _ in range(200):
        cr.jvp(f, (x,), (t,))
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(10_000):
            cr.jvp(f, (x,), (t,))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 20_000, f"jvp leaked {grown} bytes over 10,000 calls"


def test_jvp_pytrees_none_tangents_and_errors():
    a, b = np.array([1.0, 2.0]), np.array(3.0)
    out, tan = cr.jvp(lambda p: {"s": p[0] * p[1], "l": [p[0].sum()]}, ((a, b),),
                      ((np.array([1.0, 0.0]), None),))
    assert out["s"].tolist() == [3.0, 6.0] and tan["s"].tolist() == [3.0, 0.0]
    assert tan["l"][0].item() == 1.0
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(3,\) but its primal has shape \(2,\)"):
        cr.jvp(cr.sin, (a,), (np.ones(3),))
    # a float32 primal gets a float32 tangent out
    _, tan32 = cr.jvp(cr.exp, (cr.tensor([0.0]),), (np.array([1.0]),))
    assert tan32.dtype == np.float32 and tan32.item() == 1.0
    out, tan, aux = cr.jvp(lambda p: (p * p, p + 1), (a,), (np.ones(2),), has_aux=True)
    assert tan.tolist() == [2.0, 4.0] and aux.tolist() == [2.0, 3.0] and aux.grad_fn is None
    # the identity and a repeated output keep their tangents
    (y1, y2), (t1, t2) = cr.jvp(lambda p: (p, p), (a,), (np.array([1.0, 2.0]),))
    assert t1.tolist() == t2.tolist() == [1.0, 2.0] and y1.tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- user Functions

class CubeNoJvp(cr.Function):
    forward = Cube.forward
    backward = Cube.backward


def test_transforms_on_user_function():
    x = np.array([0.5, -2.0])
    np.testing.assert_allclose(cr.grad(lambda t: Cube.apply(t).sum())(x).data, 3 * x * x)
    np.testing.assert_allclose(cr.jacfwd(Cube.apply)(x).data, np.diag(3 * x * x))
    np.testing.assert_allclose(cr.jacrev(Cube.apply)(x).data, np.diag(3 * x * x))
    # second order through the user's backward (written with Tensor ops)
    np.testing.assert_allclose(cr.jacrev(cr.grad(lambda t: Cube.apply(t).sum()))(x).data, np.diag(6 * x))
    np.testing.assert_allclose(cr.grad(lambda t: CubeNoJvp.apply(t).sum())(x).data, 3 * x * x)


def test_user_function_without_jvp_raises_clear_error_under_jvp():
    with pytest.raises(NotImplementedError, match=r"CubeNoJvp has no tangent rule.*def jvp\(ctx"):
        cr.jvp(CubeNoJvp.apply, (np.ones(2),), (np.ones(2),))
    assert not autograd.is_forward_active()     # restored after the error


# ---------------------------------------------------------------- every primitive

CASES = primitive_cases()


@pytest.mark.parametrize("prim,sample", CASES)
def test_every_primitive_jvp_matches_central_differences(prim, sample, rng):
    arrays, f = build_sample(prim, sample, rng)
    tangents = [rng.standard_normal(a.shape) for a in arrays]
    out, tan = cr.jvp(f, tuple(arrays), tuple(tangents))
    assert tan.shape == out.shape and tan.dtype == np.float64
    h = 1e-6
    plus = f(*[a + h * t for a, t in zip(arrays, tangents)])
    minus = f(*[a - h * t for a, t in zip(arrays, tangents)])
    np.testing.assert_allclose(out.data, f(*arrays), rtol=1e-15, atol=0)
    np.testing.assert_allclose(tan.data, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7,
                               err_msg=f"{prim.name} {sample}")


@pytest.mark.parametrize("prim,sample", CASES)
def test_every_primitive_jacobian_fwd_equals_rev(prim, sample, rng):
    arrays, f = build_sample(prim, sample, rng)
    argnums = tuple(range(len(arrays)))
    Jf = cr.jacobian(f, argnums=argnums, mode="fwd")(*arrays)
    Jr = cr.jacobian(f, argnums=argnums, mode="rev")(*arrays)
    out_shape = np.shape(f(*arrays))
    for a, jf, jr in zip(arrays, Jf, Jr):
        assert jf.shape == jr.shape == out_shape + a.shape
        np.testing.assert_allclose(jf.data, jr.data, rtol=1e-12, atol=1e-13, err_msg=prim.name)


@pytest.mark.parametrize("prim,sample", [c for c in CASES if c.values[1].smooth])
def test_every_smooth_primitive_tangent_rules_are_differentiable(prim, sample, rng):
    """The Tensor path of jvp and vjp rules: grad of a jvp and jvp of a vjp vs central differences."""
    arrays, f = build_sample(prim, sample, rng)
    ts = [rng.standard_normal(a.shape) for a in arrays]
    out = f(*arrays)
    w = rng.standard_normal(np.shape(out))

    def tangent_dot_w(*xs):      # x ↦ ⟨w, J(x)·t⟩: its gradient differentiates the jvp rules
        return (cr.jvp(f, xs, tuple(ts))[1] * w).sum()

    def vjp_dot_t(*xs):          # x ↦ Σ_i ⟨wᵀJ_i(x), t_i⟩: jvp of it is forward-over-reverse
        gs = cr.vjp(f, *xs)[1](w)
        return sum((g * t).sum() for g, t in zip(gs, ts))

    argnums = tuple(range(len(arrays)))
    analytic = cr.grad(tangent_dot_w, argnums=argnums)(*arrays)
    numeric = cr.numerical_grad(lambda *xs: tangent_dot_w(*xs).data, *arrays)
    numeric = numeric if isinstance(numeric, list) else [numeric]
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a.data, n, rtol=1e-5, atol=1e-6, err_msg=prim.name)
    # both are ⟨w, D²f[t, ·]⟩ contracted with t: the same number two ways
    _, fwd_over_rev = cr.jvp(vjp_dot_t, tuple(arrays), tuple(ts))
    rev_over_fwd = sum((a.data * t).sum() for a, t in zip(analytic, ts))
    np.testing.assert_allclose(fwd_over_rev.data, rev_over_fwd, rtol=1e-9, atol=1e-10,
                               err_msg=prim.name)


def test_prod_tangent_is_exact_at_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0]])
    t = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    # d/dε Π(x + εt) = Σ_i t_i Π_{j≠i} x_j: row 0 → 1·6 = 6; row 1 (two zeros) → 0
    _, tan = cr.jvp(lambda v: cr.prod(v, axis=1), (x,), (t,))
    np.testing.assert_array_equal(tan.data, [6.0, 0.0])
    _, tan = cr.jvp(cr.prod, (x[0],), (t[0],))
    assert tan.item() == 6.0


@pytest.mark.parametrize("prim,sample", CASES)
def test_every_primitive_jvp_on_tensors_equals_jvp_on_arrays(prim, sample, rng):
    """Primals that require grad send the tangent rules down their Tensor path (recorded)."""
    arrays, f = build_sample(prim, sample, rng)
    tangents = tuple(rng.standard_normal(a.shape) for a in arrays)
    _, fast = cr.jvp(f, tuple(arrays), tangents)
    leaves = tuple(cr.Tensor._make(a, True) for a in arrays)
    out, rec = cr.jvp(f, leaves, tangents)
    assert out.requires_grad and out._tangent is None
    np.testing.assert_allclose(rec.data, fast.data, rtol=1e-13, atol=1e-14, err_msg=prim.name)
