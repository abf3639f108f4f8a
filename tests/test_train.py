"""Training: digits/spirals MLP accuracy, bitwise resume from checkpoints, CLI, bad input."""
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import train as T
from chainrule.cli import main
from chainrule.io import CheckpointError


def _quiet(**kw):
    return dict(progress=False, plots=False, checkpoint=False, log=None, **kw)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_digits_mlp_cross_entropy_reaches_97_percent_held_out(activation):
    pytest.importorskip("sklearn")
    t0 = time.perf_counter()
    r = T.train_digits(activation=activation, loss="ce", **_quiet())
    acc, secs = r.history["test_acc"][-1], time.perf_counter() - t0
    print(f"\ndigits 64-100-10 {activation} softmax-CE + L2: held-out acc {acc:.4f} "
          f"({len(r.history['loss'])} epochs, {secs:.1f} s)")
    assert [p.shape for p in r.model.parameters()] == [(100, 64), (100,), (10, 100), (10,)]
    assert r.config.weight_decay > 0 and r.config.test_size == 0.2
    assert acc >= 0.97 and secs < 60   # the bar: ≥ 97% in under a minute on 2 cores
    assert r.history["loss"][-1] < r.history["loss"][0] / 5


def test_digits_mlp_svm_loss_reaches_95_percent_held_out():
    pytest.importorskip("sklearn")
    t0 = time.perf_counter()
    r = T.train_digits(loss="svm", **_quiet())
    acc, secs = r.history["test_acc"][-1], time.perf_counter() - t0
    print(f"\ndigits 64-100-10 relu multiclass SVM (multi_margin_loss) + L2: held-out acc "
          f"{acc:.4f} ({secs:.1f} s)")
    assert T.loss_function("svm") is cr.nn.functional.multi_margin_loss
    assert r.config.loss == "svm" and r.history["loss"][-1] < r.history["loss"][0]
    assert acc >= 0.95 and secs < 60


def test_spirals_mlp_reaches_99_percent_training_accuracy():
    X, y = cr.data.spirals(300, classes=3, noise=0.2, seed=0)
    cr.manual_seed(0)
    model = T.make_mlp(2, 3, [100], "relu")
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    t0 = time.perf_counter()
    hist = T.fit(model, (X, y), epochs=100, optimizer=opt, weight_decay=1e-4, batch_size=32,
                 log=None)
    acc = T.accuracy(model, X, y)
    print(f"\nspirals 2-100-3 relu: training acc {acc:.4f} ({time.perf_counter() - t0:.1f} s)")
    assert acc == hist["train_acc"][-1] and acc >= 0.99
    # and a linear classifier cannot do it: the data really needs the hidden layer
    cr.manual_seed(0)
    lin = T.make_mlp(2, 3, [], "relu")
    T.fit(lin, (X, y), epochs=30, optimizer=cr.optim.Adam(lin.parameters(), lr=0.01), log=None)
    assert T.accuracy(lin, X, y) < 0.7


def _state_bytes(sd):
    return {k: (v.data.dtype, v.data.shape, v.data.tobytes()) for k, v in sd.items()}


