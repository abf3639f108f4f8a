"""PyTorch as the oracle for cr.nn layers, losses and cr.optim: build the torch module and the cr
module of the same name and arguments, copy torch's state_dict into cr, run the same float64 input,
and compare outputs, input gradients, parameter gradients, buffers, optimizer trajectories and
learning-rate schedules; also torch optimizer states loaded into cr and adversarial inputs."""
import copy

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
T, C = torch.nn, cr.nn
TOL = 1e-7
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor")


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x.data)


def _flat(o):
    return [y for x in o for y in _flat(x)] if isinstance(o, (tuple, list)) else [o]


def _pair(cls, *args, **kw):
    torch.manual_seed(0)
    tm = getattr(T, cls)(*args, **kw).double()
    cm = getattr(C, cls)(*args, **kw, **({"dtype": np.float64} if _takes_dtype(cls) else {}))
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, cm


def _takes_dtype(cls):
    import inspect
    return "dtype" in inspect.signature(getattr(C, cls).__init__).parameters


def _compare(tm, cm, inputs, train=True, **kw):
    assert sorted(tm.state_dict()) == sorted(cm.state_dict())
    tm.train(train)
    cm.train(train)
    tin = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    cin = [cr.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    tout, cout = _flat(tm(*tin, **kw)), _flat(cm(*cin, **kw))
    assert len(tout) == len(cout)
    tl = cl = 0
    for i, (a, b) in enumerate(zip(tout, cout)):
        if a is None:
            assert b is None
            continue
        np.testing.assert_allclose(_np(b), _np(a), rtol=TOL, atol=TOL, err_msg=f"output {i}")
        w = _rand(*a.shape, seed=i + 1)
        tl = tl + (a * torch.tensor(w)).sum()
        cl = cl + (b * cr.tensor(w)).sum()
    for k, v in tm.state_dict().items():   # running statistics after the forward
        np.testing.assert_allclose(_np(cm.state_dict()[k]), _np(v), rtol=TOL, atol=TOL, err_msg=k)
    tl.backward()
    cl.backward()
    for a, b in zip(tin, cin):
        if a.grad is not None:
            np.testing.assert_allclose(_np(b.grad), _np(a.grad), rtol=TOL, atol=TOL)
    cp = dict(cm.named_parameters())
    for k, p in tm.named_parameters():
        if p.grad is not None:
            np.testing.assert_allclose(_np(cp[k].grad), _np(p.grad), rtol=TOL, atol=TOL, err_msg=k)


# ---------------------------------------------------------------- layers (forward and backward)
LAYERS = [
    ("Bilinear", (3, 4, 5), {}, [(2, 3), (2, 4)]),
    ("Bilinear", (3, 4, 5), {"bias": False}, [(6, 2, 3), (6, 2, 4)]),
    ("Hardshrink", (), {}, [(4, 6)]), ("Hardshrink", (1.2,), {}, [(4, 6)]),
    ("Softshrink", (0.3,), {}, [(4, 6)]), ("Softmax2d", (), {}, [(2, 4, 3, 3)]),
    ("ChannelShuffle", (3,), {}, [(2, 6, 3)]),
    ("ZeroPad2d", ((1, 0, 2, 1),), {}, [(2, 3, 4, 5)]), ("ZeroPad2d", (-1,), {}, [(2, 3, 4, 5)]),
    ("ConstantPad1d", (2, 3.5), {}, [(2, 3, 4)]), ("ConstantPad3d", (1, 2.0), {}, [(1, 2, 3, 4, 5)]),
    ("ReflectionPad1d", (2,), {}, [(2, 3, 4)]), ("ReflectionPad2d", ((1, 2, 2, 1),), {}, [(3, 4, 5)]),
    ("ReplicationPad3d", ((1, 0, 2, 0, 1, 1),), {}, [(1, 2, 3, 4, 5)]),
    ("CircularPad2d", ((1, 2, 0, 1),), {}, [(2, 3, 4, 5)]),
    ("Conv1d", (4, 8, 3), {"stride": 3, "padding": 2, "dilation": 2, "groups": 4}, [(2, 4, 9)]),
    ("Conv1d", (4, 6, 4), {"padding": "same", "padding_mode": "reflect"}, [(4, 9)]),
    ("Conv2d", (4, 6, 3), {"padding": (1, 2), "padding_mode": "circular"}, [(2, 4, 7, 8)]),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "output_padding": 1, "groups": 2}, [(2, 4, 5, 4)]),
    ("MaxPool2d", (3,), {"stride": 2, "ceil_mode": True, "padding": 1}, [(2, 3, 7, 9)]),
    ("AvgPool2d", (2,), {"stride": 2, "ceil_mode": True, "padding": 1, "count_include_pad": False},
     [(2, 3, 7, 9)]),
    ("AdaptiveMaxPool2d", ((None, 2),), {}, [(2, 3, 7, 9)]),
    ("GroupNorm", (3, 6), {}, [(3, 6, 2, 2)]), ("LayerNorm", ((4, 5),), {"bias": False}, [(2, 3, 4, 5)]),
    ("BatchNorm1d", (3,), {"momentum": None}, [(5, 3, 4)]),
    ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}, [(3, 4, 5)]),
    ("InstanceNorm3d", (3,), {"affine": True, "track_running_stats": True}, [(2, 3, 2, 3, 4)]),
    ("LPPool2d", (2, 2), {}, [(2, 3, 5, 6)]), ("RReLU", (), {}, [(3, 4)]),
    ("LSTM", (3, 4), {"num_layers": 2, "bidirectional": True, "batch_first": True}, [(2, 5, 3)]),
    ("GRU", (3, 4), {}, [(5, 3)]),
    ("LSTM", (3, 4), {"proj_size": 3, "num_layers": 2, "bidirectional": True}, [(5, 2, 3)]),
    ("LSTM", (3, 4), {"proj_size": 2, "batch_first": True, "bias": False}, [(5, 3)]),
    ("MultiheadAttention", (8, 2), {"kdim": 5, "vdim": 6, "add_bias_kv": True,
                                    "add_zero_attn": True, "batch_first": True},
     [(2, 4, 8), (2, 3, 5), (2, 3, 6)]),
    ("TransformerDecoderLayer", (8, 2, 16, 0.0), {}, [(4, 2, 8), (3, 2, 8)]),
    ("TransformerDecoderLayer", (8, 2, 16, 0.0), {"norm_first": True, "batch_first": True},
     [(2, 4, 8), (2, 3, 8)]),
    ("Transformer", (8, 2, 1, 1, 16, 0.0), {}, [(5, 2, 8), (4, 2, 8)]),
    ("MultiheadAttention", (8, 2), {}, [(4, 8), (3, 8), (3, 8)]),   # unbatched, L != S
    ("MultiheadAttention", (8, 2), {}, [(4, 8), (4, 8), (4, 8)]),   # unbatched self-attention
    ("TransformerEncoderLayer", (8, 2, 16, 0.0), {"norm_first": True}, [(3, 4, 8)]),
]


