"""cr.compile's call path: the generated `_run` (guards, reads, write-backs), .grad arrays written
in place, planned buffers, the learning rate read at every call, and the passes that make the
traced backward lean — each checked against eager numbers."""

import numpy as np
import pytest

import chainrule as cr

from helpers import FUSE, HAS_NUMBA, compiled_twins, rel as _rel  # noqa: F401

F = cr.nn.functional
pytestmark = pytest.mark.usefixtures("kernel_cache")   # tests/conftest.py


def _twins(make_opt, dtype=np.float64, fuse=False, seed=0):
    """(model, opt, eager step) twice from the same seed; the second step compiled."""
    return compiled_twins(lambda: cr.nn.Sequential(cr.nn.Linear(5, 12, dtype=dtype), cr.nn.ReLU(),
                                                   cr.nn.Linear(12, 3, dtype=dtype)),
                          make_opt, fuse, seed)


def _data(rng, n=8, dtype=np.float64):
    return (cr.tensor(rng.standard_normal((n, 5)), dtype=dtype), cr.tensor(rng.integers(0, 3, n)))


def _same_params(m1, m2, tol):
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert _rel(q.data, p.data) <= tol
        assert _rel(q.grad.data, p.grad.data) <= tol


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_learning_rate_change_needs_no_new_trace(opt):
    make = {"sgd": lambda p: cr.optim.SGD(p, lr=0.1),
            "momentum": lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
            "nesterov": lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
            "adam": lambda p: cr.optim.Adam(p, lr=1e-2),
            "adamw": lambda p: cr.optim.AdamW(p, lr=1e-2)}[opt]
    m1, o1, eager, m2, o2, step = _twins(make)
    rng = np.random.default_rng(0)
    for i in range(12):
        for o in (o1, o2):   # a schedule: a new rate every step
            o.param_groups[0]["lr"] *= 0.8
        x, y = _data(rng)
        a, b = eager(x, y).item(), step(x, y).item()
        assert abs(a - b) <= 1e-12 * abs(a), i
    _same_params(m1, m2, 1e-12)
    assert step.traces <= 2   # first call, and once more when the optimizer has state
    assert "param_groups[0]['lr']" in step.source


@pytest.mark.parametrize("fuse", FUSE)
def test_grad_arrays_are_written_in_place_and_outputs_stay_fresh(fuse):
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.SGD(p, lr=0.1), np.float32, fuse)
    rng = np.random.default_rng(1)
    x, y = _data(rng, dtype=np.float32)
    eager(x, y), step(x, y)
    step(x, y), eager(x, y)
    ids = [id(p.grad.data) for p in m2.parameters()]   # ids only: holding them would pin them
    losses = []
    for _ in range(3):
        x, y = _data(rng, dtype=np.float32)
        a, b = eager(x, y), step(x, y)
        losses.append((a.item(), b))
        assert [id(p.grad.data) for p in m2.parameters()] == ids   # no new arrays
        _same_params(m1, m2, 1e-6)
    for a, b in losses:   # a returned tensor is never a buffer a later call overwrites
        assert abs(b.item() - a) <= 1e-6 * abs(a)


def test_returned_intermediates_are_not_overwritten_by_the_next_call():
    w = cr.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)

    def f(x):
        h = cr.tanh(x @ w) * 2.0
        loss = (h * h).sum()
        loss.backward()
        return h, loss
    c = cr.compile(f)
    xs = [cr.tensor(np.full((4, 2), v)) for v in (0.5, -1.5, 2.0)]
    outs = [c(x) for x in xs]
    for x, (h, loss) in zip(xs, outs):
        ref = cr.tanh(x @ w.detach()) * 2.0
        assert np.array_equal(h.data, ref.data)
        assert loss.item() == pytest.approx((ref.data ** 2).sum(), rel=1e-12)


def test_a_grad_that_aliases_a_captured_tensor_is_not_written_through():
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.SGD(p, lr=0.1))
    rng = np.random.default_rng(2)
    X, y = _data(rng, 12)   # X has the first weight's shape (12, 5)
    eager_c, comp = (lambda: eager(X, y)), cr.compile(lambda: step.__wrapped__(X, y))
    for _ in range(2):
        eager_c(), comp()
    keep = X.data.copy()
    m2[0].weight._grad = cr.Tensor._make(X.data, False)   # a .grad that is the data's array
    a, b = eager_c().item(), comp().item()
    assert abs(a - b) <= 1e-12 * abs(a)
    assert np.array_equal(X.data, keep)   # not overwritten by the step's gradient
    assert m2[0].weight.grad.data is not X.data
    _same_params(m1, m2, 1e-12)


