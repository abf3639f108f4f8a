"""Command line: `python -m chainrule graph "EXPR" --at x=-2,y=5 -o graph.svg` and `... explain`."""
from __future__ import annotations

import os
import shutil
import subprocess

from .dot import SHOWS, to_dot
from .explain import explain
from .expr import FUNCTIONS, evaluate, parse_at

FORMATS = ("svg", "png", "pdf")
EXPR_HELP = ("scalar expression over the --at names, e.g. 'sigmoid(w0*x0 + w1*x1 + w2)'; "
             f"allowed: numbers, + - * / **, {', '.join(sorted(FUNCTIONS))}")


# Graphviz's layout time grows steeply with the edges (a 60-term sum of one input: 20 s with
# default settings, 0.3 s with the network-simplex passes capped, which leaves small drawings
# unchanged); beyond MAX_DRAW_EDGES a drawing is refused, and `dot` is stopped after DOT_TIMEOUT.
MAX_DRAW_EDGES = 120
DOT_TIMEOUT = 30.0
DOT_LIMITS = ("-Gnslimit=2", "-Gnslimit1=2")


def check_drawable(source: str) -> None:
    """Refuse, in one line, a graph too large for graphviz to lay out in a few seconds."""
    edges = source.count(" -> ")
    if edges > MAX_DRAW_EDGES:
        raise ValueError(f"graph: the drawing would have {edges} edges; graphviz lays out at most "
                         f"{MAX_DRAW_EDGES} in reasonable time: write the DOT text with -o "
                         f"graph.dot, or print the backward pass with `explain`")


def render_dot(source: str, path: str) -> str:
    """Write DOT text to `path`: .dot/.gv as text, .svg/.png/.pdf through graphviz's `dot` program."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        return path
    if ext not in FORMATS:
        raise ValueError(f"graph: cannot write {path!r}: use a .svg, .png, .pdf or .dot file name")
    exe = shutil.which("dot")
    if exe is None:
        raise ValueError("graph: rendering needs graphviz's 'dot' program (Debian: apt-get install "
                         "graphviz); or write DOT text with -o graph.dot")
    check_drawable(source)
    try:   # to stdout, so a failed or stopped layout leaves no partial file behind
        res = subprocess.run([exe, f"-T{ext}", *DOT_LIMITS], input=source.encode(),
                             capture_output=True, check=False, timeout=DOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ValueError(f"graph: dot did not finish within {DOT_TIMEOUT:g} s; write the DOT "
                         f"text with -o graph.dot instead") from None
    if res.returncode != 0:
        msg = " ".join(res.stderr.decode(errors="replace").split())[:300]
        raise ValueError(f"graph: dot failed: {msg}")
    with open(path, "wb") as f:
        f.write(res.stdout)
    return path


def _graph(args) -> int:
    out, _ = evaluate(args.expr, parse_at(args.at))
    out.name = args.name
    if args.output.lower().endswith(".html"):   # the backward-pass stepper page
        from .html import html
        try:
            html(out, args.output)
        except RuntimeError as e:
            raise ValueError(str(e)) from None
        print(f"wrote {args.output}  ({args.name} = {out.item():.4g}; open it and press → to step)")
        return 0
    path = render_dot(to_dot(out, show=args.show, rankdir=args.rankdir), args.output)
    print(f"wrote {path}  ({args.name} = {out.item():.4g})")
    return 0


def _explain(args) -> int:
    out, _ = evaluate(args.expr, parse_at(args.at))
    out.name = args.name
    explain(out)
    return 0


def _expression_args(p) -> None:
    """EXPR, --at and --name: what both commands take."""
    p.add_argument("expr", metavar="EXPR", help=EXPR_HELP)
    p.add_argument("--at", default="", help="input values: NAME=NUMBER,... e.g. x=-2,y=5,z=-4")
    p.add_argument("--name", default="L", help="name of the output (default L)")


def add_commands(subparsers) -> None:
    """Add the `graph` and `explain` sub-commands to the chainrule command line."""
    g = subparsers.add_parser(
        "graph", help="draw the graph of an expression with values and gradients",
        description="Draw the computational graph of a scalar expression: each edge carries its "
                    "forward value (green) and its gradient dL/d(edge) (red).")
    _expression_args(g)
    g.add_argument("-o", "--output", default="graph.svg", help="file to write: .svg .png .pdf, "
                                                               ".dot, or .html (a page that steps "
                                                               "through backward; default graph.svg)")
    g.add_argument("--show", default="values+grads", choices=SHOWS,
                   help="what to write on the edges (default values+grads)")
    g.add_argument("--rankdir", default="LR", choices=("LR", "TB", "RL", "BT"),
                   help="layout direction: LR left to right (default), TB top to bottom, ...")
    g.set_defaults(func=_graph)
    e = subparsers.add_parser(
        "explain", help="print the backward pass of an expression line by line",
        description="Print the backward pass in execution order, one line per node: upstream "
                    "gradient × local gradient → downstream gradient, with the gate named.")
    _expression_args(e)
    e.set_defaults(func=_explain)