@pytest.mark.parametrize("cls, args, kw, shapes", LAYERS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_layer_matches_pytorch(cls, args, kw, shapes):
    tm, cm = _pair(cls, *args, **kw)
    train = cls not in ("MultiheadAttention", "RReLU")   # MHA: torch's eval path; RReLU: random
    _compare(tm, cm, [_rand(*s, seed=i) for i, s in enumerate(shapes)], train=train)


def test_reprs_match_pytorch():
    for cls, args, kw in [("Conv2d", (4, 6, 3), {"padding": "same"}), ("GroupNorm", (2, 6), {}),
                          ("AvgPool1d", (2,), {}), ("ZeroPad2d", (1,), {}),
                          ("ConstantPad1d", (2, 3.5), {}), ("Bilinear", (3, 4, 5), {}),
                          ("LSTM", (3, 4), {"proj_size": 2, "num_layers": 2})]:
        assert repr(getattr(C, cls)(*args, **kw)) == repr(getattr(T, cls)(*args, **kw))


def test_embedding_scale_grad_by_freq_and_negative_index():
    tm, cm = _pair("Embedding", 6, 3, scale_grad_by_freq=True, padding_idx=2)
    idx = np.array([[0, 1, 1], [5, 1, 2]])
    _compare(tm, cm, [idx])
    with pytest.raises(IndexError, match="out of range"):
        cm(cr.tensor([-1]))
    with pytest.raises(IndexError):
        tm(torch.tensor([-1]))


def test_empty_batches_as_pytorch():
    for cls, args, shape in [("Flatten", (), (0, 4, 3)), ("GroupNorm", (2, 4), (0, 4, 3)),
                             ("BatchNorm1d", (4,), (0, 4)), ("BatchNorm2d", (4,), (0, 4, 3, 3))]:
        tm, cm = _pair(cls, *args)
        a, b = tm(torch.zeros(shape, dtype=torch.float64)), cm(cr.zeros(*shape, dtype=np.float64))
        assert tuple(b.shape) == tuple(a.shape)
        for k, v in tm.state_dict().items():
            np.testing.assert_array_equal(_np(cm.state_dict()[k]), _np(v))


def test_bad_inputs_raise_one_line_errors():
    cases = [(C.InstanceNorm1d(4), cr.randn(2, 4, 1)),      # one spatial element in training
             (C.Unflatten(1, (2, 2)), cr.randn(4))]         # dim out of range
    for m, x in cases:
        with pytest.raises((ValueError, IndexError)) as e:
            m(x)
        assert "\n" not in str(e.value) and type(m).__name__ in str(e.value)


# ---------------------------------------------------------------- losses
def _loss_case(fname, args, kw, grads=(0,)):
    ta = [torch.tensor(a, requires_grad=i in grads) if isinstance(a, np.ndarray) else a
          for i, a in enumerate(args)]
    ca = [cr.tensor(a, requires_grad=i in grads) if isinstance(a, np.ndarray) else a
          for i, a in enumerate(args)]
    a, b = getattr(T.functional, fname)(*ta, **kw), getattr(C.functional, fname)(*ca, **kw)
    np.testing.assert_allclose(_np(b), _np(a), rtol=TOL, atol=TOL)
    w = _rand(*a.shape, seed=3)
    (a * torch.tensor(w)).sum().backward()
    (b * cr.tensor(w)).sum().backward()
    for i in grads:
        np.testing.assert_allclose(_np(ca[i].grad), _np(ta[i].grad), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_new_losses_match_pytorch(reduction):
    x = _rand(5, 4)
    _loss_case("hinge_embedding_loss", [x, np.array([[1, -1, 0, 2.0]] * 5)],
               dict(margin=0.7, reduction=reduction))
    targets = np.array([[3, 0, 2, 1], [-1, 0, 1, 2], [1, 1, -1, 0], [2, -1, -1, -1], [0, 3, -1, 2]])
    _loss_case("multilabel_margin_loss", [x, targets], dict(reduction=reduction))
    _loss_case("multilabel_margin_loss", [x[0], targets[0]], dict(reduction=reduction))
    tm, cm = T.HingeEmbeddingLoss(reduction=reduction), C.HingeEmbeddingLoss(reduction=reduction)
    y = np.sign(_rand(5, 4, seed=1))
    np.testing.assert_allclose(_np(cm(cr.tensor(x), cr.tensor(y))),
                               _np(tm(torch.tensor(x), torch.tensor(y))), rtol=TOL)


# ---------------------------------------------------------------- optimizers and schedules
def _loss(lib, p, x):
    return ((p[0] @ lib.tensor(x) + p[1]) ** 2).sum() + (p[1] ** 3).sum()


def _trajectory(cls, kw, steps=6, sched=None, skw=None, load_after=None):
    rng = np.random.default_rng(0)
    w0 = [rng.standard_normal((3, 4)), rng.standard_normal(3)]
    tp = [torch.tensor(w.copy(), requires_grad=True) for w in w0]
    cp = [cr.tensor(w.copy(), requires_grad=True) for w in w0]
    to, co = getattr(torch.optim, cls)(tp, **kw), getattr(cr.optim, cls)(cp, **kw)
    if sched:
        ts = getattr(torch.optim.lr_scheduler, sched)(to, **skw)
        cs = getattr(cr.optim.lr_scheduler, sched)(co, **skw)
    for s in range(steps):
        if s == load_after:   # a fresh cr optimizer continues from torch's state_dict
            cp = [cr.tensor(_np(p).copy(), requires_grad=True) for p in tp]
            co = getattr(cr.optim, cls)(cp, **kw)
            co.load_state_dict(to.state_dict())
        x = rng.standard_normal(4)
        to.zero_grad()
        co.zero_grad()
        _loss(torch, tp, x).backward()
        _loss(cr, cp, x).backward()
        to.step()
        co.step()
        if sched:
            ts.step()
            cs.step()
            np.testing.assert_allclose(cs.get_last_lr(), ts.get_last_lr(), rtol=1e-12)
            for tg, cg in zip(to.param_groups, co.param_groups):
                for key in ("momentum", "betas"):
                    if key in tg:
                        np.testing.assert_allclose(cg[key], tg[key], rtol=1e-12)
        for a, b in zip(tp, cp):
            np.testing.assert_allclose(_np(b), _np(a), rtol=1e-9, atol=1e-9, err_msg=f"step {s}")
    tsd, csd = to.state_dict(), co.state_dict()
    for i, st in tsd["state"].items():
        assert sorted(st) == sorted(csd["state"][i])
        for k, v in st.items():   # state dtypes too (step: float32 under the default dtype)
            assert str(v.dtype).replace("torch.", "") == str(csd["state"][i][k].dtype), k


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.1, amsgrad=True, weight_decay=0.1)), ("AdamW", dict(lr=0.1, amsgrad=True)),
    ("RMSprop", dict(centered=True, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.5)),
    ("Adamax", dict()), ("Adamax", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.1, weight_decay=0.1)),
    ("NAdam", dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.1)),
    ("RAdam", dict()), ("RAdam", dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(betas=(0.9, 0.6), maximize=True)),
    ("Adadelta", dict()), ("Adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.1)),
    ("Adam", dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True, foreach=False)),
    ("SGD", dict(lr=0.1, momentum=0.5, fused=None, foreach=True)),
]


