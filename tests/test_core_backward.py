"""Semantics of backward: order, accumulation, retain/create graph, grad mode, in-place checks, hooks, dtypes."""
import time

import numpy as np
import pytest

import chainrule as cr


def t64(a, requires_grad=True):
    return cr.tensor(a, dtype=np.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------- order and depth

def test_chain_of_100000_ops_backpropagates_iteratively():
    n = 50_000                       # two ops per step: 100,000 nodes
    c = 1.0 + 1.0 / n
    x = t64(0.5)
    start = time.process_time()   # CPU time: other processes on the machine do not count
    y = x
    for _ in range(n):
        y = y * c + 1.0
    y.backward()
    elapsed = time.process_time() - start
    assert x.grad.item() == pytest.approx(c ** n, rel=1e-9)    # (1 + 1/n)^n ≈ e
    assert x.grad.item() == pytest.approx(np.e, rel=1e-4)
    del y                            # freeing the 100,000-node chain must not recurse either
    assert elapsed < 10, f"100,000-op forward+backward took {elapsed:.1f} s"


def test_deep_chain_is_freed_without_backward():
    x = t64(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    del y                            # no RecursionError, no crash


def test_each_node_runs_after_all_its_consumers():
    # every layer fans out to two branches and joins again: y stays x, dy/dx = 1. An engine that ran a
    # node before all gradients arrived (or twice) would give 0.5^k or 2^k here.
    x = t64(1.3)
    y = x
    for _ in range(300):
        y = y * 0.5 + y * 0.5
    y.backward()
    assert x.grad.item() == pytest.approx(1.0, rel=1e-12)


def test_paths_of_different_length_add_up():
    # f = a * b with a = x + 1, b = 2a, so f = 2 (x + 1)^2, df/dx = 4 (x + 1)
    x = t64(0.7)
    a = x + 1
    b = a * 2
    f = a * b
    f.backward()
    assert x.grad.item() == pytest.approx(4 * 1.7, rel=1e-14)


# ---------------------------------------------------------------- accumulation, shape, dtype

def test_gradients_accumulate_across_backward_calls():
    x = t64([1.0, 2.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2 + 3, 4 + 3])
    x.grad = None
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3, 3])


def test_grad_has_leaf_shape_and_dtype():
    for dtype in (np.float32, np.float64):
        b = cr.tensor(np.ones((1, 3)), dtype=dtype, requires_grad=True)
        s = cr.tensor(2.0, dtype=dtype, requires_grad=True)
        out = (cr.ones(4, 1, 3, dtype=dtype) * b * s).sum()
        out.backward()
        assert b.grad.shape == (1, 3) and b.grad.dtype == dtype
        assert s.grad.shape == () and s.grad.dtype == dtype
        np.testing.assert_array_equal(b.grad.data, np.full((1, 3), 8.0))
        assert s.grad.item() == 12.0


def test_float32_leaf_gets_float32_grad_through_float64_ops():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.double() * 3.0).sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_nonscalar_backward_needs_gradient():
    x = t64([1.0, 2.0, 3.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\(3,\)"):
        y.backward()
    y.backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, -2.0])
    with pytest.raises(RuntimeError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(np.ones(2))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(3).sum().backward()


def test_second_backward_needs_retain_graph():
    x = t64(2.0)
    y = cr.exp(x) * x
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()
    x.grad = None
    y = cr.exp(x) * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * (np.exp(2.0) * 3.0), rel=1e-14)


