"""Losses: closed forms in NumPy, PyTorch (if installed), gradcheck, and one-line errors for bad input."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F


@pytest.fixture(autouse=True)
def float64():
    cr.set_default_dtype(cr.float64)


def np_log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def svm_loss(s, y, margin=1.0, p=1):
    """The lecture's hinge loss, written as plain loops."""
    n, c = s.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                out[i] += max(0.0, s[i, j] - s[i, y[i]] + margin) ** p
    return out


@pytest.fixture
def data(rng):
    return rng.standard_normal((6, 4)) * 2, np.array([0, 3, 1, 1, 2, 0])


def test_cross_entropy_closed_form(data):
    x, y = data
    per = -np_log_softmax(x)[np.arange(6), y]
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), cr.tensor(y)).item(), per.mean())
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), y, reduction="sum").item(), per.sum())
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), y, reduction="none").data, per)
    np.testing.assert_allclose(nn.CrossEntropyLoss()(cr.tensor(x), y).item(), per.mean())
    # uniform logits: log C
    np.testing.assert_allclose(F.cross_entropy(cr.zeros(3, 10), cr.tensor([1, 2, 3])).item(), np.log(10))
    # stable for huge logits
    big = F.cross_entropy(cr.tensor([[1000.0, 0.0], [0.0, -1000.0]]), cr.tensor([1, 1]))
    np.testing.assert_allclose(big.item(), 1000.0)   # both rows: −log e^-1000


def test_cross_entropy_variants_closed_form(data, rng):
    x, y = data
    lp = np_log_softmax(x)
    w = rng.uniform(0.5, 2.0, 4)
    # class weights: weighted mean divides by Σ w[y]
    got = F.cross_entropy(cr.tensor(x), y, weight=cr.tensor(w)).item()
    np.testing.assert_allclose(got, (-lp[np.arange(6), y] * w[y]).sum() / w[y].sum())
    # ignore_index drops rows from numerator and denominator
    y2 = y.copy()
    y2[[1, 4]] = -100
    keep = y2 != -100
    got = F.cross_entropy(cr.tensor(x), y2).item()
    np.testing.assert_allclose(got, -lp[np.arange(6)[keep], y2[keep]].mean())
    # label smoothing: (1-ε)·nll + ε·mean_c(−log p_c)
    eps = 0.1
    want = ((1 - eps) * -lp[np.arange(6), y] + eps * -lp.mean(axis=1)).mean()
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), y, label_smoothing=eps).item(), want)
    # probability targets
    t = rng.dirichlet(np.ones(4), size=6)
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), cr.tensor(t)).item(),
                               (-(t * lp).sum(1)).mean())
    # (N, C, d) input with (N, d) targets: class axis 1
    x3 = rng.standard_normal((2, 4, 3))
    y3 = rng.integers(0, 4, (2, 3))
    lp3 = np_log_softmax(x3, axis=1)
    want = -np.take_along_axis(lp3, y3[:, None, :], 1)[:, 0]
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x3), y3, reduction="none").data, want)
    # (C,) input with a scalar target
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x[0]), cr.tensor(3)).item(), -lp[0, 3])


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", ">i8"])
def test_cross_entropy_target_checks_every_integer_dtype(data, dtype):
    # labels are range-checked with one max() over an unsigned view: every dtype must still give
    # the closed form for good labels and the one-line error for negative or too-large ones
    x, y = data
    lp = np_log_softmax(x)
    t = y.astype(dtype)
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), t).item(), -lp[np.arange(6), y].mean())
    too_big = t.copy()
    too_big[2] = 4
    with pytest.raises(IndexError, match="target label 4 is out of range for 4 classes"):
        F.cross_entropy(cr.tensor(x), too_big)
    if np.dtype(dtype).kind == "i":
        neg = t.copy()
        neg[3] = -2
        with pytest.raises(IndexError, match="target label -2 is out of range"):
            F.cross_entropy(cr.tensor(x), neg)