@pytest.mark.parametrize("cls, kw", OPTIMIZERS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(OPTIMIZERS)])
def test_optimizer_trajectory_and_torch_state(cls, kw):
    _trajectory(cls, kw, steps=8)
    _trajectory(cls, kw, steps=6, load_after=3)


SCHEDULES = [
    ("ConstantLR", dict(factor=0.5, total_iters=2)), ("PolynomialLR", dict(total_iters=4, power=2.0)),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9 - 0.01 * e)),
    ("CosineAnnealingWarmRestarts", dict(T_0=2, T_mult=2)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, eta_min=0.01)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3,
                      mode="exp_range", gamma=0.9)),
]


@pytest.mark.parametrize("opt", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1))],
                         ids=["SGD", "Adam"])
@pytest.mark.parametrize("sched, skw", SCHEDULES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(SCHEDULES)])
def test_schedule_matches_pytorch(opt, sched, skw):
    _trajectory(*opt, steps=10, sched=sched, skw=skw)


def test_torch_state_with_integer_step_loads():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.Adam([p], lr=0.1)
    tp = torch.tensor([1.0, 2.0], requires_grad=True)
    topt = torch.optim.Adam([tp], lr=0.1)
    tp.grad = torch.tensor([0.5, -1.0])
    topt.step()
    sd = copy.deepcopy(topt.state_dict())   # torch's state_dict shares its state tensors
    sd["state"][0]["step"] = 1   # older PyTorch kept a Python int
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]["exp_avg"], cr.Tensor)
    p.data[...] = tp.detach().numpy()
    tp.grad = torch.tensor([0.25, 0.5])
    p.grad = cr.tensor([0.25, 0.5])
    topt.step()
    opt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-6)


