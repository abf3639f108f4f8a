"""The graph as DOT text (no dependencies) and as a graphviz object that renders and shows in Jupyter."""
from __future__ import annotations

import warnings
from collections import deque

import numpy as np

from .. import autograd
from ..autograd import Node
from ..tensor import Tensor
from . import fmt
from .modules import owners
from .trace import Graph, leaf_names

VALUE_COLOR = "#1b5e20"   # forward values: green, as on the lecture's slides
GRAD_COLOR = "#c62828"    # gradients: red, below the value
RULE_COLOR = "#6a1b9a"    # local rules (show="values+grads+rules"): purple
NAME_COLOR = "#616161"    # node names s0, s1, ... as explain and flat_code write them
OFF_COLOR = "#9e9e9e"     # an edge that receives no gradient (max/relu routed it elsewhere)
BAD_FILL = "#ff8a80"      # NaN / inf
SHOWS = ("values+grads", "values", "grads", "none", "values+grads+rules")
UNTRACED_NOTE = ("collapse='modules' found no module calls: the graph was not made by cr.nn "
                 "modules")
FREED_NOTE = ("intermediate values were freed by backward(); draw before backward() "
              "or call backward(retain_graph=True) to see them")


def _esc(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "<br/>"))


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _flags(show):
    parts = set(show.split("+"))
    return "values" in parts, "grads" in parts, "rules" in parts


def _edge_label(value, grad, show):
    vals, grads, _ = _flags(show)
    parts = []
    if value is not None and vals:
        parts.append(f'<font color="{VALUE_COLOR}">{_esc(fmt.summary(value))}</font>')
    if grad is not None and grads:
        parts.append(f'<font color="{GRAD_COLOR}">{_esc(fmt.summary(grad))}</font>')
    return "<" + "<br/>".join(parts) + ">" if parts else None


def _small(text, color=NAME_COLOR):
    return f'<br/><font point-size="9" color="{color}">{_esc(text)}</font>'


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


def _const_inputs(n, in_box):
    """Input indices of node n drawn as constant vertices (literal numbers vanish inside boxes)."""
    if n.inputs is None:
        return []
    out = []
    for i, e in enumerate(n.edges):
        if e is None and isinstance(n.inputs[i], (Tensor, np.ndarray, int, float)):
            if in_box and np.ndim(n.arrays[i]) == 0:
                continue
            out.append(i)
    return out


def _keep(g: Graph, max_nodes, depth, cost):
    """Sources within `depth` edges of the output whose vertices (cost(src) each, the output
    counting one) fit in `max_nodes`, in breadth-first order from the output."""
    if g.root is None or (max_nodes is None and depth is None):
        return None
    keep, dist = [], {id(g.root): 0}
    budget = None if max_nodes is None else max_nodes - 1
    queue = deque([g.root])
    while queue:
        src = queue.popleft()
        if budget is not None:
            c = cost(src)
            if c > budget:
                break
            budget -= c
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


def _legend(show: str, root: str) -> str:
    vals, grads, rules = _flags(show)
    rows = []
    if vals:
        rows.append((f'<font color="{VALUE_COLOR}">green</font>', "forward value along the edge"))
    if grads:
        rows += [(f'<font color="{GRAD_COLOR}">red</font>',
                  f"gradient d{root}/d(edge): what the consumer sends back along it"),
                 ("x used k times", "its k edge gradients add (copy gate)"),
                 ("dashed", "no gradient flows back (max / relu routed it elsewhere)")]
    rows += [(f'<font color="{NAME_COLOR}">s3</font>', "the name explain and flat_code use"),
             ("double circle", f"the output {_esc(root)}"
              + ("; backward starts with 1.00" if grads else ""))]
    if rules:
        rows.append((f'<font color="{RULE_COLOR}">grad_a = ...</font>',
                     "the local rule: g is the upstream gradient"))
    body = "".join(f'<tr><td align="left">{a}</td><td align="left">{b}</td></tr>' for a, b in rows)
    return (f'  legend [shape=plaintext, fontsize=9, label=<<table border="0" cellborder="1" '
            f'cellspacing="0" cellpadding="2"><tr><td colspan="2"><b>legend</b></td></tr>{body}'
            f'</table>>];')


