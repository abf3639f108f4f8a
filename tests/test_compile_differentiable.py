"""cr.compile(model) with the backward outside, as torch.compile(model) is used: the outputs need
gradients, so they get a node whose backward is the recomputed, compiled vjp."""
import warnings

import numpy as np
import pytest

import chainrule as cr

F = cr.nn.functional


def _mlp(seed=0, extra=()):
    cr.manual_seed(seed)
    return cr.nn.Sequential(cr.nn.Linear(3, 8, dtype=np.float64), cr.nn.Tanh(), *extra,
                            cr.nn.Linear(8, 2, dtype=np.float64))


def _data(rng, n=6):
    return cr.tensor(rng.standard_normal((n, 3))), cr.tensor(rng.integers(0, 2, n))


def test_a_compiled_model_trains_as_the_eager_one():
    m1, m2 = _mlp(), _mlp()
    cm = cr.compile(m2)
    o1, o2 = cr.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9), \
        cr.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no fallback: this runs compiled
        for _ in range(10):
            x, y = _data(rng)
            for f, o in ((m1, o1), (cm, o2)):
                loss = F.cross_entropy(f(x), y)
                o.zero_grad()
                loss.backward()
                o.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-12, atol=1e-14)
    assert cm.traces == 1 and "def step(" in cm.source
    out = cm(x)
    assert out.requires_grad and out.grad_fn.name == "compiled Sequential"


