"""python -m chainrule graph / explain: safe expressions, SVG output, clear errors."""
import shutil
import subprocess
import sys

import pytest

from chainrule.cli import main
from chainrule.viz.expr import evaluate, parse_at

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="graphviz's 'dot' program is not installed (apt-get install graphviz)")


@needs_dot
def test_graph_writes_svg_of_the_sigmoid_neuron(tmp_path, capsys):
    out = tmp_path / "neuron.svg"
    rc = main(["graph", "sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
               "-o", str(out)])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    svg = out.read_text().replace("&#45;", "-")   # dot writes minus signs as an entity
    assert "<svg" in svg
    for text in ("w0", "-0.20", "0.39", "-0.39", "-0.59", "0.73", "1.00"):
        assert f">{text}<" in svg, text


def test_graph_writes_dot_text_without_graphviz(tmp_path):
    out = tmp_path / "g.dot"
    assert main(["graph", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "-o", str(out)]) == 0
    src = out.read_text()
    assert src.startswith("digraph") and "-12.00" in src and "-4.00" in src


def test_explain_prints_the_trace(capsys):
    assert main(["explain", "(x+y)*z", "--at", "x=-2,y=5,z=-4"]) == 0
    out = capsys.readouterr().out
    assert "gradients: dL/dx = -4.00, dL/dy = -4.00, dL/dz = 3.00" in out


@pytest.mark.parametrize("expr,message", [
    ("__import__('os').system('true')", "is not allowed; use one of"),
    ("x.data", "Attribute"),
    ("x +", "not a valid expression"),
    ("x * q", "unknown name 'q'"),
    ("'a' * x", "only numbers"),
    ("[x][0]", "not allowed"),
])
def test_bad_expr_is_a_clear_error(expr, message, capsys):
    assert main(["explain", expr, "--at", "x=1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: EXPR") and message in err


def test_bad_at_and_bad_output_names():
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        parse_at("x:1")
    with pytest.raises(ValueError, match="is not a number"):
        parse_at("x=abc")
    out, leaves = evaluate("max(x, y) ** 2 / 2", parse_at("x=3,y=-1"))
    assert out.item() == 4.5 and set(leaves) == {"x", "y"}
    assert main(["graph", "x*2", "--at", "x=1", "-o", "graph.txt"]) == 1


def test_module_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "chainrule", "explain", "x*y", "--at", "x=3,y=4"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "dL/dx = 4.00" in res.stdout


def _svg_texts(svg: str) -> list:
    import re
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg.replace("&#45;", "-"))


def test_readme_drawing_shows_the_lecture_numbers():
    from pathlib import Path
    svg = (Path(__file__).resolve().parent.parent / "docs" / "sigmoid_neuron.svg").read_text()
    texts = _svg_texts(svg)
    # (value, gradient) under each input, as on the slide, and 0.73 / 1.00 into the output
    for name, value, grad in [("w0", "2.00", "-0.20"), ("x0", "-1.00", "0.39"),
                              ("w1", "-3.00", "-0.39"), ("x1", "-2.00", "-0.59"),
                              ("w2", "-3.00", "0.20")]:
        assert name in texts and value in texts and grad in texts, name
    assert texts[-3:] == ["L", "0.73", "1.00"]


@needs_dot
def test_readme_drawing_is_what_the_readme_command_makes(tmp_path):
    from pathlib import Path
    committed = (Path(__file__).resolve().parent.parent / "docs" / "sigmoid_neuron.svg")
    out = tmp_path / "sigmoid_neuron.svg"
    assert main(["graph", "sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
                 "-o", str(out)]) == 0
    assert _svg_texts(out.read_text()) == _svg_texts(committed.read_text())
