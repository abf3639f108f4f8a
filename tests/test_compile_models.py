"""cr.compile semantics beyond the MLPs: the ConvNet and sequence workloads for 100 steps, indices,
targets, clipping and views read or decided at every call as eager code does."""
import importlib

import pytest

pytestmark = pytest.mark.usefixtures("kernel_cache")


@pytest.mark.parametrize("name,rtol", [("w6_digits_cnn", 1e-6), ("w7_cifar_block", 1e-6),
                                       ("w8_lstm", 1e-6)])
def test_convnet_and_lstm_workloads_100_steps(name, rtol):
    mod = importlib.import_module(f"benchmarks.{name}")
    s = mod.setup(quick=True)
    eager = mod.IMPLS["chainrule"](s)
    step = mod.IMPLS["chainrule-compiled"](s)
    first = None
    for i in range(100):
        a, b = eager(), step()
        first = abs(a) if first is None else first
        # relative, plus 1e-6 of the first loss (the LSTM's loss falls to ~1e-8)
        assert abs(a - b) <= rtol * abs(a) + 1e-6 * first, (name, i, a, b)


def test_captured_targets_changed_in_place_are_read_live():
    """Integer targets reach the loss primitive as a bare array; compiled code must still read the
    tensor's current values (a data loader refilling one batch buffer), not the trace's."""
    import numpy as np
    import chainrule as cr
    F = cr.nn.functional
    cr.manual_seed(0)
    m = cr.nn.Linear(4, 3)
    X = cr.tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))
    y = cr.tensor(np.array([0, 1, 2, 0, 1]))

    class Holder(cr.nn.Module):   # a plain tensor attribute of a module is reachable too
        def __init__(self):
            super().__init__()
            self.target = cr.tensor(np.array([1, 1, 0, 0, 2]))

    h = Holder()
    step = cr.compile(lambda: F.cross_entropy(m(X), y))
    step2 = cr.compile(lambda: F.nll_loss(F.log_softmax(m(X), dim=1), h.target))
    for _ in range(2):
        assert step().item() == F.cross_entropy(m(X), y).item()
        step2()
    y.data[...] = [2, 2, 2, 2, 0]
    h.target.data[...] = [0, 0, 0, 2, 1]
    assert step().item() == F.cross_entropy(m(X), y).item()
    assert step2().item() == F.nll_loss(F.log_softmax(m(X), dim=1), h.target).item()


def test_indices_and_targets_passed_as_arguments_are_read_every_call():
    """Embedding lookups, gather, x[i] and class losses with new indices each call give eager's
    numbers: the indices are inputs of the traced equations, not constants of the first trace."""
    import numpy as np
    import chainrule as cr
    F = cr.nn.functional
    cr.manual_seed(0)
    emb = cr.nn.Embedding(10, 3, padding_idx=0)
    lin = cr.nn.Linear(4, 3)
    x = cr.tensor(np.arange(12.0).reshape(3, 4))
    X = cr.tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))
    fns = {
        "embedding": (lambda i: emb(i).sum(), [[1, 2], [0, 7]]),
        "gather": (lambda i: cr.gather(x, 1, i).sum(), [[[0], [1], [2]], [[3], [3], [0]]]),
        "getitem": (lambda i: (x[i] * x[i]).sum(), [[0, 1], [2, 2]]),
        "take": (lambda i: (cr.take(x, i) ** 2).sum(), [[0, 5], [7, -1]]),
        "scatter": (lambda i: (cr.scatter(x, 1, i, 0.5) ** 2).sum(), [[[0]] * 3, [[2], [1], [3]]]),
        "scatter_add": (lambda i: (cr.scatter_add(x, 1, i, x) ** 2).sum(), [[[0] * 4] * 3, [[1] * 4] * 3]),
        "index_add": (lambda i: (cr.index_add(x, 0, i, x[:2]) ** 2).sum(), [[0, 1], [2, 2]]),
        "nll": (lambda y: F.nll_loss(F.log_softmax(lin(X), dim=1), y), [[0, 1, 2, 0, 1], [2, 2, 2, 1, 1]]),
        "smoothing": (lambda y: F.cross_entropy(lin(X), y, label_smoothing=0.1),
                      [[0, 1, 2, 0, 1], [2, 2, 2, 1, 1]]),
        "ignore": (lambda y: F.cross_entropy(lin(X), y, ignore_index=1), [[0, 1, 2, 0, 1], [2, 2, 2, 1, 1]]),
        "svm": (lambda y: F.multi_margin_loss(lin(X), y), [[0, 1, 2, 0, 1], [2, 2, 2, 1, 1]]),
    }
    for name, (fn, values) in fns.items():
        step = cr.compile(fn)
        prog = None
        for v in values * 2:
            t = cr.tensor(np.array(v))
            want = fn(t).item()
            assert abs(step(t).item() - want) <= 1e-6 * abs(want), name
            prog = prog or cr.make_program(fn, t)
            assert abs(float(prog(t.data)) - want) <= 1e-6 * abs(want), name


