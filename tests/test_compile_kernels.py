"""cr.compile's numba kernels: loop rolling of repeated blocks (compile/loop.py) and the fuse="auto"
policy. Every compiled result is checked against eager execution of the same step."""
import importlib
import re

import numpy as np
import pytest

import chainrule as cr

fuse = importlib.import_module("chainrule.compile.fuse")
loop = importlib.import_module("chainrule.compile.loop")
needs_numba = pytest.mark.skipif(not fuse.available(), reason="no numba")
TOL = {np.float32: 1e-6, np.float64: 1e-12}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _leaves(dtype, n=10, k=1, seed=0):
    rng = np.random.default_rng(seed)
    return [cr.tensor(0.5 * rng.standard_normal(n), dtype=dtype, requires_grad=True)
            for _ in range(k)]


def _run(body_of, dtype, steps=5, k=1, fuse_opt=True, lr=1e-2):
    """The same step eagerly and compiled: losses and leaves (and their .grad) must agree."""
    pairs = []
    for compiled in (False, True):
        leaves = _leaves(dtype, k=k)
        opt = cr.optim.SGD(leaves, lr=lr)
        loss_fn = body_of(*leaves)

        def step(loss_fn=loss_fn, opt=opt):
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        pairs.append((leaves, cr.compile(step, fuse=fuse_opt) if compiled else step))
    (le, eager), (lc, comp) = pairs
    for i in range(steps):
        a, b = eager().item(), comp().item()
        assert abs(a - b) <= TOL[dtype] * abs(a), (i, a, b)
    for p, q in zip(le, lc):
        assert _rel(q.data, p.data) <= TOL[dtype]
        assert _rel(q.grad.data, p.grad.data) <= TOL[dtype]
    return comp, lc


def _chain(links, c=0.01):
    def body_of(x0):
        def loss():
            x = x0
            for _ in range(links):
                x = x + c * cr.tanh(x)
            return (x * x).sum()
        return loss
    return body_of



@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_becomes_two_loops_and_matches_eager(dtype):
    step, _ = _run(_chain(12), dtype, steps=3)
    src = step.source
    loops = re.findall(r"for r in range\((\d+)\):", src)
    # forward links 2..30 and their mirrored backward (the first link is peeled off each)
    assert loops == ["11", "11"], loops
    assert "[10 - r, i]" in src          # the backward reads the forward's saved tanh in reverse
    # one peeled link, one loop body; float32 uses the vectorizable _tanh32
    assert len(re.findall(r"= (?:np\.tanh|_tanh32)\(", src)) == 2
    assert ("def _tanh32(" in src) == (dtype == np.float32)


@needs_numba
def test_kernel_size_does_not_grow_with_the_chain():
    sizes = []
    for links in (6, 40):
        step, _ = _run(_chain(links), np.float32, steps=2)
        src = step.source
        sizes.append(len(src.splitlines()))
        assert f"for r in range({links - 1}):" in src
    assert sizes[0] == sizes[1]


@needs_numba
def test_rolled_and_unrolled_kernels_give_identical_bits(monkeypatch):
    dtype = np.float32
    rolled, lr = _run(_chain(8), dtype, steps=3)
    monkeypatch.setattr(loop, "MIN_REPEATS", 10 ** 9)
    unrolled, lu = _run(_chain(8), dtype, steps=3)
    assert "for r in range(" in rolled.source and "for r in range(" not in unrolled.source
    for p, q in zip(lr, lu):   # the same scalar operations in the same order
        assert np.array_equal(p.data, q.data) and np.array_equal(p.grad.data, q.grad.data)


@needs_numba
def test_two_carried_values_and_a_fixed_operand():
    """x, y = y, x + w·tanh(y): two values carried per link, w read by every link (its gradient
    accumulates over the backward loop)."""
    def body_of(x0, y0, w):
        def loss():
            x, y = x0, y0
            for _ in range(12):   # two links per block: x reads two links back
                x, y = y, x + w * cr.tanh(y)
            return (x * y).sum()
        return loss
    step, _ = _run(body_of, np.float64, k=3, lr=1e-3, steps=3)
    assert len(re.findall(r"for r in range\(\d+\):", step.source)) == 2


@needs_numba
def test_a_loop_reading_another_loop_in_the_same_order():
    """A second chain reads the first chain's values in order: the `+ r` walk of a saved row."""
    def body_of(x0, y0):
        def loss():
            x, xs = x0, []
            for _ in range(6):
                x = x + 0.1 * cr.tanh(x)
                xs.append(x)
            y = y0
            for xk in xs:
                y = 0.5 * y + cr.sin(xk)
            return (y * y).sum()
        return loss
    step, _ = _run(body_of, np.float64, k=2, steps=3)
    assert re.search(r"\[\d+ \+ r, i\]", step.source), step.source


