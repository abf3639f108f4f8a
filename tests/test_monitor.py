"""cr.viz.monitor: update/parameter ratios, dead ReLUs, saturation, first loss vs chance."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.cli import main


def _setup(hidden_act=cr.nn.ReLU, seed=0):
    cr.manual_seed(seed)
    X, y = cr.data.spirals(120, classes=3, seed=seed)
    model = cr.nn.Sequential(cr.nn.Linear(2, 20), hidden_act(), cr.nn.Linear(20, 3))
    return model, X, y


def _loop(model, X, y, mon, lr, steps=20, momentum=0.0):
    opt = cr.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for _ in range(steps):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon(loss)


def test_ratio_is_the_update_over_the_parameter_norm():
    model, X, y = _setup()
    mon = cr.viz.monitor(model)
    w = model[0].weight
    before = w.data.astype(np.float64).copy()
    _loop(model, X, y, mon, lr=0.1, steps=1)
    _loop(model, X, y, mon, lr=0.1, steps=1)   # the second step's update is measured
    expected = np.linalg.norm(0.1 * w.grad.data) / np.linalg.norm(w.data + 0.1 * w.grad.data)
    assert mon.history["ratio"]["0.weight"][-1] == pytest.approx(expected, rel=1e-5)
    assert len(mon.history["loss"]) == 2 and mon.history["grad_norm"]["0.weight"][0] > 0
    assert not np.array_equal(before, w.data)


@pytest.mark.parametrize("lr, words", [(1e-6, "too low"), (5.0, "too high")])
def test_flags_a_learning_rate_far_from_the_1e3_rule(lr, words):
    model, X, y = _setup()
    mon = cr.viz.monitor(model)
    _loop(model, X, y, mon, lr=lr)
    assert any(words in f for f in mon.flags()), mon.report()


def test_a_sane_run_has_no_flags_and_starts_at_chance():
    model, X, y = _setup(cr.nn.Tanh)
    mon = cr.viz.monitor(model)
    _loop(model, X, y, mon, lr=0.003, steps=30, momentum=0.9)
    assert mon.chance == pytest.approx(math.log(3))
    assert abs(mon.history["loss"][0] - math.log(3)) < 0.2
    assert mon.flags() == [], mon.report()
    assert "nothing looks wrong" in mon.report() and "chance 1.0986" in mon.report()


def test_dead_relus_and_a_bad_first_loss_are_reported():
    model, X, y = _setup()
    with cr.no_grad():
        model[0].bias.data[:15] = -100.0        # 15 of 20 units can never fire
        model[2].weight.data *= 50.0            # scores far from equal: loss far above ln 3
    mon = cr.viz.monitor(model)
    _loop(model, X, y, mon, lr=1e-3, steps=3)
    dead = mon.history["dead"]["1 (ReLU)"][-1]
    assert 0.75 <= dead < 1.0     # the 15 killed units, and maybe a few dead by themselves
    flags = " ".join(mon.flags())
    assert f"{100 * dead:.0f}% of the units are dead" in flags and "far from chance" in flags


def test_saturated_tanh_is_reported_and_hooks_come_off():
    model, X, y = _setup(cr.nn.Tanh)
    with cr.no_grad():
        model[0].weight.data *= 200.0
    mon = cr.viz.monitor(model)
    _loop(model, X, y, mon, lr=1e-3, steps=2)
    assert mon.history["saturated"]["1 (Tanh)"][-1] > 0.5
    assert any("saturated" in f for f in mon.flags())
    mon.close()
    assert not model[1]._forward_hooks


def test_svm_chance_is_c_minus_1_over_c():
    model, _, _ = _setup()
    assert cr.viz.monitor(model, loss="svm").chance == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="loss must be"):
        cr.viz.monitor(model, loss="mse")


def test_fit_calls_the_monitor_every_step():
    from chainrule.train import fit
    model, X, y = _setup()
    mon = cr.viz.monitor(model)
    fit(model, (X, y), epochs=2, batch_size=40, log=None, on_step=mon)
    assert len(mon.history["loss"]) == 6 and len(mon.history["ratio"]["2.weight"]) == 5


def test_cli_train_monitor_prints_a_report_and_writes_a_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["train", "moons", "--epochs", "2", "--hidden", "8", "--no-progress", "--monitor",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "monitor: " in out and "update/param ratio median" in out and "(chance 0.6931)" in out
    assert (tmp_path / "monitor.png").read_bytes()[:4] == b"\x89PNG"
