"""The losses composed from cr ops: gradients against numerical ones, and against PyTorch if installed."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

R = np.random.default_rng(3)
X, Y = R.standard_normal((4, 5)), R.standard_normal((4, 5))
P = np.exp(Y) / np.exp(Y).sum(1, keepdims=True)
SIGN = np.where(R.standard_normal(4) > 0, 1.0, -1.0)
SIGN45 = np.where(R.standard_normal((4, 5)) > 0, 1.0, -1.0)
BIN = (R.standard_normal((4, 5)) > 0) * 1.0
VAR = R.uniform(0.5, 2.0, (4, 5))
POS = R.uniform(0.5, 3.0, (4, 5))
CNT = R.integers(0, 5, (4, 5)) * 1.0

# case -> (F.<name> in both libraries, differentiable arrays, fixed arrays (labels), keywords)
CASES = {
    "cross_entropy_probs": ("cross_entropy", [X, P], [], {}),
    "cross_entropy_probs_smooth": ("cross_entropy", [X, P], [], {"label_smoothing": 0.1}),
    "kl_div": ("kl_div", [X, P], [], {"reduction": "batchmean"}),
    "kl_div_log_target": ("kl_div", [X, Y], [], {"log_target": True, "reduction": "sum"}),
    "huber": ("huber_loss", [X, Y * 2], [], {"delta": 0.7}),
    "smooth_l1": ("smooth_l1_loss", [X, Y * 2], [], {"beta": 0.5}),
    "soft_margin": ("soft_margin_loss", [X], [SIGN45], {}),
    "multilabel_soft_margin": ("multilabel_soft_margin_loss", [X], [BIN], {}),
    "cosine_similarity": ("cosine_similarity", [X, Y], [], {"dim": 1}),
    "cosine_embedding": ("cosine_embedding_loss", [X, Y], [SIGN], {"margin": 0.1}),
    "margin_ranking": ("margin_ranking_loss", [X[:, 0], Y[:, 0]], [SIGN], {"margin": 0.2}),
    "triplet": ("triplet_margin_loss", [X, Y, X[::-1] * 0.5], [], {"margin": 1.0}),
    "triplet_swap_p1": ("triplet_margin_loss", [X, Y, X[::-1] * 0.5], [], {"p": 1.0, "swap": True}),
    "poisson": ("poisson_nll_loss", [X], [CNT], {}),
    "poisson_full": ("poisson_nll_loss", [POS], [CNT], {"log_input": False, "full": True}),
    "gaussian": ("gaussian_nll_loss", [X, Y, VAR], [], {}),
    "gaussian_full_1d_var": ("gaussian_nll_loss", [X, Y, VAR[:, 0]], [], {"full": True}),
}


def _call(m, name, diff, fixed, kw):
    return getattr(m.nn.functional, name)(*diff, *fixed, **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradcheck(case):
    name, diff, fixed, kw = CASES[case]
    fixed_t = [cr.tensor(f, dtype=np.float64) for f in fixed]
    assert cr.gradcheck(lambda *d: _call(cr, name, d, fixed_t, kw), *diff)


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    name, diff, fixed, kw = CASES[case]
    dt = [torch.tensor(d, requires_grad=True) for d in diff]
    outt = _call(torch, name, dt, [torch.tensor(f) for f in fixed], kw)
    up = np.random.default_rng(0).standard_normal(tuple(outt.shape))
    outt.backward(torch.tensor(up))
    dc = [cr.tensor(d, dtype=np.float64, requires_grad=True) for d in diff]
    outc = _call(cr, name, dc, [cr.tensor(f, dtype=np.float64) for f in fixed], kw)
    outc.backward(up)
    np.testing.assert_allclose(outc.data, outt.detach().numpy(), rtol=1e-7, atol=1e-12)
    for a, b in zip(dc, dt):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_modules_are_the_functions():
    x, y = cr.tensor(X), cr.tensor(Y)
    assert cr.nn.HuberLoss(delta=0.5)(x, y).item() == F.huber_loss(x, y, delta=0.5).item()
    assert cr.nn.KLDivLoss(reduction="batchmean")(x, cr.tensor(P)).item() == \
        F.kl_div(x, cr.tensor(P), reduction="batchmean").item()
    assert cr.nn.GaussianNLLLoss()(x, y, cr.tensor(VAR)).item() == F.gaussian_nll_loss(x, y, cr.tensor(VAR)).item()
    assert cr.nn.CosineSimilarity(dim=0)(x, y).shape == (5,)
    with pytest.raises(ValueError, match="reduction"):
        cr.nn.HuberLoss(reduction="avg")


def test_soft_target_cross_entropy_gradient_reaches_the_target():
    x = cr.tensor(X, dtype=np.float64, requires_grad=True)
    p = cr.tensor(P, dtype=np.float64, requires_grad=True)
    F.cross_entropy(x, p).backward()
    logp = X - np.log(np.exp(X).sum(1, keepdims=True))
    np.testing.assert_allclose(p.grad.data, -logp / 4, rtol=1e-12)


@pytest.mark.parametrize("case", ["kl_div", "gaussian", "poisson", "soft_margin", "cosine_similarity",
                                  "cross_entropy_probs", "multilabel_soft_margin"])
def test_second_order_of_smooth_losses(case):
    name, diff, fixed, kw = CASES[case]
    fixed_t = [cr.tensor(f, dtype=np.float64) for f in fixed]
    assert cr.gradgradcheck(lambda *d: _call(cr, name, d, fixed_t, kw), *diff)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_inputs_give_float32_loss_and_gradients(case):
    name, diff, fixed, kw = CASES[case]
    d = [cr.tensor(a, dtype=cr.float32, requires_grad=True) for a in diff]
    out = _call(cr, name, d, [np.asarray(f, dtype=np.float64) for f in fixed], kw)
    out.sum().backward()
    assert out.dtype == np.float32 and all(x.grad.dtype == np.float32 for x in d)
