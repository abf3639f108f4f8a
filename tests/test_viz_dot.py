"""cr.viz.to_dot / draw: the lecture's numbers on the edges, modules collapsed, cuts, NaN, freed graphs."""
import re
import shutil
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import node_grads, to_dot, trace_modules

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="graphviz's 'dot' program is not installed (apt-get install graphviz)")


def _leaf(v, name):
    return cr.Tensor(v, requires_grad=True, dtype=cr.float64, name=name)


def _neuron():
    w0, x0, w1, x1, w2 = (_leaf(v, n) for v, n in
                          [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")])
    return 1 / (1 + cr.exp(-(w0 * x0 + w1 * x1 + w2))), (w0, x0, w1, x1, w2)


def _edge_texts(src, name):
    """(value, grad) texts on the edge leaving the vertex labelled `name`."""
    vid = re.search(rf'(\w+) \[label="{re.escape(name)}"', src).group(1)
    label = re.search(rf"\n  {vid} -> \w+ \[label=<(.*?)>(?:,|\])", src).group(1)
    return tuple(re.findall(r'<font color="#\w+">(.*?)</font>', label))


LECTURE = {"w0": ("2.00", "-0.20"), "x0": ("-1.00", "0.39"), "w1": ("-3.00", "-0.39"),
           "x1": ("-2.00", "-0.59"), "w2": ("-3.00", "0.20"), "L": ("0.73", "1.00")}


def _check_lecture(src):
    for name, (value, grad) in LECTURE.items():
        if name == "L":
            label = re.search(r"-> out \[label=<(.*?)>\]", src).group(1)
            assert re.findall(r'<font color="#\w+">(.*?)</font>', label) == [value, grad]
        else:
            assert _edge_texts(src, name) == (value, grad), name


def test_sigmoid_neuron_shows_the_slide_numbers_without_backward():
    f, leaves = _neuron()
    src = to_dot(f)
    _check_lecture(src)
    assert "exp" in src and src.count("-> ") == 15   # 5 leaves, 2 constants, 7 op-op, output
    assert all(t.grad is None for t in leaves)        # drawing does not touch .grad


def test_sigmoid_neuron_after_backward_retain_graph_and_closed_form():
    f, leaves = _neuron()
    f.backward(retain_graph=True)
    _check_lecture(to_dot(f))
    s = 1 / (1 + np.exp(-1.0))
    grads = node_grads(f)
    for t, local in zip(leaves, (-1.0, 2.0, -2.0, -3.0, 1.0)):
        assert grads[t.name] == pytest.approx(s * (1 - s) * local, rel=1e-12)
        assert t.grad.item() == pytest.approx(grads[t.name], rel=1e-12)   # not accumulated twice


def test_after_plain_backward_draws_what_survives_with_a_note():
    f, leaves = _neuron()
    f.backward()
    with pytest.warns(UserWarning, match="freed"):
        src = to_dot(f)
    assert "intermediate values were freed" in src
    for name in ("w0", "x0", "w1", "x1", "w2"):       # leaf values and .grad survive
        assert _edge_texts(src, name) == LECTURE[name]
    assert re.search(r"n\d+ -> n\d+ \[id=", src)       # structure kept, values gone


def test_node_grads_match_autograd_with_fan_out_and_broadcasting():
    rng = np.random.default_rng(0)
    a, b = _leaf(rng.standard_normal((3, 4)), "a"), _leaf(rng.standard_normal(4), "b")
    h = cr.tanh(a * b)
    out = cr.sum(h * h + a) + cr.sum(b)
    ga, gb = cr.autograd.grad(out, [a, b], retain_graph=True)
    got = node_grads(out)
    np.testing.assert_allclose(got["a"], ga.data, rtol=1e-12)
    np.testing.assert_allclose(got["b"], gb.data, rtol=1e-12)
    assert got["b"].shape == (4,)


def test_tensor_edges_show_shape_dtype_and_summary():
    x = _leaf(np.arange(12.0).reshape(3, 4), "x")
    src = to_dot(cr.sum(x * 2.0))
    assert "(3, 4) f64 mean 5.50 [0.00, 11.00]" in src    # value of x
    assert "(3, 4) f64 mean 2.00 [2.00, 2.00]" in src     # d sum(2x) / dx = 2


def test_nan_and_inf_are_highlighted_in_red():
    x = _leaf([1.0, -1.0, 2.0], "x")
    with np.errstate(all="ignore"):
        src = to_dot(cr.sum(cr.log(x)))
    assert re.search(r'n0 \[label=<log<br/>.*fillcolor="#ff8a80"', src)
    assert 'leaf0 [label="x", shape=box, style="rounded,filled", fillcolor="#ff8a80"' not in src
    assert 'color="red"' in src
    # the output is NaN too: its vertex and the edge into it are red as well
    assert 'out [label="L", shape=doublecircle, style=filled, fillcolor="#ff8a80"]' in src
    assert re.search(r'n\d+ -> out \[label=<[^\n]*>nan</font>[^\n]*color="red"', src)
    ok = to_dot(cr.sum(cr.exp(x)))
    assert "#ff8a80" not in ok and 'color="red"' not in ok


def test_max_nodes_and_depth_cut_with_a_note():
    h = _leaf(np.ones(3), "h")
    for _ in range(30):
        h = cr.tanh(h * 1.01 + 0.1)
    L = cr.sum(h)
    full = to_dot(L)
    assert full.count("label=<tanh<br/>") == 30
    for n in (5, 20):
        cut = to_dot(L, max_nodes=n)
        # at most n vertices (ops, inputs, constants, the output) plus one note
        assert len(re.findall(r"\n  (?:n|leaf|c|m_)\d+ \[|\n  out \[", cut)) == n
        assert len(re.findall(r"shape=note", cut)) == 1
    cut = to_dot(L, max_nodes=5)
    assert len(re.findall(r"\n  n\d+ \[", cut)) == 3   # 3 ops + their constant + the output
    assert "88 ops and 1 inputs not shown (max_nodes=5)" in cut
    deep = to_dot(L, depth=2)
    assert len(re.findall(r"\n  n\d+ \[", deep)) == 3 and "depth > 2" in deep


def test_show_saved_lists_saved_arrays_and_bytes():
    x, w = _leaf(np.ones((3, 4)), "x"), _leaf(np.ones((4, 5)), "w")
    src = to_dot(cr.sum(cr.sigmoid(x @ w)), show_saved=True)
    def small(t):
        return f'<br/><font point-size="9" color="#616161">{t}</font>'
    # matmul keeps x and w; sigmoid keeps its output
    assert small("in0 (3, 4) 96 B") + small("in1 (4, 5) 160 B") + small("total 256 B") in src
    assert "sigmoid" + small("s1") + small("saved:") + small("out (3, 5) 120 B") in src


def test_show_values_only_and_non_scalar_output():
    x = _leaf([1.0, 2.0], "x")
    src = to_dot(x * 3.0, show="values")
    assert "[3.00, 6.00]" in src and "#c62828" not in src
    note = to_dot(x * 3.0)
    assert "gradients are drawn for scalar outputs only" in note
    with pytest.raises(ValueError, match="show must be one of"):
        to_dot(x * 3.0, show="everything")


def _digits_mlp():
    nn = pytest.importorskip("chainrule.nn")
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))
    x = cr.randn(16, 64)
    y = cr.randint(0, 10, (16,))
    with trace_modules(model):
        loss = nn.functional.cross_entropy(model(x), y)
    return model, loss


