"""Layers: gradcheck of every module wrt input and parameters (float64), closed forms, train/eval."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F


@pytest.fixture(autouse=True)
def float64():
    cr.set_default_dtype(cr.float64)   # conftest restores the default dtype afterwards


def gradcheck_module(module, x, reseed=None):
    """gradcheck of x, *params ↦ module(x) via functional_call, so parameters are checked too."""
    names = [n for n, _ in module.named_parameters()]
    arrays = [p.data for _, p in module.named_parameters()]

    def f(xt, *ps):
        if reseed is not None:
            cr.manual_seed(reseed)     # dropout: the same mask on every evaluation
        return nn.functional_call(module, dict(zip(names, ps)), xt)
    return cr.gradcheck(f, x, *arrays)


def away_from_zero(rng, *shape):
    # kinked activations: keep inputs away from the kink so central differences are valid
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)


MODULES = [
    ("Linear", lambda: nn.Linear(4, 3), (5, 4)),
    ("Linear-3d", lambda: nn.Linear(4, 3), (2, 5, 4)),
    ("Linear-nobias", lambda: nn.Linear(4, 3, bias=False), (5, 4)),
    ("Sigmoid", nn.Sigmoid, (3, 4)),
    ("Tanh", nn.Tanh, (3, 4)),
    ("ReLU", nn.ReLU, (3, 4)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), (3, 4)),
    ("ELU", lambda: nn.ELU(0.7), (3, 4)),
    ("GELU", nn.GELU, (3, 4)),
    ("Softmax", lambda: nn.Softmax(dim=1), (3, 4)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=0), (3, 4)),
    ("Maxout", lambda: nn.Maxout(4, 3, pieces=3), (5, 4)),
    ("BatchNorm1d-train", lambda: nn.BatchNorm1d(4), (6, 4)),
    ("BatchNorm1d-train-3d", lambda: nn.BatchNorm1d(3), (4, 3, 5)),
    ("BatchNorm1d-eval", lambda: nn.BatchNorm1d(4).eval(), (6, 4)),
    ("LayerNorm", lambda: nn.LayerNorm(4), (3, 4)),
    ("LayerNorm-2d", lambda: nn.LayerNorm((2, 3)), (4, 2, 3)),
    ("MLP", lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)), (5, 4)),
    ("Flatten", lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), (3, 2, 3)),
]


@pytest.mark.parametrize("make, shape", [m[1:] for m in MODULES], ids=[m[0] for m in MODULES])
def test_module_gradcheck(make, shape, rng):
    m = make()
    for p in m.parameters():   # non-trivial affine parameters for the norms
        p.data[...] = rng.standard_normal(p.shape)
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert gradcheck_module(m, away_from_zero(rng, *shape))


def test_dropout_gradcheck_with_fixed_mask(rng):
    assert gradcheck_module(nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.4)), rng.standard_normal((6, 4)),
                            reseed=7)


def test_activation_closed_forms(rng):
    x = away_from_zero(rng, 50)
    t = cr.tensor(x)
    np.testing.assert_allclose(nn.Sigmoid()(t).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.ReLU()(t).data, np.maximum(x, 0))
    np.testing.assert_allclose(nn.LeakyReLU()(t).data, np.where(x > 0, x, 0.01 * x))
    np.testing.assert_allclose(nn.ELU(alpha=2.0)(t).data, np.where(x > 0, x, 2 * (np.exp(x) - 1)))
    gelu = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(nn.GELU("tanh")(t).data, gelu)
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(nn.GELU()(t).data, exact, rtol=1e-12)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("erf")
    z = rng.standard_normal((3, 4))
    e = np.exp(z - z.max(axis=0))
    np.testing.assert_allclose(nn.Softmax(dim=0)(cr.tensor(z)).data, e / e.sum(axis=0))
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(cr.tensor(z)).data,
                               z - np.log(np.exp(z).sum(axis=1, keepdims=True)))


def test_linear_forward_and_bad_feature_count(rng):
    m = nn.Linear(3, 2)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(m(cr.tensor(x)).data, x @ m.weight.data.T + m.bias.data)
    with pytest.raises(ValueError, match=r"Linear: expected input with last dimension "
                                         r"in_features=3, got input shape \(4, 5\)"):
        m(cr.randn(4, 5))
    with pytest.raises(ValueError, match="in_features=3"):
        F.linear(cr.randn(4, 5), m.weight)


def test_maxout_is_max_of_pieces(rng):
    m = nn.Maxout(4, 3, pieces=2)
    x = rng.standard_normal((5, 4))
    z = x @ m.linear.weight.data.T + m.linear.bias.data
    np.testing.assert_allclose(m(cr.tensor(x)).data, z.reshape(5, 3, 2).max(axis=-1))
    assert "Maxout(\n  in_features=4, out_features=3, pieces=2\n" in repr(m)


def test_batchnorm_train_and_eval(rng):
    bn = nn.BatchNorm1d(3)
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 3.0]
    x1 = rng.standard_normal((8, 3)) * 2 + 5
    y = bn(cr.tensor(x1)).data
    mu, var = x1.mean(0), x1.var(0)
    np.testing.assert_allclose(y, (x1 - mu) / np.sqrt(var + 1e-5) * bn.weight.data + bn.bias.data)
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * mu)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * x1.var(0, ddof=1))  # unbiased
    x2 = rng.standard_normal((8, 3))
    bn(cr.tensor(x2))
    rm = 0.9 * 0.1 * mu + 0.1 * x2.mean(0)
    rv = 0.9 * (0.9 + 0.1 * x1.var(0, ddof=1)) + 0.1 * x2.var(0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.data, rm)
    np.testing.assert_allclose(bn.running_var.data, rv)
    assert int(bn.num_batches_tracked.data) == 2

    bn.eval()
    x3 = rng.standard_normal((4, 3))
    y3 = bn(cr.tensor(x3)).data
    np.testing.assert_allclose(y3, (x3 - rm) / np.sqrt(rv + 1e-5) * bn.weight.data + bn.bias.data)
    np.testing.assert_allclose(bn.running_mean.data, rm)         # eval does not update
    assert int(bn.num_batches_tracked.data) == 2
    # eval output of one sample does not depend on the rest of the batch
    np.testing.assert_allclose(bn(cr.tensor(x3[:1])).data, y3[:1])
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected input of shape \(N, 3\)"):
        bn(cr.randn(4, 5))
    bn.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(cr.randn(1, 3))
    assert int(bn.num_batches_tracked.data) == 2             # a rejected batch changes nothing
    np.testing.assert_allclose(bn.running_mean.data, rm)


def test_batchnorm_cumulative_average_and_no_tracking(rng):
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [rng.standard_normal((5, 2)) + i for i in range(3)]
    for x in xs:
        bn(cr.tensor(x))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([x.mean(0) for x in xs], axis=0))
    bn = nn.BatchNorm1d(2, track_running_stats=False, affine=False).eval()
    y = bn(cr.tensor(xs[0])).data                                 # batch stats even in eval
    np.testing.assert_allclose(y, (xs[0] - xs[0].mean(0)) / np.sqrt(xs[0].var(0) + 1e-5))
    assert list(bn.state_dict()) == []


def test_layernorm_closed_form(rng):
    ln = nn.LayerNorm(5)
    ln.weight.data[...] = rng.standard_normal(5)
    x = rng.standard_normal((3, 5)) * 4
    mu, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    np.testing.assert_allclose(ln(cr.tensor(x)).data, (x - mu) / np.sqrt(var + 1e-5) * ln.weight.data)


def test_dropout_train_eval_and_seed():
    d = nn.Dropout(p=0.3)
    x = cr.ones(200, 500)
    cr.manual_seed(11)
    y = d(x).data
    zero_frac = (y == 0).mean()
    assert abs(zero_frac - 0.3) < 0.01                        # 100k draws: sd ≈ 0.0015
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7])  # inverted dropout scaling
    cr.manual_seed(11)
    np.testing.assert_array_equal(d(x).data, y)               # reproducible
    d.eval()
    assert d(x) is x
    assert (nn.Dropout(1.0)(x).data == 0).all()
    assert nn.Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    # gradient uses the same mask and scale
    xt = cr.ones(4, 6, requires_grad=True)
    cr.manual_seed(2)
    out = d.train()(xt)
    out.sum().backward()
    np.testing.assert_array_equal(xt.grad.data, out.data)


def test_activations_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = away_from_zero(rng, 4, 6)
    tx = torch.tensor(x)
    pairs = [(nn.GELU(), torch.nn.GELU()), (nn.GELU("tanh"), torch.nn.GELU(approximate="tanh")), (nn.ELU(0.5), torch.nn.ELU(0.5)),
             (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)), (nn.Softmax(0), torch.nn.Softmax(0))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(cr.tensor(x)).data, theirs(tx).numpy(), rtol=1e-12)


def test_batchnorm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3, dtype=torch.float64)
    for _ in range(3):
        x = rng.standard_normal((7, 3, 2)) * 3 + 1
        xt = cr.tensor(x, requires_grad=True)
        tt = torch.tensor(x, requires_grad=True)
        up = rng.standard_normal(x.shape)
        (ours(xt) * cr.tensor(up)).sum().backward()
        (theirs(tt) * torch.tensor(up)).sum().backward()
        np.testing.assert_allclose(xt.grad.data, tt.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-8)


def test_forward_mode_through_modules(rng):
    """cr.jvp through a stack of layers equals central differences along the tangent."""
    m = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.GELU(), nn.Maxout(6, 3, 2),
                      nn.LayerNorm(3))
    x, v = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    out, tangent = cr.jvp(m, (x,), (v,))
    h = 1e-6
    fd = (m(cr.tensor(x + h * v)).data - m(cr.tensor(x - h * v)).data) / (2 * h)
    np.testing.assert_allclose(tangent.data, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out.data, m(cr.tensor(x)).data)


def test_device_keyword():
    assert nn.Linear(2, 3, device="cpu").weight.shape == (3, 2)
    with pytest.raises(ValueError, match="Linear: device 'cuda' is not supported"):
        nn.Linear(2, 3, device="cuda")


def test_loss_module_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0]))
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.MSELoss().state_dict()) == []
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_functional_maxout_matches_numpy_and_routes_the_gradient():
    import chainrule.nn.functional as F
    x = np.random.default_rng(3).standard_normal((4, 6))
    out = F.maxout(cr.tensor(x, dtype=cr.float64), pieces=3)
    np.testing.assert_allclose(out.data, x.reshape(4, 2, 3).max(-1))
    assert cr.gradcheck(lambda t: F.maxout(t, pieces=3), x)
    with pytest.raises(ValueError, match="maxout: last dimension 6 .* multiple of pieces=4"):
        F.maxout(cr.tensor(x), pieces=4)