@pytest.mark.parametrize("clip", ["norm", "norm-inf", "value"])
def test_gradient_clipping_inside_a_compiled_step_equals_eager(clip):
    """Clipping decides per call (big and small gradients alternate), as eager code does."""
    import numpy as np
    import chainrule as cr
    F = cr.nn.functional

    def run(compiled):
        cr.manual_seed(0)
        m = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
        opt = cr.optim.SGD(m.parameters(), lr=0.5)

        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            if clip == "value":
                cr.nn.utils.clip_grad_value_(m.parameters(), 0.05)
            else:
                cr.nn.utils.clip_grad_norm_(m.parameters(), 0.5,
                                            norm_type=float("inf") if clip == "norm-inf" else 2.0)
            opt.step()
            return loss
        st = cr.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        out = []
        for i in range(12):
            x = cr.tensor(rng.standard_normal((16, 4)) * (10.0 if i % 3 == 0 else 0.01), dtype=cr.float32)
            out.append(st(x, cr.tensor(rng.integers(0, 3, 16))).item())
        return np.array(out), [p.data.copy() for p in m.parameters()]
    (la, pa), (lb, pb) = run(False), run(True)
    np.testing.assert_allclose(lb, la, rtol=1e-6)
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_a_view_of_a_traced_value_made_outside_ops_breaks_the_graph():
    import numpy as np
    import chainrule as cr
    from chainrule.compile import GraphBreak
    from chainrule.ops.shape import getitem

    def fn(i):   # a strided NumPy view of the index array, passed on as a bare array
        return getitem(cr.arange(10.0), (i.data[::2],)).sum()
    i = cr.tensor(np.array([1, 2, 3, 4]))
    with pytest.raises(GraphBreak, match="view .* made outside chainrule's ops"):
        cr.compile(fn)(i)
    with pytest.warns(RuntimeWarning, match="eagerly"):
        step = cr.compile(fn, fallback="eager")
        assert step(i).item() == 4.0
    assert step(cr.tensor(np.array([5, 0, 9, 0]))).item() == 14.0
    with pytest.raises(RuntimeError, match="view"):
        cr.make_program(fn, i)
    ok = cr.make_program(lambda i: getitem(cr.arange(10.0), (i.data.reshape(2, 2),)).sum(), i)
    assert float(ok(np.array([9, 9, 9, 9]))) == 36.0   # a reshape view is recorded as a reshape


@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_ignore_index_appearing_after_the_trace_is_masked(ignore_index):
    """The first traced batch has no ignored target; later ones do (padding): the compiled step
    masks them per call, as eager code does, and an all-ignored batch gives nan."""
    import numpy as np
    import chainrule as cr
    F = cr.nn.functional
    cr.manual_seed(0)
    m = cr.nn.Linear(4, 120, dtype=np.float64)   # more classes than |ignore_index|: a wrong index would not fail
    X = cr.tensor(np.random.default_rng(0).standard_normal((5, 4)), dtype=np.float64)

    def loss(y):
        return F.cross_entropy(m(X), y, ignore_index=ignore_index)

    def with_grad(y):
        m.zero_grad()
        out = loss(y)
        out.backward()
        return out, m.weight.grad
    step = cr.compile(with_grad)
    batches = [[3, 1, 2, 5, 1], [ignore_index, 1, ignore_index, 7, 9], [3, 1, 2, 5, 1],
               [ignore_index] * 5]
    for b in batches:
        y = cr.tensor(np.array(b))
        got, g = step(y)
        m.zero_grad()
        want = loss(y)
        want.backward()
        if np.isnan(want.item()):
            assert np.isnan(got.item()) and not g.data.any()
            continue
        assert abs(got.item() - want.item()) <= 1e-12 * abs(want.item()), b
        np.testing.assert_allclose(g.data, m.weight.grad.data, rtol=1e-12, atol=1e-15)
