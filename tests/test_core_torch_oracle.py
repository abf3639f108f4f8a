"""PyTorch as an optional oracle: same values and gradients, including at kinks and ties."""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

# Inputs with ties and values exactly on kinks (0, clamp bounds), where conventions matter.
X = np.array([[0.0, 1.0, 1.0, -2.0], [3.0, -0.5, 0.5, 3.0], [-1.0, 2.0, 0.0, 0.25]])

CASES = {
    "relu": lambda m, x: m.relu(x),
    "abs": lambda m, x: m.abs(x),
    "clamp": lambda m, x: m.clamp(x, -0.5, 0.5),
    "maximum_tie": lambda m, x: m.maximum(x, x[:, :1] * 0 + 1.0),
    "amax_ties": lambda m, x: m.amax(x, dim=1),
    "max_all_ties": lambda m, x: x.max(),
    "max_dim_values": lambda m, x: x.max(dim=1)[0],
    "var_default": lambda m, x: x.var(dim=1),
    "std_default": lambda m, x: x.std(dim=0),
    "softmax": lambda m, x: m.softmax(x, dim=1),
    "log_softmax": lambda m, x: m.log_softmax(x, dim=0),
    "logsumexp": lambda m, x: m.logsumexp(x, dim=1),
    "norm": lambda m, x: m.norm(x),
    "transpose01": lambda m, x: x.transpose(0, 1) @ x,
    "gather": lambda m, x: m.gather(x, 1, _idx(m)),
    "sigmoid_tanh": lambda m, x: m.sigmoid(x) * m.tanh(x),
    "leaky_relu": lambda m, x: _leaky(m, x),
    "elu": lambda m, x: _elu(m, x),
    "softplus": lambda m, x: _softplus(m, x),
    "pow_int": lambda m, x: x ** 3,
    "prod_with_zero": lambda m, x: m.prod(x, dim=1),
    "where": lambda m, x: m.where(x > 0.5, x * 2, -x),
    "index_repeat": lambda m, x: x[[0, 0, 2]],
    "flatten_view": lambda m, x: x.flatten().view(4, 3)[1:, ::2],
}


def _idx(m):
    idx = [[0, 0], [3, 1], [2, 2]]
    return torch.tensor(idx) if m is torch else cr.tensor(idx)


def _leaky(m, x):
    return torch.nn.functional.leaky_relu(x, 0.2) if m is torch else cr.leaky_relu(x, 0.2)


def _elu(m, x):
    return torch.nn.functional.elu(x, 1.5) if m is torch else cr.elu(x, 1.5)


def _softplus(m, x):
    return torch.nn.functional.softplus(x) if m is torch else cr.softplus(x)


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_pytorch(name):
    f = CASES[name]
    xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    yt = f(torch, xt)
    up = np.random.default_rng(0).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(up))
    xc = cr.tensor(X, dtype=np.float64, requires_grad=True)
    yc = f(cr, xc)
    yc.backward(up)
    np.testing.assert_allclose(yc.data, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_cross_entropy_matches_pytorch():
    logits = np.random.default_rng(1).standard_normal((5, 4))
    y = np.array([0, 3, 3, 1, 2])
    for reduction in ("mean", "sum", "none"):
        lt = torch.tensor(logits, requires_grad=True)
        outt = torch.nn.functional.cross_entropy(lt, torch.tensor(y), reduction=reduction)
        up = np.ones(tuple(outt.shape))
        outt.backward(torch.tensor(up))
        lc = cr.tensor(logits, dtype=np.float64, requires_grad=True)
        outc = cr.ops.REGISTRY["cross_entropy"](lc, y, reduction=reduction)
        outc.backward(up)
        np.testing.assert_allclose(outc.data, outt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(lc.grad.data, lt.grad.numpy(), rtol=1e-12, atol=1e-15)
