"""Every primitive in the registry, on every one of its samples: gradcheck (and gradgradcheck if smooth)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.ops import REGISTRY
from helpers import build_sample, primitive_cases

CASES = primitive_cases()


def test_registry_is_not_empty_and_names_match():
    assert len(REGISTRY) >= 40
    for name, prim in REGISTRY.items():
        assert prim.name == name


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_primitive_has_docstring_and_samples(name):
    prim = REGISTRY[name]
    assert type(prim).__doc__ and type(prim).__doc__.strip(), f"{name}: no docstring"
    assert len(prim.samples) >= 1, f"{name}: no samples, so the sweep would skip it"


@pytest.mark.parametrize("prim,sample", CASES)
def test_forward_on_arrays_matches_forward_on_tensors(prim, sample, rng):
    arrays, f = build_sample(prim, sample, rng)
    plain = f(*arrays)
    assert isinstance(plain, np.ndarray) or np.isscalar(plain)
    out = f(*[cr.Tensor._make(a, True) for a in arrays])
    assert isinstance(out, cr.Tensor)
    np.testing.assert_allclose(out.data, plain)
    assert out.grad_fn is not None and out.grad_fn.name == prim.name


@pytest.mark.parametrize("prim,sample", primitive_cases(constant_output=True))
def test_comparison_primitives_match_numpy_and_record_no_gradient(prim, sample, rng):
    ins = [rng.standard_normal(i) if isinstance(i, tuple) else i for i in sample.inputs]
    out = prim(*[cr.Tensor._make(np.asarray(a), np.asarray(a).dtype.kind == "f") for a in ins],
               **sample.params)
    np.testing.assert_array_equal(out.data, prim(*ins, **sample.params))
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("prim,sample", CASES)
def test_gradcheck(prim, sample, rng):
    arrays, f = build_sample(prim, sample, rng)
    assert cr.gradcheck(f, *arrays)


@pytest.mark.parametrize("prim,sample", [c for c in CASES if c.values[1].smooth])
def test_gradgradcheck(prim, sample, rng):
    arrays, f = build_sample(prim, sample, rng)
    assert cr.gradgradcheck(f, *arrays)


@pytest.mark.parametrize("prim,sample", CASES)
def test_backward_keeps_input_shapes_and_dtype_float32(prim, sample, rng):
    """The fast backward in float32: each leaf's .grad has its shape and dtype."""
    arrays, f = build_sample(prim, sample, rng)
    ts = [cr.Tensor._make(a.astype(np.float32), True) for a in arrays]
    out = f(*ts)
    if out.dtype.kind == "f":
        assert out.dtype == np.float32, f"{prim.name}: float32 inputs gave {out.dtype}"
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in ts:
        assert t.grad is not None
        assert t.grad.shape == t.shape and t.grad.dtype == np.float32


def test_samples_cover_broadcasting_and_multi_axis_reductions():
    """The sweep above must include stretched broadcasting and reductions over several axes."""
    add_shapes = [s.inputs for s in REGISTRY["add"].samples]
    assert ((3, 1, 4), (5, 4)) in add_shapes and ((), (3,)) in add_shapes
    for name in ("sum", "mean", "max", "logsumexp"):
        multi = [s.params for s in REGISTRY[name].samples if isinstance(s.params.get("axis"), tuple)]
        assert {p.get("keepdims", False) for p in multi} == {False, True}, name


# ---------------------------------------------------------------- property tests (hypothesis)


BINARY_OPS = {"add": cr.add, "sub": cr.sub, "mul": cr.mul, "div": cr.div, "maximum": cr.maximum,
              "pow": cr.pow}
REDUCE_OPS = {"sum": cr.sum, "mean": cr.mean, "max": cr.max, "min": cr.min, "prod": cr.prod,
              "logsumexp": cr.logsumexp, "var": cr.var, "norm": cr.norm}