def test_leaf_as_root():
    x = t64([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


# ---------------------------------------------------------------- higher order (create_graph)

def _derivatives(f, x0, n):
    x = t64(x0)
    y = f(x)
    out = []
    for _ in range(n):
        (y,) = cr.autograd.grad(y, x, create_graph=True)
        out.append(y.item())
    return out


def test_tanh_derivatives():
    x0 = 0.4
    t = np.tanh(x0)
    s = 1 - t * t
    np.testing.assert_allclose(_derivatives(cr.tanh, x0, 3), [s, -2 * t * s, -2 * s * (1 - 3 * t * t)],
                               rtol=1e-12)


def test_cube_derivatives():
    np.testing.assert_allclose(_derivatives(lambda x: x ** 3, 1.5, 3), [3 * 1.5 ** 2, 6 * 1.5, 6.0], rtol=1e-14)


def test_hessian_of_squared_sum_of_matvec(rng):
    # f = (1ᵀ W x)² = (uᵀx)² with u = Wᵀ1: ∇f = 2 (uᵀx) u, ∇²f = 2 u uᵀ, third derivatives 0
    W = rng.standard_normal((3, 4))
    xv = rng.standard_normal(4)
    u = W.sum(axis=0)
    x = t64(xv)
    Wt = t64(W, requires_grad=False)
    f = cr.sum(Wt @ x) ** 2
    (g,) = cr.autograd.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.data, 2 * (u @ xv) * u, rtol=1e-12)
    H = np.stack([cr.autograd.grad(g[i], x, create_graph=True)[0].data for i in range(4)])
    np.testing.assert_allclose(H, 2 * np.outer(u, u), rtol=1e-12)
    (h0,) = cr.autograd.grad(g[0], x, create_graph=True)
    (third,) = cr.autograd.grad(h0.sum(), x, allow_unused=True)
    assert third is None or np.allclose(third.data, 0)


def test_create_graph_backward_fills_grad_with_a_graph():
    x = t64(3.0)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.item() == 27.0
    x.grad = None
    g.backward()
    assert x.grad.item() == 18.0


def test_autograd_grad_options():
    x, y = t64([1.0, 2.0]), t64(3.0)
    out = x * y
    gx, gy = cr.autograd.grad(out, [x, y], grad_outputs=np.array([1.0, -1.0]), retain_graph=True)
    np.testing.assert_array_equal(gx.data, [3.0, -3.0])
    assert gy.item() == 1.0 - 2.0
    assert x.grad is None and y.grad is None   # grad() returns, it does not accumulate
    z = t64(1.0)
    with pytest.raises(RuntimeError, match="allow_unused"):
        cr.autograd.grad(out.sum(), [x, z], retain_graph=True)
    assert cr.autograd.grad(out.sum(), [x, z], allow_unused=True)[1] is None


# ---------------------------------------------------------------- grad mode

def test_no_grad_and_enable_grad_contexts():
    x = t64(1.0)
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            z = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_grad_mode_decorators_and_restore_on_error():
    @cr.no_grad()
    def off(x):
        return x * 2, cr.is_grad_enabled()

    @cr.enable_grad()
    def on(x):
        return x * 2

    x = t64(1.0)
    y, mode = off(x)
    assert not mode and not y.requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert on(x).requires_grad
    with pytest.raises(ZeroDivisionError):
        with cr.no_grad():
            1 / 0
    assert cr.is_grad_enabled()
    cr.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    cr.set_grad_enabled(True)


# ---------------------------------------------------------------- in place

def test_inplace_change_of_saved_input_raises_naming_op():
    x = t64([1.0, 2.0])
    a = x * 1
    b = a * a            # mul saves a
    a.mul_(2)
    with pytest.raises(RuntimeError, match="'mul'.*modified in place"):
        b.sum().backward()


def test_inplace_change_of_saved_output_raises():
    x = t64([1.0, 2.0])
    e = cr.exp(x)        # exp saves its output
    out = e.sum()
    with cr.no_grad():
        e.add_(1)
    with pytest.raises(RuntimeError, match="'exp'"):
        out.backward()


def test_inplace_on_unsaved_value_is_fine_and_differentiated():
    x = t64([1.0, 2.0])
    a = x + 0            # add saves nothing
    a.mul_(3)            # recorded: a = 3 (x + 0)
    (a * a).sum().backward()
    np.testing.assert_allclose(x.grad.data, 18 * x.data)


def test_inplace_on_leaf_requiring_grad():
    w = t64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="add_.*leaf"):
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="leaf"):
        w *= 2
    with cr.no_grad():
        w.sub_(0.5)
        w -= 0.25
    np.testing.assert_array_equal(w.data, [0.25, 1.25])
    assert w.is_leaf and w.requires_grad
    (w * w).sum().backward()     # still a working leaf
    np.testing.assert_array_equal(w.grad.data, [0.5, 2.5])


# ---------------------------------------------------------------- hooks, retain_grad, leaves

def test_retain_grad_and_is_leaf():
    x = t64([1.0, 2.0])
    h = x * 3
    assert x.is_leaf and not h.is_leaf
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.data, 2 * h.data)
    np.testing.assert_array_equal(x.grad.data, 6 * h.data)
    h2 = x * 3
    (h2 * h2).sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h2.grad is None   # not retained: PyTorch warns, and so does chainrule


def test_hooks_on_leaf_and_nonleaf_replace_the_gradient():
    x = t64([1.0, 2.0])
    seen = []
    hx = x.register_hook(lambda g: seen.append(g.data.copy()))
    h = x * 3
    h.register_hook(lambda g: g * 10)
    (h * 1.0).sum().backward()
    np.testing.assert_array_equal(seen[0], [30.0, 30.0])   # non-leaf hook ran first
    np.testing.assert_array_equal(x.grad.data, [30.0, 30.0])
    x.grad = None
    x.register_hook(lambda g: g + 1)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    hx.remove()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="hook"):
        cr.ones(2).register_hook(lambda g: g)


