"""The graph as DOT text (no dependencies) and as a graphviz object that renders and shows in Jupyter."""
from __future__ import annotations

import warnings
from collections import deque

import numpy as np

from .. import autograd
from ..autograd import Node
from ..tensor import Tensor
from . import fmt
from .modules import owner
from .trace import Graph, leaf_names

VALUE_COLOR = "#1b5e20"   # forward values: green, as on the lecture's slides
GRAD_COLOR = "#c62828"    # gradients: red, below the value
BAD_FILL = "#ff8a80"      # NaN / inf
SHOWS = ("values+grads", "values", "grads", "none")
UNTRACED_NOTE = ("collapse='modules' found no module calls: run the forward pass inside "
                 "`with cr.viz.trace_modules(model):`")
FREED_NOTE = ("intermediate values were freed by backward(); draw before backward() "
              "or call backward(retain_graph=True) to see them")


def _esc(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "<br/>"))


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_label(value, grad, show):
    parts = []
    if value is not None and show in ("values+grads", "values"):
        parts.append(f'<font color="{VALUE_COLOR}">{_esc(fmt.summary(value))}</font>')
    if grad is not None and show in ("values+grads", "grads"):
        parts.append(f'<font color="{GRAD_COLOR}">{_esc(fmt.summary(grad))}</font>')
    return "<" + "<br/>".join(parts) + ">" if parts else None


def _saved_lines(node):
    if node.inputs is None:
        return ["saved: freed"]
    lines, total = [], 0
    prim = node.prim
    if isinstance(prim, autograd._FunctionPrim):   # a cr.Function keeps what it saved on ctx
        for k, t in enumerate(prim.ctx.saved_tensors):
            a = t.data if isinstance(t, Tensor) else np.asarray(t)
            lines.append(f"ctx{k} {fmt.shape_str(a.shape)} {a.nbytes} B")
            total += a.nbytes
    elif getattr(prim, "saves_inputs", True):
        for i, a in enumerate(node.arrays):
            if isinstance(a, np.ndarray):
                lines.append(f"in{i} {fmt.shape_str(a.shape)} {a.nbytes} B")
                total += a.nbytes
    if getattr(prim, "saves_ans", False) and isinstance(node.ans, np.ndarray):
        lines.append(f"out {fmt.shape_str(node.ans.shape)} {node.ans.nbytes} B")
        total += node.ans.nbytes
    return (["saved:"] + lines + [f"total {total} B"]) if lines else ["saved: nothing"]


def _keep(g: Graph, max_nodes, depth):
    """Sources (nodes and leaves) within `depth` edges of the output, at most `max_nodes`, BFS order."""
    if g.root is None:
        return None
    if max_nodes is None and depth is None:
        return None
    keep, dist = [], {id(g.root): 0}
    queue = deque([g.root])
    while queue:
        src = queue.popleft()
        if max_nodes is not None and len(keep) >= max_nodes:
            break
        keep.append(src)
        if isinstance(src, Node):
            d = dist[id(src)] + 1
            if depth is not None and d > depth:
                continue
            for e in src.edges:
                if e is not None and id(e) not in dist:
                    dist[id(e)] = d
                    queue.append(e)
    return {id(s) for s in keep}