def test_mlp_collapse_modules_has_one_box_per_layer():
    model, loss = _digits_mlp()
    src = to_dot(loss, params=model, collapse="modules")
    boxes = re.findall(r'label="([^"]*)", shape=box3d', src)
    assert [b.split("\\n")[0] for b in boxes] == ["0: Linear", "1: ReLU", "2: Linear"]
    assert "weight (100, 64)" in boxes[0] and "bias (10,)" in boxes[2]
    flat = to_dot(loss, params=model)
    assert 'label="0.weight"' in flat and flat.count('label=<linear<br/>') == 2
    # the gradient drawn for each parameter is the one backward computes
    loss.backward(retain_graph=True)
    grads = node_grads(loss, params=model)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.data, rtol=1e-5, atol=1e-7)


@needs_dot
def test_mlp_renders_to_svg_with_dot(tmp_path):
    pytest.importorskip("graphviz")
    model, loss = _digits_mlp()
    d = cr.viz.draw(loss, params=model, collapse="modules")
    path = d.render(str(tmp_path / "mlp"), format="svg")
    svg = open(path).read()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # one box per layer in the rendered picture, each layer drawn exactly once
    assert [svg.count(f">{b}<") for b in ("0: Linear", "1: ReLU", "2: Linear")] == [1, 1, 1]
    assert svg.count('class="node"') == 8   # x, 3 layer boxes, cross_entropy, labels y, L, legend
    assert "<svg" in d._repr_svg_()
    assert "image/svg+xml" in d._repr_mimebundle_()


def test_trace_modules_is_no_longer_needed_and_patches_nothing():
    nn = pytest.importorskip("chainrule.nn")
    model = nn.Sequential(nn.Linear(3, 2))
    with trace_modules(model):
        assert "forward" not in vars(model[0])
        loss = cr.sum(model(cr.randn(2, 3)))
    assert "0: Linear" in to_dot(loss, params=model, collapse="modules")
    with pytest.raises(TypeError, match="expected a Module"):
        with trace_modules(3):
            pass