@pytest.mark.skipif(not HAS_NUMBA, reason="no numba")
def test_steps_with_the_same_source_keep_their_own_buffers_and_constants():
    """Two models of one shape compile to one source (and share its cached kernels), but each
    step keeps its own targets, buffers and tensors."""
    rng = np.random.default_rng(3)
    pairs = []
    for seed in (0, 1):
        m1, o1, e1, m2, o2, s2 = _twins(lambda p: cr.optim.SGD(p, lr=0.1), np.float32, True,
                                        seed)
        X = cr.tensor(rng.standard_normal((8, 5)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 8))
        pairs.append((m1, m2, cr.compile(lambda e1=e1: e1(X, y), fuse=False),
                      cr.compile(lambda s2=s2.__wrapped__: s2(X, y), fuse=True)))
    for _ in range(5):
        for m1, m2, eager, step in pairs:
            a, b = eager().item(), step().item()
            assert abs(a - b) <= 1e-6 * abs(a)
    assert pairs[0][3].source.split("def _run")[0] == pairs[1][3].source.split("def _run")[0]
    for m1, m2, _, _ in pairs:
        _same_params(m1, m2, 1e-6)


def test_guards_see_a_replaced_parameter_and_a_training_flag():
    cr.manual_seed(0)
    lin = cr.nn.Linear(3, 2, dtype=np.float64)
    drop = cr.nn.Dropout(0.5)
    model = cr.nn.Sequential(lin, drop)
    f = cr.compile(lambda x: model(x).sum().detach())   # a value: no backward to recompute
    x = cr.tensor(np.ones((4, 3)), dtype=np.float64)
    model.eval()
    assert f(x).item() == pytest.approx(model(x).sum().item(), rel=1e-12)
    lin.weight = cr.nn.Parameter(cr.tensor(np.full((2, 3), 0.5), dtype=np.float64))
    assert f(x).item() == pytest.approx(model(x).sum().item(), rel=1e-12)
    assert f.traces == 2
    model.train()
    cr.manual_seed(5)
    a = f(x).item()
    cr.manual_seed(5)
    assert a == pytest.approx(model(x).sum().item(), rel=1e-12)
    assert f.traces == 3


def test_optimizer_load_state_dict_between_calls():
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.Adam(p, lr=1e-2))
    rng = np.random.default_rng(4)
    for _ in range(3):
        x, y = _data(rng)
        eager(x, y), step(x, y)
    snap_m = {k: v.data.copy() for k, v in m1.state_dict().items()}
    snap_o = o1.state_dict()
    x, y = _data(rng)
    eager(x, y), step(x, y)
    for m, o in ((m1, o1), (m2, o2)):
        m.load_state_dict(snap_m)
        o.load_state_dict(snap_o)
    for _ in range(3):
        x, y = _data(rng)
        a, b = eager(x, y).item(), step(x, y).item()
        assert abs(a - b) <= 1e-12 * abs(a)
    _same_params(m1, m2, 1e-12)


def test_cross_entropy_backward_reuses_the_forward_softmax():
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.SGD(p, lr=0.1))
    rng = np.random.default_rng(5)
    for _ in range(3):
        x, y = _data(rng)
        assert eager(x, y).item() == step(x, y).item()   # the same operations: bit for bit
    traced = [e.prim.name for e in step.last.program_traced.eqns]
    names = [e.prim.name for e in step.program.eqns]
    assert "softmax" in traced and "softmax" not in names and "residual" in names
    assert "_residual" in step.source and "def _softmax" not in step.source


