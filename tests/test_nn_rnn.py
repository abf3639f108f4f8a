"""RNN, LSTM, GRU, their cells and Embedding: gradcheck, and forward/gradients/state_dict vs PyTorch."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils.rnn import pad_sequence

F64 = np.float64


def t64(a, requires_grad=True):
    return cr.tensor(np.asarray(a, dtype=F64), dtype=F64, requires_grad=requires_grad)


# ---------------------------------------------------------------- behaviour without torch

@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_parameter_names_shapes_and_init_bound(cls):
    m = getattr(cr.nn, cls)(3, 5, num_layers=2, bidirectional=True)
    g = {"RNN": 1, "LSTM": 4, "GRU": 3}[cls] * 5
    sd = m.state_dict()
    assert list(sd)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert sd["weight_ih_l0"].shape == (g, 3) and sd["weight_ih_l1_reverse"].shape == (g, 10)
    assert len(sd) == 16
    bound = 1 / np.sqrt(5)
    allv = np.concatenate([v.numpy().ravel() for v in sd.values()])
    assert np.abs(allv).max() <= bound and np.abs(allv).max() > 0.8 * bound


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_gradcheck_layers(cls):
    cr.manual_seed(0)
    m = getattr(cr.nn, cls)(2, 3, num_layers=2, bidirectional=True, batch_first=True).double()
    x = np.random.default_rng(0).standard_normal((2, 4, 2))
    # the input's gradient numerically (the parameters' are compared with torch below)
    assert cr.gradcheck(lambda x: m(x)[0], x)
    w = m.weight_hh_l1_reverse.numpy().copy()
    assert cr.gradcheck(lambda v: cr.nn.functional_call(m, {"weight_hh_l1_reverse": v}, (x,))[0], w)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_gradcheck_cells(cls):
    cr.manual_seed(1)
    m = getattr(cr.nn, cls)(3, 4).double()
    rng = np.random.default_rng(1)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    if cls == "LSTMCell":
        c = rng.standard_normal((2, 4))
        assert cr.gradcheck(lambda x, h, c: m(x, (h, c))[1] * 2 + m(x, (h, c))[0], x, h, c)
    else:
        assert cr.gradcheck(lambda x, h: m(x, h), x, h)


def test_lstm_second_order_through_the_fused_layer():
    cr.manual_seed(2)
    m = cr.nn.LSTM(2, 3).double()
    x = np.random.default_rng(2).standard_normal((3, 2, 2))
    assert cr.gradgradcheck(lambda x: m(x)[0], x)


def test_unbatched_and_bad_shapes():
    m = cr.nn.GRU(3, 4, num_layers=2)
    out, h = m(cr.randn(5, 3))
    assert out.shape == (5, 4) and h.shape == (2, 4)
    with pytest.raises(ValueError, match=r"GRU: expected input of shape"):
        m(cr.randn(5, 2, 7))
    with pytest.raises(ValueError, match=r"expected hidden state of shape \(2, 2, 4\)"):
        m(cr.randn(5, 2, 3), cr.zeros(1, 2, 4))


def test_dropout_between_layers_only_in_training():
    cr.manual_seed(0)
    m = cr.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = cr.randn(4, 2, 3)
    a, b = m(x)[0].numpy(), m(x)[0].numpy()
    assert not np.allclose(a, b)
    m.eval()
    np.testing.assert_array_equal(m(x)[0].numpy(), m(x)[0].numpy())


def test_embedding_padding_idx_gets_no_gradient_and_max_norm():
    cr.manual_seed(0)
    emb = cr.nn.Embedding(5, 3, padding_idx=1)
    assert np.all(emb.weight.data[1] == 0)
    idx = cr.tensor([[0, 1, 2], [1, 2, 2]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    np.testing.assert_array_equal(g[:, 0], [1, 0, 3, 0, 0])
    e2 = cr.nn.Embedding(4, 3, max_norm=1.0)
    e2.weight.data[:] = 3.0
    e2(cr.tensor([0, 2]))
    norms = np.linalg.norm(e2.weight.data, axis=1)
    assert norms[0] <= 1.0 + 1e-6 and norms[2] <= 1.0 + 1e-6 and norms[1] > 5
    with pytest.raises(IndexError, match="index out of range"):
        e2(cr.tensor([4]))


def test_pad_sequence_shapes_values_and_gradient():
    a, b = t64(np.ones((2, 3))), t64(np.full((4, 3), 2.0))
    p = pad_sequence([a, b], batch_first=True, padding_value=-1.0)
    assert p.shape == (2, 4, 3)
    np.testing.assert_array_equal(p.numpy()[0, 2:], -1.0)
    assert pad_sequence([a, b]).shape == (4, 2, 3)
    left = pad_sequence([a, b], batch_first=True, padding_side="left")
    np.testing.assert_array_equal(left.numpy()[0, :2], 0.0)
    (p * p).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 2.0)


# ---------------------------------------------------------------- PyTorch as the oracle

torch_cases = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"}),
               ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)),
               ("GRU", dict(num_layers=3, bidirectional=True, bias=False)),
               ("RNN", dict(num_layers=2, batch_first=True)), ("LSTM", dict(bias=False))]


def _to_torch_state(torch, m):
    return {k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()}


@pytest.mark.parametrize("cls,kw", torch_cases, ids=[f"{c}-{i}" for i, (c, _) in enumerate(torch_cases)])
def test_layers_match_pytorch_forward_and_gradients(cls, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(kw) + len(cls))
    tm = getattr(torch.nn, cls)(3, 4, **kw).double()
    cm = getattr(cr.nn, cls)(3, 4, **kw).double()
    assert list(tm.state_dict()) == list(cm.state_dict())
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((2, 5, 3) if kw.get("batch_first") else (5, 2, 3))
    nstate = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    h0 = rng.standard_normal((nstate, 2, 4))
    xt, xc = torch.tensor(x, requires_grad=True), t64(x)
    ht, hc = torch.tensor(h0, requires_grad=True), t64(h0)
    if cls == "LSTM":
        c0 = rng.standard_normal((nstate, 2, 4))
        ct, cc = torch.tensor(c0, requires_grad=True), t64(c0)
        (ot, (hnt, cnt)), (oc, (hnc, cnc)) = tm(xt, (ht, ct)), cm(xc, (hc, cc))
        np.testing.assert_allclose(cnc.numpy(), cnt.detach().numpy(), rtol=1e-7, atol=1e-12)
        lt, lc = (ot ** 2).sum() + (hnt * 3).sum() + (cnt ** 3).sum(), \
            (oc ** 2).sum() + (hnc * 3).sum() + (cnc ** 3).sum()
    else:
        (ot, hnt), (oc, hnc) = tm(xt, ht), cm(xc, hc)
        lt, lc = (ot ** 2).sum() + (hnt * 3).sum(), (oc ** 2).sum() + (hnc * 3).sum()
    np.testing.assert_allclose(oc.numpy(), ot.detach().numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(hnc.numpy(), hnt.detach().numpy(), rtol=1e-7, atol=1e-12)
    lt.backward()
    lc.backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(hc.grad.numpy(), ht.grad.numpy(), rtol=1e-7, atol=1e-12)
    cps = dict(cm.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(cps[k].grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-12,
                                   err_msg=k)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_pytorch(cls, batched):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    tm = getattr(torch.nn, cls)(3, 4).double()
    cm = getattr(cr.nn, cls)(3, 4).double()
    assert list(tm.state_dict()) == list(cm.state_dict())
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    shape = (2, 3) if batched else (3,)
    x = rng.standard_normal(shape)
    xt, xc = torch.tensor(x, requires_grad=True), t64(x)
    if cls == "LSTMCell":
        ht, ct = tm(xt)
        hc, cc = cm(xc)
        lt, lc = (ht ** 2).sum() + ct.sum(), (hc ** 2).sum() + cc.sum()
    else:
        lt, lc = (tm(xt) ** 2).sum(), (cm(xc) ** 2).sum()
    np.testing.assert_allclose(lc.item(), lt.item(), rtol=1e-7)
    lt.backward()
    lc.backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-12)
    cps = dict(cm.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(cps[k].grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_embedding_matches_pytorch_with_padding_idx():
    torch = pytest.importorskip("torch")
    tm = torch.nn.Embedding(7, 3, padding_idx=2).double()
    cm = cr.nn.Embedding(7, 3, padding_idx=2).double()
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    idx = np.array([[0, 2, 5, 5], [2, 6, 1, 0]])
    ot, oc = tm(torch.tensor(idx)), cm(cr.tensor(idx))
    np.testing.assert_allclose(oc.numpy(), ot.detach().numpy(), rtol=1e-7)
    w = np.random.default_rng(0).standard_normal(ot.shape)
    (ot * torch.tensor(w)).sum().backward()
    (oc * w).sum().backward()
    np.testing.assert_allclose(cm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-7)


def test_pytorch_state_dict_via_safetensors_loads_into_lstm(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    path = tmp_path / "lstm.safetensors"
    st.save_file(tm.state_dict(), str(path))
    cm = cr.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    cm.load_state_dict(cr.load(str(path)))
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(cm(cr.tensor(x))[0].numpy(), tm(torch.tensor(x))[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("t,b,hidden", [(1, 1, 1), (7, 3, 5), (2, 4, 9)])
def test_layers_match_pytorch_on_odd_sizes_without_initial_state(cls, t, b, hidden):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(t * 100 + b * 10 + hidden)
    kw = dict(num_layers=2, bidirectional=bool(t % 2))
    tm = getattr(torch.nn, cls)(2, hidden, **kw).double()
    cm = getattr(cr.nn, cls)(2, hidden, **kw).double()
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((t, b, 2))
    xt, xc = torch.tensor(x, requires_grad=True), t64(x)
    ot, oc = tm(xt)[0], cm(xc)[0]
    np.testing.assert_allclose(oc.numpy(), ot.detach().numpy(), rtol=1e-7, atol=1e-12)
    w = rng.standard_normal(ot.shape)
    (ot * torch.tensor(w)).sum().backward()
    (oc * w).sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-12)
    cps = dict(cm.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(cps[k].grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-12,
                                   err_msg=k)
