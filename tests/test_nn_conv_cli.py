"""`python -m chainrule train digits --model cnn`: the small CNN reaches >= 98.5% held out, and its
checkpoint evaluates to the same accuracy."""
import re

import numpy as np

import chainrule as cr
from chainrule.cli import main
from chainrule.train import make_cnn


def test_cli_digits_cnn_reaches_98_5_percent_and_eval_agrees(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert main(["train", "digits", "--model", "cnn", "--out", str(out), "--no-progress",
                 "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "CNN conv3×3 16" in text
    acc = float(re.search(r"final: train acc [\d.]+, held-out acc ([\d.]+)", text).group(1))
    assert acc >= 0.985, text
    assert main(["eval", str(out / "checkpoint.safetensors")]) == 0
    shown = capsys.readouterr().out
    assert "cnn" in shown and f"held-out accuracy {acc:.4f}" in shown


def test_cnn_model_shapes_and_cli_rejects_non_image_dataset(capsys):
    model = make_cnn(10)
    assert model(cr.randn(3, 64)).shape == (3, 10)
    assert [n for n, _ in model.named_parameters()][:2] == ["1.weight", "1.bias"]
    assert main(["train", "spirals", "--model", "cnn", "--no-plots"]) == 1
    assert "--model cnn needs an image dataset" in capsys.readouterr().err
    assert np.isfinite(model(cr.randn(1, 64)).data).all()


def test_cnn_graph_collapses_to_one_box_per_layer():
    model = make_cnn(10)
    with cr.viz.trace_modules(model):
        loss = cr.nn.functional.cross_entropy(model(cr.randn(4, 64)), cr.randint(0, 10, (4,)))
    src = cr.viz.draw(loss, dict(model.named_parameters()), collapse="modules").source
    boxes = re.findall(r'label="(\d+): (\w+)\\n', src)
    # the Image reshape of the input records nothing (the data needs no gradient)
    assert [name for _, name in boxes] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                                           "Linear"]
    assert "weight (16, 1, 3, 3)" in src and "(4, 1, 8, 8)" in src   # parameters and tensor summaries
