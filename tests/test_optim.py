"""Optimizers step by step against their update formulas written out in NumPy (and torch.optim)."""
import math
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim


@pytest.fixture(autouse=True)
def float64():
    cr.set_default_dtype(cr.float64)


# ---------------------------------------------------------------- a small least-squares problem

RNG = np.random.default_rng(5)
X = RNG.standard_normal((8, 3))
Y = RNG.standard_normal((8, 2))
W0 = RNG.standard_normal((3, 2))
B0 = RNG.standard_normal(2)


def np_grads(w, b):
    r = X @ w + b - Y
    return [2 * X.T @ r / 8, 2 * r.sum(0) / 8]


def cr_loss(w, b):
    r = cr.tensor(X) @ w + b - cr.tensor(Y)
    return (r * r).sum() / 8


# ---------------------------------------------------------------- reference formulas (PyTorch docs)

def ref_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    def step(p, g, st):
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            st["b"] = g.copy() if "b" not in st else momentum * st["b"] + (1 - dampening) * g
            g = g + momentum * st["b"] if nesterov else st["b"]
        return p - lr * g
    return step


def ref_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False,
             maximize=False):
    b1, b2 = betas

    def step(p, g, st):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        t = st["t"] = st.get("t", 0) + 1
        st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
        st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
        v = st["v"]
        if amsgrad:
            v = st["vmax"] = np.maximum(st.get("vmax", 0), st["v"])
        mhat = st["m"] / (1 - b1 ** t)
        vhat = v / (1 - b2 ** t)
        return p - lr * mhat / (np.sqrt(vhat) + eps)
    return step


def ref_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    def step(p, g, st):
        g = g + weight_decay * p
        st["v"] = alpha * st.get("v", 0) + (1 - alpha) * g * g
        v = st["v"]
        if centered:
            st["ga"] = alpha * st.get("ga", 0) + (1 - alpha) * g
            v = v - st["ga"] ** 2
        a = np.sqrt(v) + eps
        if momentum:
            st["b"] = momentum * st.get("b", 0) + g / a
            return p - lr * st["b"]
        return p - lr * g / a
    return step