def to_dot(output: Tensor, params=None, show: str = "values+grads", rankdir: str = "LR",
           collapse: str | None = None, max_nodes: int | None = None, depth: int | None = None,
           show_saved: bool = False) -> str:
    """DOT source of the graph behind `output`: named inputs, op nodes, values and gradients on edges.

    Gradients are computed here (the leaves' `.grad` is not touched), so no backward() is needed.

    >>> w = cr.tensor(2.0, requires_grad=True, name="w"); x = cr.tensor(-1.0, name="x")
    >>> print(cr.viz.to_dot(w * x))   # digraph ... w -> mul [label=<2.00<br/>-1.00>] ...
    """
    if show not in SHOWS:
        raise ValueError(f"to_dot: show must be one of {SHOWS}, got {show!r}")
    if collapse not in (None, "modules"):
        raise ValueError(f"to_dot: collapse must be None or 'modules', got {collapse!r}")
    g = Graph(output, params=params, grads=show in ("values+grads", "grads"))
    if g.freed:
        warnings.warn(f"viz: {FREED_NOTE}", stacklevel=2)
    keep = _keep(g, max_nodes, depth)
    kept = (lambda s: True) if keep is None else (lambda s: id(s) in keep)

    lines = ["digraph chainrule {",
             f"  rankdir={rankdir}; nodesep=0.3; ranksep=0.5; ordering=in;",
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    vid: dict[int, str] = {}
    groups: dict[str, dict] = {}

    def bad(src):
        return fmt.nonfinite(g.value(src)) or fmt.nonfinite(g.grad(src))

    # ---- vertices: module boxes, leaves, op nodes
    for k, n in enumerate(g.nodes):
        if not kept(n):
            continue
        info = owner(n) if collapse == "modules" else None
        if info is not None:
            grp = groups.get(info.path)
            if grp is None:
                grp = groups[info.path] = {"info": info, "nodes": [], "bad": False,
                                           "params": [], "vid": f"m_{len(groups)}"}
            grp["nodes"].append(n)
            grp["bad"] |= bad(n)
            vid[id(n)] = grp["vid"]
            continue
        vid[id(n)] = f"n{k}"
    for k, t in enumerate(g.leaves):
        if not kept(t):
            continue
        folded = None
        for path, grp in groups.items():
            if id(t) in grp["info"].params:
                folded = grp
                break
        if folded is not None:
            folded["params"].append(t)
            folded["bad"] |= bad(t)
            vid[id(t)] = folded["vid"]
            continue
        vid[id(t)] = f"leaf{k}"
        color = BAD_FILL if bad(t) else ("#e3f2fd" if t.requires_grad else "#eeeeee")
        lines.append(f'  leaf{k} [label={_q(g.name(t))}, shape=box, style="rounded,filled", '
                     f'fillcolor="{color}"];')
    for path, grp in groups.items():
        info = grp["info"]
        n_ops = len(grp["nodes"])
        rows = [f"{info.path}: {info.kind}", f"{n_ops} op" + ("s" if n_ops != 1 else "")]
        for t in grp["params"]:
            pname = info.params.get(id(t), g.name(t))
            row = f"{pname} {fmt.shape_str(t.shape)}"
            gr = g.grad(t)
            if gr is not None and show in ("values+grads", "grads"):
                row += f"  |grad| {fmt.num(np.linalg.norm(np.asarray(gr, dtype=np.float64)))}"
            rows.append(row)
        color = BAD_FILL if grp["bad"] else "#fff3e0"
        lines.append(f'  {grp["vid"]} [label={_q(chr(10).join(rows))}, shape=box3d, '
                     f'style=filled, fillcolor="{color}"];')
    for k, n in enumerate(g.nodes):
        if not kept(n) or vid[id(n)] != f"n{k}":
            continue
        label = n.prim.name
        if show_saved:
            label += "\n" + "\n".join(_saved_lines(n))
        color = BAD_FILL if bad(n) else "#f5f5f5"
        shape = "box" if show_saved else "ellipse"
        lines.append(f'  n{k} [label={_q(label)}, shape={shape}, style=filled, '
                     f'fillcolor="{color}", tooltip={_q(g.name(n))}];')

    # ---- edges: value (and gradient) of what flows from source to consumer
    given = leaf_names(params)
    done = set()
    cut_into = set()
    n_const = 0
    for n in g.nodes:
        if not kept(n):
            continue
        dst = vid[id(n)]
        for i, e in enumerate(n.edges):
            if e is None:
                if n.inputs is None or not isinstance(n.inputs[i], (Tensor, np.ndarray, int, float)):
                    continue
                c = n.arrays[i]
                if dst.startswith("m_") and np.ndim(c) == 0:
                    continue   # literal numbers inside a collapsed module would only clutter it
                cname = given.get(id(n.inputs[i])) or getattr(n.inputs[i], "name", None)
                ctext = fmt.summary(c) if cname is None else f"{cname}\n{fmt.summary(c)}"
                lines.append(f'  c{n_const} [label={_q(ctext)}, shape=plaintext, '
                             f'fontcolor="#616161"];')
                lines.append(f"  c{n_const} -> {dst};")
                n_const += 1
                continue
            if not kept(e):
                cut_into.add(dst)
                continue
            src = vid[id(e)]
            if src == dst or (src, dst) in done:
                continue
            done.add((src, dst))
            arrs = g.arrays(n)   # None once backward freed the graph
            value = arrs[i] if arrs is not None else (e.data if isinstance(e, Tensor) else None)
            grad = g.grad(e)
            label = _edge_label(value, grad, show)
            attrs = [f"label={label}"] if label else []
            if fmt.nonfinite(value) or fmt.nonfinite(grad):
                attrs.append('color="red", penwidth=2')
            lines.append(f"  {src} -> {dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    # the output itself
    out_label = g.name(g.root) if g.root is not None else (output.name or "output")
    out_bad = fmt.nonfinite(output.data) or fmt.nonfinite(g.grad(g.root) if g.root else None)
    lines.append(f'  out [label={_q(out_label)}, shape=doublecircle, style=filled, '
                 f'fillcolor="{BAD_FILL if out_bad else "#e8f5e9"}"];')
    src_out = g.root if g.root is not None else (output if id(output) in vid else None)
    if src_out is not None:   # the output itself may be a leaf: then d out / d out = 1 on its edge
        out_grad = g.grad(src_out)
        label = _edge_label(output.data, out_grad, show)
        attrs = [f"label={label}"] if label else []
        if fmt.nonfinite(output.data) or fmt.nonfinite(out_grad):
            attrs.append('color="red", penwidth=2')
        lines.append(f"  {vid[id(src_out)]} -> out" + (f" [{', '.join(attrs)}]" if attrs else "")
                     + ";")
    # notes: what was cut, what was freed
    if keep is not None:
        hidden_ops = sum(1 for n in g.nodes if id(n) not in keep)
        hidden_leaves = sum(1 for t in g.leaves if id(t) not in keep)
        if hidden_ops or hidden_leaves:
            why = []
            if depth is not None:
                why.append(f"depth > {depth}")
            if max_nodes is not None:
                why.append(f"max_nodes={max_nodes}")
            text = (f"... {hidden_ops} ops and {hidden_leaves} inputs not shown "
                    f"({', '.join(why)})")
            lines.append(f'  cut [label={_q(text)}, shape=note, style=dashed];')
            for dst in sorted(cut_into):
                lines.append(f"  cut -> {dst} [style=dashed];")
    if collapse == "modules" and not groups and g.nodes:
        # without trace_modules nothing knows which module made which node: say so, not silently
        warnings.warn(f"viz: {UNTRACED_NOTE}", stacklevel=2)
        lines.append(f'  untraced [label={_q(UNTRACED_NOTE)}, shape=note, fontcolor="#b71c1c"];')
    if g.freed:
        lines.append(f'  freed [label={_q(FREED_NOTE)}, shape=note, fontcolor="#b71c1c"];')
    elif g.root is not None and not g.has_grads and show in ("values+grads", "grads"):
        lines.append('  nograd [label="gradients are drawn for scalar outputs only", '
                     'shape=note];')
    lines.append("}")
    return "\n".join(lines) + "\n"


_Drawing = None


def _drawing_class():
    """graphviz.Source plus `_repr_svg_` for notebooks (graphviz is imported only here)."""
    global _Drawing
    if _Drawing is None:
        try:
            import graphviz
        except ImportError:
            raise ImportError("draw needs the graphviz Python package: pip install "
                              "'chainrule[viz]' (and the system 'dot' program, e.g. apt-get "
                              "install graphviz); to_dot() works without it") from None

        class Drawing(graphviz.Source):
            """The drawn graph: .source is DOT text; .render(fmt=...) writes SVG/PNG/PDF."""

            def _repr_svg_(self):
                return self.pipe(format="svg", encoding="utf-8")

        _Drawing = Drawing
    return _Drawing


def draw(output: Tensor, params=None, show: str = "values+grads", rankdir: str = "LR",
         collapse: str | None = None, max_nodes: int | None = None, depth: int | None = None,
         show_saved: bool = False):
    """The graph behind `output` as a graphviz object: shows inline in Jupyter, `.render()` to files.

    >>> d = cr.viz.draw(loss, params=model)
    >>> d.render("graph", format="svg")   # writes graph.svg
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = to_dot(output, params, show, rankdir, collapse, max_nodes, depth, show_saved)
    if "freed [label" in src:
        warnings.warn(f"draw: {FREED_NOTE}", stacklevel=2)
    if "untraced [label" in src:
        warnings.warn(f"draw: {UNTRACED_NOTE}", stacklevel=2)
    return _drawing_class()(src)
