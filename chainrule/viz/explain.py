"""`explain(output)`: the backward pass in execution order, one line per gradient sent back:
upstream × local → downstream, naming the gate pattern (add distributes, mul swaps, max routes,
copy/fan-out adds)."""
from __future__ import annotations

import re
import sys

import numpy as np

from .. import autograd
from ..tensor import Tensor
from . import fmt
from .flat import rule_text
from .trace import Graph, saved_ans

GATES = {"add": "add gate: distributes", "sub": "sub gate: distributes (negated to the right)",
         "mul": "mul gate: swaps", "maximum": "max gate: routes", "minimum": "min gate: routes",
         "max": "max gate: routes", "min": "min gate: routes", "relu": "max gate: routes",
         "broadcast_to": "copy gate: gradients add"}


def _rule(g: Graph, node, i, opnames):
    """The rule of input i written with the operands' names, as flat_code prints the traced vjp
    (e.g. `g * (1 - L) * L`); the docstring's maths where that reads badly."""
    arrays = g.arrays(node)
    text = None
    if arrays is not None and not any(a is None for a in arrays):
        names, consts = list(opnames), {}
        for k, e in enumerate(node.edges):   # literal numbers are written as numbers: 3 * x ** 2
            if e is None and np.size(arrays[k]) == 1 and np.ndim(arrays[k]) == 0 \
                    and np.asarray(arrays[k]).dtype.kind in "fiub":
                names[k] = f"const{k}_"
                consts[names[k]] = f"{float(np.asarray(arrays[k])):g}"
        try:
            text = rule_text(node.prim, arrays, node.params, i, names, g.name(node))
        except Exception:   # noqa: BLE001 - a rule that cannot be traced is described in words
            text = None
        for tag, lit in consts.items():
            text = text and re.sub(rf"\b{tag}\b", lit, text)
    if text is not None and len(text) <= 40 and not re.search(r"(?<![\w.])_\w+\(", text):
        return text
    doc = (type(node.prim).__doc__ or "").strip().splitlines()
    if doc and "   " in doc[0]:
        return doc[0].split("   ")[-1].strip().rstrip(".")
    return None


