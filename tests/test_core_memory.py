"""Memory: graphs are freed (no leaks, no reference cycles) and big matmuls never build a Jacobian."""
import gc
import time
import tracemalloc
import weakref

import numpy as np

import chainrule as cr
from chainrule.autograd import Node
from helpers import Square


def _graph_nodes(t):
    """Every node reachable from t.grad_fn (iterative walk over edges)."""
    seen, stack, out = set(), [t.grad_fn], []
    while stack:
        n = stack.pop()
        if not isinstance(n, Node) or id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.edges)
    return out


class _Net:
    """A tiny 2-layer MLP with cross-entropy, trained with plain SGD (the lecture's loop)."""

    def __init__(self, rng):
        self.params = [cr.tensor(rng.standard_normal((4, 16)) * 0.5, requires_grad=True),
                       cr.zeros(16, requires_grad=True),
                       cr.tensor(rng.standard_normal((16, 3)) * 0.5, requires_grad=True),
                       cr.zeros(3, requires_grad=True)]

    def step(self, X, y, lr=0.1):
        W1, b1, W2, b2 = self.params
        h = cr.relu(X @ W1 + b1)
        logp = cr.log_softmax(h @ W2 + b2, dim=1)
        loss = -logp[np.arange(len(y)), y].mean()
        loss.backward()
        with cr.no_grad():
            for p in self.params:
                p -= lr * p.grad
                p.grad = None
        return loss


def _data(rng):
    X = cr.tensor(rng.standard_normal((32, 4)))
    y = (X.data[:, 0] > 0).astype(np.int64) + (X.data[:, 1] > 0)
    return X, y


def test_training_steps_leave_no_nodes_alive(rng):
    net = _Net(rng)
    X, y = _data(rng)
    gc.collect()
    nodes_before = sum(type(o) is Node for o in gc.get_objects())   # other tests' leftovers
    refs, losses = [], []
    for _ in range(1000):
        loss = net.step(X, y)
        refs.append(weakref.ref(loss.grad_fn))
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]          # it did train
    del loss
    assert sum(r() is not None for r in refs) == 0   # freed by reference counting alone
    gc.collect()
    assert sum(type(o) is Node for o in gc.get_objects()) <= nodes_before


def test_memory_stays_flat_over_training_steps(rng):
    net = _Net(rng)
    X, y = _data(rng)
    for _ in range(50):                            # warm up caches
        net.step(X, y)
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(100):
            net.step(X, y)
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(900):
            net.step(X, y)
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"memory growth over 900 steps: {end - base} bytes")
    # NOTE: CPython's free lists keep up to ~2000 freed tuples etc. (~110 KiB, bounded) that
    # tracemalloc still counts; a leaked graph per step would be >= 5 KiB a step, 4+ MiB in all.
    assert end - base < 200 * 1024, f"memory grew by {(end - base) / 1024:.0f} KiB over 900 steps"


def test_graph_has_no_reference_cycles():
    gc.disable()
    try:
        x = cr.randn(5, 3, requires_grad=True)
        w = cr.randn(3, 2, requires_grad=True)
        h = cr.tanh(x @ w)
        h.retain_grad()
        h.register_hook(lambda g: g * 2)
        e = cr.exp(h)                              # saves its output
        loss = (cr.softmax(e, dim=1) * e).sum() + cr.logsumexp(h, dim=0).sum() + h[1:, 0].sum()
        refs = [weakref.ref(n) for n in _graph_nodes(loss)]
        assert len(refs) >= 8
        del h, e
        assert sum(r() is not None for r in refs) == len(refs)   # alive while loss is
        del loss
        assert [r() for r in refs if r() is not None] == []
        # the same after a backward that freed the saved values
        y = (cr.sigmoid(x @ w) ** 2).mean()
        refs = [weakref.ref(n) for n in _graph_nodes(y)]
        y.backward()
        del y
        assert [r() for r in refs if r() is not None] == []
    finally:
        gc.enable()


def test_function_graph_has_no_reference_cycles():
    gc.disable()
    try:
        x = cr.randn(4, requires_grad=True)
        out = Square.apply(cr.sin(x)).sum()
        refs = [weakref.ref(n) for n in _graph_nodes(out)]
        out.backward()
        del out
        assert [r() for r in refs if r() is not None] == []
    finally:
        gc.enable()


def test_big_matmul_backward_needs_no_jacobian():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((64, 4096), dtype=np.float32))
    W = cr.tensor(rng.standard_normal((4096, 4096), dtype=np.float32) * 0.01, requires_grad=True)
    arrays = x.data.nbytes + 2 * W.data.nbytes     # x, W and W.grad
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        loss = ((x @ W) ** 2).sum()
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert W.grad.shape == W.shape and W.grad.dtype == np.float32
    print(f"peak {peak / 2**20:.1f} MiB, arrays {arrays / 2**20:.1f} MiB, {elapsed:.2f} s")
    assert peak < 3 * arrays, f"peak {peak / 2**20:.0f} MiB vs arrays {arrays / 2**20:.0f} MiB"
    assert elapsed < 10
    # dL/dW = xᵀ (2 xW): check a few columns in float64
    cols = [0, 1234, 4095]
    xd = x.data.astype(np.float64)
    want = xd.T @ (2 * (xd @ W.data[:, cols].astype(np.float64)))
    np.testing.assert_allclose(W.grad.data[:, cols], want, rtol=2e-3, atol=2e-3 * np.abs(want).max())


def test_saved_arrays_are_released_as_backward_passes_each_node():
    """Without retain_graph, a node drops its saved arrays when backward has passed it, while the
    rest of the backward pass is still running (checked from a hook on an earlier node)."""
    x = cr.randn(1000, requires_grad=True)
    a = x * 2
    b = cr.tanh(a)                      # saves its output b
    c = cr.exp(b)                       # saves its output c
    loss = c.sum()
    saved = {"b": weakref.ref(b.data), "c": weakref.ref(c.data)}
    seen = {}
    a.register_hook(lambda g: seen.update({k: r() is None for k, r in saved.items()}))
    del b, c
    assert all(r() is not None for r in saved.values())          # held by the graph until backward
    loss.backward()
    # c (saved by exp and read by sum) is gone when the earlier node `a` runs. (b, saved by the node
    # just processed, may still be held by the engine's loop variable for one more node.)
    assert seen["c"] is True
    assert all(r() is None for r in saved.values())
    np.testing.assert_allclose(x.grad.data, 2 * (1 - np.tanh(2 * x.data) ** 2)
                               * np.exp(np.tanh(2 * x.data)), rtol=1e-5)
    # with retain_graph=True they stay, so a second backward works
    y = cr.exp(cr.tanh(x * 2))
    kept = weakref.ref(y.data)
    total = y.sum()
    del y
    total.backward(retain_graph=True)
    assert kept() is not None
    total.backward()
    assert kept() is None