def test_grad_norm_helpers_match_pytorch():
    g = [_rand(3, 4), _rand(5, seed=1)]
    for norm_type in (2.0, 1.0, float("inf")):
        a = torch.nn.utils.get_total_norm([torch.tensor(x) for x in g], norm_type)
        b = cr.nn.utils.get_total_norm([cr.tensor(x) for x in g], norm_type)
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-12)
    tp = [torch.tensor(x, requires_grad=True) for x in g]
    cp = [cr.tensor(x, requires_grad=True) for x in g]
    for p, q, x in zip(tp, cp, g):
        p.grad, q.grad = torch.tensor(x), cr.tensor(x)
    torch.nn.utils.clip_grads_with_norm_(tp, 1.0, torch.tensor(4.0, dtype=torch.float64))
    cr.nn.utils.clip_grads_with_norm_(cp, 1.0, cr.tensor(4.0, dtype=np.float64))
    for p, q in zip(tp, cp):
        np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_gradient_at_zero_and_one_is_pytorchs(dtype):
    p = np.array([0.0, 1.0, 0.5, 1e-30, 1 - 1e-7, 1.0, 0.0], dtype=dtype)
    t = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], dtype=dtype)
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0], dtype=dtype)
    tp, tt = torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)
    cp, ct = cr.tensor(p, requires_grad=True), cr.tensor(t, requires_grad=True)
    a = T.functional.binary_cross_entropy(tp, tt, weight=torch.tensor(w), reduction="sum")
    b = C.functional.binary_cross_entropy(cp, ct, weight=cr.tensor(w), reduction="sum")
    np.testing.assert_allclose(_np(b), _np(a), rtol=1e-6)
    a.backward()
    b.backward()
    np.testing.assert_allclose(_np(cp.grad), _np(tp.grad), rtol=1e-6)   # 0 at p = t, 1e12 at p = 1, t = 0
    np.testing.assert_allclose(_np(ct.grad), _np(tt.grad), rtol=1e-6)


