"""Every edge tells the truth: the gradient drawn on an edge is what its consumer sends back along
it, a value used k times shows its k contributions and their sum, and explain says the same."""
import html
import io
import re
from collections import Counter

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.viz import explain, node_grads, to_dot
from chainrule.viz.trace import Graph

FONT = r'<font color="#\w+">(.*?)</font>'


def _leaf(v, name):
    return cr.Tensor(v, requires_grad=True, dtype=cr.float64, name=name)


def parse(src):
    """(vertex id -> name, [(src name, dst vertex, input index, value text, grad text, attrs)],
    vertex id -> fan-out text)."""
    names, fans = {}, {}
    for vid, label in re.findall(r'\n  (leaf\d+) \[label=(<.*?>|"[^"]*"), shape=box', src):
        names[vid] = re.match(r'<?"?([^<"]*)', label).group(1)
        fan = re.search(r'<font color="#c62828">(d\w+/d[^<]*)</font>', label)
        if fan:
            fans[vid] = html.unescape(fan.group(1))
    for vid, label, tip in re.findall(r'\n  (n\d+) \[label=<(.*?)>, shape=\w+, .*tooltip="(\w+)"',
                                      src):
        names[vid] = tip
        fan = re.search(r'<font color="#c62828">(d\w+/d[^<]*)</font>', label)
        if fan:
            fans[vid] = html.unescape(fan.group(1))
    edges = []
    for s, d, label, attrs, i in re.findall(
            r'\n  (\w+) -> (\w+) \[label=<(.*?</font>)>(.*?)id="e_\w+?_(\d+)"\];', src):
        texts = re.findall(FONT, label)
        edges.append((names[s], d, int(i), texts[0], texts[1] if len(texts) > 1 else None, attrs))
    return names, edges, fans


def test_issue_fan_out_example_dot_source(tmp_path):
    out = tmp_path / "fan.dot"
    assert main(["graph", "x*x + max(x, y) + x**3 / y", "--at", "x=2,y=3", "-o", str(out)]) == 0
    src = out.read_text()
    names, edges, fans = parse(src)
    by_op = {vid: re.search(rf'\n  {vid} \[label=<(\w+)<br/>', src).group(1)
             for vid in names if vid.startswith("n")}

    def grads(frm, op):
        return sorted(g for s, d, _, _, g, _ in edges if s == frm and by_op.get(d) == op)

    assert grads("x", "mul") == ["2.00", "2.00"]           # x*x: two edges, 2.00 each
    assert grads("x", "maximum") == ["0.00"] and grads("x", "pow") == ["4.00"]
    assert grads("y", "maximum") == ["1.00"] and grads("y", "div") == ["-0.89"]
    x_vid = [v for v, n in names.items() if n == "x"][0]
    assert fans[x_vid] == "dL/dx = 2.00 + 2.00 + 0.00 + 4.00 = 8.00"
    assert "copy gate: adds" in src
    # the edge max routes nothing to is drawn routed off (dashed), the others are solid
    routed = [a for s, d, _, _, g, a in edges if s == "x" and by_op[d] == "maximum"]
    assert "style=dashed" in routed[0]
    assert sum("style=dashed" in a for *_, a in edges) == 1
    # and the same numbers in explain, fan-out sum included
    lines = [re.sub(r"\s+", " ", ln) for ln in explain(Graph_out(src="x*x + max(x, y) + x**3 / y"),
                                                        file=io.StringIO()).splitlines()]
    assert "copy dL/dx = 2.00 + 2.00 + 0.00 + 4.00 = 8.00 (copy gate / fan-out: gradients add)" \
        in lines
    assert "copy dL/dy = 1.00 + -0.89 = 0.11 (copy gate / fan-out: gradients add)" in lines


def Graph_out(src):
    from chainrule.viz.expr import evaluate, parse_at
    out, _ = evaluate(src, parse_at("x=2,y=3"))
    out.name = "L"
    return out


