"""micrograd's own test_engine.py, written with chainrule scalars: in-place updates of values that
a later op saved must work as in PyTorch (nodes keep only what the needed rules read)."""
import threading

import numpy as np
import pytest

import chainrule as cr


def sanity(a_val, lib=cr, make=None):
    x = make(a_val)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    return x, y


def more_ops(a_val, b_val, make):
    a = make(a_val)
    b = make(b_val)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    return a, b, g


def _cr(v):
    return cr.tensor(v, dtype=cr.float64, requires_grad=True)


def _numeric(fn, *vals, h=1e-6):
    out = []
    for i in range(len(vals)):
        up, dn = list(vals), list(vals)
        up[i] += h
        dn[i] -= h
        with cr.no_grad():
            out.append((fn(*up).item() - fn(*dn).item()) / (2 * h))
    return out


def test_sanity_check_values_and_gradient():
    x, y = sanity(-4.0, make=_cr)
    y.backward()
    (num,) = _numeric(lambda v: sanity(v, make=lambda t: cr.tensor(t, dtype=cr.float64))[1], -4.0)
    assert x.grad.item() == pytest.approx(num, rel=1e-6)
    assert y.item() == pytest.approx(-20.0)       # z = -10: h = 100, q = 40, y = 100 + 40 - 160


def test_more_ops_in_place_updates_of_saved_values():
    a, b, g = more_ops(-4.0, 2.0, _cr)
    g.backward()
    na, nb = _numeric(lambda u, v: more_ops(u, v, lambda t: cr.tensor(t, dtype=cr.float64))[2],
                      -4.0, 2.0, h=1e-5)
    assert a.grad.item() == pytest.approx(na, rel=1e-5)
    assert b.grad.item() == pytest.approx(nb, rel=1e-5)


def test_more_ops_matches_pytorch():
    torch = pytest.importorskip("torch")
    a, b, g = more_ops(-4.0, 2.0, _cr)
    g.backward()
    ta, tb, tg = more_ops(-4.0, 2.0, lambda v: torch.tensor(v, dtype=torch.float64,
                                                           requires_grad=True))
    tg.backward()
    assert g.item() == pytest.approx(tg.item(), rel=1e-12)
    assert a.grad.item() == pytest.approx(ta.grad.item(), rel=1e-12)
    assert b.grad.item() == pytest.approx(tb.grad.item(), rel=1e-12)


def test_division_by_a_constant_keeps_only_the_constant():
    f = cr.tensor([3.0], requires_grad=True) * 1
    g = f / 2.0
    assert g.grad_fn.ans is None                  # d(f/2)/df = 1/2 reads neither f nor g
    g += 1.0                                      # so changing g in place is fine
    g.sum().backward()


def test_grad_mode_is_per_thread():
    """no_grad in one thread must not stop another thread from recording (PyTorch: thread-local)."""
    inside, go, done = threading.Event(), threading.Event(), threading.Event()

    def quiet():
        with cr.no_grad():
            inside.set()
            go.wait(5)
        done.set()

    t = threading.Thread(target=quiet)
    t.start()
    inside.wait(5)
    assert cr.is_grad_enabled()                  # this thread is not affected
    x = cr.ones(2, requires_grad=True)
    y = (x * 3).sum()
    assert y.requires_grad and y.grad_fn is not None
    go.set()
    t.join(5)
    assert done.is_set()


def test_new_thread_starts_with_grad_mode_on():
    seen = []
    with cr.no_grad():
        t = threading.Thread(target=lambda: seen.append(cr.is_grad_enabled()))
        t.start()
        t.join(5)
    assert seen == [True]


def test_threads_training_separate_models_get_their_single_thread_results():
    def run(seed, steps=200):
        rng = np.random.default_rng(seed)
        X = cr.tensor(rng.standard_normal((32, 4)), dtype=cr.float64)
        y = cr.tensor(rng.integers(0, 3, 32))
        w = cr.tensor(rng.standard_normal((4, 3)) * 0.1, dtype=cr.float64, requires_grad=True)
        for _ in range(steps):
            loss = cr.nn.functional.cross_entropy(X @ w, y)
            w.grad = None
            loss.backward()
            with cr.no_grad():
                w -= 0.1 * w.grad
        return w.data.copy()

    alone = [run(s) for s in range(4)]
    results = [None] * 4

    def worker(i):
        results[i] = run(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for a, r in zip(alone, results):
        np.testing.assert_array_equal(a, r)


def test_bare_no_grad_decorator_and_generators():
    x = cr.ones(2, requires_grad=True)

    @cr.no_grad
    def f(t):
        return t * 2

    @cr.no_grad()
    def gen(t):
        for _ in range(2):
            yield t * 2

    assert not f(x).requires_grad
    assert [o.requires_grad for o in gen(x)] == [False, False]
    assert cr.is_grad_enabled()