def test_gradients_reach_an_input_and_an_upstream_graph():
    m = _mlp()
    cm = cr.compile(m)
    rng = np.random.default_rng(1)
    w = cr.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    x0 = cr.tensor(rng.standard_normal((4, 3)))
    grads = []
    for f in (m, cm):
        w.grad = None
        for p in m.parameters():
            p.grad = None
        ((f(x0 @ w) ** 2).sum() * 0.5).backward()
        grads.append([w.grad.data.copy()] + [p.grad.data.copy() for p in m.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_several_outputs_and_an_unused_one():
    m = _mlp()

    def two(x):
        h = m(x)
        return h, (h * h).sum(), x.shape[0]

    ct = cr.compile(two)
    x = cr.tensor(np.random.default_rng(2).standard_normal((5, 3)))
    res = []
    for f in (two, ct):
        for p in m.parameters():
            p.grad = None
        h, sq, n = f(x)
        assert n == 5
        (h.sum() * 3 + sq).backward()
        res.append([p.grad.data.copy() for p in m.parameters()])
        for p in m.parameters():
            p.grad = None
        f(x)[1].backward()   # only the second output
        res.append([p.grad.data.copy() for p in m.parameters()])
    for a, b in zip(res[:2], res[2:]):
        for u, v in zip(a, b):
            np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-14)


def test_create_graph_through_a_compiled_output():
    """A gradient penalty: the first backward is recorded, so it is differentiated again."""
    m = _mlp()
    cm = cr.compile(m)
    x = cr.tensor(np.random.default_rng(3).standard_normal((4, 3)), requires_grad=True)
    res = []
    for f in (m, cm):
        for p in m.parameters():
            p.grad = None
        (gx,) = cr.autograd.grad(f(x).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        # the last bias does not move d out / dx: no gradient, as in eager
        res.append([None if p.grad is None else p.grad.data.copy() for p in m.parameters()])
    assert [a is None for a in res[0]] == [b is None for b in res[1]] == [False] * 3 + [True]
    for a, b in zip(res[0][:3], res[1][:3]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_no_grad_calls_stay_plain_compiled_values():
    m = _mlp()
    cm = cr.compile(m)
    x = cr.tensor(np.ones((2, 3)))
    with cr.no_grad():
        out = cm(x)
    assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_allclose(out.data, m(x).data, rtol=1e-12)


@pytest.mark.parametrize("extra", ["batchnorm", "dropout"])
def test_a_forward_with_effects_updates_and_draws_once(extra):
    """BatchNorm's running statistics are updated by the forward code only, and dropout's mask is
    a residual of the forward: the backward uses the mask that call drew."""
    def layer():
        return cr.nn.BatchNorm1d(8, dtype=np.float64) if extra == "batchnorm" else cr.nn.Dropout(0.3)
    m1, m2 = _mlp(extra=[layer()]), _mlp(extra=[layer()])
    cm = cr.compile(m2)
    rng = np.random.default_rng(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(4):
            x, y = _data(rng)
            for f, m in ((m1, m1), (cm, m2)):
                cr.manual_seed(i)
                for p in m.parameters():
                    p.grad = None
                F.cross_entropy(f(x), y).backward()
            for a, b in zip(m1.parameters(), m2.parameters()):
                np.testing.assert_allclose(b.grad.data, a.grad.data, rtol=1e-12, atol=1e-14)
            for a, b in zip(m1.buffers(), m2.buffers()):
                np.testing.assert_allclose(b.data, a.data, rtol=1e-12)
    assert cm.traces == 1


def test_two_forwards_then_one_backward_and_a_retained_graph():
    """Each call keeps its own residuals; a retained graph's backward runs twice alike."""
    m = _mlp()
    cm = cr.compile(m)
    rng = np.random.default_rng(5)
    x1, x2 = (cr.tensor(rng.standard_normal((4, 3))) for _ in range(2))
    res = []
    for f in (m, cm):
        f(x1)   # the first compiled call traces; the ones below run the code
        for p in m.parameters():
            p.grad = None
        loss = (f(x1) ** 2).sum() + (f(x2) ** 3).sum()
        loss.backward(retain_graph=True)
        one = [p.grad.data.copy() for p in m.parameters()]
        loss.backward()
        res.append((one, [p.grad.data.copy() for p in m.parameters()]))
    for (a1, a2), (b1, b2) in [(res[0], res[1])]:
        for u, v in zip(a1 + a2, b1 + b2):
            np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-14)
    for u, v in zip(res[1][0], res[1][1]):
        np.testing.assert_allclose(v, 2 * u, rtol=1e-12)


def test_the_split_shows_its_residuals():
    m = _mlp()
    cm = cr.compile(m)
    x = cr.tensor(np.ones((2, 3)))
    cm(x)
    (entry,) = cm.cache[next(iter(cm.cache))]
    fwd, bwd = entry.entry.source, entry.backward.source
    assert "def step(" in fwd and "def step_backward(" in bwd and "cotangent0" in bwd
    assert "cotangent0" not in fwd and "tanh" in fwd and "tanh" not in bwd


MODELS = {
    "cnn": (lambda: cr.nn.Sequential(cr.nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), cr.nn.ReLU(),
                                     cr.nn.MaxPool2d(2), cr.nn.Flatten(),
                                     cr.nn.Linear(64, 3, dtype=np.float64)), (3, 2, 8, 8)),
    "lstm": (lambda: cr.nn.LSTM(4, 5, batch_first=True, dtype=np.float64), (2, 3, 4)),
    "encoder": (lambda: cr.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                                      batch_first=True, dtype=np.float64),
                (2, 3, 8)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_with_several_outputs_and_input_gradients(name):
    """Every output used (LSTM: out, (h, c)), input gradients too: eager's numbers."""
    make, shape = MODELS[name]
    cr.manual_seed(0)
    m1 = make()
    cr.manual_seed(0)
    m2 = make()
    cm = cr.compile(m2)
    rng = np.random.default_rng(6)
    for _ in range(3):
        x = cr.tensor(rng.standard_normal(shape), requires_grad=True)
        res = []
        for f, m in ((m1, m1), (cm, m2)):
            for p in m.parameters():
                p.grad = None
            x.grad = None
            out = f(x)
            outs = [out] if isinstance(out, cr.Tensor) else [out[0], *out[1]]
            sum(((o * (k + 1.5)) ** 2).sum() for k, o in enumerate(outs)).backward()
            res.append([o.data for o in outs] + [p.grad.data for p in m.parameters()] + [x.grad.data])
        for a, b in zip(*res):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)
    assert cm.traces == 1


def test_a_compiled_module_reads_its_attributes_through_live():
    """cr.compile(model) stands for the model, as torch.compile's module does."""
    m = _mlp()
    cm = cr.compile(m)
    assert [p is q for p, q in zip(cm.parameters(), m.parameters())] == [True] * 4
    assert cm._orig_mod is m and cm.training
    cm.eval()
    assert not m.training and not cm.training
    assert list(cm.state_dict()) == list(m.state_dict())
    with pytest.raises(AttributeError, match="nonexistent"):
        cm.nonexistent
    with pytest.warns(RuntimeWarning, match="Sequential was traced 2 times"):
        c1 = cr.compile(m, cache_size=1)
        for n in (2, 3):
            c1(cr.tensor(np.ones((n, 3))))


EDGE = {
    "identity": (lambda x, y: x, 2),
    "view": (lambda x, y: x[0], 2),
    "transpose": (lambda x, y: x.T * y.T, 2),
    "unused argument": (lambda x, y: y * 2, 2),
    "int and float outputs": (lambda x, y: (x.argmax(1), x * y, cr.ones(2)), 2),
    "one output twice": (lambda x, y: (x * y,) * 2, 2),
    "detach inside": (lambda x, y: x.detach() * x + y, 2),
    "a number argument": (lambda x, y, s: x * s + y, 3),
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_edge_cases_of_differentiable_outputs(name):
    fn, n_args = EDGE[name]
    got = []
    for f in (fn, cr.compile(fn)):
        rng = np.random.default_rng(7)
        for _ in range(3):   # trace, then the code twice
            args = [cr.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2)]
            args += [2.5] * (n_args - 2)
            out = f(*args)
            outs = out if isinstance(out, tuple) else (out,)
            assert [o.requires_grad for o in outs] == [o.requires_grad for o in
                                                      (fn(*args) if isinstance(out, tuple)
                                                       else (fn(*args),))]
            sum((o * (k + 1.0)).sum() for k, o in enumerate(outs) if o.requires_grad).backward()
            got.append([o.data for o in outs] +
                       [None if a.grad is None else a.grad.data for a in args[:2]])
    for a, b in zip(got[:3], got[3:]):
        for u, v in zip(a, b):
            assert (u is None) == (v is None)
            if u is not None:
                np.testing.assert_allclose(v, u, rtol=1e-12)


def test_keyword_arguments_of_a_compiled_module():
    """model(x, src_key_padding_mask=m): keyword tensors are inputs too (one version per set of
    keyword names), gradients as eager."""
    cr.manual_seed(0)
    enc = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=np.float64)
    cm = cr.compile(enc)
    rng = np.random.default_rng(8)
    w = cr.tensor(rng.standard_normal((2, 5, 8)))
    x = cr.tensor(rng.standard_normal((2, 5, 8)), requires_grad=True)
    mask = cr.tensor(np.array([[False] * 5, [False] * 3 + [True] * 2]))
    res = []
    for f in (enc, cm, cm, cm):   # eager, then the trace and the code twice
        for p in enc.parameters():
            p.grad = None
        x.grad = None
        out = f(x, src_key_padding_mask=mask)
        (out * w).sum().backward()
        res.append([out.data.copy(), x.grad.data.copy()] +
                   [p.grad.data.copy() for p in enc.parameters()])
    for other in res[1:]:
        for a, b in zip(res[0], other):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)
    assert cm.last_keywords.traces == 1 and "def step(" in cm.source
