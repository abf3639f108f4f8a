"""functional_call: a module as a pure function of its parameters, for cr.grad and cr.hvp."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F


@pytest.fixture(autouse=True)
def float64():
    cr.set_default_dtype(cr.float64)


@pytest.fixture
def setup(rng):
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x = cr.tensor(rng.standard_normal((6, 5)))
    y = cr.tensor(rng.integers(0, 3, 6))
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return F.cross_entropy(nn.functional_call(model, p, x), y)
    return model, x, y, params, loss


def test_grad_through_functional_call_equals_backward(setup):
    model, x, y, params, loss = setup
    grads = cr.grad(loss)(params)
    assert set(grads) == set(params)
    F.cross_entropy(model(x), y).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name].data, p.grad.data, rtol=1e-12, atol=1e-15)
        assert grads[name].shape == p.shape


def test_grad_with_other_values_and_numerical(setup, rng):
    model, x, y, params, loss = setup
    other = {k: cr.tensor(rng.standard_normal(v.shape)) for k, v in params.items()}
    g = cr.grad(loss)(other)
    # check one entry numerically: central difference on 0.weight[2, 1]
    h = 1e-6
    def at(delta):
        p = {k: cr.tensor(v.data.copy()) for k, v in other.items()}
        p["0.weight"].data[2, 1] += delta
        return loss(p).item()
    np.testing.assert_allclose(g["0.weight"].data[2, 1], (at(h) - at(-h)) / (2 * h), rtol=1e-6)
    # the module's own parameters are untouched and got no gradient
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, params[name].data)
        assert p.grad is None


def test_hvp_matches_finite_differences_of_gradients(setup, rng):
    model, x, y, params, loss = setup
    v = {k: cr.tensor(rng.standard_normal(t.shape)) for k, t in params.items()}
    hv = cr.hvp(loss, params, v)
    h = 1e-5

    def shifted(sign):
        return cr.grad(loss)({k: cr.tensor(params[k].data + sign * h * v[k].data) for k in params})
    gp, gm = shifted(1), shifted(-1)
    for k in params:
        fd = (gp[k].data - gm[k].data) / (2 * h)
        np.testing.assert_allclose(hv[k].data, fd, rtol=1e-5, atol=1e-8)
    assert any(np.abs(hv[k].data).max() > 1e-3 for k in params)


def test_swaps_buffers_and_restores_on_error(rng):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    x = cr.tensor(rng.standard_normal((5, 3)))
    w_before = model[0].weight
    rm = cr.tensor(rng.standard_normal(4))
    out = nn.functional_call(model, {"1.running_mean": rm}, x)
    z = x.data @ model[0].weight.data.T + model[0].bias.data
    np.testing.assert_allclose(out.data, (z - rm.data) / np.sqrt(1 + 1e-5))
    assert not model[1].running_mean.data.any()                # restored

    def boom(_):
        raise RuntimeError("boom")
    model[1].forward = boom
    with pytest.raises(RuntimeError, match="boom"):
        nn.functional_call(model, {"0.weight": cr.zeros(4, 3)}, x)
    assert model[0].weight is w_before and isinstance(model[0].weight, nn.Parameter)


def test_pytorch_tuple_spelling_and_errors(setup):
    model, x, _, params, _ = setup
    a = nn.functional_call(model, params, (x,))
    b = nn.functional_call(model, params, x)
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(KeyError, match="'2.wieght' is not a parameter or buffer of Sequential"):
        nn.functional_call(model, {"2.wieght": cr.zeros(3, 8)}, x)
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(5, 8\), the module expects \(8, 5\)"):
        nn.functional_call(model, {"0.weight": cr.zeros(5, 8)}, x)
    with pytest.raises(KeyError, match="strict=True but no value given for"):
        nn.functional_call(model, {"0.weight": params["0.weight"]}, x, strict=True)