def test_cross_entropy_ignore_index_inside_the_class_range(data):
    # ignore_index=1 is a valid label: rows labelled 1 must be dropped, the rest averaged
    x, y = data
    lp = np_log_softmax(x)
    keep = y != 1
    got = F.cross_entropy(cr.tensor(x), y, ignore_index=1).item()
    np.testing.assert_allclose(got, -lp[np.arange(6)[keep], y[keep]].mean())
    # a negative ignore_index that does not occur leaves the plain mean
    np.testing.assert_allclose(F.cross_entropy(cr.tensor(x), y, ignore_index=-3).item(),
                               -lp[np.arange(6), y].mean())


def test_cross_entropy_nan_found_for_every_reduction():
    # NaN is detected from the loss and then reported from the input, with every reduction
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(ValueError, match=r"cross_entropy: NaN in input \(shape \(2, 2\), 1 NaN"):
            F.cross_entropy(cr.tensor(NAN), cr.tensor([0, 1]), reduction=reduction)
    with pytest.raises(ValueError, match="cross_entropy: NaN in input"):
        F.cross_entropy(cr.tensor(NAN), cr.tensor([0, -100]))          # ignored row, other path
    # an infinite logit gives a non-finite loss but is not NaN input: no error, as before
    with np.errstate(invalid="ignore"):
        out = F.cross_entropy(cr.tensor([[np.inf, 0.0]]), cr.tensor([1]))
    assert not np.isfinite(out.item())


def test_nll_loss_closed_form(data, rng):
    x, y = data
    lp = np_log_softmax(x)
    np.testing.assert_allclose(F.nll_loss(cr.tensor(lp), y).item(), -lp[np.arange(6), y].mean())
    w = rng.uniform(0.5, 2.0, 4)
    np.testing.assert_allclose(nn.NLLLoss(weight=w, reduction="sum")(cr.tensor(lp), y).item(),
                               (-lp[np.arange(6), y] * w[y]).sum())
    # cross_entropy = nll_loss ∘ log_softmax
    xt = cr.tensor(x)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(xt, dim=1), y).item(),
                               F.cross_entropy(xt, y).item())


def test_multi_margin_loss_is_lecture_svm_over_c(data, rng):
    x, y = data
    c = x.shape[1]
    per = svm_loss(x, y)
    np.testing.assert_allclose(F.multi_margin_loss(cr.tensor(x), y, reduction="none").data, per / c)
    np.testing.assert_allclose(F.multi_margin_loss(cr.tensor(x), y).item(), (per / c).mean())
    np.testing.assert_allclose(
        nn.MultiMarginLoss(p=2, margin=0.5, reduction="sum")(cr.tensor(x), y).item(),
        (svm_loss(x, y, 0.5, 2) / c).sum())
    w = rng.uniform(0.5, 2.0, 4)
    np.testing.assert_allclose(F.multi_margin_loss(cr.tensor(x), y, weight=w).item(),
                               (per * w[y] / c).mean())
    # the lecture's example: scores (3.2, 5.1, -1.7), correct class 0 → L = 2.9 + 0 = 2.9
    s = cr.tensor([[3.2, 5.1, -1.7]])
    np.testing.assert_allclose(F.multi_margin_loss(s, cr.tensor([0])).item() * 3, 2.9)


def test_regression_and_binary_losses_closed_form(rng):
    x = rng.standard_normal((4, 3))
    t = rng.standard_normal((4, 3))
    np.testing.assert_allclose(F.mse_loss(cr.tensor(x), cr.tensor(t)).item(), ((x - t) ** 2).mean())
    np.testing.assert_allclose(nn.MSELoss(reduction="sum")(cr.tensor(x), cr.tensor(t)).item(),
                               ((x - t) ** 2).sum())
    np.testing.assert_allclose(nn.L1Loss()(cr.tensor(x), cr.tensor(t)).item(), np.abs(x - t).mean())
    tb = (rng.random((4, 3)) > 0.5).astype(float)
    sig = 1 / (1 + np.exp(-x))
    bce = -(tb * np.log(sig) + (1 - tb) * np.log(1 - sig))
    np.testing.assert_allclose(nn.BCEWithLogitsLoss()(cr.tensor(x), cr.tensor(tb)).item(), bce.mean())
    np.testing.assert_allclose(nn.BCELoss()(cr.tensor(sig), cr.tensor(tb)).item(), bce.mean())
    pw = np.array([1.0, 2.0, 3.0])
    want = -(pw * tb * np.log(sig) + (1 - tb) * np.log(1 - sig))
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(cr.tensor(x), cr.tensor(tb), pos_weight=cr.tensor(pw),
                                           reduction="none").data, want)
    # stable at ±1000: loss is |x| where the label disagrees, 0 where it agrees
    got = F.binary_cross_entropy_with_logits(cr.tensor([1000.0, -1000.0, 1000.0]),
                                             cr.tensor([0.0, 1.0, 1.0]), reduction="none")
    np.testing.assert_allclose(got.data, [1000.0, 1000.0, 0.0])
    # BCE clamps log at −100 like PyTorch
    np.testing.assert_allclose(F.binary_cross_entropy(cr.tensor([0.0]), cr.tensor([1.0])).item(), 100.0)


