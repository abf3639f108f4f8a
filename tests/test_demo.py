"""`python -m chainrule demo` (what `make demo` runs) and the example scripts, end to end."""
import io
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so the trainer draws its progress bar."""

    def isatty(self):
        return True


def _lecture_numbers():
    """The numbers the lecture's worked examples must print, computed here in closed form."""
    x, y, z = -2.0, 5.0, -4.0
    w0, x0, w1, x1, w2 = 2.0, -1.0, -3.0, -2.0, -3.0
    s = 1 / (1 + np.exp(-(w0 * x0 + w1 * x1 + w2)))
    ds = s * (1 - s)                                  # σ' = (1 − σ)σ, the slide's 0.20
    W, v = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    q = W @ v
    return [
        f"f = q · z = {(x + y) * z:.2f}",
        f"gradients: dL/dx = {z:.2f}, dL/dy = {z:.2f}, dL/dz = {x + y:.2f}",
        f"forward: f = {s:.2f}",
        f"mul   [{ds:.2f}] × [x0={x0:.2f}] → dL/dw0 = {ds * x0:.2f}  (mul gate: swaps)",
        (f"gradients: dL/dw0 = {ds * x0:.2f}, dL/dx0 = {ds * w0:.2f}, dL/dw1 = {ds * x1:.2f}, "
         f"dL/dx1 = {ds * w1:.2f}, dL/dw2 = {ds:.2f}"),
        f"f = {q @ q:.4f}",
        f"dL/dW = 2·q·xᵀ = {np.round(2 * np.outer(q, v), 3).tolist()}",
        f"dL/dx = 2·Wᵀ·q = {np.round(2 * W.T @ q, 3).tolist()}",
        "gradcheck(tanh(W·x).sum()) in float64: True",
    ]


def test_lecture_numbers_are_the_slides():
    # guard the oracle itself against typos: these are the values printed on the lecture slides
    got = _lecture_numbers()
    assert got[0].endswith("-12.00") and "dL/dx = -4.00, dL/dy = -4.00, dL/dz = 3.00" in got[1]
    assert got[2].endswith("0.73") and "dL/dx0 = 0.39" in got[4] and "dL/dx1 = -0.59" in got[4]


# capsys before monkeypatch: monkeypatch must put capsys's stderr back before capsys ends
def test_demo_prints_lecture_examples_then_trains_digits(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["demo", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    for text in _lecture_numbers():
        assert text in out, text
    assert "epoch   1/2" in out and "epoch   2/2" in out
    final = re.search(r"^final: train acc (\d\.\d{4}), held-out acc (\d\.\d{4}) \((\d+\.\d) s\)$",
                      out, re.M)
    assert final, out[-500:]
    assert 0.85 < float(final.group(2)) <= 1.0 and float(final.group(3)) < 60
    png = tmp_path / "runs" / "digits" / "training.png"
    assert f"wrote {Path('runs') / 'digits' / 'training.png'}" in out
    pytest.importorskip("matplotlib")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the progress bar went to the terminal, the per-epoch lines to stdout unbroken
    bar = terminal.getvalue()
    assert "2/2" in bar and "epoch/s" in bar and "loss=" in bar
    # the checkpoint it wrote is the model that scored `final`
    ck = tmp_path / "runs" / "digits" / "checkpoint.safetensors"
    assert main(["eval", str(ck)]) == 0
    assert f"held-out accuracy {final.group(2)}" in capsys.readouterr().out


def test_demo_without_training_and_without_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-train"]) == 0
    captured = capsys.readouterr()
    for text in _lecture_numbers():
        assert text in captured.out, text
    assert "final:" not in captured.out and not (tmp_path / "runs").exists()


def test_fit_draws_a_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    from chainrule.train import fit, make_mlp
    X, y = cr.data.moons(64, seed=0)
    for tty in (True, False):
        err = _Terminal() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        cr.manual_seed(0)
        fit(make_mlp(2, 2, [8]), (X, y), epochs=3, batch_size=16)
        lines = capsys.readouterr().out.splitlines()
        assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"]
        assert ("3/3 [" in err.getvalue()) is tty
    monkeypatch.setattr(sys, "stderr", _Terminal())
    fit(make_mlp(2, 2, [8]), (X, y), epochs=2, batch_size=16, progress=False)
    assert sys.stderr.getvalue() == ""


def test_example_scripts_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / "spirals.py"), run_name="__main__")
    out = capsys.readouterr().out
    acc = dict(re.findall(r"hidden=(\[\d*\]): training accuracy (\d\.\d+)", out))
    assert float(acc["[]"]) < 0.7 and float(acc["[100]"]) >= 0.99
    assert (tmp_path / "runs" / "spirals_boundary.png").read_bytes()[:4] == b"\x89PNG"
    runpy.run_path(str(EXAMPLES / "train_digits.py"), run_name="__main__")
    out = capsys.readouterr().out
    held = re.search(r"^held-out accuracy: (\d\.\d+)$", out, re.M).group(1)
    assert float(held) >= 0.97
    assert f"reloaded model, held-out accuracy: {held}" in out
