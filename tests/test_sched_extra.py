"""LambdaLR, LinearLR, OneCycleLR, SequentialLR, ExponentialLR, ReduceLROnPlateau: lr sequences vs PyTorch."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as S


def _opt(lib, **kw):
    if lib is cr:
        return cr.optim.SGD([cr.nn.Parameter(cr.zeros(2))], lr=0.1, momentum=0.9, **kw)
    import torch
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9, **kw)


def _run(lib, make, steps=30, metrics=None):
    opt = _opt(lib)
    sched = make(lib, opt)
    lrs, moms = [], []
    for k in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
    return np.array(lrs), np.array(moms)


def _sched(lib):
    return S if lib is cr else lib.optim.lr_scheduler


MAKERS = {
    "lambda": lambda lib, o: _sched(lib).LambdaLR(o, lambda e: 1 / (1 + e)),
    "linear": lambda lib, o: _sched(lib).LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=7),
    "exponential": lambda lib, o: _sched(lib).ExponentialLR(o, gamma=0.8),
    "onecycle": lambda lib, o: _sched(lib).OneCycleLR(o, max_lr=1.0, total_steps=30),
    "onecycle3": lambda lib, o: _sched(lib).OneCycleLR(o, max_lr=0.5, total_steps=31, three_phase=True,
                                                        anneal_strategy="linear", pct_start=0.2),
    "sequential": lambda lib, o: _sched(lib).SequentialLR(
        o, [_sched(lib).LinearLR(o, 0.1, total_iters=4), _sched(lib).ExponentialLR(o, 0.7),
            _sched(lib).LambdaLR(o, lambda e: 0.5)], milestones=[4, 12]),
}


def test_closed_forms_without_torch():
    lrs, _ = _run(cr, MAKERS["linear"], steps=10)
    np.testing.assert_allclose(lrs[:7], 0.1 * (0.25 + 0.65 * np.arange(1, 8) / 7))
    np.testing.assert_allclose(lrs[7:], 0.09)
    lrs, moms = _run(cr, MAKERS["onecycle"])
    assert lrs.argmax() == 7 and math.isclose(lrs.max(), 1.0, rel_tol=1e-6)   # after step 8
    assert moms.argmin() == 7 and math.isclose(moms.min(), 0.85)
    assert lrs[-2] < 1e-5   # min_lr = 1.0 / 25 / 1e4 at step total_steps - 1


def test_reduce_on_plateau_patience_and_cooldown():
    opt = _opt(cr)
    sched = S.ReduceLROnPlateau(opt, patience=2, cooldown=1, factor=0.5)
    lrs = []
    for m in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025]
    with pytest.raises(ValueError, match="factor must be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=2.0)


@pytest.mark.parametrize("name", list(MAKERS))
def test_lr_sequence_matches_pytorch(name):
    pytest.importorskip("torch")
    import warnings
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lt, mt = _run(torch, MAKERS[name])
    lc, mc = _run(cr, MAKERS[name])
    np.testing.assert_allclose(lc, lt, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(mc, mt, rtol=1e-9)


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", threshold_mode="abs", threshold=0.05, patience=1),
                                dict(cooldown=2, patience=0, min_lr=0.002)])
def test_reduce_on_plateau_matches_pytorch(kw):
    pytest.importorskip("torch")
    import torch
    metrics = list(np.random.default_rng(0).random(40))
    lt, _ = _run(torch, lambda lib, o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), 40, metrics)
    lc, _ = _run(cr, lambda lib, o: S.ReduceLROnPlateau(o, **kw), 40, metrics)
    np.testing.assert_allclose(lc, lt, rtol=1e-12)
    assert len(set(lt)) > 1