def test_l2_penalty():
    a, b = cr.tensor([1.0, -2.0], requires_grad=True), cr.tensor([[3.0]], requires_grad=True)
    r = F.l2_penalty([a, b])
    assert r.item() == 14.0
    r.backward()
    np.testing.assert_allclose(a.grad.data, [2.0, -4.0])
    m = nn.Linear(3, 2)
    want = (m.weight.data ** 2).sum() + (m.bias.data ** 2).sum()
    np.testing.assert_allclose(F.l2_penalty(m).item(), want)


LOSSES = [
    ("cross_entropy", lambda x: F.cross_entropy(x, np.array([0, 3, 1, 2, 2]))),
    ("cross_entropy-sum", lambda x: F.cross_entropy(x, np.array([0, 3, 1, 2, 2]), reduction="sum")),
    ("cross_entropy-weighted-ignore-smooth",
     lambda x: F.cross_entropy(x, np.array([0, -100, 1, 2, 3]), weight=np.array([1.0, 2, 0.5, 1.5]),
                               label_smoothing=0.2)),
    ("cross_entropy-probs", lambda x: F.cross_entropy(x, np.full((5, 4), 0.25))),
    ("nll_loss", lambda x: F.nll_loss(x, np.array([0, 3, 1, 2, 2]))),
    ("multi_margin", lambda x: F.multi_margin_loss(x, np.array([0, 3, 1, 2, 2]), margin=0.3)),
    ("multi_margin-p2", lambda x: F.multi_margin_loss(x, np.array([0, 3, 1, 2, 2]), p=2)),
    ("mse", lambda x: F.mse_loss(x, np.ones((5, 4)))),
    ("l1", lambda x: F.l1_loss(x, np.ones((5, 4)) * 0.5)),
    ("bce_logits", lambda x: F.binary_cross_entropy_with_logits(x, np.eye(5, 4),
                                                                pos_weight=np.array([1.0, 2, 3, 4]))),
    ("bce", lambda x: F.binary_cross_entropy(F.sigmoid(x), np.eye(5, 4))),
    ("l2_penalty", lambda x: F.l2_penalty([x, x[0]])),
]


@pytest.mark.parametrize("loss", [item[1] for item in LOSSES], ids=[item[0] for item in LOSSES])
def test_loss_gradcheck(loss, rng):
    x = rng.standard_normal((5, 4))
    # hinge and L1 kinks: keep values away from them
    x = np.where(np.abs(x - 0.5) < 0.05, 0.7, x)
    assert cr.gradcheck(loss, x)


def test_cross_entropy_gradient_is_softmax_minus_onehot(data):
    x, y = data
    xt = cr.tensor(x, requires_grad=True)
    F.cross_entropy(xt, y).backward()
    p = np.exp(np_log_softmax(x))
    p[np.arange(6), y] -= 1
    np.testing.assert_allclose(xt.grad.data, p / 6)


def test_second_order_through_cross_entropy(data):
    x, y = data
    assert cr.gradgradcheck(lambda t: F.cross_entropy(t, y[:3]), x[:3], atol=1e-4)