@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(BINARY_OPS)), seed=st.integers(0, 2 ** 16))
def test_broadcast_binary_gradients_have_input_shapes(shapes, op, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    # grids 0.2k + 0.1 and 0.2k in [0.5, 2.1]: positive for div/pow, and never tied for maximum
    a = np.round(rng.uniform(0.5, 2.0, sa) * 5) / 5 + 0.1
    b = np.round(rng.uniform(0.5, 2.0, sb) * 5) / 5
    x, y = cr.tensor(a, dtype=np.float64, requires_grad=True), cr.tensor(b, dtype=np.float64, requires_grad=True)
    out = BINARY_OPS[op](x, y)
    assert out.shape == shapes.result_shape
    up = rng.standard_normal(out.shape)
    out.backward(up)
    assert x.grad.shape == sa and y.grad.shape == sb
    na, nb = cr.numerical_grad(lambda p, q: BINARY_OPS[op](cr.Tensor._make(p, False), q), a, b, upstream=up)
    np.testing.assert_allclose(x.grad.data, na, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y.grad.data, nb, rtol=1e-5, atol=1e-7)


@st.composite
def _shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(sorted(draw(st.sets(st.integers(0, nd - 1), min_size=1, max_size=nd))))
    return shape, axis


@settings(max_examples=25, deadline=None)
@given(sa=_shape_and_axis(), keepdims=st.booleans(), op=st.sampled_from(sorted(REDUCE_OPS)),
       seed=st.integers(0, 2 ** 16))
def test_reductions_over_random_axes(sa, keepdims, op, seed):
    shape, axis = sa
    rng = np.random.default_rng(seed)
    # distinct values (a shuffled grid) so max/min have no ties; positive for prod
    a = (rng.permutation(int(np.prod(shape))).reshape(shape) + 1.0) / np.prod(shape) + 0.5
    fn = REDUCE_OPS[op]
    if op == "var" and (np.prod(shape) if axis is None else
                        np.prod([shape[i] for i in np.atleast_1d(axis)])) < 2:
        return   # the unbiased variance of one element divides by zero
    x = cr.tensor(a, dtype=np.float64, requires_grad=True)
    out = fn(x, axis=axis, keepdims=keepdims)
    ref = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
           "logsumexp": lambda v, **k: np.log(np.sum(np.exp(v), **k)),
           "var": lambda v, **k: np.var(v, ddof=1, **k),
           "norm": lambda v, **k: np.sqrt(np.sum(v * v, **k))}[op]
    np.testing.assert_allclose(out.data, ref(a, axis=axis, keepdims=keepdims), rtol=1e-12)
    up = rng.standard_normal(out.shape)
    out.backward(up)
    assert x.grad.shape == shape
    num = cr.numerical_grad(lambda v: fn(cr.Tensor._make(v, False), axis=axis, keepdims=keepdims), a,
                            upstream=up)
    np.testing.assert_allclose(x.grad.data, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("prim,sample", [c for c in CASES if not c.values[1].smooth])
def test_gradgradcheck_nonsmooth_away_from_kinks(prim, sample, rng):
    """Kinked ops must still run their rules on Tensors (create_graph) and be right between kinks."""
    arrays, f = build_sample(prim, sample, rng)
    assert cr.gradgradcheck(f, *arrays)


@pytest.mark.parametrize("prim,sample", CASES)
def test_rules_do_not_consume_saved_values_or_upstream(prim, sample, rng):
    """Backward twice with retain_graph gives twice the gradient, and the upstream array is untouched."""
    arrays, f = build_sample(prim, sample, rng)
    ts = [cr.Tensor._make(a.copy(), True) for a in arrays]
    out = f(*ts)
    up = rng.standard_normal(out.shape)
    keep = up.copy()
    out.backward(up, retain_graph=True)
    first = [t.grad.data.copy() for t in ts]
    out.backward(up)
    np.testing.assert_array_equal(up, keep)
    for t, g1, a in zip(ts, first, arrays):
        np.testing.assert_allclose(t.grad.data, 2 * g1, rtol=1e-12, atol=1e-300)
        np.testing.assert_array_equal(t.data, a)          # inputs are not modified either
