"""cr.compile: compiled steps give eager's numbers (losses, parameters, .grad, optimizer state,
buffers), retrace when they must, and stop clearly where Python reads traced values."""
import importlib
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.compile import GraphBreak

from helpers import FUSE, HAS_NUMBA, compiled_twins, rel as _rel  # noqa: F401

F = cr.nn.functional
pytestmark = pytest.mark.usefixtures("kernel_cache")   # tests/conftest.py


def _model(kind, dtype):
    layers = {"mlp": lambda: [cr.nn.Linear(5, 12, dtype=dtype), cr.nn.ReLU(),
                              cr.nn.Linear(12, 3, dtype=dtype)],
              "dropout": lambda: [cr.nn.Linear(5, 12, dtype=dtype), cr.nn.Dropout(0.3),
                                  cr.nn.Tanh(), cr.nn.Linear(12, 3, dtype=dtype)],
              "bn": lambda: [cr.nn.Linear(5, 12, dtype=dtype), cr.nn.BatchNorm1d(12, dtype=dtype),
                             cr.nn.ReLU(), cr.nn.Linear(12, 3, dtype=dtype)]}[kind]
    return cr.nn.Sequential(*layers())


OPTS = {"sgd": lambda p: cr.optim.SGD(p, lr=0.1),
        "momentum-wd": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
        "nesterov": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        "adam": lambda p: cr.optim.Adam(p, lr=1e-2),
        "adamw-amsgrad": lambda p: cr.optim.AdamW(p, lr=1e-2, amsgrad=True)}


def _pair(kind, opt, dtype, fuse):
    return compiled_twins(lambda: _model(kind, dtype), OPTS[opt], fuse)


def _data(rng, n, dtype):
    return (cr.tensor(rng.standard_normal((n, 5)), dtype=dtype),
            cr.tensor(rng.integers(0, 3, n)))


def _same_state(m1, m2, o1, o2, tol):
    for (n, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert _rel(b, a) <= tol, n
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            assert _rel(q.grad.data, p.grad.data) <= tol
    s1, s2 = o1.state_dict()["state"], o2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        for key in s1[k]:
            assert _rel(s2[k][key].data, s1[k][key].data) <= tol, key


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
@pytest.mark.parametrize("kind,opt", [("mlp", "sgd"), ("mlp", "momentum-wd"), ("mlp", "nesterov"),
                                      ("mlp", "adam"), ("mlp", "adamw-amsgrad"),
                                      ("dropout", "sgd"), ("bn", "momentum-wd")])
def test_compiled_equals_eager_100_steps(kind, opt, dtype, tol):
    m1, o1, eager, m2, o2, step = _pair(kind, opt, dtype, fuse=False)
    rng = np.random.default_rng(1)
    for i in range(100):
        x, y = _data(rng, 16, dtype)
        cr.manual_seed(1000 + i)   # dropout: the same generator state → the same mask
        a = eager(x, y).item()
        cr.manual_seed(1000 + i)
        b = step(x, y).item()
        assert abs(a - b) <= tol * abs(a), i
    assert step.traces <= 2   # first call, and again once the optimizer has state
    _same_state(m1, m2, o1, o2, tol)
    if kind == "bn":   # eval mode: a new trace that reads the running statistics
        m1.eval()
        m2.eval()
        x, y = _data(rng, 16, dtype)
        with cr.no_grad():
            ev = cr.compile(lambda x: m2(x))
            for _ in range(2):
                assert _rel(ev(x).data, m1(x).data) <= tol


@pytest.mark.parametrize("fuse", FUSE)
def test_fused_and_unfused_agree_with_eager(fuse):
    m1, o1, eager, m2, o2, step = _pair("mlp", "adam", np.float32, fuse=fuse)
    rng = np.random.default_rng(2)
    for _ in range(20):
        x, y = _data(rng, 8, np.float32)
        a, b = eager(x, y).item(), step(x, y).item()
        assert abs(a - b) <= 1e-6 * abs(a)
    _same_state(m1, m2, o1, o2, 1e-6)
    src = step.source
    imports = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert imports == (["import numpy as np", "from numba import njit"] if fuse
                       else ["import numpy as np"])
    assert ("@njit(cache=True" in src) == fuse
    assert "fused" in step.explain() and "reads" in step.explain()


@pytest.mark.parametrize("name", ["w1_digits_mlp", "w2_big_matmul", "w3_mnist_mlp",
                                  "w4_micrograd_demo", "w5_tanh_chain"])
def test_benchmark_workloads_100_steps(name):
    mod = importlib.import_module(f"benchmarks.{name}")
    s = mod.setup(quick=True)
    eager = mod.IMPLS["chainrule"](s)
    step = mod.IMPLS["chainrule-compiled"](s)
    for i in range(100):
        a, b = eager(), step()
        assert abs(a - b) <= 1e-6 * abs(a), (name, i, a, b)


def test_interleaving_eager_and_compiled_calls():
    m1, o1, eager, m2, o2, step = _pair("mlp", "momentum-wd", np.float64, fuse=False)
    rng = np.random.default_rng(3)
    for i in range(12):
        x, y = _data(rng, 10, np.float64)
        a = eager(x, y).item()
        b = (step if i % 3 else step.__wrapped__)(x, y).item()   # every third call eager
        assert abs(a - b) <= 1e-12 * abs(a)
    _same_state(m1, m2, o1, o2, 1e-12)


def test_load_state_dict_between_calls_is_seen():
    m1, o1, eager, m2, o2, step = _pair("mlp", "sgd", np.float64, fuse=False)
    rng = np.random.default_rng(4)
    x, y = _data(rng, 10, np.float64)
    for _ in range(3):
        eager(x, y), step(x, y)
    snap = {k: v.data.copy() for k, v in m1.state_dict().items()}
    eager(x, y), step(x, y)
    m1.load_state_dict(snap)
    m2.load_state_dict(snap)
    assert _rel(step(x, y).data, eager(x, y).data) <= 1e-12
    _same_state(m1, m2, o1, o2, 1e-12)


def test_new_batch_size_retraces_and_cache_warns():
    m1, o1, eager, m2, o2, step = _pair("mlp", "sgd", np.float64, fuse=False)
    step.cache_size = 3
    rng = np.random.default_rng(5)
    for n in (4, 4, 4, 6, 6):
        x, y = _data(rng, n, np.float64)
        assert _rel(step(x, y).data, eager(x, y).data) <= 1e-12
    assert step.traces == 2   # batch 4, batch 6
    step(*_data(rng, 7, np.float64))
    with pytest.warns(RuntimeWarning, match="traced 4 times"):
        step(*_data(rng, 8, np.float64))


def test_graph_break_names_the_line_and_fallback_runs_eagerly():
    w = cr.tensor(np.ones(3), requires_grad=True)

    def branchy(x):
        y = (x * w).sum()
        if y.item() > 0:   # data-dependent Python control flow
            return y * 2
        return y

    with pytest.raises(GraphBreak, match=r"\.item\(\).*test_compile.py:\d+: if y.item\(\) > 0"):
        cr.compile(branchy)(cr.tensor(np.ones(3)))
    safe = cr.compile(branchy, fallback="eager")
    with pytest.warns(RuntimeWarning, match="eagerly"):
        assert safe(cr.tensor(np.ones(3))).item() == 6.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # one warning only
        assert safe(cr.tensor(-np.ones(3))).item() == -3.0
    for bad in (lambda x: bool(x.sum() > 0), lambda x: x.numpy()):
        with pytest.raises(RuntimeError, match="cr.compile"):
            cr.compile(bad)(cr.tensor(np.ones(3)))


def test_functional_grad_and_plain_functions():
    f = cr.compile(lambda x: (x ** 3).sum())
    x = cr.tensor(np.array([1.0, 2.0]))
    assert f(x).item() == 9.0 and f(x * 2).item() == 72.0

    def g(x):
        x = x.detach().requires_grad_()
        (dx,) = cr.autograd.grad((x ** 3).sum(), x)
        return dx
    cg = cr.compile(g)
    for v in ([1.0, 2.0], [3.0, -1.0]):
        assert np.allclose(cg(cr.tensor(np.array(v))).data, 3 * np.array(v) ** 2)


def test_grad_accumulates_like_eager_without_zero_grad():
    w1 = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    w2 = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)

    def body(w):
        def f(x):
            loss = (cr.tanh(x * w) ** 2).sum()
            loss.backward()
            return loss
        return f
    e, c = body(w1), cr.compile(body(w2))
    for k in range(4):
        x = cr.tensor(np.array([0.5, k + 1.0]))
        a, b = e(x).item(), c(x).item()
        assert abs(a - b) <= 1e-6 * abs(a)
        assert _rel(w2.grad.data, w1.grad.data) <= 1e-6   # float32


