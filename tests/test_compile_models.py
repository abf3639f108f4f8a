"""cr.compile on the ConvNet and sequence workloads: 100 compiled steps give eager's losses."""
import importlib
import os

import pytest

HAS_NUMBA = __import__("chainrule.compile.fuse", fromlist=["available"]).available()


@pytest.fixture(autouse=True, scope="module")
def _kernel_cache(tmp_path_factory):
    old = os.environ.get("CHAINRULE_CACHE")
    os.environ["CHAINRULE_CACHE"] = str(tmp_path_factory.mktemp("kernels"))
    yield
    if old is None:
        os.environ.pop("CHAINRULE_CACHE", None)
    else:
        os.environ["CHAINRULE_CACHE"] = old


# NOTE: the LSTM layer's recorded backward (what a compiled step runs) is a second formulation of
# its array-mode BPTT, summing in another order: gradients differ in the last float32 bit and
# 100 training steps amplify that, so it is held to 1e-3, not 1e-6 (closing note of issue 12).
@pytest.mark.parametrize("name,rtol", [("w6_digits_cnn", 1e-6), ("w7_cifar_block", 1e-6),
                                       ("w8_lstm", 1e-3)])
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
            x = cr.tensor(rng.standard_normal((16, 4)) * (10.0 if i % 3 == 0 else 0.01))
            out.append(st(x, cr.tensor(rng.integers(0, 3, 16))).item())
        return np.array(out), [p.data.copy() for p in m.parameters()]
    (la, pa), (lb, pb) = run(False), run(True)
    np.testing.assert_allclose(lb, la, rtol=1e-6)
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