def test_detach_and_requires_grad_rules():
    x = t64([1.0, 2.0])
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    y = x * 2
    np.testing.assert_array_equal(y.detach().data, y.data)
    assert y.detach().data is y.data          # shares memory, as in PyTorch
    with pytest.raises(TypeError, match="floating"):
        cr.tensor([1, 2]).requires_grad_()
    with pytest.raises(TypeError, match="floating"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    assert cr.tensor([1.0]).requires_grad_().requires_grad


# ---------------------------------------------------------------- dtype rules

def test_default_dtype_rules():
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    # NumPy data keeps its dtype, as in torch.tensor; Python numbers take the defaults
    assert cr.tensor(np.ones(3)).dtype == np.float64
    assert cr.tensor(np.ones(3, dtype=np.float16)).dtype == np.float16
    assert cr.tensor(np.float64(2.0)).dtype == np.float64
    assert cr.tensor([np.float64(1.0), 2.0]).dtype == np.float64
    assert cr.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32
    assert cr.tensor([np.int32(1)]).dtype == np.int32
    assert cr.tensor([1j]).dtype == np.complex64 and cr.tensor(np.array([1j])).dtype == np.complex128
    assert cr.tensor(np.ones(3), dtype=np.float32).dtype == np.float32
    assert cr.tensor(np.ones(3), dtype=np.float64).dtype == np.float64
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.zeros(2).dtype == cr.randn(2).dtype == np.float32
    assert cr.arange(3).dtype == np.int64 and cr.arange(3.0).dtype == np.float32
    cr.set_default_dtype(np.float64)                          # the fixture restores it
    assert cr.get_default_dtype() == np.float64
    assert cr.tensor(1.5).dtype == np.float64 and cr.ones(2).dtype == np.float64
    assert cr.tensor([1j]).dtype == np.complex128
    assert cr.tensor(np.ones(3, dtype=np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        cr.set_default_dtype(np.int32)


def test_constants_take_the_tensor_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2.5).dtype == np.float32
    assert (2.5 - x).dtype == np.float32
    assert (x ** 2).dtype == np.float32
    # NumPy scalars behave like Python numbers (as in PyTorch), although NumPy 2 would promote
    assert (x * np.float64(2.5)).dtype == np.float32
    assert (x / np.sqrt(2.0)).dtype == np.float32
    assert (np.float64(1.5) + x).dtype == np.float32
    # a float64 *array* promotes, like a float64 tensor in PyTorch; the leaf's grad stays float32
    y = x + np.ones(2)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert (x + cr.ones(2, dtype=np.float64)).dtype == np.float64


def test_inplace_ops_recorded_in_the_graph():
    x = t64([1.0, 2.0])
    a = x * 1
    a.mul_(a)                       # uses the value before the change twice: a = x²
    a.add_(x, alpha=2)              # a = x² + 2x
    a.sub_(1.0)
    a /= 2.0                        # a = (x² + 2x - 1) / 2
    a.sum().backward()
    np.testing.assert_allclose(x.grad.data, x.data + 1)
    y = x * 1
    y.clamp_(min=1.5)
    np.testing.assert_array_equal(y.data, [1.5, 2.0])


def test_recorded_fill_copy_setitem_keep_dtype_and_route_gradients():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 2
    a.fill_(7.0)
    assert a.dtype == np.float32 and a.tolist() == [7.0, 7.0, 7.0]
    src = cr.tensor([4.0, 5.0, 6.0], dtype=np.float64, requires_grad=True)
    b = x * 2
    b.copy_(src)
    assert b.dtype == np.float32                # in-place ops keep the tensor's dtype
    c = x * 1
    c[1] = src[0] * 10
    (a.sum() + (b * b).sum() + c.sum()).backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 1.0])
    assert src.grad.dtype == np.float64
    np.testing.assert_allclose(src.grad.data, 2 * src.data + [10.0, 0.0, 0.0])


TENSOR_DATA = [np.ones(3), np.ones(3, dtype=np.float16), np.float64(2.0), np.float32(2.0), 1.5,
               [1.0, 2.0], [np.float64(1.0), 2.0], [np.ones(2), np.ones(2)], np.array(1.5), [1, 2],
               np.array([1, 2], dtype=np.int32), [np.int32(1)], [True, False], [1j],
               np.array([1j], dtype=np.complex64), np.array([1j]), [[1, 2.5]]]
# (a list of arrays is slow for torch and warns; the dtype rule is what is compared)


@pytest.mark.filterwarnings("ignore:Creating a tensor from a list")
def test_tensor_dtypes_match_torch_tensor():
    torch = pytest.importorskip("torch")
    for data in TENSOR_DATA:
        want = str(torch.tensor(data).dtype).replace("torch.", "")
        assert str(cr.tensor(data).dtype) == want, repr(data)
        assert str(cr.as_tensor(data).dtype) == want, repr(data)


def test_as_tensor_shares_memory_when_it_can():
    a = np.ones(3)
    assert cr.as_tensor(a).data is a and cr.asarray(a).data is a
    assert cr.as_tensor(a, dtype=cr.float32).dtype == np.float32 and a.dtype == np.float64
    t = cr.ones(2)
    assert cr.as_tensor(t) is t and cr.as_tensor(t, cr.float64).dtype == np.float64
    assert cr.as_tensor([1.0, 2.0]).dtype == np.float32