def _random_composition(rng):
    """A random scalar expression over 3 inputs where intermediates are reused (fan-out)."""
    leaves = [_leaf(float(v), n) for v, n in zip(rng.uniform(-1.5, 1.5, 3), "abc")]
    pool = list(leaves)
    binary = [lambda p, q: p + q, lambda p, q: p - q, lambda p, q: p * q,
              lambda p, q: p / (1.5 + q * q), cr.maximum, cr.minimum]
    unary = [cr.tanh, cr.sigmoid, cr.relu, lambda p: p * p, lambda p: cr.exp(p * 0.3),
             lambda p: p ** 3]
    for _ in range(int(rng.integers(4, 9))):
        if rng.random() < 0.6:
            i, j = rng.integers(0, len(pool), 2)   # i == j: one input used twice
            pool.append(binary[int(rng.integers(len(binary)))](pool[i], pool[j]))
        else:
            pool.append(unary[int(rng.integers(len(unary)))](pool[int(rng.integers(len(pool)))]))
    out = pool[-1]
    for t in pool[3:-1:2]:      # fold in some intermediates so several values fan out
        out = out + t
    return out, leaves


@pytest.mark.parametrize("seed", range(12))
def test_explain_and_drawing_agree_on_every_edge(seed):
    rng = np.random.default_rng(seed)
    out, leaves = _random_composition(rng)
    if out.grad_fn is None:
        pytest.skip("composition collapsed to a leaf")
    src = to_dot(out)
    names, edges, fans = parse(src)
    text = explain(out, file=io.StringIO())
    # per source: the multiset of gradients on its drawn edges == the lines explain prints
    drawn = Counter((s, g) for s, _, _, _, g, _ in edges if g is not None)
    told = Counter(re.findall(r"→ dL/d(\w+) = (-?[\d.e+-]+|nan|inf)", text))
    assert drawn == told
    # the copy-gate sums are the same text in both
    told_fans = re.findall(r"^copy\s+(dL/d.*?)  \(copy gate", text, flags=re.M)
    assert sorted(fans.values()) == sorted(told_fans)
    # and the truth: edge gradient = upstream × d consumer / d that input (numerically, float64),
    # and the contributions add up to what backward leaves in .grad
    g = Graph(out)
    for n in g.nodes:
        arrays = g.arrays(n)
        for i, e in enumerate(n.edges):
            if e is None:
                continue
            h = 1e-6
            lo, hi = list(arrays), list(arrays)
            lo[i], hi[i] = arrays[i] - h, arrays[i] + h
            f = lambda a: np.asarray(n.prim.forward(*a, **n.params), dtype=np.float64)
            local = (f(hi) - f(lo)) / (2 * h)
            assert g.edge_grad[(id(n), i)] == pytest.approx(g.grad(n) * local, rel=1e-5,
                                                            abs=1e-7), n.prim.name
    grads = node_grads(out)
    out.backward()
    for t in leaves:
        parts = [p for _, _, p in g.contributions(t)]
        if t.grad is not None:
            assert sum(parts) == pytest.approx(t.grad.item(), rel=1e-12)
            assert grads[t.name] == pytest.approx(t.grad.item(), rel=1e-12)


def test_tensor_fan_out_and_routed_relu_edges():
    x = _leaf(np.array([[1.0, -2.0], [3.0, -4.0]]), "x")
    out = cr.sum(cr.relu(x) * x) + cr.sum(cr.relu(-cr.abs(x)))
    src = to_dot(out)
    names, edges, fans = parse(src)
    x_edges = [(d, v, gr) for s, d, _, v, gr, _ in edges if s == "x"]
    assert len(x_edges) == 3 and all(v == "(2, 2) f64 [1.00, -2.00, 3.00, -4.00]"
                                     for _, v, _ in x_edges)
    # relu(x) * x: the mul sends relu(x) back, relu sends x · [x > 0]: the same numbers
    assert [gr for *_, gr in x_edges].count("(2, 2) f64 [1.00, 0.00, 3.00, 0.00]") == 2
    # relu(-|x|) is 0 everywhere: nothing flows back, that edge is dashed
    assert any("style=dashed" in a for *_, a in edges)
    x_vid = [v for v, n in names.items() if n == "x"][0]
    assert fans[x_vid].startswith("dL/dx = (2, 2) + (2, 2) + (2, 2) = (2, 2) f64")


