"""Bad API inputs (issue 14, items 6, 7 and the losses' parts of 8, 9): refused atomically, or right."""
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn


def _snapshot(model):
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)


# -------------------------------------------------------------------- item 6: nothing changes

def _mlp():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([1 + 2j, 3j]),
                                 np.array([None, None], dtype=object), [[1.0], [2.0, 3.0]],
                                 np.zeros(3)])
def test_failed_load_state_dict_changes_nothing(bad):
    model = _mlp()
    before = _snapshot(model)
    sd = {k: v + 1.0 for k, v in before.items()}   # every other entry is valid and different
    sd["2.bias"] = bad
    with pytest.raises(RuntimeError, match=r"'2\.bias'.*nothing was loaded") as info:
        model.load_state_dict(sd)
    assert "\n" not in str(info.value)
    assert _same(_snapshot(model), before)
    del sd["2.bias"]
    with pytest.raises(RuntimeError, match="missing keys '2.bias'"):
        model.load_state_dict(sd)
    assert _same(_snapshot(model), before)
    model.load_state_dict(sd, strict=False)   # the valid entries load
    assert np.array_equal(model[0].weight.data, before["0.weight"] + 1)


def test_load_state_dict_converts_before_writing_and_keeps_dtypes():
    model = _mlp()
    sd = {k: v.astype(np.float64) * 0 + 2 for k, v in _snapshot(model).items()}
    model.load_state_dict(sd)
    assert all(v.dtype == np.float32 and np.all(v.data == 2)
               for v in model.state_dict().values())
    bn = nn.BatchNorm1d(2)
    before = _snapshot(bn)
    sd = dict(before, num_batches_tracked=np.array(2.5), running_mean=np.ones(2))
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        bn.load_state_dict(sd)   # 2.5 cannot be an int64 counter: refused, not truncated
    assert _same(_snapshot(bn), before)


def _adam_with_state():
    model = _mlp()
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    F.mse_loss(model(cr.ones(4, 2)), cr.zeros(4, 2)).backward()
    opt.step()
    return model, opt


def _opt_snapshot(opt):
    sd = opt.state_dict()
    state = {(i, k): np.array(v.data if isinstance(v, cr.Tensor) else v).tobytes()
             for i, st in sd["state"].items() for k, v in st.items()}
    return state, [{k: v for k, v in g.items()} for g in sd["param_groups"]]


@pytest.mark.parametrize("corrupt", ["string exp_avg", "wrong shape", "lr string", "betas short",
                                     "bad index", "params not indices"])
def test_failed_optimizer_load_state_dict_changes_nothing(corrupt):
    _, opt = _adam_with_state()
    _, other = _adam_with_state()
    sd = other.state_dict()
    sd = {"state": {i: dict(st) for i, st in sd["state"].items()},
          "param_groups": [dict(g, lr=0.5) for g in sd["param_groups"]]}
    if corrupt == "string exp_avg":
        sd["state"][3]["exp_avg"] = np.array(["a", "b"])
    elif corrupt == "wrong shape":
        sd["state"][3]["exp_avg_sq"] = np.zeros(7)
    elif corrupt == "lr string":
        sd["param_groups"][0]["lr"] = "fast"
    elif corrupt == "betas short":
        sd["param_groups"][0]["betas"] = [0.9]
    elif corrupt == "bad index":
        sd["state"]["x"] = sd["state"][0]
    else:
        sd["param_groups"][0]["params"] = ["a"] * len(sd["param_groups"][0]["params"])
    before = _opt_snapshot(opt)
    with pytest.raises(ValueError, match="load_state_dict") as info:
        opt.load_state_dict(sd)
    assert "\n" not in str(info.value)
    assert _opt_snapshot(opt) == before and opt.param_groups[0]["lr"] == 0.01


# -------------------------------------------------------------------- item 7: never truncated

def _ce_closed_form(x, t):
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(np.log(np.exp(x).sum(1)) - x[np.arange(len(t)), t]))


def test_cross_entropy_of_integer_logits_is_promoted_not_truncated():
    out = F.cross_entropy(cr.tensor([[1, 2, 3]]), cr.tensor([0]))
    assert out.dtype == cr.get_default_dtype()
    assert math.isclose(out.item(), _ce_closed_form([[1, 2, 3]], [0]), rel_tol=1e-6)   # 2.4076
    assert math.isclose(out.item(), 2.4076, abs_tol=1e-4)
    cr.set_default_dtype(cr.float64)
    out = F.cross_entropy(cr.tensor([[1, 2, 3], [0, 0, 5]]), cr.tensor([0, 2]))
    assert out.dtype == np.float64
    assert out.item() == pytest.approx(_ce_closed_form([[1, 2, 3], [0, 0, 5]], [0, 2]), rel=1e-12)


@pytest.mark.parametrize("name,args,expected", [
    ("nll_loss", ([[1, 2, 3]], [2]), -3.0),
    ("multi_margin_loss", ([[1, 2, 4]], [1]), (0.0 + 3.0) / 3),
    ("mse_loss", ([1, 4], [0, 2]), (1 + 4) / 2),
    ("l1_loss", ([1, 4], [0, 2]), 1.5),
    ("binary_cross_entropy", ([1, 0], [1, 1]), 50.0),
    ("binary_cross_entropy_with_logits", ([0, 0], [1, 0]), math.log(2)),
])
def test_float_only_losses_promote_integer_inputs(name, args, expected):
    x, t = (cr.tensor(a) for a in args)
    out = getattr(F, name)(x, t)
    assert out.dtype == cr.get_default_dtype()
    assert out.item() == pytest.approx(expected, rel=1e-6)


# -------------------------------------------------------------------- losses' parts of 8 and 9

def test_binary_cross_entropy_clamps_each_log_at_exactly_minus_100():
    for dtype in (np.float32, np.float64):
        p = cr.tensor([1.0, 0.0, 0.5], dtype=dtype)
        t = cr.tensor([0.0, 1.0, 1.0], dtype=dtype)
        out = F.binary_cross_entropy(p, t, reduction="none").data
        assert out[0] == 100 and out[1] == 100, (dtype, out)   # PyTorch: exactly 100
        assert out[2] == pytest.approx(math.log(2), rel=1e-6)


def test_mse_loss_of_an_empty_batch_is_nan_with_an_empty_gradient():
    x = cr.ones(0, 3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.mse_loss(x, cr.zeros(0, 3))
        loss.backward()
    assert math.isnan(loss.item()) and loss.dtype == np.float32
    assert x.grad.shape == (0, 3)
    assert F.mse_loss(x, cr.zeros(0, 3), reduction="sum").item() == 0


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_class_losses_of_an_empty_batch_or_all_ignored_targets_are_nan(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = cr.ones(0, 3, requires_grad=True)
        loss = getattr(F, fn)(x, cr.tensor(np.zeros(0, np.int64)))
        loss.backward()
        assert math.isnan(loss.item()) and x.grad.shape == (0, 3)
        x = cr.ones(2, 3, requires_grad=True)
        loss = getattr(F, fn)(x, cr.tensor([-100, -100]))   # every target ignored
        loss.backward()
    assert math.isnan(loss.item())
    assert np.array_equal(x.grad.data, np.zeros((2, 3), np.float32))   # as PyTorch
