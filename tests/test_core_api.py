"""The op API (cr.exp, cr.sum, x[...], ...): forward values against NumPy and gradients against numerics."""
import numpy as np
import pytest

import chainrule as cr

gradcheck = cr.gradcheck


def t64(a, requires_grad=False):
    return cr.tensor(a, dtype=np.float64, requires_grad=requires_grad)


def away_from_zero(rng, *shape):
    """randn with |x| >= 0.2, so kinks at 0 are never inside the finite-difference step."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.2, np.sign(x + 1e-12) * 0.2 + x, x)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- elementwise

UNARY = {
    "exp": (cr.exp, np.exp, "real"),
    "log": (cr.log, np.log, "positive"),
    "log1p": (cr.log1p, np.log1p, "positive"),
    "sqrt": (cr.sqrt, np.sqrt, "positive"),
    "abs": (cr.abs, np.abs, "kinked"),
    "sin": (cr.sin, np.sin, "real"),
    "cos": (cr.cos, np.cos, "real"),
    "tanh": (cr.tanh, np.tanh, "real"),
    "sigmoid": (cr.sigmoid, _sigmoid, "real"),
    "relu": (cr.relu, lambda x: np.where(x > 0, x, 0.0), "kinked"),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), "kinked"),
    "elu": (lambda x: cr.elu(x, alpha=1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1)), "kinked"),
    "softplus": (cr.softplus, lambda x: np.log(1 + np.exp(x)), "real"),
    "neg": (cr.neg, np.negative, "real"),
    "unary minus": (lambda x: -x, np.negative, "real"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_and_gradient(name, rng):
    fn, ref, domain = UNARY[name]
    if domain == "positive":
        x = rng.uniform(0.5, 2.0, (3, 4))
    elif domain == "kinked":
        x = away_from_zero(rng, 3, 4)
    else:
        x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(fn(t64(x)).data, ref(x), rtol=1e-12, atol=1e-15)
    assert gradcheck(fn, x)


def test_unary_ops_keep_float32(rng):
    x = cr.tensor(rng.uniform(0.5, 2.0, 5), dtype=cr.float32)
    for name, (fn, _, _) in UNARY.items():
        assert fn(x).dtype == np.float32, name


def test_activations_are_stable_for_large_inputs():
    x = t64([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    np.testing.assert_allclose(cr.sigmoid(x).data, [0.0, _sigmoid(-50.0), 0.5, 1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(cr.softplus(x).data, [0.0, np.log1p(np.exp(-50.0)), np.log(2), 50.0, 1000.0],
                               rtol=1e-12)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # no overflow warnings either
        cr.sigmoid(x), cr.softplus(x), cr.elu(x)


BINARY = {
    "+": (lambda a, b: a + b, np.add),
    "-": (lambda a, b: a - b, np.subtract),
    "*": (lambda a, b: a * b, np.multiply),
    "/": (lambda a, b: a / b, np.true_divide),
    "**": (lambda a, b: a ** b, np.power),
    "add": (cr.add, np.add), "sub": (cr.sub, np.subtract), "mul": (cr.mul, np.multiply),
    "div": (cr.div, np.true_divide), "pow": (cr.pow, np.power),
    "maximum": (cr.maximum, np.maximum), "minimum": (cr.minimum, np.minimum),
}


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1, 4), (5, 4)), ((), (2, 3)), ((2, 1), (1, 3))],
                         ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_forward_and_gradient_with_broadcasting(name, shapes, rng):
    fn, ref = BINARY[name]
    # on grids 0.2k + 0.1 and 0.2k: positive (for ** and /) and |a - b| >= 0.1 (no max/min ties)
    a = np.round(rng.uniform(0.5, 2.0, shapes[0]) * 5) / 5 + 0.1
    b = np.round(rng.uniform(0.5, 2.0, shapes[1]) * 5) / 5
    out = fn(t64(a), t64(b))
    np.testing.assert_allclose(out.data, ref(a, b), rtol=1e-12)
    assert out.shape == np.broadcast_shapes(a.shape, b.shape)
    assert gradcheck(fn, a, b)


@pytest.mark.parametrize("name", ["+", "-", "*", "/", "**"])
def test_binary_with_python_number_on_either_side(name, rng):
    fn, ref = BINARY[name]
    x = rng.uniform(0.5, 2.0, (2, 3))
    np.testing.assert_allclose(fn(t64(x), 1.7).data, ref(x, 1.7), rtol=1e-12)
    np.testing.assert_allclose(fn(1.7, t64(x)).data, ref(1.7, x), rtol=1e-12)
    assert gradcheck(lambda t: fn(t, 1.7), x)
    assert gradcheck(lambda t: fn(1.7, t), x)


def test_max_gate_splits_ties_evenly():
    x, y = t64([1.0, 2.0], True), t64([1.0, 0.0], True)
    cr.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.5, 1.0])
    np.testing.assert_array_equal(y.grad.data, [0.5, 0.0])


def test_clamp_and_clip(rng):
    x = rng.standard_normal((4, 5)) * 2
    x = np.where(np.abs(np.abs(x) - 1) < 0.1, x * 1.3, x)
    np.testing.assert_array_equal(cr.clamp(t64(x), -1.0, 1.0).data, np.clip(x, -1, 1))
    np.testing.assert_array_equal(cr.clip(t64(x), min=0.0).data, np.clip(x, 0, None))
    np.testing.assert_array_equal(t64(x).clamp(max=0.5).data, np.clip(x, None, 0.5))
    assert gradcheck(lambda t: cr.clamp(t, -1.0, 1.0), x)
    g = cr.tensor(x, dtype=np.float64, requires_grad=True)
    cr.clamp(g, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(g.grad.data, (np.abs(x) <= 1).astype(float))
    # tensor bounds are differentiable too
    lo = rng.standard_normal((4, 5)) - 2.0
    assert gradcheck(lambda t, b: cr.clamp(t, min=b), x, lo)
    with pytest.raises(ValueError, match="clip"):
        cr.clip(t64(x))


def test_where(rng):
    c = rng.standard_normal((3, 4)) > 0
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    np.testing.assert_array_equal(cr.where(c, t64(a), t64(b)).data, np.where(c, a, b))
    np.testing.assert_array_equal(cr.where(cr.tensor(c), t64(a), 0.0).data, np.where(c, a, 0.0))
    assert gradcheck(lambda x, y: cr.where(c, x, y), a, b)
    x, y = t64(a, True), t64(b, True)
    cr.where(c, x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, c.astype(float))
    np.testing.assert_array_equal(y.grad.data, (~c).sum(axis=0))


# ---------------------------------------------------------------- matmul family

@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                   ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))],
                         ids=str)
def test_matmul_shapes(sa, sb, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    for fn in (lambda x, y: x @ y, cr.matmul, lambda x, y: x.matmul(y)):
        out = fn(t64(a), t64(b))
        np.testing.assert_allclose(out.data, a @ b, rtol=1e-12)
    assert gradcheck(cr.matmul, a, b)


def test_matmul_with_array_operand_on_either_side(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    np.testing.assert_allclose((a @ t64(b)).data, a @ b, rtol=1e-12)
    np.testing.assert_allclose((t64(a) @ b).data, a @ b, rtol=1e-12)
    assert gradcheck(lambda y: a @ y, b)


def test_dot_outer_einsum(rng):
    u, v = rng.standard_normal(4), rng.standard_normal(4)
    w = rng.standard_normal(3)
    assert cr.dot(t64(u), t64(v)).item() == pytest.approx(np.dot(u, v), rel=1e-12)
    assert t64(u).dot(t64(v)).shape == ()
    np.testing.assert_allclose(cr.outer(t64(u), t64(w)).data, np.outer(u, w), rtol=1e-12)
    assert gradcheck(cr.dot, u, v) and gradcheck(cr.outer, u, w)
    with pytest.raises(ValueError, match="dot"):
        cr.dot(t64(np.ones((2, 2))), t64(u))
    A, B, C = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5)), rng.standard_normal((5,))
    for spec, ops in [("bij,bjk->bik", (A, B)), ("bij,bjk,k->bi", (A, B, C)), ("bij->j", (A,)),
                      ("bij,bij->b", (A, A + 1)), ("ij,k->ijk", (A[0], C)), ("bij", (A,))]:
        np.testing.assert_allclose(cr.einsum(spec, *map(t64, ops)).data, np.einsum(spec, *ops), rtol=1e-12)
        assert gradcheck(lambda *ts, s=spec: cr.einsum(s, *ts), *ops)


# ---------------------------------------------------------------- reductions

REDUCTIONS = {
    "sum": (cr.sum, np.sum), "mean": (cr.mean, np.mean), "max": (cr.max, np.max),
    "min": (cr.min, np.min), "prod": (cr.prod, np.prod),
    "var": (cr.var, lambda x, axis=None, keepdims=False: np.var(x, axis=axis, keepdims=keepdims, ddof=1)),
    "std": (cr.std, lambda x, axis=None, keepdims=False: np.std(x, axis=axis, keepdims=keepdims, ddof=1)),
    "logsumexp": (cr.logsumexp,
                  lambda x, axis=None, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))),
    "norm": (cr.norm, lambda x, axis=None, keepdims=False: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))),
}


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (1, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions(name, axis, keepdims, rng):
    fn, ref = REDUCTIONS[name]
    x = rng.uniform(0.5, 1.5, (2, 3, 4)) * np.sign(rng.standard_normal((2, 3, 4)))
    if name == "prod":
        x = np.abs(x)
    want = ref(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(fn(t64(x), axis=axis, keepdims=keepdims).data, want, rtol=1e-12)
    # PyTorch's spelling: dim= / keepdim= (max/min with an int dim return values, indices)
    if axis is not None:
        out = fn(t64(x), dim=axis, keepdim=keepdims)
        out = out[0] if name in ("max", "min") and isinstance(axis, int) else out
        np.testing.assert_allclose(out.data, want, rtol=1e-12)
    meth = getattr(t64(x), name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(meth.data, want, rtol=1e-12)
    assert gradcheck(lambda t: fn(t, axis=axis, keepdims=keepdims), x)


def test_max_min_with_dim_return_values_and_indices(rng):
    x = rng.standard_normal((3, 5))
    res = cr.max(t64(x), dim=1)
    values, indices = res
    assert res.values is values and res.indices is indices
    np.testing.assert_array_equal(values.data, x.max(axis=1))
    np.testing.assert_array_equal(indices.data, x.argmax(axis=1))
    assert not indices.requires_grad and indices.dtype.kind == "i"
    vmin, imin = t64(x).min(dim=0, keepdim=True)
    np.testing.assert_array_equal(vmin.data, x.min(axis=0, keepdims=True))
    np.testing.assert_array_equal(imin.data, x.argmin(axis=0, keepdims=True))
    t = t64(x, True)
    t.max(dim=1).values.sum().backward()
    want = np.zeros_like(x)
    want[np.arange(3), x.argmax(axis=1)] = 1
    np.testing.assert_array_equal(t.grad.data, want)
    # NumPy's axis= gives just the values
    assert isinstance(cr.max(t64(x), axis=1), cr.Tensor)
    # x.max(other) is the elementwise maximum, as in PyTorch
    np.testing.assert_array_equal(t64(x).max(t64(-x)).data, np.abs(x))


def test_var_std_corrections(rng):
    x = rng.standard_normal((4, 6))
    np.testing.assert_allclose(cr.var(t64(x), ddof=0).data, np.var(x), rtol=1e-12)
    np.testing.assert_allclose(cr.var(t64(x), dim=1, unbiased=False).data, np.var(x, axis=1), rtol=1e-12)
    np.testing.assert_allclose(cr.std(t64(x), dim=0, correction=0).data, np.std(x, axis=0), rtol=1e-12)
    assert gradcheck(lambda t: cr.std(t, axis=1, ddof=0), x)


def test_norm_orders(rng):
    x = away_from_zero(rng, 3, 4)
    np.testing.assert_allclose(cr.norm(t64(x)).data, np.linalg.norm(x), rtol=1e-12)
    np.testing.assert_allclose(cr.norm(t64(x), p=1, dim=1).data, np.abs(x).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(cr.norm(t64(x), p=float("inf"), dim=0).data, np.abs(x).max(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cr.norm(t64(x), p=3, axis=1).data, (np.abs(x) ** 3).sum(1) ** (1 / 3),
                               rtol=1e-12)
    for p in (1, 2, 3):
        assert gradcheck(lambda t, p=p: cr.norm(t, p=p, axis=1), x)
    z = t64(np.zeros(3), True)   # gradient of the 2-norm at 0 is 0, as in PyTorch (not nan)
    cr.norm(z).backward()
    np.testing.assert_array_equal(z.grad.data, np.zeros(3))


def test_logsumexp_is_stable():
    x = t64([[1000.0, 1000.0], [-1000.0, 0.0]])
    np.testing.assert_allclose(cr.logsumexp(x, dim=1).data, [1000 + np.log(2), 0.0], rtol=1e-12, atol=1e-300)


def test_argmax_argmin_and_comparisons_have_no_gradient(rng):
    x = rng.standard_normal((3, 4))
    t = t64(x, True)
    for out, want in [(cr.argmax(t, dim=1), x.argmax(1)), (t.argmin(axis=0), x.argmin(0)),
                      (cr.argmax(t), x.argmax()), (t > 0, x > 0), (t <= 0.1, x <= 0.1),
                      (t == t, x == x), (t != 0.5, x != 0.5), (t >= t * 2, x >= 2 * x), (t < 1, x < 1)]:
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.data, want)
    assert (t > 0).dtype == np.bool_


# ---------------------------------------------------------------- softmax family

def test_softmax_and_log_softmax(rng):
    x = rng.standard_normal((3, 5))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(cr.softmax(t64(x), dim=1).data, p, rtol=1e-12)
    np.testing.assert_allclose(t64(x).log_softmax(axis=-1).data, np.log(p), rtol=1e-12)
    e0 = np.exp(x) / np.exp(x).sum(axis=0)
    np.testing.assert_allclose(cr.softmax(t64(x), axis=0).data, e0, rtol=1e-12)
    assert gradcheck(lambda t: cr.softmax(t, dim=0), x)
    assert gradcheck(lambda t: cr.log_softmax(t, dim=1), x)


def test_softmax_is_stable():
    big = cr.softmax(t64([1000.0, 1000.0]))
    np.testing.assert_array_equal(big.data, [0.5, 0.5])
    far = cr.softmax(t64([-1000.0, 0.0]))
    np.testing.assert_array_equal(far.data, [0.0, 1.0])
    ls = cr.log_softmax(t64([-1000.0, 0.0]))
    np.testing.assert_allclose(ls.data, [-1000.0, 0.0], atol=1e-12)
    assert np.isfinite(cr.log_softmax(t64([1000.0, 1000.0])).data).all()
    x = t64([1000.0, 1000.0], True)
    cr.log_softmax(x)[0].backward()
    np.testing.assert_allclose(x.grad.data, [0.5, -0.5])


# ---------------------------------------------------------------- shape ops

def test_reshape_view_flatten(rng):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(cr.reshape(t64(x), (6, 4)).data, x.reshape(6, 4))
    np.testing.assert_array_equal(t64(x).reshape(4, -1).data, x.reshape(4, -1))
    np.testing.assert_array_equal(t64(x).view(-1).data, x.reshape(-1))
    np.testing.assert_array_equal(cr.view(t64(x), 2, 12).data, x.reshape(2, 12))
    np.testing.assert_array_equal(cr.flatten(t64(x)).data, x.reshape(-1))
    np.testing.assert_array_equal(t64(x).flatten(1).data, x.reshape(2, 12))
    np.testing.assert_array_equal(t64(x).flatten(0, 1).data, x.reshape(6, 4))
    assert gradcheck(lambda t: t.reshape(4, 6) * cr.tensor(np.arange(24.0).reshape(4, 6), dtype=np.float64), x)
    assert gradcheck(lambda t: t.flatten(1) ** 2, x)


def test_transpose_permute_swapaxes_moveaxis(rng):
    x = rng.standard_normal((2, 3, 4))
    m = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(t64(m).T.data, m.T)
    np.testing.assert_array_equal(cr.transpose(t64(m)).data, m.T)
    np.testing.assert_array_equal(cr.transpose(t64(x), 0, 2).data, np.swapaxes(x, 0, 2))   # PyTorch
    np.testing.assert_array_equal(cr.transpose(t64(x), (1, 2, 0)).data, np.transpose(x, (1, 2, 0)))  # NumPy
    np.testing.assert_array_equal(t64(x).permute(2, 0, 1).data, np.transpose(x, (2, 0, 1)))
    np.testing.assert_array_equal(cr.permute(t64(x), (1, 0, 2)).data, np.transpose(x, (1, 0, 2)))
    np.testing.assert_array_equal(cr.swapaxes(t64(x), -1, 0).data, np.swapaxes(x, -1, 0))
    np.testing.assert_array_equal(t64(x).mT.data, np.swapaxes(x, -1, -2))
    np.testing.assert_array_equal(cr.moveaxis(t64(x), 0, -1).data, np.moveaxis(x, 0, -1))
    w = rng.standard_normal((4, 2, 3))
    assert gradcheck(lambda t: t.permute(2, 0, 1) * w, x)
    w2 = rng.standard_normal((4, 3, 2))
    assert gradcheck(lambda t: cr.swapaxes(t, 0, 2) * w2, x)


def test_squeeze_unsqueeze_expand_broadcast_to(rng):
    x = rng.standard_normal((3, 1, 4, 1))
    np.testing.assert_array_equal(cr.squeeze(t64(x)).data, x.squeeze())
    assert t64(x).squeeze(1).shape == (3, 4, 1)
    assert t64(x).squeeze(dim=-1).shape == (3, 1, 4)
    assert t64(x).squeeze(0).shape == x.shape   # not length 1: unchanged, as in PyTorch
    y = rng.standard_normal((3, 4))
    assert cr.unsqueeze(t64(y), 0).shape == (1, 3, 4)
    assert t64(y).unsqueeze(-1).shape == (3, 4, 1)
    assert cr.unsqueeze(t64(y), dim=1).shape == (3, 1, 4)
    b = rng.standard_normal((3, 1))
    np.testing.assert_array_equal(t64(b).expand(2, -1, 5).data, np.broadcast_to(b, (2, 3, 5)))
    np.testing.assert_array_equal(cr.broadcast_to(t64(b), (3, 4)).data, np.broadcast_to(b, (3, 4)))
    np.testing.assert_array_equal(t64(b).expand_as(t64(y)).data, np.broadcast_to(b, (3, 4)))
    assert gradcheck(lambda t: t.squeeze().unsqueeze(0), x)
    assert gradcheck(lambda t: t.expand(2, 3, 5), b)
    g = t64(b, True)
    cr.broadcast_to(g, (2, 3, 4)).sum().backward()
    np.testing.assert_array_equal(g.grad.data, np.full((3, 1), 8.0))


def test_cat_stack_split_chunk(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    np.testing.assert_array_equal(cr.cat([t64(a), t64(b)]).data, np.concatenate([a, b]))
    np.testing.assert_array_equal(cr.concatenate([t64(a.T), t64(b.T)], axis=1).data,
                                  np.concatenate([a.T, b.T], axis=1))
    np.testing.assert_array_equal(cr.cat((t64(a), t64(a)), dim=-1).data, np.concatenate([a, a], -1))
    assert gradcheck(lambda x, y: cr.cat([x, y, x], dim=0), a, b)
    np.testing.assert_array_equal(cr.stack([t64(a), t64(a * 2)]).data, np.stack([a, 2 * a]))
    np.testing.assert_array_equal(cr.stack([t64(a), t64(a)], dim=2).data, np.stack([a, a], axis=2))
    assert gradcheck(lambda x, y: cr.stack([x, y], axis=1), a, a + 1)
    x = rng.standard_normal((7, 2))
    parts = cr.split(t64(x), 3)
    assert [p.shape for p in parts] == [(3, 2), (3, 2), (1, 2)]
    np.testing.assert_array_equal(cr.cat(parts).data, x)
    parts = t64(x).split([2, 5], dim=0)
    np.testing.assert_array_equal(parts[1].data, x[2:])
    assert [p.shape for p in t64(x).chunk(2, dim=1)] == [(7, 1), (7, 1)]
    assert gradcheck(lambda t: cr.split(t, [4, 3])[1] * 2 + cr.split(t, [4, 3])[0][:3], x)
    with pytest.raises(ValueError, match="split"):
        cr.split(t64(x), [2, 2])


def test_pad(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(cr.pad(t64(x), ((1, 2), (0, 1))).data, np.pad(x, ((1, 2), (0, 1))))
    np.testing.assert_array_equal(cr.pad(t64(x), 1, value=-1.0).data, np.pad(x, 1, constant_values=-1.0))
    np.testing.assert_array_equal(np.pad(t64(x), ((0, 0), (2, 0))).data, np.pad(x, ((0, 0), (2, 0))))
    assert gradcheck(lambda t: cr.pad(t, ((1, 2), (0, 1))), x)


# ---------------------------------------------------------------- indexing

@pytest.mark.parametrize("index", [
    1, -1, (1, 2), slice(1, 3), (slice(None), 2), (Ellipsis, 1), (None, 1), (slice(None, None, -1),),
    (1, None, slice(0, 3, 2)), (Ellipsis, None),
], ids=repr)
def test_basic_indexing(index, rng):
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(t64(x)[index].data, x[index])
    assert gradcheck(lambda t: t[index], x)
    t = t64(x, True)
    t[index].sum().backward()
    want = np.zeros_like(x)
    want[index] = 1
    np.testing.assert_array_equal(t.grad.data, want)


def test_boolean_mask_indexing(rng):
    x = rng.standard_normal((4, 5))
    mask = x > 0
    np.testing.assert_array_equal(t64(x)[mask].data, x[mask])
    np.testing.assert_array_equal(t64(x)[cr.tensor(mask)].data, x[mask])
    np.testing.assert_array_equal(t64(x)[t64(x) > 0].data, x[mask])
    assert gradcheck(lambda t: t[mask], x)
    rows = np.array([True, False, True, True])
    np.testing.assert_array_equal(t64(x)[rows, 1:].data, x[rows, 1:])
    t = t64(x, True)
    (t[mask] * 3).sum().backward()
    np.testing.assert_array_equal(t.grad.data, 3.0 * mask)


def test_integer_array_indexing_accumulates_repeats(rng):
    x = rng.standard_normal((4, 3))
    idx = np.array([0, 2, 2, 2, 3])
    np.testing.assert_array_equal(t64(x)[idx].data, x[idx])
    np.testing.assert_array_equal(t64(x)[[0, 2, 2]].data, x[[0, 2, 2]])
    np.testing.assert_array_equal(t64(x)[cr.tensor(idx)].data, x[idx])
    np.testing.assert_array_equal(t64(x)[idx, 1].data, x[idx, 1])
    np.testing.assert_array_equal(t64(x)[[1, 1], [0, 2]].data, x[[1, 1], [0, 2]])
    t = t64(x, True)
    t[idx].sum().backward()
    np.testing.assert_array_equal(t.grad.data, np.array([1, 0, 3, 1])[:, None] * np.ones((1, 3)))
    assert gradcheck(lambda t: t[idx] ** 2, x)
    assert gradcheck(lambda t: t[[1, 1, 0], [2, 2, 1]], x)
    with pytest.raises(IndexError, match="getitem"):
        t64(x)[5]


def test_take_along_axis_and_gather(rng):
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    np.testing.assert_array_equal(cr.take_along_axis(t64(x), idx, 1).data, np.take_along_axis(x, idx, 1))
    np.testing.assert_array_equal(cr.gather(t64(x), 1, cr.tensor(idx)).data, np.take_along_axis(x, idx, 1))
    np.testing.assert_array_equal(t64(x).gather(0, np.array([[2, 0, 1, 1]])).data,
                                  np.take_along_axis(x, np.array([[2, 0, 1, 1]]), 0))
    np.testing.assert_array_equal(np.take_along_axis(t64(x), idx, axis=1).data, np.take_along_axis(x, idx, 1))
    assert gradcheck(lambda t: cr.take_along_axis(t, idx, 1), x)
    t = t64(x, True)
    cr.gather(t, 1, idx).sum().backward()
    np.testing.assert_array_equal(t.grad.data[1], [0, 2, 0, 0])   # row 1 picks index 1 twice


def test_setitem_under_autograd(rng):
    x = rng.standard_normal((4, 3))
    v = rng.standard_normal(3)

    def f(a, b):
        y = a * 1.0
        y[1] = b
        return y * y
    out = f(t64(x), t64(v))
    want = x.copy()
    want[1] = v
    np.testing.assert_allclose(out.data, want ** 2)
    assert gradcheck(f, x, v)


def test_numpy_functions_dispatch_to_ops(rng):
    x = rng.standard_normal((3, 4))
    t = t64(x, True)
    for out, want in [(np.exp(t), np.exp(x)), (np.sum(t, axis=0), x.sum(0)), (np.mean(t), x.mean()),
                      (np.tanh(t), np.tanh(x)), (np.maximum(t, 0), np.maximum(x, 0)),
                      (np.concatenate([t, t]), np.concatenate([x, x])), (np.transpose(t), x.T),
                      (np.reshape(t, (4, 3)), x.reshape(4, 3)), (np.where(x > 0, t, 0.0), np.where(x > 0, x, 0.0))]:
        assert isinstance(out, cr.Tensor) and out.requires_grad
        np.testing.assert_allclose(out.data, want, rtol=1e-12)


# ---------------------------------------------------------------- error messages

def test_matmul_shape_error():
    with pytest.raises(ValueError) as info:
        cr.randn(64, 100) @ cr.randn(64, 10)
    msg = str(info.value)
    assert "matmul" in msg and "(64, 100)" in msg and "(64, 10)" in msg and "100 != 64" in msg
    with pytest.raises(ValueError, match=r"matmul.*\(3,\).*\(4,\).*3 != 4"):
        cr.matmul(cr.randn(3), cr.randn(4))
    with pytest.raises(ValueError, match=r"matmul.*batch"):
        cr.randn(2, 3, 4) @ cr.randn(3, 4, 5)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_broadcast_error_names_op_and_shapes(op):
    with pytest.raises(ValueError, match=rf"{op}: shapes \(3, 4\) and \(5,\) do not broadcast"):
        getattr(cr, op)(cr.randn(3, 4), cr.randn(5))


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape shape \(3, 4\) \(size 12\) into \(5, -1\)"):
        cr.randn(3, 4).reshape(5, -1)
    with pytest.raises(ValueError, match=r"broadcast_to.*\(3,\).*\(2, 4\)"):
        cr.broadcast_to(cr.randn(3), (2, 4))
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\).*\(2, 4\)"):
        cr.cat([cr.randn(2, 3), cr.randn(2, 4)])
    with pytest.raises(ValueError, match=r"linear.*\(4, 3\).*\(5, 2\)"):
        cr.ops.REGISTRY["linear"](cr.randn(4, 3), cr.randn(5, 2))


def test_detect_anomaly_names_the_op():
    x = cr.tensor([-1.0, 2.0], requires_grad=True)
    with cr.detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"log forward produced nan"):
            with np.errstate(invalid="ignore"):
                cr.log(x)
        z = cr.tensor([0.0, 1.0], requires_grad=True)
        y = cr.sqrt(z).sum()
        with pytest.raises(FloatingPointError, match=r"sqrt backward produced inf"):
            with np.errstate(divide="ignore"):
                y.backward()
    with np.errstate(invalid="ignore"):
        assert np.isnan(cr.log(x).data[0])    # outside the context: no check


def test_transpose_with_two_ints_swaps_like_pytorch():
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(t64(m).transpose(0, 1).data, m.T)
    np.testing.assert_array_equal(cr.transpose(t64(m), 1, 0).data, m.T)
    np.testing.assert_array_equal(t64(m).transpose((0, 1)).data, m)     # NumPy's permutation tuple
    np.testing.assert_array_equal(np.transpose(t64(m), axes=(1, 0)).data, m.T)


def test_max_dim_routes_to_returned_index_but_amax_splits_ties():
    x = t64([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], True)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(indices.data, [1, 0])       # first occurrence, as in PyTorch
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    out = cr.amax(x, dim=1)
    assert isinstance(out, cr.Tensor)                         # values only, like torch.amax
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_array_equal(x.amin(dim=0).data, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(np.amax(x, axis=0).data, [2.0, 3.0, 3.0])
    v, i = cr.min(x, dim=-1, keepdim=True)
    assert v.shape == i.shape == (2, 1)


# ---------------------------------------------------------------- factories

def test_factories_shapes_dtypes_and_seeding():
    assert cr.zeros(2, 3).shape == cr.ones((2, 3)).shape == cr.empty(2, 3).shape == (2, 3)
    assert cr.zeros(2).dtype == cr.rand(2).dtype == cr.eye(2).dtype == np.float32
    assert cr.full((2,), 3).dtype == np.int64 and cr.full((2,), 3.0).dtype == np.float32
    np.testing.assert_array_equal(cr.arange(1, 2, 0.5).data, [1.0, 1.5])
    np.testing.assert_array_equal(cr.linspace(0, 1, 5).data, np.linspace(0, 1, 5))
    np.testing.assert_array_equal(cr.eye(2, 3).data, np.eye(2, 3))
    np.testing.assert_array_equal(cr.full_like(cr.ones(2, dtype=np.float64), 7).data, [7.0, 7.0])
    assert cr.zeros_like(cr.ones(2, dtype=np.float64)).dtype == np.float64
    assert cr.ones(2, requires_grad=True).requires_grad
    a = np.ones(3)
    assert cr.from_numpy(a).data is a                       # no copy, dtype kept
    assert cr.tensor(a).data is not a                       # cr.tensor copies
    cr.manual_seed(7)
    first = (cr.randn(3).tolist(), cr.randint(0, 10, (4,)).tolist(), cr.randperm(5).tolist())
    cr.manual_seed(7)
    assert first == (cr.randn(3).tolist(), cr.randint(0, 10, (4,)).tolist(), cr.randperm(5).tolist())
    assert sorted(first[2]) == [0, 1, 2, 3, 4]
    assert cr.default_generator() is cr.factories.default_generator()


def test_pow_zero_exponent_has_zero_gradient_at_zero():
    x = t64([0.0, 2.0], True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    assert cr.gradgradcheck(lambda t: t ** 0, np.array([0.5, 2.0]))


# ---------------------------------------------------------------- Tensor basics

def test_tensor_attributes_and_numpy_protocols():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    x = cr.tensor(a, requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float32 and len(x) == 2
    assert x.T.shape == (3, 2) and x.T.grad_fn is not None          # .T is a recorded op
    np.testing.assert_array_equal(x.T.data, a.T)
    assert x.numpy() is x.data                                       # shared, as in PyTorch
    assert np.asarray(x).dtype == np.float32 and np.array(x, dtype=np.float64).dtype == np.float64
    assert cr.tensor([[2.5]]).item() == 2.5 and isinstance(cr.tensor(3).item(), int)
    with pytest.raises(ValueError, match=r"item: only one-element tensors .* shape \(2, 3\)"):
        x.item()
    with pytest.raises(TypeError, match="len"):
        len(cr.tensor(1.0))
    assert x.is_leaf and x.grad_fn is None and not (x * 2).is_leaf
    assert (x * 2).grad_fn.name == "mul"


def test_tensor_repr_is_readable():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(x) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    assert repr(x * 2) == "tensor([[2., 4.],\n        [6., 8.]], grad_fn=<mul>)"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor([1.0], dtype=np.float64)) == "tensor([1.], dtype=float64)"
    assert repr(cr.tensor(2.0, name="w")) == "tensor(2., name='w')"


# ---------------------------------------------------------------- issue 9/10: surface bugs

@pytest.mark.parametrize("op", ["sum", "prod", "logsumexp", "mean", "amax", "norm", "var", "std"])
@pytest.mark.parametrize("dim", [0, -1, (0,)])
def test_reducing_a_0d_tensor_over_dim_0_returns_it(op, dim):
    x = t64(3.0, requires_grad=True)
    kw = {"correction": 0} if op in ("var", "std") else {}
    y = getattr(x, op)(dim=dim, **kw)
    if op != "norm":   # norm's first argument is p
        assert getattr(x, op)(dim, **kw).item() == y.item()
    assert y.shape == () and y.item() == (0.0 if op in ("var", "std") else 3.0)
    assert getattr(x, op)(dim=dim, keepdim=True, **kw).shape == ()
    y.backward()
    assert x.grad.item() == (0.0 if op in ("var", "std") else 1.0)   # PyTorch's values
    with pytest.raises(IndexError, match=rf"^{op}: axis 1 is out of range for shape \(\)"):
        getattr(x, op)(dim=1)


def test_max_min_with_dim_on_a_0d_tensor():
    values, indices = t64(2.0).max(dim=0)
    assert values.item() == 2.0 and indices.item() == 0


STD_VAR_CASES = [(np.full((2, 3), 2.0), 1), (np.array([[2.0, 2, 2], [1, 2, 4]]), 1),
                 (np.full((2, 1), 2.0), 1), (np.full((2, 1), 2.0), 0), (np.full((2, 2), 2.0), 2)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")   # 0/0 at n <= c
@pytest.mark.parametrize("a,correction", STD_VAR_CASES)
@pytest.mark.parametrize("op", ["var", "std"])
def test_std_var_gradients_at_a_constant_row(op, a, correction):
    """0 where the row is constant (std masks, as PyTorch), nan where n - correction <= 0."""
    x = t64(a, requires_grad=True)
    getattr(cr, op)(x, dim=1, correction=correction).sum().backward()
    const = (a == a[:, :1]).all(axis=1)
    bad = a.shape[1] - correction <= 0
    g = x.grad.data
    if bad:
        assert np.isnan(g).all()
    else:
        np.testing.assert_array_equal(g[const], 0.0)
        assert np.isfinite(g).all()
    torch = pytest.importorskip("torch")
    tx = torch.tensor(a, requires_grad=True)
    ty = getattr(tx, op)(dim=1, correction=correction)
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(getattr(cr, op)(t64(a), dim=1, correction=correction).data,
                               ty.detach().numpy(), rtol=1e-12)


def test_numpy_var_and_std_on_a_tensor_use_numpy_ddof():
    x = t64([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    assert np.var(x).item() == pytest.approx(np.var(x.data)) == pytest.approx(1.25)
    assert np.std(x).item() == pytest.approx(np.std(x.data))
    assert np.var(x, ddof=1).item() == pytest.approx(np.var(x.data, ddof=1))
    m = t64(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(np.std(m, axis=1, keepdims=True).data,
                               np.std(m.data, axis=1, keepdims=True))
    assert cr.var(x).item() == pytest.approx(np.var(x.data, ddof=1))   # PyTorch's correction=1
    assert x.std().item() == pytest.approx(np.std(x.data, ddof=1))
    np.var(x).backward()
    np.testing.assert_allclose(x.grad.data, 2 * (x.data - x.data.mean()) / 4)


def test_where_with_python_numbers_returns_a_tensor():
    out = cr.where(cr.tensor([True, False]), 1, 3)
    assert isinstance(out, cr.Tensor) and out.tolist() == [1, 3]


def test_bitwise_operators_on_integers_and_logical_on_bool():
    a, b = cr.tensor([1, 2, 3]), cr.tensor([3, 1, 2])
    assert (a & b).tolist() == [1, 0, 2] and (a | b).tolist() == [3, 3, 3]
    assert (a ^ b).tolist() == [2, 3, 1] and (~a).tolist() == [-2, -3, -4]
    assert (6 & a).tolist() == [0, 2, 2] and (a | 4).tolist() == [5, 6, 7]
    p, q = cr.tensor([True, True, False]), cr.tensor([True, False, False])
    assert (p & q).tolist() == [True, False, False] and (~p).tolist() == [False, False, True]
    assert (p ^ q).dtype == np.bool_ and (p | q).tolist() == [True, True, False]
    with pytest.raises(TypeError, match="^bitwise_and: only integer and bool tensors, got float32"):
        cr.ones(2) & cr.ones(2)


@pytest.mark.parametrize("sa,sb", [((), (3,)), ((4,), (4,)), ((2, 4), (4,)), ((2, 3), (3, 4)),
                                   ((4,), (2, 4, 3)), ((2, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))])
def test_numpy_dot_on_tensors_has_numpy_semantics_and_gradients(sa, sb, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = np.dot(t64(a), t64(b))
    assert isinstance(out, cr.Tensor)
    np.testing.assert_allclose(out.data, np.dot(a, b), rtol=1e-12)
    assert gradcheck(lambda p, q: np.dot(p, q), a, b)


@pytest.mark.parametrize("mode,kw", [("constant", {}), ("constant", {"constant_values": 2.5}),
                                     ("edge", {}), ("reflect", {}), ("symmetric", {}), ("wrap", {})])
def test_numpy_pad_on_tensors_with_modes(mode, kw, rng):
    a = rng.standard_normal((3, 4))
    width = ((1, 2), (2, 1))
    out = np.pad(t64(a), width, mode, **kw)
    np.testing.assert_allclose(out.data, np.pad(a, width, mode, **kw))
    assert gradcheck(lambda x: np.pad(x, width, mode, **kw), a)
    assert np.pad(t64(a), 1, mode=mode, **kw).shape == (5, 6)


def test_numpy_pad_unsupported_mode_names_it():
    with pytest.raises(TypeError, match="numpy.pad: mode 'linear_ramp' is not supported"):
        np.pad(cr.ones(3), 1, "linear_ramp")


def test_numpy_einsum_sublist_form(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    out = np.einsum(t64(a), [0, 1], t64(b), [1, 2], [0, 2])
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-12)
    np.testing.assert_allclose(np.einsum(t64(a), [0, 1]).data, np.einsum(a, [0, 1]))
    np.testing.assert_allclose(np.einsum("ij,jk", t64(a), b).data, a @ b, rtol=1e-12)
    assert gradcheck(lambda p, q: np.einsum(p, [0, 1], q, [1, 2], [0, 2]), a, b)
    with pytest.raises(TypeError, match="^einsum: subscripts must be a string"):
        cr.einsum(t64(a), [0, 1])


def test_numpy_functions_without_an_equivalent_raise_a_clear_type_error():
    t = cr.ones(3)
    with pytest.raises(TypeError, match=r"^numpy.histogram is not supported on chainrule Tensors"):
        np.histogram(t)
    with pytest.raises(TypeError, match=r"^numpy.spacing is not supported on chainrule Tensors"):
        np.spacing(t)
    with pytest.raises(TypeError, match=r"^numpy.add.reduce is not supported"):
        np.add.reduce(t)
    assert np.histogram(np.asarray(t))[0].sum() == 3   # the detached array works, as the message says


def test_numpy_names_of_other_functions_on_tensors(rng):
    a = rng.standard_normal((2, 3))
    x = t64(a)
    np.testing.assert_allclose(np.clip(x, a_min=-0.5, a_max=0.5).data, np.clip(a, -0.5, 0.5))
    np.testing.assert_allclose(np.transpose(x).data, a.T)
    np.testing.assert_allclose(np.reshape(x, (3, 2)).data, a.reshape(3, 2))
    np.testing.assert_allclose(np.round(x, 1).data, np.round(a, 1))
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
    assert (np.floor(x).data == np.floor(a)).all()


def test_public_names_are_generated_from_declarations():
    """cr.<op>, Tensor methods, operators and the NumPy tables all come from one declaration."""
    import sys
    from chainrule.ops import REGISTRY
    tensor_mod = sys.modules["chainrule.tensor"]
    for prim in REGISTRY.values():
        if not prim.api:
            continue
        names = (prim.api,) if isinstance(prim.api, str) else prim.api
        fn = getattr(cr, names[0])
        assert all(getattr(cr, n) is fn and getattr(cr.functions, n) is fn for n in names)
        if prim.method:
            assert all(getattr(cr.Tensor, n) is fn for n in names), prim.name
        for u in (prim.ufunc if isinstance(prim.ufunc, tuple) else (prim.ufunc,)):
            assert tensor_mod._UFUNCS[u] is fn, prim.name
    assert cr.Tensor.__mul__ is cr.mul and cr.Tensor.sum is cr.sum and cr.Tensor.view is cr.reshape
