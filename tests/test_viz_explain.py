"""cr.viz.explain: the backward pass line by line, upstream × local → downstream, gates named."""
import io
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import explain


def _leaf(v, name):
    return cr.Tensor(v, requires_grad=True, dtype=cr.float64, name=name)


def _lines(text):
    return [re.sub(r"\s+", " ", ln.strip()) for ln in text.splitlines()]


def test_lecture_qz_prints_three_gradients_in_order(capsys):
    x, y, z = _leaf(-2.0, "x"), _leaf(5.0, "y"), _leaf(-4.0, "z")
    text = explain((x + y) * z)
    assert capsys.readouterr().out == text
    lines = _lines(text)
    # execution order: the mul runs first (dL/dz = q = 3), then the add (dL/dx = dL/dy = z = -4)
    assert lines[2] == "mul [1.00] × [z=-4.00] → dL/ds0 = -4.00 (mul gate: swaps)"
    assert lines[3] == "mul [1.00] × [s0=3.00] → dL/dz = 3.00 (mul gate: swaps)"
    assert lines[4] == "add [-4.00] × [1.00] → dL/dx = -4.00 (add gate: distributes)"
    assert lines[5] == "add [-4.00] × [1.00] → dL/dy = -4.00 (add gate: distributes)"
    final = re.findall(r"dL/d(\w+) = (-?\d+\.\d+)", lines[-1])
    assert [(n, float(v)) for n, v in final] == [("x", -4.0), ("y", -4.0), ("z", 3.0)]


def test_sigmoid_neuron_lines_match_the_slide():
    w0, x0, w1, x1, w2 = (_leaf(v, n) for v, n in
                          [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")])
    lines = _lines(explain(cr.sigmoid(w0 * x0 + w1 * x1 + w2), file=io.StringIO()))
    assert "sigmoid [1.00] × [(1 - L) * L = 0.20] → dL/ds3 = 0.20" in lines
    assert "mul [0.20] × [x0=-1.00] → dL/dw0 = -0.20 (mul gate: swaps)" in lines
    assert "mul [0.20] × [w0=2.00] → dL/dx0 = 0.39 (mul gate: swaps)" in lines
    assert "add [0.20] × [1.00] → dL/dw2 = 0.20 (add gate: distributes)" in lines


def test_fan_out_line_adds_the_branches():
    x, y, z = _leaf(-2.0, "x"), _leaf(5.0, "y"), _leaf(-4.0, "z")
    lines = _lines(explain((x + y) * z + x * x, file=io.StringIO()))
    # x feeds the add (-4) and both inputs of x*x (x = -2 each): -4 - 2 - 2 = -8 = 2x + z
    assert "copy dL/dx = -4.00 + -2.00 + -2.00 = -8.00 (copy gate / fan-out: gradients add)" in lines
    assert lines[-1].startswith("gradients: dL/dx = -8.00, dL/dy = -4.00, dL/dz = 3.00")


def test_max_gate_routes_and_tensor_rules_are_named():
    a, b = _leaf(3.0, "a"), _leaf(1.0, "b")
    lines = _lines(explain(cr.maximum(a, b) * 2.0, file=io.StringIO()))
    assert "maximum [2.00] × [1.00] → dL/da = 2.00 (max gate: routes)" in lines
    assert "maximum [2.00] × [0.00] → dL/db = 0.00 (max gate: routes)" in lines
    X, W = _leaf(np.ones((4, 3)), "X"), _leaf(np.full((3, 2), 0.5), "W")
    lines = _lines(explain(cr.sum(X @ W), file=io.StringIO()))
    assert any(ln.startswith("matmul [g (4, 2)] × [g @ W.T] → dL/dX (4, 3) f64 mean 1.00")
               for ln in lines)
    assert any(ln.startswith("matmul [g (4, 2)] × [X.T @ g] → dL/dW (3, 2) f64 mean 4.00")
               for ln in lines)


def test_freed_graph_and_non_scalar_outputs_are_clear_errors():
    x = _leaf(2.0, "x")
    y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="freed by backward"):
        explain(y)
    v = _leaf([1.0, 2.0], "v")
    with pytest.raises(ValueError, match=r"output has shape \(2,\)"):
        explain(v * 2.0)


def test_mlp_lines_use_parameter_names_and_backward_gradients():
    nn = pytest.importorskip("chainrule.nn")
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).to(cr.float64)
    x, y = cr.randn(4, 6, dtype=cr.float64), cr.tensor([0, 2, 1, 2])
    loss = nn.functional.cross_entropy(model(x), y)
    lines = _lines(explain(loss, params=model, file=io.StringIO()))
    assert any(ln.startswith("linear [g (4, 3)] × [g.T @ s1] → dL/d2.weight (3, 5) f64")
               for ln in lines)
    assert any(ln.startswith("cross_entropy [g 1.00] × [dL/dx = (softmax(x) − onehot(y))·g/N] →")
               for ln in lines)
    loss.backward()
    # the summary line shows, for every parameter, the .grad that backward leaves
    final = lines[-1]
    for name, p in model.named_parameters():
        assert f"dL/d{name} = {cr.viz.fmt.summary(p.grad.data)}" in final, name