def ref_adagrad(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    def step(p, g, st):
        t = st["t"] = st.get("t", 0) + 1
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        st["s"] = st.get("s", initial_accumulator_value) + g * g
        return p - clr * g / (np.sqrt(st["s"]) + eps)
    return step


CASES = [
    ("sgd", optim.SGD, ref_sgd, dict(lr=0.1)),
    ("sgd-momentum", optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    ("sgd-dampening-wd", optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("sgd-nesterov-wd", optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd-maximize", optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.5, maximize=True, weight_decay=0.1)),
    ("adam", optim.Adam, ref_adam, dict(lr=0.1)),
    ("adam-wd-amsgrad", optim.Adam, ref_adam, dict(lr=0.1, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    ("adam-maximize", optim.Adam, ref_adam, dict(lr=0.1, maximize=True)),
    ("adamw", optim.AdamW, lambda **k: ref_adam(decoupled=True, **k), dict(lr=0.1, weight_decay=0.3)),
    ("adamw-amsgrad", optim.AdamW, lambda **k: ref_adam(decoupled=True, **k),
     dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    ("rmsprop", optim.RMSprop, ref_rmsprop, dict(lr=0.01)),
    ("rmsprop-centered-momentum-wd", optim.RMSprop, ref_rmsprop,
     dict(lr=0.01, alpha=0.9, momentum=0.7, centered=True, weight_decay=0.05)),
    ("adagrad", optim.Adagrad, ref_adagrad, dict(lr=0.5)),
    ("adagrad-decay-wd-init", optim.Adagrad, ref_adagrad,
     dict(lr=0.5, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2)),
]


def run_ours(cls, kwargs, steps=5):
    w, b = cr.tensor(W0, requires_grad=True), cr.tensor(B0, requires_grad=True)
    opt = cls([w, b], **kwargs)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        cr_loss(w, b).backward()
        opt.step()
        history.append((w.data.copy(), b.data.copy()))
    return history, opt, (w, b)


@pytest.mark.parametrize("cls, ref, kwargs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_formula_step_by_step(cls, ref, kwargs):
    history, _, _ = run_ours(cls, kwargs)
    ps = [W0.copy(), B0.copy()]
    states = [{}, {}]
    step = ref(**kwargs)
    for k, (w, b) in enumerate(history):
        gs = np_grads(*ps)
        ps = [step(p, g, st) for p, g, st in zip(ps, gs, states)]
        np.testing.assert_allclose(w, ps[0], rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")
        np.testing.assert_allclose(b, ps[1], rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")
    assert not np.allclose(history[-1][0], W0)


@pytest.mark.parametrize("cls, ref, kwargs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_big_parameters_updated_chunk_by_chunk_match_formula(cls, ref, kwargs):
    # Parameters above optim.optimizer.BLOCK elements are updated in slices along axis 0 through
    # shared scratch rows: rows that do not divide evenly, a 1-D parameter and a gradient that
    # is a transposed (non-contiguous) view must all give the formula's result everywhere.
    from chainrule.optim.optimizer import BLOCK
    rng = np.random.default_rng(1)
    shapes = [(301, 700), (BLOCK + 17,), ()]
    ps = [rng.standard_normal(s) for s in shapes]
    tensors = [cr.tensor(p.copy(), requires_grad=True) for p in ps]
    opt = cls(tensors, **kwargs)
    states = [{} for _ in ps]
    step = ref(**kwargs)
    for k in range(3):
        gs = [rng.standard_normal(s) for s in shapes]
        gs[0] = np.ascontiguousarray(gs[0].T).T          # same values, Fortran-ordered view
        for t, g in zip(tensors, gs):
            t.grad = cr.tensor(g)
        opt.step()
        ps = [step(p, g, st) for p, g, st in zip(ps, gs, states)]
        for t, p in zip(tensors, ps):
            np.testing.assert_allclose(t.data, p, rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")
    assert ps[0].size > BLOCK and ps[1].size > BLOCK   # both big ones really were chunked


@pytest.mark.parametrize("cls, ref, kwargs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_torch_optim(cls, ref, kwargs):
    torch = pytest.importorskip("torch")
    history, _, _ = run_ours(cls, kwargs)
    w, b = torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)
    opt = getattr(torch.optim, cls.__name__)([w, b], **kwargs)
    for k in range(5):
        opt.zero_grad()
        r = torch.tensor(X) @ w + b - torch.tensor(Y)
        ((r * r).sum() / 8).backward()
        opt.step()
        np.testing.assert_allclose(history[k][0], w.detach().numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(history[k][1], b.detach().numpy(), rtol=1e-10, atol=1e-13)
    ours = run_ours(cls, kwargs)[1].state_dict()["state"]
    theirs = opt.state_dict()["state"]
    assert {k: sorted(v) for k, v in ours.items()} == {k: sorted(v) for k, v in theirs.items()}
    for name, value in theirs.get(0, {}).items():   # plain SGD keeps no state
        np.testing.assert_allclose(ours[0][name].data, value.numpy(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("cls, kwargs", [(c[1], c[3]) for c in CASES[1::2]], ids=[c[0] for c in CASES[1::2]])
def test_state_dict_round_trip_continues_identically(cls, kwargs):
    _, opt, (w, b) = run_ours(cls, kwargs, steps=3)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert set(sd["state"]) <= {0, 1}
    for k, v in kwargs.items():
        assert sd["param_groups"][0][k] == v

    w2, b2 = cr.tensor(w.data, requires_grad=True), cr.tensor(b.data, requires_grad=True)
    opt2 = cls([w2, b2], **kwargs)
    opt2.load_state_dict(sd)
    for o, (pw, pb) in ((opt, (w, b)), (opt2, (w2, b2))):
        for _ in range(2):
            o.zero_grad()
            cr_loss(pw, pb).backward()
            o.step()
    np.testing.assert_array_equal(w.data, w2.data)
    np.testing.assert_array_equal(b.data, b2.data)


def test_state_dict_layout_like_pytorch():
    _, opt, _ = run_ours(optim.Adam, dict(lr=0.1), steps=2)
    sd = opt.state_dict()
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert float(sd["state"][0]["step"].data) == 2.0
    _, opt, _ = run_ours(optim.SGD, dict(lr=0.1, momentum=0.9), steps=2)
    assert sorted(opt.state_dict()["state"][1]) == ["momentum_buffer"]


def test_load_state_dict_errors():
    _, opt, _ = run_ours(optim.SGD, dict(lr=0.1, momentum=0.9), steps=1)
    sd = opt.state_dict()
    other = optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters in the state dict, 1 in"):
        other.load_state_dict(sd)
    two = optim.SGD([{"params": [cr.zeros(2, requires_grad=True)]},
                     {"params": [cr.zeros(2, requires_grad=True)]}], lr=0.1)
    with pytest.raises(ValueError, match="has 1 parameter groups, the optimizer has 2"):
        two.load_state_dict(sd)


def test_param_groups_and_add_param_group():
    w, b = cr.tensor(W0, requires_grad=True), cr.tensor(B0, requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    cr_loss(w, b).backward()
    gw, gb = np_grads(W0, B0)
    opt.step()
    np.testing.assert_allclose(w.data, W0 - 0.1 * gw)
    np.testing.assert_allclose(b.data, B0 - 0.5 * gb)
    extra = cr.zeros(3, requires_grad=True)
    opt.add_param_group({"params": extra, "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    opt.step()                                   # extra has no grad: skipped, unchanged
    assert not extra.data.any()
    opt.zero_grad()
    assert w.grad is None and b.grad is None
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        optim.SGD([w], lr=0.1, nesterov=True)


def test_step_records_no_graph_and_keeps_identity():
    w = cr.tensor(W0, requires_grad=True)
    arr = w.data
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.data is arr and w.is_leaf and w.grad_fn is None


def test_closure_returns_loss():
    w, b = cr.tensor(W0, requires_grad=True), cr.tensor(B0, requires_grad=True)
    opt = optim.SGD([w, b], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = cr_loss(w, b)
        loss.backward()
        return loss
    loss = opt.step(closure)
    np.testing.assert_allclose(loss.item(), ((X @ W0 + B0 - Y) ** 2).sum() / 8)


@pytest.mark.parametrize("cls, kwargs", [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)),
    (optim.Adam, dict(lr=0.1, weight_decay=1e-4, amsgrad=True)),
    (optim.AdamW, dict(lr=0.1)),
    (optim.RMSprop, dict(lr=0.1, momentum=0.9, centered=True, weight_decay=1e-4)),
    (optim.Adagrad, dict(lr=0.1, weight_decay=1e-4)),
], ids=["SGD", "SGD-momentum", "SGD-nesterov", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_big_matrix_step_allocates_no_weight_sized_temporary(cls, kwargs):
    w = cr.zeros(500, 500, requires_grad=True)   # 2 MB in float64
    w.grad = cr.ones(500, 500)
    opt = cls([w], **kwargs)
    opt.step()                                   # first step creates state and scratch
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < w.data.nbytes // 4, f"peak {peak} bytes during step"


@pytest.mark.parametrize("cls, kwargs", [(optim.SGD, dict(lr=0.1)),
                                         (optim.SGD, dict(lr=0.1, momentum=0.9)),
                                         (optim.Adam, dict(lr=0.1, weight_decay=0.1))],
                         ids=["SGD", "SGD-momentum", "Adam-wd"])
def test_optimizer_keeps_only_its_state_and_two_shared_blocks(cls, kwargs):
    # Scratch is shared by all parameters (2 rows of BLOCK elements), not one copy per weight:
    # after the first step the optimizer holds its state arrays plus at most those two rows.
    from chainrule.optim.optimizer import BLOCK
    ws = [cr.zeros(600, 600, requires_grad=True) for _ in range(3)]   # 2.9 MB each (float64)
    for w in ws:
        w.grad = cr.ones(600, 600)
    tracemalloc.start()
    try:
        opt = cls(ws, **kwargs)
        opt.step()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    state_bytes = sum(v.data.nbytes for st in opt.state.values() for v in st.values())
    assert held - state_bytes <= 2 * BLOCK * 8 + 64 * 1024, (held, state_bytes)
    # every first step here moves p = 0 by −lr·1 (Adam: m̂/√v̂ = 1; wd·p = 0 at p = 0)
    for w in ws:
        np.testing.assert_allclose(w.data, -0.1, rtol=1e-6)


# ---------------------------------------------------------------- schedulers

def test_step_lr_and_cosine_closed_forms():
    w = cr.zeros(2, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert sched.get_last_lr() == [0.25]      # epoch 8: 8 // 3 = 2 decays

    opt = optim.SGD([w], lr=0.1)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    lrs = []
    for _ in range(11):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(11)]
    np.testing.assert_allclose(lrs, want)
    assert lrs[-1] == pytest.approx(0.01)


def test_scheduler_state_dict_resumes():
    w = cr.zeros(2, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    for _ in range(3):
        sched.step()
    sd = sched.state_dict()
    assert sd["last_epoch"] == 3 and "optimizer" not in sd
    opt2 = optim.SGD([w], lr=1.0)
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=5, gamma=0.5)
    sched2.load_state_dict(sd)
    sched.step(), sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr() == pytest.approx([0.01])


def test_schedulers_match_torch():
    torch = pytest.importorskip("torch")
    tw = torch.zeros(2, requires_grad=True)
    for ours_cls, kw in ((optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.3)),
                         (optim.lr_scheduler.CosineAnnealingLR, dict(T_max=7, eta_min=0.001))):
        opt = optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.2)
        topt = torch.optim.SGD([tw], lr=0.2)
        ours = ours_cls(opt, **kw)
        theirs = getattr(torch.optim.lr_scheduler, ours_cls.__name__)(topt, **kw)
        for _ in range(7):
            topt.step()
            ours.step(), theirs.step()
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-10)