def test_losses_match_torch(data, rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, y = data
    tx, ty = torch.tensor(x), torch.tensor(y)
    w = rng.uniform(0.5, 2.0, 4)
    y_ign = y.copy()
    y_ign[2] = -100
    cases = [
        (F.cross_entropy(cr.tensor(x), y, weight=w, label_smoothing=0.15),
         tf.cross_entropy(tx, ty, weight=torch.tensor(w), label_smoothing=0.15)),
        (F.cross_entropy(cr.tensor(x), y_ign, weight=w),
         tf.cross_entropy(tx, torch.tensor(y_ign), weight=torch.tensor(w))),
        (F.multi_margin_loss(cr.tensor(x), y), tf.multi_margin_loss(tx, ty)),
        (F.multi_margin_loss(cr.tensor(x), y, p=2, margin=0.7, weight=w),
         tf.multi_margin_loss(tx, ty, p=2, margin=0.7, weight=torch.tensor(w))),
        (F.nll_loss(cr.tensor(x), y, weight=w), tf.nll_loss(tx, ty, weight=torch.tensor(w))),
    ]
    probs = rng.dirichlet(np.ones(4), size=6)
    cases.append((F.cross_entropy(cr.tensor(x), probs, weight=w, label_smoothing=0.1),
                  tf.cross_entropy(tx, torch.tensor(probs), weight=torch.tensor(w),
                                   label_smoothing=0.1)))
    tb = (rng.random((6, 4)) > 0.5).astype(float)
    pw = rng.uniform(0.5, 3, 4)
    cases.append((F.binary_cross_entropy_with_logits(cr.tensor(x), tb, pos_weight=pw),
                  tf.binary_cross_entropy_with_logits(tx, torch.tensor(tb), pos_weight=torch.tensor(pw))))
    for ours, theirs in cases:
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


NAN = np.array([[0.0, np.nan], [1.0, 2.0]])


@pytest.mark.parametrize("call, exc, message", [
    (lambda: F.cross_entropy(cr.randn(3, 4), cr.tensor([0, 4, 1])), IndexError,
     r"cross_entropy: target label 4 is out of range for 4 classes \(labels must be in 0..3\)"),
    (lambda: F.cross_entropy(cr.randn(3, 4), cr.tensor([0, -1, 1])), IndexError, "target label -1"),
    (lambda: F.cross_entropy(cr.randn(3, 4), cr.tensor([0.0, 1.0, 2.0])), TypeError,
     "cross_entropy: class-index targets must be integers, got dtype float64 .*target.long"),
    (lambda: F.cross_entropy(cr.randn(3, 4), cr.tensor([0, 1])), ValueError,
     r"cross_entropy: target shape \(2,\) does not match input shape \(3, 4\)"),
    (lambda: F.cross_entropy(cr.tensor(NAN), cr.tensor([0, 1])), ValueError,
     r"cross_entropy: NaN in input \(shape \(2, 2\)"),
    (lambda: F.multi_margin_loss(cr.randn(3, 4), cr.tensor([0, 9, 1])), IndexError,
     "multi_margin_loss: target label 9 is out of range for 4 classes"),
    (lambda: F.multi_margin_loss(cr.randn(3, 4), cr.tensor([0.5, 1, 1])), TypeError,
     "multi_margin_loss: class-index targets must be integers"),
    (lambda: F.multi_margin_loss(cr.tensor(NAN), cr.tensor([0, 1])), ValueError, "NaN in input"),
    (lambda: F.nll_loss(cr.randn(3, 4), cr.tensor([5, 0, 1])), IndexError, "nll_loss: target label 5"),
    (lambda: F.nll_loss(cr.randn(3, 4), cr.tensor([0.0, 1.0, 1.0])), TypeError,
     "nll_loss: class-index targets must be integers"),
    (lambda: F.mse_loss(cr.randn(3, 4), cr.randn(4, 3)), ValueError,
     r"mse_loss: target shape \(4, 3\) does not match input shape \(3, 4\)"),
    (lambda: F.mse_loss(cr.tensor(NAN), cr.zeros(2, 2)), ValueError, "mse_loss: NaN in input"),
    (lambda: F.l1_loss(cr.randn(3), cr.randn(4)), ValueError, "l1_loss: target shape"),
    (lambda: F.binary_cross_entropy_with_logits(cr.tensor(NAN), cr.zeros(2, 2)), ValueError,
     "binary_cross_entropy_with_logits: NaN in input"),
    (lambda: F.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0])), ValueError,
     r"must be probabilities in \[0, 1\]"),
    (lambda: F.cross_entropy(cr.randn(3, 4), cr.tensor([0, 1, 2]), reduction="avg"), ValueError,
     "cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
])
def test_bad_input_errors(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)
