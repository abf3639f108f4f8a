"""cr.nn.Module machinery: registration, traversal, modes, state_dict, repr, containers, init."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn


def mlp(sizes=(64, 100, 10)):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(cr.ones(4))
        self.plain = cr.zeros(2)       # a plain tensor attribute: not a parameter

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


def test_parameter_is_a_leaf_tensor_sharing_data():
    t = cr.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, cr.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert p.data is t.data                      # shares storage, as torch.nn.Parameter does
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad.data, [2.0, 4.0])
    assert "Parameter containing" in repr(p)


def test_registration_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "block.bn.weight",
                     "block.bn.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "block.bn.running_mean", "block.bn.running_var", "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn", "head",
                                                   "head.0", "head.1"]
    assert [type(c).__name__ for c in net.children()] == ["Block", "Sequential"]
    assert len(list(net.modules())) == 7
    assert "plain" not in dict(net.named_parameters())
    # re-assigning a registered parameter keeps it registered; deleting removes it
    net.block.scale = nn.Parameter(cr.zeros(4))
    assert dict(net.named_parameters())["block.scale"].data.sum() == 0
    del net.block.scale
    assert "block.scale" not in dict(net.named_parameters())
    with pytest.raises(AttributeError):
        net.block.scale


def test_shared_parameter_counted_once():
    a = nn.Linear(3, 3)
    seq = nn.Sequential(a, nn.Tanh(), a)
    assert len(list(seq.parameters())) == 2


def test_missing_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.ones(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_parameter_count_64_100_10():
    model = mlp()
    assert sum(p.numel() for p in model.parameters()) == 64 * 100 + 100 + 100 * 10 + 10 == 7510
    assert [tuple(p.shape) for p in model.parameters()] == [(100, 64), (100,), (10, 100), (10,)]
    assert model(cr.randn(5, 64)).shape == (5, 10)


def test_nested_repr_like_pytorch():
    r = repr(Net())
    expected = (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (bn): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
        "track_running_stats=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")")
    assert r == expected


def test_train_eval_zero_grad_requires_grad_apply():
    net = Net()
    assert net.training and net.block.bn.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())

    net(cr.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())

    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())

    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 2   # children first, self last


def test_state_dict_shares_memory_and_round_trips():
    a, b = Net(), Net()
    a(cr.randn(6, 3))                            # moves BatchNorm running stats
    sd = a.state_dict()
    assert list(sd) == ["block.scale", "block.fc.weight", "block.fc.bias", "block.bn.weight",
                        "block.bn.bias", "block.bn.running_mean", "block.bn.running_var",
                        "block.bn.num_batches_tracked", "head.1.weight", "head.1.bias"]
    assert sd["block.fc.weight"].data is a.block.fc.weight.data
    w_obj = b.block.fc.weight
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert b.block.fc.weight is w_obj             # loaded in place: optimizers keep working
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.data, sd[k].data)
    x = cr.randn(4, 3)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)


def _snapshot(m):
    return {k: v.data.copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("head.1.bias"), "missing keys 'head.1.bias'"),
    (lambda sd: sd.__setitem__("extra.weight", cr.zeros(2)), "unexpected keys 'extra.weight'"),
    (lambda sd: sd.__setitem__("head.1.weight", cr.zeros(3, 4)),
     r"size mismatch for 'head.1.weight': checkpoint shape \(3, 4\), model shape \(2, 4\)"),
])
def test_load_state_dict_errors_change_nothing(change, message):
    src, dst = Net(), Net()
    sd = {k: v.data.copy() + 1.0 for k, v in src.state_dict().items()}
    change(sd)
    before = _snapshot(dst)
    with pytest.raises(RuntimeError, match=message) as info:
        dst.load_state_dict(sd)
    assert "nothing was loaded" in str(info.value) and "\n" not in str(info.value)
    after = _snapshot(dst)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_load_state_dict_non_strict_reports_keys():
    src, dst = Net(), Net()
    sd = dict(src.state_dict())
    sd.pop("head.1.bias")
    sd["junk"] = cr.zeros(1)
    res = dst.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.1.bias"] and res.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(dst.head[1].weight.data, src.head[1].weight.data)
    with pytest.raises(RuntimeError, match="size mismatch"):
        dst.load_state_dict({"head.1.weight": cr.zeros(5, 5)}, strict=False)


def test_sequential_indexing_len_append_and_modulelist():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert len(seq) == 2 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.ReLU)
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and seq(cr.randn(4, 2)).shape == (4, 1)
    sub = seq[:2]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[0]
    with pytest.raises(IndexError, match="out of range for 3 modules"):
        seq[3]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]

    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.Identity())
    assert len(ml) == 4 and isinstance(ml[-1], nn.Identity)
    holder = nn.Module()
    holder.layers = ml
    assert len(list(holder.parameters())) == 6


def test_identity_and_flatten():
    x = cr.randn(2, 3, 4)
    assert nn.Identity(54, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)


def test_linear_default_init_matches_pytorch_bounds():
    cr.manual_seed(3)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)                   # kaiming_uniform_(a=√5) gives exactly this
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == np.float32 and w.shape == (300, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(b).max() <= bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)   # std of U(−b, b)
    cr.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.data, w)      # seeded


def test_init_functions_statistics():
    init = nn.init
    w = cr.empty(500, 200)
    fan_in, fan_out = 200, 500
    init.kaiming_normal_(w, nonlinearity="relu")
    np.testing.assert_allclose(w.data.std(), math.sqrt(2 / fan_in), rtol=0.02)
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(6 / fan_out)
    np.testing.assert_allclose(w.data.std(), math.sqrt(2 / fan_out), rtol=0.02)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    init.xavier_normal_(w)
    np.testing.assert_allclose(w.data.std(), math.sqrt(2 / (fan_in + fan_out)), rtol=0.02)
    init.normal_(w, mean=3.0, std=0.5)
    np.testing.assert_allclose([w.data.mean(), w.data.std()], [3.0, 0.5], rtol=0.02)
    init.uniform_(w, -2.0, 1.0)
    assert w.data.min() >= -2.0 and w.data.max() < 1.0
    init.constant_(w, 0.25)
    assert (w.data == 0.25).all()
    init.zeros_(w), init.ones_(w)
    assert (w.data == 1).all()
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_init_keeps_identity_and_graph_free():
    p = nn.Parameter(cr.zeros(3, 4))
    arr = p.data
    nn.init.normal_(p)
    assert p.data is arr and p.is_leaf and p.requires_grad and arr.any()


def test_module_to_float64():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.block.bn.running_mean.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64


def test_assigning_a_plain_tensor_to_a_parameter_is_an_error():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Linear.weight: cannot assign Tensor to a parameter"):
        m.weight = cr.zeros(2, 2)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m(cr.ones(1, 2)).shape == (1, 2)


def test_deepcopy_and_pickle_keep_parameters():
    import copy
    import pickle
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    m(cr.randn(4, 3)).sum().backward()
    for m2 in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert isinstance(m2[0].weight, nn.Parameter) and m2[0].weight.requires_grad
        assert m2[0].weight.data is not m[0].weight.data
        np.testing.assert_array_equal(m2[0].weight.data, m[0].weight.data)
        np.testing.assert_array_equal(m2[1].running_mean.data, m[1].running_mean.data)
        assert len(list(m2.parameters())) == 4


def test_small_mlp_trains(rng):
    """End to end: Linear/ReLU/BatchNorm/Dropout + cross_entropy + Adam fit two Gaussian blobs."""
    x = np.concatenate([rng.standard_normal((40, 2)) + 2, rng.standard_normal((40, 2)) - 2])
    y = np.repeat([0, 1], 40)
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(16, 2))
    opt = cr.optim.Adam(model.parameters(), lr=0.05)
    xt = cr.tensor(x, dtype=cr.float32)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    model.eval()
    acc = (model(xt).data.argmax(1) == y).mean()
    assert loss.item() < 0.3 * first and acc > 0.95


def test_shared_module_state_dict_lists_both_names():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.Tanh(), a)
    sd = seq.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]   # PyTorch's keys
    other = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2))
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other[2].weight.data, a.weight.data)


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm1d(100),
                       nn.LeakyReLU(0.1), nn.ELU(), nn.GELU(), nn.Softmax(dim=1), nn.LogSoftmax(dim=1),
                       nn.LayerNorm(4, bias=False), nn.Flatten(), nn.Linear(3, 2, bias=False),
                       nn.BatchNorm1d(3, affine=False), nn.Identity(), nn.Sigmoid(), nn.Tanh()),
         torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                             torch.nn.BatchNorm1d(100), torch.nn.LeakyReLU(0.1), torch.nn.ELU(),
                             torch.nn.GELU(), torch.nn.Softmax(dim=1),
                             torch.nn.LogSoftmax(dim=1), torch.nn.LayerNorm(4, bias=False),
                             torch.nn.Flatten(), torch.nn.Linear(3, 2, bias=False),
                             torch.nn.BatchNorm1d(3, affine=False), torch.nn.Identity(),
                             torch.nn.Sigmoid(), torch.nn.Tanh())),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_forward_hooks():
    m = nn.Linear(3, 2)
    seen = []
    h = m.register_forward_hook(lambda mod, inp, out: seen.append((mod, inp[0].shape, out.shape)))
    pre = m.register_forward_pre_hook(lambda mod, inp: (inp[0] * 0,))
    out = m(cr.ones(4, 3))
    assert seen == [(m, (4, 3), (4, 2))]
    np.testing.assert_allclose(out.data, np.broadcast_to(m.bias.data, (4, 2)))  # input zeroed
    h.remove(), pre.remove()
    m(cr.ones(4, 3))
    assert len(seen) == 1
    with m.register_forward_hook(lambda mod, inp, out: out * 2):   # a returned value replaces out
        np.testing.assert_allclose(m(cr.ones(1, 3)).data[0],
                                   2 * (m.weight.data.sum(1) + m.bias.data), rtol=1e-6)
    assert not m._forward_hooks


def test_clip_grad_norm_and_value(rng):
    a, b = cr.tensor(rng.standard_normal((3, 4))), cr.tensor(rng.standard_normal(5))
    ga, gb = rng.standard_normal((3, 4)) * 3, rng.standard_normal(5) * 3
    a.grad, b.grad = cr.tensor(ga), cr.tensor(gb)
    total = np.sqrt((ga ** 2).sum() + (gb ** 2).sum())
    got = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    np.testing.assert_allclose(got.item(), total, rtol=1e-6)
    new = np.sqrt((a.grad.data.astype(float) ** 2).sum() + (b.grad.data.astype(float) ** 2).sum())
    np.testing.assert_allclose(new, 1.0, rtol=1e-5)
    np.testing.assert_allclose(a.grad.data, ga / (total + 1e-6), rtol=1e-5)
    # below the limit: unchanged
    before = a.grad.data.copy()
    nn.utils.clip_grad_norm_([a, b], max_norm=10.0)
    np.testing.assert_array_equal(a.grad.data, before)
    a.grad = cr.tensor(ga)
    nn.utils.clip_grad_value_([a], 0.5)
    np.testing.assert_allclose(a.grad.data, np.clip(ga, -0.5, 0.5), rtol=1e-6)
    m = mlp((3, 4, 2))
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    nn.utils.vector_to_parameters(v * 0 + 1, m.parameters())
    assert all((p.data == 1).all() for p in m.parameters())
