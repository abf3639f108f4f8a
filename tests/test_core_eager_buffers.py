"""Gradient buffer reuse: zero_grad() keeps a large freed `.grad` array hidden, and the next
backward writes the weight gradient of matmul/linear into it, only when nothing else can see it."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import autograd

K, N = 512, 512   # a 2 MB float64 weight: above autograd.SPARE_MIN


def _setup(seed=0, k=K, n=N):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((8, k)), dtype=np.float64)
    W = cr.tensor(rng.standard_normal((k, n)) / np.sqrt(k), requires_grad=True, dtype=np.float64)
    return x, W


def _expected(x, W):
    """dΣ(xW)²/dW in NumPy."""
    return x.data.T @ (2 * (x.data @ W.data))


def _step(x, W):
    loss = ((x @ W) ** 2).sum()
    W.zero_grad_()
    loss.backward()
    return W.grad


def test_backward_writes_into_the_freed_grad_array():
    x, W = _setup()
    assert W.data.nbytes >= autograd.SPARE_MIN
    addr = _step(x, W).data.ctypes.data
    for _ in range(3):
        W.data -= 1e-3 * W.grad.data
        g = _step(x, W)
        assert g.data.ctypes.data == addr                # the same memory, no fresh allocation
        np.testing.assert_allclose(g.data, _expected(x, W), rtol=1e-10)
        del g


def test_zero_grad_sets_none_as_pytorch():
    x, W = _setup()
    _step(x, W)
    W.zero_grad_()
    assert W.grad is None


@pytest.mark.parametrize("hold", ["tensor", "array", "view"])
def test_a_gradient_the_user_holds_is_never_overwritten(hold):
    x, W = _setup()
    g = _step(x, W)
    kept = {"tensor": g, "array": g.data, "view": g.data[:3]}[hold]
    before = np.array(kept.data if hold == "tensor" else kept)
    del g
    W.data *= 0.5                                        # the next gradient differs
    g2 = _step(x, W)
    now = kept.data if hold == "tensor" else kept
    np.testing.assert_array_equal(now, before)           # unchanged
    np.testing.assert_allclose(g2.data, _expected(x, W), rtol=1e-10)
    assert not np.shares_memory(g2.data, now)


def test_small_gradients_are_not_kept():
    x, W = _setup(k=8, n=4)
    _step(x, W)
    W.zero_grad_()
    assert getattr(W, "_spare", None) is None


def test_a_leaf_hook_sees_a_gradient_nothing_overwrites_later():
    x, W = _setup()
    seen = []
    W.register_hook(lambda g: seen.append(g.data))
    _step(x, W)
    first = seen[0].copy()
    W.data *= 0.5
    _step(x, W)
    _step(x, W)
    np.testing.assert_array_equal(seen[0], first)


def test_autograd_grad_and_create_graph_leave_the_spare_alone():
    x, W = _setup()
    _step(x, W)
    W.zero_grad_()
    spare = W._spare
    (gw,) = cr.autograd.grad(((x @ W) ** 2).sum(), W)
    assert not np.shares_memory(gw.data, spare)
    np.testing.assert_allclose(gw.data, _expected(x, W), rtol=1e-10)
    loss = ((x @ W) ** 2).sum()
    loss.backward(create_graph=True)
    np.testing.assert_allclose(W.grad.data, _expected(x, W), rtol=1e-10)
    assert not np.shares_memory(W.grad.data, spare)


def test_fan_out_to_the_leaf_accumulates_on_top_of_the_reused_buffer():
    x, W = _setup()
    _step(x, W)
    W.zero_grad_()
    loss = ((x @ W) ** 2).sum() + (x @ W).sum() * 3.0
    loss.backward()
    want = _expected(x, W) + x.data.T @ np.full((8, N), 3.0)
    np.testing.assert_allclose(W.grad.data, want, rtol=1e-10)


def test_linear_layer_and_optimizer_reuse_the_buffer():
    rng = np.random.default_rng(1)
    lin = cr.nn.Linear(K, N, dtype=np.float64)
    opt = cr.optim.SGD(lin.parameters(), lr=1e-3)
    X = cr.tensor(rng.standard_normal((16, K)), dtype=np.float64)
    addrs = []
    for _ in range(3):
        loss = (lin(X) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        g = lin.weight.grad.data
        addrs.append(g.ctypes.data)
        y = X.data @ lin.weight.data.T + lin.bias.data
        np.testing.assert_allclose(g, (2 * y / y.size).T @ X.data, rtol=1e-10)
        del g
        opt.step()
    assert len(set(addrs)) == 1


# ---------------------------------------------------------------- fan-in accumulated in place

def _t(values, grad=True):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad, dtype=np.float64)


def test_fan_in_of_a_thousand_uses_sums_exactly():
    x = _t(np.linspace(-1, 1, 10))
    h = x * 1.0
    s = None
    for i in range(1000):
        term = h * float(i)
        s = term if s is None else s + term
    s.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(10, float(sum(range(1000)))))


def test_fan_in_never_writes_into_the_gradient_the_user_passed():
    x = _t([1.0, 2.0, 3.0])
    h = x * 2.0
    y = h + h                       # add sends the user's gradient itself to h twice
    G = np.array([1.0, 10.0, 100.0])
    kept = G.copy()
    y.backward(gradient=G)
    np.testing.assert_array_equal(G, kept)
    np.testing.assert_array_equal(x.grad.data, 4 * kept)


def test_fan_in_never_writes_into_a_gradient_a_hook_kept():
    x = _t([1.0, 2.0, 3.0])
    h = x * 2.0
    b = h * 5.0
    a = h + 0.0                     # add passes its upstream gradient on unchanged, and its
    seen = []                       # node runs before b's: h's buffer starts as what the hook saw
    a.register_hook(lambda g: seen.append(g))
    loss = b.sum() + (a * 3.0).sum()
    loss.backward()
    np.testing.assert_array_equal(seen[0].data, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [16.0, 16.0, 16.0])


def test_fan_in_keeps_dtype_promotion_as_out_of_place():
    x = cr.tensor(np.ones(4, np.float32), requires_grad=True)
    h = x * 1.0
    loss = (h * 2.0).sum() + (h.double() * 3.0).sum()   # a float32 and a float64 arrival
    loss.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, np.full(4, 5.0, np.float32))


def test_fan_in_under_retain_graph_twice_gives_the_same_gradient():
    x = _t([0.5, -1.0])
    h = cr.tanh(x)
    loss = sum(((h * float(k)).sum() for k in range(1, 6)), cr.tensor(0.0, dtype=np.float64))
    loss.backward(retain_graph=True)
    first = x.grad.data.copy()
    x.grad = None
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, first)
    np.testing.assert_allclose(first, 15 * (1 - np.tanh(x.data) ** 2), rtol=1e-12)