class Explanation(str):
    """The text of the backward pass (a str, so it compares and prints as before) that shows
    itself once in Jupyter: as text, and as HTML where rich display exists.

    steps: one record per step of backward, in execution order (what the HTML stepper walks):
    dicts with kind "seed" | "node" | "fan", src (node or leaf), name, and text lines.
    """

    steps: list

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    def _repr_html_(self):
        body = (str(self).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        body = re.sub(r"(d\w+/d[\w.]+ (?:= )?[^ ]+)", r'<span style="color:#c62828">\1</span>',
                      body)
        return f'<pre style="font-size:12px;line-height:1.35">{body}</pre>'


def _interactive() -> bool:
    """True when the caller's prompt will display the returned value itself (IPython, Jupyter,
    the plain REPL): then printing too would show the trace twice."""
    if hasattr(sys, "ps1"):
        return True
    ip = sys.modules.get("IPython")
    try:
        return ip is not None and ip.get_ipython() is not None
    except Exception:   # noqa: BLE001 - a half-imported IPython is no display
        return False


def walk(g: Graph) -> list:
    """The backward pass of graph g as records in the engine's execution order (see Explanation)."""
    root = g.name(g.root) if g.root is not None else g.name(g.output)
    width = _w(g)
    steps = [{"kind": "seed", "src": g.root if g.root is not None else g.output, "name": root,
              "lines": [f"{'':{width}}  d{root}/d{root} = 1.00"], "edges": []}]

    def opname(node, i):
        e = node.edges[i]
        if e is not None:
            return g.name(e)
        x = g.arrays(node)[i]
        return fmt.num(x) if np.size(x) == 1 and np.ndim(x) == 0 else "c"

    def fan_in(src):
        parts = g.contributions(src)
        if len(parts) > 1:
            text = fmt.fan_sum(root, g.name(src), [p for _, _, p in parts], g.grad(src))
            steps.append({"kind": "fan", "src": src, "name": g.name(src), "text": text,
                          "edges": [(n, i) for n, i, _ in parts],
                          "lines": [f"{'copy':<{width}}  {text}  (copy gate / fan-out: gradients add)"]})

    for node in g.order:
        up = g.grad(node)
        if up is None:
            continue
        if node is not g.root:
            fan_in(node)
        names = [opname(node, i) for i in range(len(node.edges))]
        arrays = g.arrays(node)   # replayed where the node kept only shapes
        scalar = all(np.size(a) == 1 for a in arrays) and np.size(up) == 1
        locals_ = None
        if scalar:
            with autograd.no_grad():
                locals_ = node.prim.vjp(np.ones_like(up), saved_ans(node), node.needs, *arrays,
                                        **node.params)
        step = {"kind": "node", "src": node, "name": g.name(node), "op": node.prim.name,
                "up": fmt.summary(up), "lines": [], "edges": [], "parts": []}
        for i, e in enumerate(node.edges):
            down = g.edge_grad.get((id(node), i))
            if e is None or down is None:
                continue
            rule = _rule(g, node, i, names)
            if scalar:
                loc = fmt.num(np.asarray(locals_[i]).reshape(()))
                if node.prim.name == "mul" and node.edges[1 - i] is not None:
                    loc = f"{names[1 - i]}={fmt.num(np.asarray(arrays[1 - i]).reshape(()))}"
                elif rule and rule.startswith("g * ") and rule[4:] != loc \
                        and not re.fullmatch(r"-?[\d.e+-]+", rule[4:]):
                    loc = f"{rule[4:]} = {loc}"
                upt, downt = fmt.num(np.asarray(up).reshape(())), fmt.num(np.asarray(down).reshape(()))
                line = (f"{node.prim.name:<{width}}  [{upt}] × [{loc}] → d{root}/d{g.name(e)} = "
                        f"{downt}")
            else:
                upt, loc, downt = f"g {fmt.short(up)}", rule or "local", fmt.summary(down)
                line = (f"{node.prim.name:<{width}}  [{upt}] × [{loc}] → "
                        f"d{root}/d{g.name(e)} {downt}")
            gate = GATES.get(node.prim.name)
            step["lines"].append(line + (f"  ({gate})" if gate else ""))
            step["edges"].append((node, i))
            step["parts"].append({"to": g.name(e), "up": upt, "local": loc, "down": downt,
                                  "gate": gate or ""})
        steps.append(step)
    for t in g.leaves:
        fan_in(t)
    return steps


def explain(output: Tensor, file=None, params=None) -> Explanation:
    """The backward pass, one line per gradient: returned (an Explanation, a str that shows once
    in Jupyter) and printed to `file` (default stdout, except at an interactive prompt, which
    shows the returned value itself).

    >>> x, y, z = (cr.Tensor(v, requires_grad=True, name=n) for v, n in [(-2., "x"), (5., "y"), (-4., "z")])
    >>> cr.viz.explain((x + y) * z)
    mul  [1.00] × [s0=3.00] → dL/dz = 3.00  (mul gate: swaps)  ...
    """
    g = Graph(output, params=params)
    if g.freed:
        raise RuntimeError("explain: the graph was freed by backward(); call explain() before "
                           "backward() or use backward(retain_graph=True)")
    if output.data.size != 1:
        raise ValueError(f"explain: output has shape {output.shape}; the backward pass starts from "
                         f"a scalar (reduce it, e.g. .sum())")
    root = g.name(g.root) if g.root is not None else g.name(output)
    steps = walk(g)
    out = [f"backward of {root} = {fmt.summary(output.data)}, in execution order: "
           f"upstream × local → downstream"]
    for st in steps:
        out += st["lines"]
    leaves = [t for t in g.leaves if g.grad(t) is not None]
    out.append("gradients: " + ", ".join(f"d{root}/d{g.name(t)} = {fmt.summary(g.grad(t))}"
                                         for t in leaves))
    text = Explanation("\n".join(out) + "\n")
    text.steps = steps
    if file is not None or not _interactive():
        print(text, end="", file=file if file is not None else sys.stdout)
    return text


def _w(g: Graph) -> int:
    return max([4] + [len(n.prim.name) for n in g.nodes])