@pytest.mark.parametrize("opt_name", ["adam", "sgd"])
def test_resume_from_checkpoint_is_bitwise_identical(tmp_path, opt_name):
    X, y = cr.data.moons(200, noise=0.2, seed=1)
    data = cr.data.TensorDataset(X, y)

    def fresh():
        cr.manual_seed(7)
        model = T.make_mlp(2, 2, [16], "tanh")
        return model, T.make_optimizer(opt_name, model.parameters(), lr=0.05)

    kw = dict(weight_decay=1e-3, batch_size=16, seed=3, log=None)
    m_full, o_full = fresh()
    h_full = T.fit(m_full, data, epochs=4, optimizer=o_full, **kw)

    m_a, o_a = fresh()
    h_a = T.fit(m_a, data, epochs=2, optimizer=o_a, **kw)
    cr.save(T.checkpoint_state(m_a, o_a, T.TrainConfig(), 2, h_a), tmp_path / "ck.safetensors")
    del m_a, o_a
    ck = cr.load(tmp_path / "ck.safetensors")
    cr.manual_seed(123)   # a different init: everything must come from the checkpoint
    m_b = T.make_mlp(2, 2, [16], "tanh")
    o_b = T.make_optimizer(opt_name, m_b.parameters(), lr=0.05)
    m_b.load_state_dict(ck["model"])
    o_b.load_state_dict(ck["optimizer"])
    h_b = T.fit(m_b, data, epochs=4, optimizer=o_b, start_epoch=ck["epoch"],
                history=ck["history"], **kw)

    assert _state_bytes(m_b.state_dict()) == _state_bytes(m_full.state_dict())
    assert h_b["loss"] == h_full["loss"] and h_b["train_acc"] == h_full["train_acc"]
    assert len(h_b["loss"]) == 4 and np.isnan(h_b["test_acc"]).all()   # float for float
    full_state = o_full.state_dict()["state"]
    for i, st in o_b.state_dict()["state"].items():
        for k, v in st.items():
            assert v.data.tobytes() == full_state[i][k].data.tobytes(), (i, k)


def test_checkpoint_holds_adam_state_bitwise(tmp_path):
    cr.manual_seed(0)
    model = T.make_mlp(4, 3, [5], "relu")
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        cr.nn.functional.cross_entropy(model(cr.randn(8, 4)), cr.randint(0, 3, (8,))).backward()
        opt.step()
    cr.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3},
            tmp_path / "a.pt")
    back = cr.load(tmp_path / "a.pt")
    sd = opt.state_dict()
    assert back["optimizer"]["param_groups"] == sd["param_groups"]
    assert back["optimizer"]["state"].keys() == sd["state"].keys()
    for i, st in sd["state"].items():
        assert set(st) >= {"exp_avg", "exp_avg_sq", "step"}
        for k, v in st.items():
            got = back["optimizer"]["state"][i][k].data
            assert got.dtype == v.data.dtype and got.tobytes() == v.data.tobytes()
    assert _state_bytes(back["model"]) == _state_bytes(model.state_dict())


def test_failed_load_leaves_the_model_unchanged(tmp_path):
    cr.manual_seed(0)
    model = T.make_mlp(4, 3, [5], "relu")
    cr.save({"model": model.state_dict()}, tmp_path / "m.pt")
    raw = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[:-10])
    cr.manual_seed(1)
    other = T.make_mlp(4, 3, [5], "relu")
    before = _state_bytes(other.state_dict())
    with pytest.raises(CheckpointError, match="cut.pt"):
        other.load_state_dict(cr.load(tmp_path / "cut.pt")["model"])
    assert _state_bytes(other.state_dict()) == before
    # a readable checkpoint of the wrong architecture is refused by load_state_dict, atomically
    bigger = T.make_mlp(4, 3, [6], "relu")
    cr.save({"model": bigger.state_dict()}, tmp_path / "big.pt")
    with pytest.raises((ValueError, RuntimeError, KeyError), match="shape"):
        other.load_state_dict(cr.load(tmp_path / "big.pt")["model"])
    assert _state_bytes(other.state_dict()) == before


def _digits_Xy():
    pytest.importorskip("sklearn")
    return cr.data.digits()