# ---------------------------------------------------------------- container and Module APIs
def _seq(nn):
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


def _mutate_seq(nn):
    s = _seq(nn)
    s.append(nn.Tanh())
    s.insert(0, nn.Identity())
    del s[1]
    s[0] = nn.Linear(2, 2, bias=False)
    popped = s.pop(1)
    return [type(m).__name__ for m in s], list(s.state_dict()), type(popped).__name__


def _mutate_list(nn):
    m = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    m += [nn.Tanh()]
    m.insert(1, nn.Identity())
    del m[0]
    m[0] = nn.Linear(2, 1)
    popped = m.pop(1)
    both = m + nn.ModuleList([nn.Linear(1, 1)])
    return [type(x).__name__ for x in m], list(both.state_dict()), type(popped).__name__, len(both)


def _mutate_dict(nn):
    m = nn.ModuleDict({"b": nn.Linear(2, 2), "a": nn.ReLU()})
    m.update({"z": nn.ReLU(), "b": nn.Linear(2, 3)})   # an existing key keeps its place
    return list(m.keys()), list(m.state_dict())


@pytest.mark.parametrize("fn", [_mutate_seq, _mutate_list, _mutate_dict,
                                lambda nn: (len(_seq(nn) + _seq(nn)), len(_seq(nn) * 2)),
                                lambda nn: (_seq(nn).get_submodule("2").out_features,
                                            tuple(_seq(nn).get_parameter("0.weight").shape)),
                                lambda nn: repr(nn.ModuleList([nn.ReLU()] * 3 + [nn.Tanh()]))],
                         ids=["Sequential", "ModuleList", "ModuleDict", "add-mul", "get", "repr"])