def test_summed_loss_seed_is_not_multiplied_and_big_grad_goes_into_its_array():
    rng = np.random.default_rng(6)
    x = cr.tensor(rng.standard_normal((4, 16)).astype(np.float32))
    W = cr.tensor(rng.standard_normal((16, 16)).astype(np.float32), requires_grad=True)
    W2 = cr.tensor(W.data.copy(), requires_grad=True)
    opt, opt2 = cr.optim.SGD([W], lr=1e-3), cr.optim.SGD([W2], lr=1e-3)

    def body(W, opt):
        def f():
            loss = ((x @ W) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return f
    eager, step = body(W, opt), cr.compile(body(W2, opt2), fuse=False)
    for _ in range(4):
        assert eager().item() == step().item()
    assert np.array_equal(W2.data, W.data) and np.array_equal(W2.grad.data, W.grad.data)
    arrays = [x for e in step.program.eqns for x in e.inputs if isinstance(x, np.ndarray)]
    assert not [a for a in arrays if a.shape == (4, 16)]   # the all-ones seed array is gone
    traced = [x for e in step.last.program_traced.eqns for x in e.inputs]
    assert any(isinstance(x, np.ndarray) and x.shape == (4, 16) and (x == 1).all()
               for x in traced) or "ones_like" in [e.prim.name for e in
                                                    step.last.program_traced.eqns]
    assert "np.matmul(t" in step.source and "out=grad_out0" in step.source


def test_read_only_parameter_fails_as_eager_does():
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.SGD(p, lr=0.1))
    rng = np.random.default_rng(7)
    x, y = _data(rng)
    for _ in range(2):
        eager(x, y), step(x, y)
    for m in (m1, m2):
        m[2].bias.data.flags.writeable = False
    with pytest.raises(ValueError, match="read-only") as e1:
        eager(x, y)
    with pytest.raises(ValueError, match="read-only") as e2:
        step(x, y)
    assert type(e1.value) is type(e2.value)
    for p, q in zip(m1.parameters(), m2.parameters()):   # left as eager leaves them
        assert _rel(q.data, p.data) <= 1e-12


@pytest.mark.parametrize("fuse", FUSE)
def test_parameter_array_replaced_by_a_fortran_copy(fuse):
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9),
                                         np.float32, fuse)
    rng = np.random.default_rng(8)
    for i in range(6):
        if i == 3:
            for m in (m1, m2):
                m[0].weight.data = np.asfortranarray(m[0].weight.data)
        x, y = _data(rng, dtype=np.float32)
        a, b = eager(x, y).item(), step(x, y).item()
        assert abs(a - b) <= 1e-6 * abs(a), i
    _same_params(m1, m2, 1e-6)


def test_captured_class_targets_are_read_at_every_call():
    """Labels a step reaches through its closure are passed to cross_entropy as a bare array;
    they are a program input (read live), not a constant frozen at the trace."""
    runs = []
    for compiled in (True, False):
        cr.manual_seed(0)
        m = cr.nn.Linear(4, 3, dtype=np.float64)
        X = cr.tensor(np.random.default_rng(0).standard_normal((5, 4)), dtype=np.float64)
        y = cr.tensor(np.array([0, 1, 2, 0, 1]))

        def f(m=m, X=X, y=y):
            loss = F.cross_entropy(m(X), y)
            loss.backward()
            return loss
        step = cr.compile(f) if compiled else f
        losses = []
        for labels in ([0, 1, 2, 0, 1], [0, 1, 2, 0, 1], [2, 2, 2, 2, 2], [1, 0, 1, 0, 1]):
            y.data[:] = labels   # a new batch written into the same tensor
            m.weight.grad = m.bias.grad = None
            losses.append((step().item(), m.weight.grad.data.copy()))
        runs.append(losses)
    compiled, eager = runs
    for (a, ga), (b, gb) in zip(compiled, eager):
        assert abs(a - b) <= 1e-12 * abs(b) and _rel(ga, gb) <= 1e-12
    assert len({round(a, 12) for a, _ in compiled}) == 3


def test_a_grad_the_user_holds_keeps_its_values_as_in_eager():
    """zero_grad() + backward gives a new .grad in eager code, so a gradient history a student
    keeps (`hist.append(p.grad)`) holds every step's values; the compiled step writes in place
    only into .grad arrays nobody else holds."""
    m1, o1, eager, m2, o2, step = _twins(lambda p: cr.optim.SGD(p, lr=0.1), np.float64)
    rng = np.random.default_rng(3)
    hist1, hist2, arrays = [], [], []
    for _ in range(4):
        x, y = _data(rng)
        eager(x, y)
        step(x, y)
        hist1.append(m1[0].weight.grad)
        hist2.append(m2[0].weight.grad)
        arrays.append(m2[-1].bias.grad.data)   # holding only the array counts too
    for g1, g2 in zip(hist1, hist2):
        np.testing.assert_allclose(g2.data, g1.data, rtol=1e-12)
    assert len({id(a) for a in arrays}) == 4
    assert not np.allclose(hist2[0].data, hist2[-1].data)
