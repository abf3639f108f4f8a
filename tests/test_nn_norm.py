"""Normalisation and channel dropout for feature maps: running statistics, train/eval, and PyTorch
as the oracle (float64, rtol 1e-7) for outputs, gradients and buffers when it is installed."""
import numpy as np
import pytest

import chainrule as cr

RTOL = 1e-7


def _t(a, grad=True):
    return cr.tensor(a, dtype=np.float64, requires_grad=grad)


def test_batchnorm2d_normalises_per_channel_and_updates_running_stats(rng):
    x = rng.standard_normal((4, 3, 5, 5)) * 3 + 2
    bn = cr.nn.BatchNorm2d(3, momentum=0.5, dtype=np.float64)
    y = bn(_t(x, False)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    np.testing.assert_allclose(bn.running_mean.data, 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, 0.5 + 0.5 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 1
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input of shape \(N, 3, H, W\)"):
        bn(cr.randn(4, 3))


def test_group_norm_closed_form(rng):
    x = rng.standard_normal((2, 6, 3, 3))
    y = cr.nn.GroupNorm(3, 6, dtype=np.float64)(_t(x, False)).data
    g = x.reshape(2, 3, -1)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


def test_dropout2d_drops_whole_channels():
    cr.manual_seed(3)
    y = cr.nn.Dropout2d(0.5)(cr.ones(8, 16, 4, 4)).data
    per_channel = y.reshape(8, 16, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))      # each map all 0 or all 2
    assert set(np.unique(y)) == {0.0, 2.0}
    assert np.array_equal(cr.nn.Dropout2d(0.5).eval()(cr.ones(2, 3, 2, 2)).data, np.ones((2, 3, 2, 2)))


def test_alpha_dropout_keeps_mean_and_variance():
    cr.manual_seed(0)
    x = np.random.default_rng(0).standard_normal(200_000)
    y = cr.nn.AlphaDropout(0.2)(cr.tensor(x, dtype=np.float64)).data
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.02
    assert np.array_equal(cr.nn.AlphaDropout(0.2).eval()(cr.tensor(x[:5])).data, x[:5])


# ---------------------------------------------------------------- PyTorch oracle

def _load(cm, tm):
    cm.load_state_dict({k: cr.tensor(v.detach().numpy(), dtype=v.detach().numpy().dtype)
                        for k, v in tm.state_dict().items()})


def _check_steps(cm, tm, shape, rng, steps=3):
    """Train-mode steps (outputs, input and parameter gradients, buffers), then one eval step."""
    torch = pytest.importorskip("torch")
    for k in range(steps + 1):
        if k == steps:
            cm.eval()
            tm.eval()
        x = rng.standard_normal(shape) * 2 + 1
        xc, xt = _t(x), torch.tensor(x, requires_grad=True)
        oc, ot = cm(xc), tm(xt)
        np.testing.assert_allclose(oc.data, ot.detach().numpy(), rtol=RTOL, atol=1e-10)
        up = rng.standard_normal(shape)
        oc.backward(up)
        ot.backward(torch.tensor(up))
        np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=RTOL, atol=1e-10)
        for (n, pc), (_, pt) in zip(cm.named_parameters(), tm.named_parameters()):
            np.testing.assert_allclose(pc.grad.data, pt.grad.numpy(), rtol=RTOL, atol=1e-10, err_msg=n)
            pc.grad = None
            pt.grad = None
        for (n, bc), (_, bt) in zip(cm.named_buffers(), tm.named_buffers()):
            np.testing.assert_allclose(bc.data, bt.numpy(), rtol=RTOL, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                dict(momentum=0.3, eps=1e-3)], ids=str)
@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (4, 3, 5, 4)), ("BatchNorm1d", (5, 3, 7))])
def test_batchnorm_matches_torch(cls, shape, kw, rng):
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, cls)(3, **kw).double()
    cm = getattr(cr.nn, cls)(3, dtype=np.float64, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-1, 1)
    _load(cm, tm)
    _check_steps(cm, tm, shape, rng)


@pytest.mark.parametrize("kw", [dict(), dict(affine=True), dict(track_running_stats=True),
                                dict(affine=True, track_running_stats=True, momentum=0.2)], ids=str)
def test_instance_norm_matches_torch(kw, rng):
    torch = pytest.importorskip("torch")
    tm = torch.nn.InstanceNorm2d(3, **kw).double()
    cm = cr.nn.InstanceNorm2d(3, dtype=np.float64, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-1, 1)
    _load(cm, tm)
    _check_steps(cm, tm, (2, 3, 4, 5), rng)


@pytest.mark.parametrize("groups,affine", [(1, True), (2, True), (6, False)])
def test_group_norm_matches_torch(groups, affine, rng):
    torch = pytest.importorskip("torch")
    tm = torch.nn.GroupNorm(groups, 6, affine=affine).double()
    cm = cr.nn.GroupNorm(groups, 6, affine=affine, dtype=np.float64)
    if affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-1, 1)
    _load(cm, tm)
    _check_steps(cm, tm, (3, 6, 4, 3), rng, steps=1)


@pytest.mark.parametrize("size,shape", [(5, (2, 7, 3, 3)), (2, (2, 4, 5)), (3, (1, 3, 2, 2))])
def test_local_response_norm_matches_torch(size, shape, rng):
    torch = pytest.importorskip("torch")
    tm = torch.nn.LocalResponseNorm(size, alpha=0.1, beta=0.75, k=2.0)
    cm = cr.nn.LocalResponseNorm(size, alpha=0.1, beta=0.75, k=2.0)
    _check_steps(cm, tm, shape, rng, steps=1)