def test_container_api_matches_pytorch(fn):
    assert fn(C) == fn(T)


def test_module_names_with_dots_are_refused():
    with pytest.raises(KeyError):
        T.ModuleDict({"a.b": T.ReLU()})
    with pytest.raises(KeyError, match="'.'"):
        C.ModuleDict({"a.b": C.ReLU()})


@pytest.mark.parametrize("cls, args, shape", [
    ("Linear", (4, 3), (2, 4)), ("Conv1d", (4, 2, 3), (2, 4, 5)), ("Conv2d", (4, 2, 3), (2, 4, 5, 5)),
    ("ConvTranspose2d", (4, 2, 3), (2, 4, 5, 5)), ("BatchNorm1d", (4,), (3, 4)),
    ("LayerNorm", (4,), (2, 4)), ("GroupNorm", (2, 4), (2, 4, 3)), ("LSTM", (4, 3), (5, 2, 4)),
    ("GRUCell", (4, 3), (2, 4)), ("Bilinear", (4, 4, 2), None)])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_mismatched_input_dtype_raises_as_pytorch(cls, args, shape, dtype):
    tm, cm = _pair(cls, *args)   # float64 parameters
    x = np.ones(shape or (2, 4), dtype=dtype)
    inputs_t = [torch.tensor(x)] * (2 if shape is None else 1)
    inputs_c = [cr.tensor(x)] * (2 if shape is None else 1)
    with pytest.raises((RuntimeError, ValueError)):
        tm(*inputs_t)
    with pytest.raises(RuntimeError) as e:
        cm(*inputs_c)
    msg = str(e.value)
    assert "\n" not in msg and (cls.lower() in msg.lower()) and str(x.shape) in msg


def test_new_initialisers():
    for groups, shape in [(1, (4, 2, 3)), (2, (6, 3, 3, 3))]:
        a, b = torch.empty(*shape), cr.empty(*shape)
        T.init.dirac_(a, groups)
        C.init.dirac_(b, groups)
        np.testing.assert_array_equal(b.data, a.numpy())
    for shape, gain in [((30, 20), 1.0), ((20, 30), 2.0), ((8, 2, 3), 1.0)]:
        w = C.init.orthogonal_(cr.empty(*shape, dtype=np.float64), gain).data.reshape(shape[0], -1)
        small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        np.testing.assert_allclose(small, gain ** 2 * np.eye(len(small)), atol=1e-10)
    w = C.init.sparse_(cr.empty(40, 30), 0.5).data
    assert ((w == 0).sum(0) >= 20).all()


@pytest.mark.parametrize("fname, args, kw", [
    ("pdist", [(4, 3)], {}), ("pdist", [(5, 2)], {"p": 1.0}),
    ("lp_pool2d", [(2, 3, 5, 6), 2.0, 2], {}), ("lp_pool1d", [(2, 3, 7), 2.0, 3], {"stride": 2}),
    ("rrelu", [(3, 4)], {}), ("channel_shuffle", [(1, 6, 2, 3), 3], {}),
    ("normalize", [(0, 3)], {}),   # all-zero rows: PyTorch's gradient 1/eps, not nan
    ("normalize", [(2, 3)], {"p": 1.0, "dim": 0})])
def test_new_functionals_match_pytorch(fname, args, kw):
    arrays = [np.zeros((2, 3)) if a == (0, 3) else _rand(*a) if isinstance(a, tuple) else a
              for a in args]
    _loss_case(fname, arrays, kw)


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam",
                                 "RAdam", "Adadelta"])
def test_param_groups_equal_pytorchs(cls):
    tg = getattr(torch.optim, cls)([T.Parameter(torch.zeros(1))]).param_groups[0]
    cg = getattr(cr.optim, cls)([C.Parameter(cr.zeros(1))]).param_groups[0]
    assert {k: v for k, v in cg.items() if k != "params"} == \
        {k: v for k, v in tg.items() if k != "params"}
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        getattr(cr.optim, cls)([C.Parameter(cr.zeros(1))], foo=1)