def test_show_rules_writes_each_ops_local_rule():
    w, x = _leaf(2.0, "w"), _leaf(-1.0, "x")
    src = to_dot(cr.sigmoid(w * x), show="values+grads+rules")
    assert re.search(r'label=<sigmoid<br/>.*grad_s0 = g \* \(1 - L\) \* L</font>', src)
    assert "grad_w = g * x" in src and "grad_x = g * w" in src
    assert "the local rule" in src                        # and the legend says what it is
    assert "grad_w = " not in to_dot(cr.sigmoid(w * x))


def test_legend_and_names_agree_with_explain_and_flat_code():
    w0, x0, w1, x1, w2 = (_leaf(v, n) for v, n in
                          [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")])
    f = cr.sigmoid(w0 * x0 + w1 * x1 + w2)
    src = to_dot(f)
    assert "legend [" in src and "forward value" in src and "double circle" in src
    names = set(re.findall(r'tooltip="(\w+)"', src))
    flat = cr.viz.flat_code(lambda w0, x0, w1, x1, w2: cr.sigmoid(w0 * x0 + w1 * x1 + w2),
                            2., -1., -3., -2., -3.)
    told = set(re.findall(r"dL/d(s\d+)", explain(f, file=io.StringIO())))
    assert names == {"s0", "s1", "s2", "s3", "L"} and told == names - {"L"}
    assert all(re.search(rf"^\s+{n} = ", flat, flags=re.M) for n in names)
    assert "legend" not in to_dot(f, legend=False)


def test_mlp_max_nodes_leaves_at_most_n_vertices_plus_one_note():
    nn = cr.nn
    cr.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(8, 8), nn.Tanh())],
                          nn.Linear(8, 3))
    loss = nn.functional.cross_entropy(model(cr.randn(4, 8)), cr.tensor([0, 1, 2, 0]))
    full = to_dot(loss, params=model)
    assert len(re.findall(r"\n  (?:n|leaf|c|m_)\d+ \[", full)) == 30   # 14 ops, 15 inputs, y
    def drawn(src):
        return len(re.findall(r"\n  (?:n|leaf|c|m_)\d+ \[|\n  out \[", src))

    assert drawn(to_dot(loss, params=model, collapse="modules")) == 17   # 13 boxes, x, CE, y, out
    for collapse, sizes in ((None, (8, 20)), ("modules", (8, 12))):
        for n in sizes:
            src = to_dot(loss, params=model, max_nodes=n, collapse=collapse)
            assert n - 2 <= drawn(src) <= n and src.count("shape=note") == 1, (collapse, n)


def test_module_tags_keep_no_module_alive_and_cost_no_node_state():
    import gc
    import weakref
    nn = cr.nn
    lin = nn.Linear(3, 2)
    out = lin(cr.randn(4, 3))
    start, ref, prev = out.grad_fn.calls
    assert ref() is lin and prev is None and start < out.grad_fn.seq
    inner = out.grad_fn.seq
    seq = nn.Sequential(lin)
    out2 = seq(cr.randn(4, 3))
    chain = out2.grad_fn.calls                      # the last call to finish (outermost) first
    assert chain[1]() is seq and chain[2][1]() is lin and out2.grad_fn.seq > inner
    w = weakref.ref(lin)
    del lin, seq, ref, chain
    gc.collect()
    assert w() is None                              # the graph does not keep modules alive
    assert list(_calls_of(out2.grad_fn)) == []
    with cr.no_grad():
        assert nn.Linear(3, 2)(cr.randn(1, 3)).grad_fn is None


def _calls_of(node):
    from chainrule.viz.modules import _calls
    return _calls(node)