def test_repeated_module_calls_collapse_into_one_box():
    nn = pytest.importorskip("chainrule.nn")

    class Unrolled(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.Linear(3, 3)

        def forward(self, h):
            for _ in range(3):
                h = cr.tanh(self.cell(h))
            return h

    model = Unrolled()
    with trace_modules(model):
        loss = cr.sum(model(cr.randn(2, 3)))
    src = to_dot(loss, params=model, collapse="modules")
    boxes = re.findall(r'(\w+) \[label="([^"]*)", shape=box3d', src)
    assert len(boxes) == 1 and boxes[0][1].startswith("cell: Linear\\n3 ops")
    box = boxes[0][0]
    assert src.count(f"-> {box} ") + src.count(f"-> {box};") == 3    # input and two tanh outputs
    assert src.count('label=<tanh<br/>') == 3


def test_draw_without_graphviz_package_says_what_to_install(monkeypatch):
    import sys
    from chainrule.viz import dot
    monkeypatch.setattr(dot, "_Drawing", None)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    x = _leaf(1.0, "x")
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[viz\]'"):
        cr.viz.draw(x * 2.0)
    assert to_dot(x * 2.0).startswith("digraph")


@needs_dot
def test_draw_renders_nan_nodes_and_edges_red(tmp_path):
    pytest.importorskip("graphviz")
    x = _leaf([4.0, -1.0], "x")
    with np.errstate(all="ignore"):
        L = cr.sum(cr.sqrt(x) * 3.0)
    svg = open(cr.viz.draw(L).render(str(tmp_path / "nan"), format="svg")).read()
    # sqrt(-1) is NaN and so is d sqrt/dx there: x, sqrt, mul, sum and the output are filled
    # red and the NaN edges drawn red; the same graph without NaN has no red at all
    assert svg.count('fill="#ff8a80"') == 5 and 'stroke="red"' in svg
    ok = open(cr.viz.draw(cr.sum(cr.sqrt(x * x) * 3.0)).render(str(tmp_path / "ok"),
                                                                format="svg")).read()
    assert "#ff8a80" not in ok and 'stroke="red"' not in ok


def test_collapse_modules_needs_no_context_manager():
    nn = pytest.importorskip("chainrule.nn")
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    loss = nn.functional.cross_entropy(model(cr.randn(2, 4)), cr.tensor([0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        src = to_dot(loss, params=model, collapse="modules")
    boxes = re.findall(r'label="([^"]*)", shape=box3d', src)
    assert [b.split("\\n")[0] for b in boxes] == ["0: Linear", "1: ReLU", "2: Linear"]
    # without params= the boxes are named by class; the Sequential itself is no box
    src = to_dot(loss, collapse="modules")
    boxes = re.findall(r'label="([^"]*)", shape=box3d', src)
    assert [b.split("\\n")[0] for b in boxes] == ["Linear: Linear", "ReLU: ReLU",
                                                   "Linear#2: Linear"]
    # a graph no module made is drawn flat, with a note saying why
    x = _leaf([1.0, 2.0], "x")
    with pytest.warns(UserWarning, match="not made by cr.nn modules"):
        flat = to_dot(cr.sum(cr.tanh(x)), collapse="modules")
    assert "shape=box3d" not in flat and "untraced [label=" in flat


def test_custom_module_ops_stay_outside_child_boxes_and_nesting_is_innermost():
    nn = pytest.importorskip("chainrule.nn")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc2(cr.tanh(self.fc1(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.head = Block(), nn.Linear(2, 1)

        def forward(self, x):
            return self.head(cr.relu(self.block(x)))

    model = Net()
    loss = cr.sum(model(cr.randn(5, 3)))
    src = to_dot(loss, params=model, collapse="modules")
    boxes = [b.split("\\n")[0] for b in re.findall(r'label="([^"]*)", shape=box3d', src)]
    # tanh is Block's own op: Block gets a box with 1 op; relu belongs to Net (no box): an op
    assert boxes == ["block.fc1: Linear", "block: Block", "block.fc2: Linear", "head: Linear"]
    assert re.search(r'label="block: Block\\n1 op"', src)
    assert "label=<relu<br/>" in src and "label=<sum<br/>" in src


@needs_dot
@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_draw_renders_png_and_pdf(tmp_path, fmt, magic):
    pytest.importorskip("graphviz")
    f, _ = _neuron()
    path = cr.viz.draw(f).render(str(tmp_path / "neuron"), format=fmt)
    assert path.endswith(f".{fmt}") and open(path, "rb").read(4) == magic