@needs_numba
def test_links_with_different_constants_stay_unrolled():
    def body_of(x0):
        def loss():
            x = x0
            for k in range(5):
                x = x + (0.01 * (k + 1)) * cr.tanh(x)
            return (x * x).sum()
        return loss
    step, _ = _run(body_of, np.float64, steps=2)
    assert "@njit" in step.source and "for r in range(" not in step.source


def test_auto_fuses_only_kernels_that_pay():
    """fuse=None: no kernel for a 2-op update of a small array (it would not beat NumPy), one
    for a long chain (when numba is installed)."""
    small, _ = _run(lambda x0: lambda: (x0 * x0).sum(), np.float64, fuse_opt=None)
    assert "@njit" not in small.source and "numba" not in small.source
    chain, _ = _run(_chain(8), np.float64, fuse_opt=None, steps=2)
    assert ("@njit" in chain.source) == fuse.available()


def test_find_runs_periods():
    """The runs found in a traced chain's equations: period 3 forward, 5 backward."""
    x0 = cr.tensor(np.ones(4), dtype=np.float64, requires_grad=True)
    opt = cr.optim.SGD([x0], lr=0.1)

    def step():
        loss = _chain(9)(x0)()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    c = cr.compile(step, fuse=False)
    c()
    eqns = [e for e in c.program.eqns if fuse._fusible(e)]
    runs = loop.find_runs(eqns, fuse._value)
    assert [(r.period, r.repeats) for r in runs] == [(3, 8), (5, 8)]


_KEEP = {}   # numba's dispatchers stay alive: a dead one leaves a weak proxy in gc's objects


def _tanh32(jit):
    """fuse.TANH32 as plain Python (njit a no-op), or compiled with an element loop _apply."""
    if jit in _KEEP:
        return _KEEP[jit]
    ns = {"np": np}
    if jit:
        from numba import njit
        ns["njit"] = njit
    else:
        ns["njit"] = lambda **kw: (lambda f: f)
    # chainrule's own source; numba caches only functions from files
    exec(fuse.TANH32.replace("cache=True", "cache=False") + """

@njit(error_model="numpy")
def _apply(x, o):
    for i in range(x.size):
        o[i] = _tanh32(x[i])
""", ns)   # noqa: S102
    _KEEP[jit] = ns
    return ns


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-30, 9.0, 9.01, 10.0, 10.5,
                    88.0, -1e30, 0.5, -0.5493, 3.0], np.float32)


def _check_tanh32(ns, x, jit):
    got = np.empty_like(x)
    if jit:
        ns["_apply"](x, got)
    else:
        got[:] = [ns["_tanh32"](v) for v in x]
    exact = np.tanh(x.astype(np.float64))
    fin = np.isfinite(x)
    assert np.array_equal(got[~fin], np.tanh(x[~fin]), equal_nan=True)   # nan, ±inf
    assert np.array_equal(np.signbit(got), np.signbit(exact))             # -0.0 stays -0.0
    ulp = np.spacing(np.abs(exact[fin]).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got[fin] - exact[fin]) / ulp) <= 0.5 + 1e-6      # correctly rounded
    # NumPy's own float32 tanh differs by CPU (1.4 ulp measured here); a loose sanity bound
    assert np.max(np.abs(got[fin] - np.tanh(x[fin])) / ulp) <= 3


def test_tanh32_is_correctly_rounded_plain_python():
    rng = np.random.default_rng(0)
    x = np.concatenate([SPECIAL, (rng.standard_normal(300) * 4).astype(np.float32)])
    _check_tanh32(_tanh32(False), x, False)


@needs_numba
def test_tanh32_is_correctly_rounded_compiled():
    rng = np.random.default_rng(1)
    x = np.concatenate([SPECIAL, rng.standard_normal(200_000) * 4, rng.standard_normal(20_000)
                        * 1e-3, rng.uniform(-12, 12, 100_000)]).astype(np.float32)
    _check_tanh32(_tanh32(True), x, True)


@needs_numba
def test_identical_kernels_are_one_function():
    """A recurrence through a matmul (as an RNN's cell): each step's elementwise chain is its
    own kernel call, but the same function, compiled once."""
    rng = np.random.default_rng(3)
    w = cr.tensor(0.3 * rng.standard_normal((10, 10)), dtype=np.float64)

    def body_of(h0):
        def loss():
            h = h0.reshape(1, 10)
            for _ in range(6):
                h = 0.5 * cr.tanh(h @ w) + h * 0.9
            return (h * h).sum()
        return loss
    step, _ = _run(body_of, np.float64, steps=3)
    src = step.source
    defs = len(re.findall(r"^def _kernel\d+\(", src, flags=re.M))
    calls = len(re.findall(r"^    _kernel\d+\(", src, flags=re.M))
    assert 1 <= defs < calls and calls >= 10, (defs, calls)
