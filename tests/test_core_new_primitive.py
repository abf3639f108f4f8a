"""Adding an op is one class: primitives defined in this file only (registered by a fixture, taken
back afterwards) are at once cr.<name>, a Tensor method, NumPy's function on Tensors, a CLI and
nn.functional name, and part of the gradcheck/jvp sweeps and the drawings."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as NF
from chainrule.ops import REGISTRY, Primitive, Sample, register, unregister
from chainrule.ops.reduce import REDUCE, count, expand
from chainrule.viz import expr

import test_core_ops_sweep as sweep
import test_transforms as transforms


class CubeRoot(Primitive):
    """z = ∛x.   dz/dx = 1 / (3 z²)."""
    name = "cuberoot"
    elementwise = True
    saves_ans = True
    saves_inputs = False
    samples = (Sample((3, 4), domain="positive"), Sample((), domain="positive"))
    api = "cuberoot"
    method = True
    ufunc = np.cbrt
    cli = True
    functional = True

    def forward(self, x):
        return np.cbrt(x)

    def vjp(self, g, ans, needs, x):
        return (g / (3 * ans * ans),)


class RootMeanSquare(Primitive):
    """z = √(mean x²) over axes.   dz/dx = x / (n z)."""
    name = "root_mean_square"
    saves_ans = True
    samples = REDUCE
    api = ("root_mean_square", "rms")
    method = True
    spelling = "reduce"   # generated: (x, axis=None, keepdims=False, *, dim=, keepdim=)

    def forward(self, x, axis=None, keepdims=False):
        return np.sqrt(np.mean(x * x, axis=axis, keepdims=keepdims))

    def vjp(self, g, ans, needs, x, axis=None, keepdims=False):
        z = expand(ans, x.shape, axis, keepdims)
        return (expand(g, x.shape, axis, keepdims) * x / (z * count(x.shape, axis)),)

    def jvp(self, tangents, ans, x, axis=None, keepdims=False):
        return (tangents[0] * x).sum(axis=axis, keepdims=keepdims) / (ans * count(x.shape, axis))


@pytest.fixture
def new_ops():
    prims = [register(CubeRoot), register(RootMeanSquare)]
    yield prims
    for p in prims:
        unregister(p.name)


def test_a_registered_primitive_is_the_whole_surface(new_ops):
    x = cr.tensor([1.0, 8.0, 27.0], dtype=cr.float64, requires_grad=True)
    for y in (cr.cuberoot(x), x.cuberoot(), np.cbrt(x), cr.functions.cuberoot(x), NF.cuberoot(x)):
        assert isinstance(y, cr.Tensor) and y.grad_fn.name == "cuberoot"
        np.testing.assert_allclose(y.data, [1.0, 2.0, 3.0])
    np.cbrt(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 / (3 * np.array([1.0, 4.0, 9.0])))
    assert cr.cuberoot.__doc__ == CubeRoot.__doc__
    out, leaves = expr.evaluate("cuberoot(x) * 2", {"x": 8.0})   # the CLI's whitelist has it
    out.backward()
    assert out.item() == pytest.approx(4.0) and leaves["x"].grad.item() == pytest.approx(2 / 12)


def test_a_reduction_gets_both_spellings_and_aliases(new_ops):
    m = cr.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=cr.float64)
    want = np.sqrt(np.mean(m.data ** 2, axis=1, keepdims=True))
    for y in (cr.rms(m, axis=1, keepdims=True), m.root_mean_square(dim=1, keepdim=True),
              m.rms(1, True)):
        np.testing.assert_allclose(y.data, want)
    assert cr.rms(cr.tensor(5.0), 0).item() == 5.0   # dim 0 of a 0-d tensor, as sum(0) is
    with pytest.raises(IndexError, match=r"^root_mean_square: axis 2 is out of range for shape \(2, 2\)"):
        cr.rms(m, dim=2)


@pytest.mark.parametrize("check", [sweep.test_forward_on_arrays_matches_forward_on_tensors,
                                   sweep.test_gradcheck, sweep.test_gradgradcheck,
                                   sweep.test_backward_keeps_input_shapes_and_dtype_float32,
                                   sweep.test_rules_do_not_consume_saved_values_or_upstream,
                                   transforms.test_every_primitive_jvp_matches_central_differences,
                                   transforms.test_every_primitive_jacobian_fwd_equals_rev,
                                   transforms.test_every_smooth_primitive_tangent_rules_are_differentiable,
                                   transforms.test_every_primitive_jvp_on_tensors_equals_jvp_on_arrays],
                         ids=lambda f: f.__name__)
def test_new_primitives_pass_the_registry_sweeps(new_ops, check, rng):
    for prim in new_ops:
        for sample in prim.samples:
            check(prim, sample, rng)


def test_new_primitive_is_drawn(new_ops):
    x = cr.tensor([8.0], requires_grad=True, name="x")
    y = (cr.cuberoot(x) * 2).sum()
    y.backward(retain_graph=True)
    src = cr.viz.to_dot(y)
    assert "cuberoot" in src
    pytest.importorskip("graphviz")
    assert "cuberoot" in cr.viz.draw(y).source


def test_unregister_takes_everything_back(new_ops):
    for p in new_ops:
        unregister(p.name)
    try:
        assert "cuberoot" not in REGISTRY
        for where in (cr, cr.functions, cr.Tensor, NF):
            assert not hasattr(where, "cuberoot") and not hasattr(where, "rms")
        assert "cuberoot" not in expr.FUNCTIONS and "cuberoot" not in NF.__all__
        with pytest.raises(TypeError, match="numpy.cbrt is not supported on chainrule Tensors"):
            np.cbrt(cr.ones(2))
    finally:
        for p in new_ops:
            register(type(p))   # the fixture unregisters them again


def test_a_declaration_that_clashes_is_an_error_and_installs_nothing():
    class Exp2(CubeRoot):
        """z = ∛x under a name that is free, claiming np.exp, which cr.exp already implements."""
        name = "cuberoot_clash"
        api = "cuberoot_clash"
        ufunc = np.exp

    with pytest.raises(ValueError, match=r"'primitive cuberoot_clash' declares numpy 'exp', already "
                                         r"declared by 'primitive exp'"):
        register(Exp2)
    assert "cuberoot_clash" not in REGISTRY and not hasattr(cr, "cuberoot_clash")
    assert np.exp(cr.ones(1, requires_grad=True)).grad_fn.name == "exp"


class Blend(Primitive):
    """z = (1 − w)·x + w·y (w a number, or b = y when given as a third input).   dz/dx = 1 − w, dz/dy = w."""
    name = "blend"
    linear = True
    saves_inputs = False
    samples = (Sample((3,), (3,), w=0.25),)
    api = "blend"
    operators = ("__divmod__", "__rdivmod__")   # not divmod's meaning: checks generated operators
    inputs = 2                          # forward(x, y=None, w=0.5): y is an input despite its default

    def forward(self, x, y=None, w=0.5):
        return (1 - w) * x + w * (x if y is None else y)

    def vjp(self, g, ans, needs, x, y=None, w=0.5):
        return g * (1 - w), g * w


def test_generated_signature_params_and_reflected_operator():
    import inspect
    prim = register(Blend)
    try:
        assert str(inspect.signature(cr.blend)) == "(x, y=None, w=0.5)"
        x, y = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor([3.0, 6.0], requires_grad=True)
        out = cr.blend(x, y, 0.25)
        np.testing.assert_allclose(out.data, [1.5, 3.0])
        out.sum().backward()
        np.testing.assert_allclose(x.grad.data, [0.75, 0.75])
        np.testing.assert_allclose(y.grad.data, [0.25, 0.25])
        np.testing.assert_allclose(divmod(x, y).data, [2.0, 4.0])        # __divmod__ = blend(x, y)
        np.testing.assert_allclose(divmod(7.0, x).data, [4.0, 4.5])      # __rdivmod__: blend(7, x)
        sweep.test_gradcheck(prim, prim.samples[0], np.random.default_rng(0))
    finally:
        unregister("blend")
    assert not hasattr(cr, "blend") and not hasattr(cr.Tensor, "__divmod__")