def test_dropout_draws_fresh_masks_from_the_generator():
    drop = cr.compile(lambda x: F.dropout(x, 0.5, training=True))
    x = cr.tensor(np.ones(64))
    cr.manual_seed(7)
    masks = [drop(x).data.copy() for _ in range(3)]
    cr.manual_seed(7)
    eager = [F.dropout(x, 0.5, training=True).data for _ in range(3)]
    for a, b in zip(masks, eager):
        assert np.array_equal(a, b)
    assert not np.array_equal(masks[1], masks[2])


def test_passes_remove_dead_code_and_repeats():
    w = cr.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)

    def f(x):
        unused = cr.exp(x) * 3        # noqa: F841 - dead
        a = cr.tanh(x * w) + 1
        b = cr.tanh(x * w) + 1        # the same expression again
        loss = (a * b).sum()
        loss.backward()               # seeded with ones_like(loss): folded to a constant
        return loss
    c = cr.compile(f, fuse=False)
    x = cr.tensor(np.array([0.1, 0.2, 0.3]))
    assert np.allclose(c(x).data, (((cr.tanh(x * w) + 1) ** 2).sum()).data)
    names = [e.prim.name for e in c.program.eqns]
    assert "exp" not in names and names.count("tanh") == 1 and "ones_like" not in names
    traced = [e.prim.name for e in c.last.program_traced.eqns]
    assert "exp" in traced and traced.count("tanh") == 2 and "ones_like" in traced


def test_fit_compile_gives_the_eager_history():
    from chainrule.train import fit
    rng = np.random.default_rng(6)
    X = cr.tensor(rng.standard_normal((40, 5)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 3, 40))
    hist = []
    for compiled in (False, True):
        cr.manual_seed(0)
        m = _model("mlp", np.float32)
        hist.append(fit(m, (X, y), epochs=3, optimizer=cr.optim.SGD(m.parameters(), lr=0.1,
                                                                    momentum=0.9),
                        batch_size=16, weight_decay=1e-3, log=None, progress=False,
                        compile=compiled))
    for a, b in zip(hist[0]["loss"], hist[1]["loss"]):
        assert abs(a - b) <= 1e-6 * abs(a)
    assert hist[0]["train_acc"] == hist[1]["train_acc"]
