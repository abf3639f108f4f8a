"""One compiled step called from several threads at once: its planned buffers are shared by its
calls, so calls take turns (a lock per compiled function) and every result equals eager's."""
import threading
import warnings

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.usefixtures("kernel_cache")


def _in_threads(worker, n=4):
    """worker(0) .. worker(n - 1), each in its own thread, all at once; returns when all end."""
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_calls_of_one_compiled_step_give_eager_results():
    cr.manual_seed(0)
    m = cr.nn.Sequential(cr.nn.Linear(16, 64), cr.nn.Tanh(), cr.nn.Linear(64, 16))

    def fn(x):
        with cr.no_grad():
            h = m(x)
            for _ in range(10):
                h = h + 0.01 * cr.tanh(h * 1.5 - 0.25)
            return (h * h).sum(1)

    rng = np.random.default_rng(0)
    xs = [cr.tensor(rng.standard_normal((32, 16)).astype(np.float32)) for _ in range(8)]
    want = [fn(x).numpy().copy() for x in xs]
    step = cr.compile(fn)
    step(xs[0])
    bad = []

    def worker(k):
        for i in range(60):
            j = (k + i) % len(xs)
            got = step(xs[j]).numpy()
            if not np.allclose(got, want[j], rtol=1e-6, atol=1e-6):   # fused: ulps
                bad.append((k, i))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _in_threads(worker)
    assert not bad, bad[:5]
    assert step.traces == 1


def test_warnings_point_at_the_callers_line():
    step = cr.compile(lambda x: x * 2, cache_size=1)
    with pytest.warns(RuntimeWarning, match="traced") as rec:
        for n in range(1, 4):
            step(cr.ones(n))
    assert rec[0].filename == __file__


def test_concurrent_backwards_of_a_compiled_model_give_eager_gradients():
    """cr.compile(model) with the backward outside: forwards and backwards from several threads
    share the forward and the backward code's buffers, and each gets its own gradients."""
    cr.manual_seed(0)
    m = cr.nn.Sequential(cr.nn.Linear(8, 32, dtype=np.float64), cr.nn.Tanh(),
                         cr.nn.Linear(32, 4, dtype=np.float64))
    params = list(m.parameters())
    rng = np.random.default_rng(1)
    xs = [cr.tensor(rng.standard_normal((16, 8))) for _ in range(6)]

    def grads(f, x):
        return [g.numpy().copy() for g in cr.autograd.grad((f(x) ** 2).sum(), params)]

    want = [grads(m, x) for x in xs]
    fast = cr.compile(m)
    grads(fast, xs[0])
    bad = []

    def worker(k):
        for i in range(40):
            j = (k + i) % len(xs)
            if not all(np.allclose(a, b, rtol=1e-12) for a, b in zip(grads(fast, xs[j]), want[j])):
                bad.append((k, i))

    _in_threads(worker)
    assert not bad, bad[:5]
    assert fast.traces == 1
