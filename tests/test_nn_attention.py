"""scaled_dot_product_attention, MultiheadAttention, TransformerEncoder(Layer): gradcheck and PyTorch."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

F64 = np.float64


def t64(a, requires_grad=True):
    return cr.tensor(np.asarray(a, dtype=F64), dtype=F64, requires_grad=requires_grad)


def test_sdpa_causal_matches_explicit_mask_and_gradcheck():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 5))
    causal = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), is_causal=True)
    mask = np.tril(np.ones((4, 4), dtype=bool))
    explicit = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=cr.tensor(mask))
    np.testing.assert_allclose(causal.numpy(), explicit.numpy())
    # the first query sees only the first key: its output is v[:, 0]
    np.testing.assert_allclose(causal.numpy()[:, 0], v[:, 0])
    fm = rng.standard_normal((4, 4))
    assert cr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=fm), q, k, v)
    assert cr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v)


def test_mha_gradcheck_and_shapes():
    cr.manual_seed(0)
    m = cr.nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    kpm = np.array([[False, False, True], [False, False, False]])
    assert cr.gradcheck(lambda x: m(x, x, x, key_padding_mask=kpm)[0], x)
    out, w = m(t64(x), t64(x), t64(x), key_padding_mask=cr.tensor(kpm))
    assert out.shape == (2, 3, 4) and w.shape == (2, 3, 3)
    np.testing.assert_allclose(w.numpy()[0, :, 2], 0.0)
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0)
    with pytest.raises(ValueError, match="divisible"):
        cr.nn.MultiheadAttention(5, 2)


def test_transformer_layer_gradcheck():
    cr.manual_seed(0)
    layer = cr.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0).double()
    x = np.random.default_rng(2).standard_normal((3, 2, 4))
    assert cr.gradcheck(lambda x: layer(x), x)


# ---------------------------------------------------------------- PyTorch as the oracle

@pytest.mark.parametrize("mask_kind", [None, "bool", "float", "causal"])
def test_sdpa_matches_pytorch(mask_kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 4)), \
        rng.standard_normal((2, 3, 5, 6))
    kw_t, kw_c = {}, {}
    if mask_kind == "bool":
        m = rng.random((5, 5)) > 0.3
        m[:, 0] = True
        kw_t["attn_mask"], kw_c["attn_mask"] = torch.tensor(m), cr.tensor(m)
    elif mask_kind == "float":
        m = rng.standard_normal((5, 5))
        kw_t["attn_mask"], kw_c["attn_mask"] = torch.tensor(m), m
    elif mask_kind == "causal":
        kw_t["is_causal"] = kw_c["is_causal"] = True
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    cs = [t64(a) for a in (q, k, v)]
    ot = torch.nn.functional.scaled_dot_product_attention(*ts, **kw_t)
    oc = F.scaled_dot_product_attention(*cs, **kw_c)
    np.testing.assert_allclose(oc.numpy(), ot.detach().numpy(), rtol=1e-7, atol=1e-12)
    (ot ** 2).sum().backward()
    (oc ** 2).sum().backward()
    for a, b in zip(cs, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-7, atol=1e-12)


mha_cases = [dict(batch_first=False, self_attn=True), dict(batch_first=True, self_attn=False),
             dict(batch_first=True, self_attn=True, kpm=True, mask="bool"),
             dict(batch_first=False, self_attn=False, mask="float", average=False),
             dict(batch_first=True, self_attn=True, bias=False, causal=True)]


@pytest.mark.parametrize("case", mha_cases)
def test_mha_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    kw = dict(batch_first=case["batch_first"], bias=case.get("bias", True))
    tm = torch.nn.MultiheadAttention(6, 3, **kw).double()
    cm = cr.nn.MultiheadAttention(6, 3, **kw).double()
    assert list(tm.state_dict()) == list(cm.state_dict())
    cm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    n, l, s = 2, 4, 5 if not case["self_attn"] else 4
    shape = (lambda ln: (n, ln, 6)) if case["batch_first"] else (lambda ln: (ln, n, 6))
    q = rng.standard_normal(shape(l))
    k = q if case["self_attn"] else rng.standard_normal(shape(s))
    v = q if case["self_attn"] else rng.standard_normal(shape(s))
    qt = torch.tensor(q, requires_grad=True)
    kt = qt if case["self_attn"] else torch.tensor(k, requires_grad=True)
    vt = qt if case["self_attn"] else torch.tensor(v, requires_grad=True)
    qc = t64(q)
    kc = qc if case["self_attn"] else t64(k)
    vc = qc if case["self_attn"] else t64(v)
    extra_t, extra_c = {}, {}
    if case.get("kpm"):
        kpm = np.zeros((n, s), dtype=bool)
        kpm[0, -1] = True
        extra_t["key_padding_mask"], extra_c["key_padding_mask"] = torch.tensor(kpm), cr.tensor(kpm)
    if case.get("mask") == "bool":
        am = rng.random((l, s)) > 0.7
        am[:, 0] = False
        extra_t["attn_mask"], extra_c["attn_mask"] = torch.tensor(am), cr.tensor(am)
    elif case.get("mask") == "float":
        am = rng.standard_normal((n * 3, l, s))
        extra_t["attn_mask"], extra_c["attn_mask"] = torch.tensor(am), am
    if case.get("causal"):
        cm_ = torch.nn.Transformer.generate_square_subsequent_mask(l, dtype=torch.float64)
        extra_t["attn_mask"], extra_t["is_causal"] = cm_, True
        extra_c["is_causal"] = True
    avg = case.get("average", True)
    ot, wt = tm(qt, kt, vt, average_attn_weights=avg, **extra_t)
    oc, wc = cm(qc, kc, vc, average_attn_weights=avg, **extra_c)
    np.testing.assert_allclose(oc.numpy(), ot.detach().numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(wc.numpy(), wt.detach().numpy(), rtol=1e-7, atol=1e-12)
    ((ot ** 2).sum() + (wt ** 2).sum()).backward()
    ((oc ** 2).sum() + (wc ** 2).sum()).backward()
    np.testing.assert_allclose(qc.grad.numpy(), qt.grad.numpy(), rtol=1e-7, atol=1e-12)
    cps = dict(cm.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(cps[name].grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_transformer_encoder_matches_pytorch(norm_first, act):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    if act == "relu":
        at, ac = "relu", "relu"
    else:   # the exact erf form in both
        at, ac = "gelu", "gelu"
    kw = dict(dim_feedforward=10, dropout=0.0, batch_first=True, norm_first=norm_first)
    tl = torch.nn.TransformerEncoderLayer(8, 2, activation=at, **kw)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False).double()
    cl = cr.nn.TransformerEncoderLayer(8, 2, activation=ac, **kw)
    ce = cr.nn.TransformerEncoder(cl, 2, norm=cr.nn.LayerNorm(8)).double()
    assert list(te.state_dict()) == list(ce.state_dict())
    ce.load_state_dict({k: v.numpy() for k, v in te.state_dict().items()})
    x = rng.standard_normal((2, 5, 8))
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[1, -2:] = True
    xt, xc = torch.tensor(x, requires_grad=True), t64(x)
    ot = te(xt, src_key_padding_mask=torch.tensor(kpm))
    oc = ce(xc, src_key_padding_mask=cr.tensor(kpm))
    np.testing.assert_allclose(oc.numpy(), ot.detach().numpy(), rtol=1e-7, atol=1e-10)
    (ot ** 2).sum().backward()
    (oc ** 2).sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    cps = dict(ce.named_parameters())
    for name, p in te.named_parameters():
        np.testing.assert_allclose(cps[name].grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=name)


def test_pytorch_transformer_state_dict_via_safetensors(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    te = torch.nn.TransformerEncoder(tl, 2, enable_nested_tensor=False).eval()
    path = tmp_path / "enc.safetensors"
    st.save_file(te.state_dict(), str(path))
    ce = cr.nn.TransformerEncoder(cr.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16,
                                                                batch_first=True), 2).eval()
    ce.load_state_dict(cr.load(str(path)))
    x = np.random.default_rng(0).standard_normal((3, 4, 8)).astype(np.float32)
    np.testing.assert_allclose(ce(cr.tensor(x)).numpy(), te(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_sdpa_dropout_is_seeded_and_scales_kept_weights():
    rng = np.random.default_rng(6)
    q, k = t64(rng.standard_normal((2, 4, 3))), t64(rng.standard_normal((2, 4, 3)))
    v = t64(np.eye(4)[None].repeat(2, 0))   # identity values: the output is the weight matrix
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    cr.manual_seed(0)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    cr.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    kept = a != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(a[kept], 2 * plain[kept])
