"""flat_code: the generated NumPy-only function gives chainrule's outputs and gradients (1e-12, float64)."""
import ast
import inspect
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import REGISTRY
from chainrule.viz import compile_flat, flat_code
from chainrule.viz.flat import print_form
from helpers import Square, build_sample, primitive_cases

TOL = dict(rtol=1e-12, atol=1e-12)


def _reference(f, *inputs):
    """chainrule's own value and gradients (None for integer inputs)."""
    arrs = [np.asarray(a) for a in inputs]
    ts = [cr.tensor(a, dtype=a.dtype, requires_grad=a.dtype.kind == "f") for a in arrs]
    out = f(*ts)
    floats = [t for t in ts if t.requires_grad]
    grads = iter(cr.autograd.grad(out, floats, allow_unused=True))
    return out.data, [next(grads) if t.requires_grad else None for t in ts]


def _round_trip(f, *inputs):
    src = flat_code(f, *inputs)
    tree = ast.parse(src)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    assert imported == {"numpy"}, f"generated code imports {imported}"
    out, grads = compile_flat(src)(*inputs)
    ref_out, ref_grads = _reference(f, *inputs)
    np.testing.assert_allclose(out, ref_out, **TOL)
    for g, r in zip(grads, ref_grads):
        if r is None:
            assert g is None
        else:
            assert np.shape(g) == r.shape
            np.testing.assert_allclose(g, r.data, **TOL)
    return src


def test_lecture_sigmoid_neuron_flat_code_matches_slide():
    src = _round_trip(lambda w0, x0, w1, x1, w2: cr.sigmoid(w0 * x0 + w1 * x1 + w2),
                      2.0, -1.0, -3.0, -2.0, -3.0)
    assert "s0 = w0 * x0" in src and "grad_s3 = grad_L * (1 - L) * L" in src
    out, grads = compile_flat(src)(2.0, -1.0, -3.0, -2.0, -3.0)
    # closed form: dL/dw0 = σ'(1)·x0 with σ'(1) = σ(1)(1 − σ(1))
    s = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(grads, [s * (1 - s) * v for v in (-1.0, 2.0, -2.0, -3.0, 1.0)], **TOL)


def test_lecture_sigmoid_expanded_with_constants():
    _round_trip(lambda w0, x0, w1, x1, w2: 1 / (1 + cr.exp(-(w0 * x0 + w1 * x1 + w2))),
                2.0, -1.0, -3.0, -2.0, -3.0)


def test_fan_out_adds_gradients():
    src = _round_trip(lambda x, y, z: (x + y) * z + x * x, -2.0, 5.0, -4.0)
    assert "fan-out: gradients add" in src
    out, (gx, gy, gz) = compile_flat(src)(-2.0, 5.0, -4.0)
    assert (gx, gy, gz) == (-4.0 + 2 * -2.0, -4.0, 3.0)


def test_broadcasting_is_undone_by_the_engines_own_sum():
    rng = np.random.default_rng(0)
    src = _round_trip(lambda x, b: cr.sum(cr.tanh(x * b + 1.0)), rng.standard_normal((3, 4)),
                      rng.standard_normal(4))
    backward = src.split("# backward")[1]
    # b was broadcast over the rows: its gradient is summed back by sum_to's own recorded sum
    assert re.search(r"grad_b = np\.sum\(.*axis=0", backward), backward
    assert "def " not in src.split("def f_flat")[1]   # no helper copied in for it


def test_mlp_with_softmax_cross_entropy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 64))
    y = rng.integers(0, 10, 8)
    w1, b1 = rng.standard_normal((100, 64)) * 0.1, rng.standard_normal(100) * 0.1
    w2, b2 = rng.standard_normal((10, 100)) * 0.1, rng.standard_normal(10) * 0.1
    prims = cr.ops.nn

    def mlp(x, y, w1, b1, w2, b2):
        h = cr.relu(prims.Linear(x, w1, b1))
        return prims.CrossEntropy(prims.Linear(h, w2, b2), y)

    src = _round_trip(mlp, x, y, w1, b1, w2, b2)
    assert "_cross_entropy(" in src and "grad_w1 = grad_s0.T @ x" in src


def test_random_compositions_of_primitives():
    rng = np.random.default_rng(2)
    unary = [cr.tanh, cr.sin, cr.sigmoid, cr.exp, lambda t: t * t, cr.softplus]
    for trial in range(15):
        ops = [unary[i] for i in rng.integers(0, len(unary), 4)]
        shape_b = [(3, 4), (4,), (1, 4), ()][trial % 4]

        def f(a, b, ops=ops):
            h = ops[0](a) * b + a
            h = ops[1](h) - ops[2](a / (1 + b * b))
            h = cr.matmul(ops[3](h), a.T) if trial % 2 else cr.mean(ops[3](h), axis=0)
            return cr.sum(h * h)

        _round_trip(f, rng.standard_normal((3, 4)), rng.standard_normal(shape_b))


def test_every_primitive_is_exportable_or_says_why():
    missing = []
    for name, prim in REGISTRY.items():
        try:
            print_form(prim, {}, 2)
        except NotImplementedError:
            if not getattr(prim, "flat_reason", None):
                missing.append(name)
    assert not missing, f"primitives flat_code cannot write (and no flat_reason): {missing}"


def test_no_derivative_is_written_as_a_template():
    for name, prim in REGISTRY.items():
        assert not hasattr(prim, "flat_vjp") and not hasattr(prim, "flat_vjp_cases"), name


def test_forward_without_print_form_is_copied_from_the_primitives_own_source():
    src = flat_code(lambda x: cr.logsumexp(x, axis=1).sum(), np.arange(6.0).reshape(2, 3))
    assert "def _logsumexp(x, axis=None, keepdims=False):" in src
    assert inspect.getsource(type(REGISTRY["logsumexp"]).forward).split("\n", 1)[1].strip() \
        .splitlines()[0].strip() in src


@pytest.mark.parametrize("prim,sample", primitive_cases(
    lambda prim, sample: not getattr(prim, "flat_reason", None)))
def test_primitive_round_trip_over_samples(prim, sample):
    rng = np.random.default_rng(7)
    arrays, op = build_sample(prim, sample, rng)
    out_shape = np.shape(op(*arrays))
    weight = rng.standard_normal(out_shape)   # a non-uniform upstream gradient

    def f(*ts):
        return cr.sum(op(*ts) * weight)

    _round_trip(f, *arrays)


def test_user_function_is_reported_not_exportable():
    with pytest.raises(NotImplementedError, match="Square.*cannot be exported"):
        flat_code(lambda x: Square.apply(x), 3.0)


def test_a_wrong_print_form_is_caught_by_the_round_trip(monkeypatch):
    # a print form that does not compute the op is found by the comparison with chainrule
    monkeypatch.setattr(type(REGISTRY["mul"]), "flat_forward", "{0} + {1}")
    with pytest.raises(AssertionError):
        _round_trip(lambda x, y: x * y, 2.0, 3.0)


def test_primitive_marked_not_exportable_names_its_reason(monkeypatch):
    monkeypatch.setattr(type(REGISTRY["tanh"]), "flat_forward", None)
    monkeypatch.setattr(type(REGISTRY["tanh"]), "flat_reason", "example reason", raising=False)
    with pytest.raises(NotImplementedError, match="'tanh' cannot be exported: example reason"):
        flat_code(lambda x: cr.tanh(x), 0.5)