def test_loss_module_signatures_and_legacy_reduction_flags():
    import inspect
    import warnings
    names = [n for n in dir(T) if n.endswith("Loss") and hasattr(C, n)]
    assert len(names) >= 19
    for n in names:
        sig_t = list(inspect.signature(getattr(T, n).__init__).parameters)
        assert list(inspect.signature(getattr(C, n).__init__).parameters) == sig_t, n
        if "size_average" in sig_t:
            for flags in [dict(size_average=False), dict(reduce=False),
                          dict(size_average=False, reduce=True)]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want = getattr(T, n)(**flags).reduction
                assert getattr(C, n)(**flags).reduction == want, (n, flags)


@pytest.mark.parametrize("args, kw, shape", [((4,), {}, (2, 3, 4)), (((3, 4),), {"eps": 1e-3}, (2, 3, 4)),
                                             ((4,), {"elementwise_affine": False}, (2, 4)),
                                             ((4,), {}, (0, 4))])
def test_rms_norm_matches_pytorch(args, kw, shape):
    tm, cm = _pair("RMSNorm", *args, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
        cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert repr(cm) == repr(tm)
    _compare(tm, cm, [_rand(*shape)])


def test_signature_extras_as_pytorch():
    for cls in ("SiLU", "Hardswish", "Hardsigmoid", "Mish", "ReLU6", "SELU"):
        getattr(C, cls)(inplace=True)
    for cls, args in (("GroupNorm", (2, 4)), ("InstanceNorm1d", (4,))):
        tm, cm = _pair(cls, *args, affine=True, bias=False)
        assert repr(cm) == repr(tm) and list(cm.state_dict()) == list(tm.state_dict())
        _compare(tm, cm, [_rand(2, 4, 5)])
    with pytest.raises(TypeError):
        C.ReflectionPad1d(2, 0.5)   # no fill value, as PyTorch


def test_load_torch_parameters_that_require_grad():
    t, c = T.Linear(3, 2), C.Linear(3, 2)
    c.load_state_dict(dict(t.named_parameters()))   # nn.Parameters, not detached
    np.testing.assert_array_equal(c.weight.data, t.weight.detach().numpy())
    c.load_state_dict(t.state_dict(keep_vars=True))


@pytest.mark.parametrize("kw", [{}, {"swap": True, "margin": 0.3}, {"reduction": "none"},
                                {"cosine": True}])
def test_triplet_margin_with_distance_loss_matches_pytorch(kw):
    kw = dict(kw)
    cos = kw.pop("cosine", False)
    tk = dict(kw, distance_function=(lambda x, y: 1 - T.functional.cosine_similarity(x, y))
              if cos else None)
    ck = dict(kw, distance_function=(lambda x, y: 1 - C.functional.cosine_similarity(x, y))
              if cos else None)
    a, p, n = (_rand(4, 5, seed=s) for s in range(3))
    _compare(T.TripletMarginWithDistanceLoss(**tk), C.TripletMarginWithDistanceLoss(**ck), [a, p, n])


def test_gumbel_softmax_hard_is_one_hot_with_soft_gradient():
    cr.manual_seed(0)
    z = cr.tensor(np.log(np.tile([0.7, 0.2, 0.1], (20000, 1))), requires_grad=True)
    y = C.functional.gumbel_softmax(z, tau=0.5, hard=True)
    assert set(np.unique(y.data)) == {0.0, 1.0} and np.all(y.data.sum(-1) == 1)
    np.testing.assert_allclose(y.data.mean(0), [0.7, 0.2, 0.1], atol=0.015)   # Gumbel-max
    (y * cr.tensor(_rand(20000, 3))).sum().backward()
    assert np.isfinite(z.grad.data).all() and np.abs(z.grad.data).sum() > 0