def test_bad_input_gives_clear_errors_through_fit():
    X, y = _digits_Xy()
    cr.manual_seed(0)
    model = T.make_mlp(64, 10, [100], "relu")
    with pytest.raises(ValueError, match=r"in_features=64.*\(\d+, 63\)"):
        T.fit(model, (X[:, :63], y), epochs=1, log=None)
    bad_y = y.data.copy()
    bad_y[5] = 10
    with pytest.raises(IndexError, match="label 10 is out of range for 10 classes"):
        T.fit(model, (X, cr.from_numpy(bad_y)), epochs=1, batch_size=2000, log=None)
    with pytest.raises(IndexError, match="out of range"):
        T.fit(model, (X, cr.from_numpy(bad_y)), epochs=1, loss="svm", batch_size=2000, log=None)
    bad_x = X.data.copy()
    bad_x[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*\(3, 7\)"):
        T.fit(model, (cr.from_numpy(bad_x), y), epochs=1, log=None)
    with pytest.raises(ValueError, match="size mismatch"):
        T.fit(model, (X, y[:100]), epochs=1, log=None)
    with pytest.raises(TypeError, match="integers"):
        T.fit(model, (X, y.float()), epochs=1, log=None)


def test_diverging_training_stops_with_a_clear_error():
    X, y = cr.data.moons(100, seed=0)
    cr.manual_seed(0)
    model = T.make_mlp(2, 2, [16], "relu")
    opt = T.make_optimizer("sgd", model.parameters(), lr=1e4)
    with np.errstate(all="ignore"), pytest.raises((FloatingPointError, ValueError),
                                                  match="NaN in input|loss became (nan|inf)"):
        T.fit(model, (X, y), epochs=20, optimizer=opt, log=None)


def test_cli_train_writes_checkpoint_and_plot_and_eval_agrees(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert main(["train", "digits", "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "epoch   2/2" in text and "loss" in text
    png = (out / "training.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    final = [ln for ln in text.splitlines() if ln.startswith("final:")][0]
    held_out = final.split("held-out acc ")[1].split()[0]
    ck = cr.load(out / "checkpoint.safetensors")
    assert ck["epoch"] == 2 and ck["config"]["hidden"] == [100] and "exp_avg" in \
        ck["optimizer"]["state"][0]
    assert main(["eval", str(out / "checkpoint.safetensors")]) == 0
    shown = capsys.readouterr().out
    assert f"held-out accuracy {held_out}" in shown


def test_cli_resume_matches_uninterrupted_run_and_writes_decision_boundary(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["train", "circles", "--hidden", "8", "--batch-size", "16", "--no-progress"]
    assert main(args + ["--epochs", "4", "--out", str(a)]) == 0
    assert main(args + ["--epochs", "2", "--out", str(b)]) == 0
    assert (b / "decision_boundary.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["train", "--resume", str(b / "checkpoint.safetensors"),
                 "--epochs", "4", "--no-progress", "--no-plots"]) == 0
    capsys.readouterr()
    full, resumed = cr.load(a / "checkpoint.safetensors"), cr.load(b / "checkpoint.safetensors")
    assert resumed["epoch"] == 4 and resumed["history"] == full["history"]
    assert _state_bytes(resumed["model"]) == _state_bytes(full["model"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    assert main(["eval", str(tmp_path / "junk.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cr.load:") and "junk.pt" in err and "\n" not in err
    cr.save({"w": cr.ones(2)}, tmp_path / "plain.pt")
    assert main(["eval", str(tmp_path / "plain.pt")]) == 1
    assert "not a training checkpoint" in capsys.readouterr().err
    assert main(["train", "moons", "--lr", "-1", "--no-progress"]) == 1
    assert "lr > 0" in capsys.readouterr().err
    assert main(["train"]) == 1
    assert "name a dataset" in capsys.readouterr().err


def test_training_without_matplotlib_skips_plots_with_a_note(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    lines = []
    r = T.train(T.TrainConfig.for_dataset("moons", epochs=1, out=str(tmp_path)), log=lines.append,
                progress=False)
    assert r.plots == [] and any("pip install 'chainrule[viz]'" in ln for ln in lines)
    assert (tmp_path / "checkpoint.safetensors").exists()
    assert not list(tmp_path.glob("*.png"))
    with pytest.raises(ImportError, match=r"matplotlib.*chainrule\[viz\]"):
        T.plot_decision_boundary(r.model, *cr.data.moons(20, seed=0), str(tmp_path / "b.png"))