def build_dot(g: Graph, params=None, show: str = "values+grads", rankdir: str = "LR",
              collapse: str | None = None, max_nodes: int | None = None, depth: int | None = None,
              show_saved: bool = False, legend: bool = True):
    """(DOT source, id(source) -> vertex id, (id(node), input index) -> edge id) for graph g."""
    output = g.output
    vals, grads_on, rules = _flags(show)
    root_name = g.name(g.root) if g.root is not None else (output.name or "output")
    own = owners(g.nodes, params if hasattr(params, "named_modules") or isinstance(params, dict) else None) \
        if collapse == "modules" else {}
    # leaves folded into a module box: the module's own parameters
    fold = {}
    for info in {id(i): i for i in own.values()}.values():
        for pid in info.params:
            fold.setdefault(pid, info)
    counted = set()

    def cost(src):
        if isinstance(src, Node):
            info = own.get(id(src))
            c = len(_const_inputs(src, info is not None))
            if info is None:
                return c + 1
            if info.path in counted:
                return c
            counted.add(info.path)
            return c + 1
        info = fold.get(id(src))
        if info is not None and info.path in counted:
            return 0
        return 1

    keep = _keep(g, max_nodes, depth, cost)
    kept = (lambda s: True) if keep is None else (lambda s: id(s) in keep)

    lines = ["digraph chainrule {",
             f"  rankdir={rankdir}; nodesep=0.3; ranksep=0.5; ordering=in;",
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    if legend:
        lines.append(_legend(show, root_name))
    vid: dict[int, str] = {}
    eid: dict[tuple, str] = {}
    groups: dict[str, dict] = {}

    def bad(src):
        return fmt.nonfinite(g.value(src)) or fmt.nonfinite(g.grad(src))

    def fan_label(src):
        """The copy gate at a value used more than once: its edge gradients and their sum."""
        parts = g.contributions(src)
        if len(parts) < 2 or not grads_on:
            return ""
        text = fmt.fan_sum(root_name, g.name(src), [p for _, _, p in parts], g.grad(src))
        return (f'<br/><font color="{GRAD_COLOR}">{_esc(text)}</font>'
                + _small("copy gate: adds"))

    # ---- vertices: module boxes, leaves, op nodes
    for k, n in enumerate(g.nodes):
        if not kept(n):
            continue
        info = own.get(id(n))
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
        folded = fold.get(id(t))
        folded = groups.get(folded.path) if folded is not None else None
        if folded is not None:
            folded["params"].append(t)
            folded["bad"] |= bad(t)
            vid[id(t)] = folded["vid"]
            continue
        vid[id(t)] = f"leaf{k}"
        color = BAD_FILL if bad(t) else ("#e3f2fd" if t.requires_grad else "#eeeeee")
        fan = fan_label(t)
        label = f"<{_esc(g.name(t))}{fan}>" if fan else _q(g.name(t))
        lines.append(f'  leaf{k} [label={label}, shape=box, style="rounded,filled", '
                     f'fillcolor="{color}"];')
    for path, grp in groups.items():
        info = grp["info"]
        n_ops = len(grp["nodes"])
        rows = [f"{info.path}: {info.kind}", f"{n_ops} op" + ("s" if n_ops != 1 else "")]
        for t in grp["params"]:
            pname = info.params.get(id(t), g.name(t))
            row = f"{pname} {fmt.shape_str(t.shape)}"
            gr = g.grad(t)
            if gr is not None and grads_on:
                row += f"  |grad| {fmt.num(np.linalg.norm(np.asarray(gr, dtype=np.float64)))}"
            rows.append(row)
        color = BAD_FILL if grp["bad"] else "#fff3e0"
        lines.append(f'  {grp["vid"]} [label={_q(chr(10).join(rows))}, shape=box3d, '
                     f'style=filled, fillcolor="{color}"];')
    if rules:
        from .explain import _rule   # the same rule text explain prints
    for k, n in enumerate(g.nodes):
        if not kept(n) or vid[id(n)] != f"n{k}":
            continue
        label = _esc(n.prim.name) + _small(g.name(n))
        if rules:
            names = [g.name(e) if e is not None else "c" for e in n.edges]
            for i, e in enumerate(n.edges):
                if e is not None:
                    r = _rule(g, n, i, names)
                    if r:
                        label += _small(f"grad_{names[i]} = {r}", RULE_COLOR)
        if show_saved:
            label += "".join(_small(s) for s in _saved_lines(n))
        if n is not g.root:
            label += fan_label(n)
        color = BAD_FILL if bad(n) else "#f5f5f5"
        shape = "box" if show_saved else "ellipse"
        lines.append(f'  n{k} [label=<{label}>, shape={shape}, style=filled, '
                     f'fillcolor="{color}", tooltip={_q(g.name(n))}];')

    # ---- edges: the value flowing from source to consumer and the gradient sent back along it
    given = leaf_names(params)
    merged: dict[tuple, list] = {}
    cut_into = set()
    n_const = 0
    for n in g.nodes:
        if not kept(n):
            continue
        dst = vid[id(n)]
        in_box = dst.startswith("m_")
        consts = set(_const_inputs(n, in_box))
        for i, e in enumerate(n.edges):
            if e is None:
                if i not in consts:
                    continue
                c = n.arrays[i]
                cname = given.get(id(n.inputs[i])) or getattr(n.inputs[i], "name", None)
                ctext = fmt.summary(c) if cname is None else f"{cname}\n{fmt.summary(c)}"
                lines.append(f'  c{n_const} [label={_q(ctext)}, shape=plaintext, '
                             f'fontcolor="#616161"];')
                merged[("const", n_const)] = f"  c{n_const} -> {dst};"
                n_const += 1
                continue
            if not kept(e):
                cut_into.add(dst)
                continue
            src = vid[id(e)]
            if src == dst:
                continue
            arrs = g.arrays(n)   # None once backward freed the graph
            value = arrs[i] if arrs is not None else (e.data if isinstance(e, Tensor) else None)
            grad = g.edge_grad.get((id(n), i))
            if grad is None and g.freed and len(g.consumers.get(id(e), ())) == 1:
                grad = g.grad(e)   # freed: a leaf's .grad is its one edge's gradient
            key = (src, dst) if collapse == "modules" else (src, dst, i, id(n))
            if key in merged:   # edges merged into a module box carry the sum of their gradients
                m = merged[key]
                if m[1] is not None and grad is not None and np.shape(m[1]) == np.shape(grad):
                    m[1] = m[1] + grad
                eid[(id(n), i)] = m[3]
                continue
            name = f"e_{dst}_{i}" if not in_box else f"e_{dst}_{len(merged)}"
            eid[(id(n), i)] = name
            merged[key] = [value, grad, g.grad(n), name, src, dst]
    for item in merged.values():
        if isinstance(item, str):
            lines.append(item)
            continue
        value, grad, up, name, src, dst = item
        label = _edge_label(value, grad, show)
        attrs = [f"label={label}"] if label else []
        if fmt.nonfinite(value) or fmt.nonfinite(grad):
            attrs.append('color="red", penwidth=2')
        elif grads_on and grad is not None and not np.any(grad) and up is not None and np.any(up):
            attrs.append(f'style=dashed, color="{OFF_COLOR}"')   # routed off: receives nothing
        attrs.append(f'id="{name}"')
        lines.append(f"  {src} -> {dst} [{', '.join(attrs)}];")
    # the output itself
    out_bad = fmt.nonfinite(output.data) or fmt.nonfinite(g.grad(g.root) if g.root else None)
    lines.append(f'  out [label={_q(root_name)}, shape=doublecircle, style=filled, '
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
        vid.setdefault("out", "out")
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
        # no module made these nodes: say so rather than silently drawing them flat
        warnings.warn(f"viz: {UNTRACED_NOTE}", stacklevel=3)
        lines.append(f'  untraced [label={_q(UNTRACED_NOTE)}, shape=note, fontcolor="#b71c1c"];')
    if g.freed:
        lines.append(f'  freed [label={_q(FREED_NOTE)}, shape=note, fontcolor="#b71c1c"];')
    elif g.root is not None and not g.has_grads and grads_on:
        lines.append('  nograd [label="gradients are drawn for scalar outputs only", '
                     'shape=note];')
    lines.append("}")
    return "\n".join(lines) + "\n", vid, eid


def to_dot(output: Tensor, params=None, show: str = "values+grads", rankdir: str = "LR",
           collapse: str | None = None, max_nodes: int | None = None, depth: int | None = None,
           show_saved: bool = False, legend: bool = True) -> str:
    """DOT source of the graph behind `output`: named inputs, op nodes named as explain names them
    (s0, s1, ...), and on each edge its value and the gradient sent back along it.

    Gradients are computed here (the leaves' `.grad` is not touched), so no backward() is needed.
    show: "values+grads" (default), "values", "grads", "none", or "values+grads+rules" (each op
    also lists its local rule). collapse="modules": one box per cr.nn module call. max_nodes=N:
    at most N vertices, and one note saying what was left out.

    >>> w = cr.tensor(2.0, requires_grad=True, name="w"); x = cr.tensor(-1.0, name="x")
    >>> print(cr.viz.to_dot(w * x))   # digraph ... w -> mul [label=<2.00<br/>-1.00>] ...
    """
    if show not in SHOWS:
        raise ValueError(f"to_dot: show must be one of {SHOWS}, got {show!r}")
    if collapse not in (None, "modules"):
        raise ValueError(f"to_dot: collapse must be None or 'modules', got {collapse!r}")
    g = Graph(output, params=params, grads=_flags(show)[1])
    if g.freed:
        warnings.warn(f"viz: {FREED_NOTE}", stacklevel=2)
    return build_dot(g, params, show, rankdir, collapse, max_nodes, depth, show_saved, legend)[0]


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
         show_saved: bool = False, legend: bool = True):
    """The graph behind `output` as a graphviz object: shows inline in Jupyter, `.render()` to files.

    >>> d = cr.viz.draw(loss, params=model)
    >>> d.render("graph", format="svg")   # writes graph.svg
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = to_dot(output, params, show, rankdir, collapse, max_nodes, depth, show_saved,
                     legend)
    if "freed [label" in src:
        warnings.warn(f"draw: {FREED_NOTE}", stacklevel=2)
    if "untraced [label" in src:
        warnings.warn(f"draw: {UNTRACED_NOTE}", stacklevel=2)
    return _drawing_class()(src)
