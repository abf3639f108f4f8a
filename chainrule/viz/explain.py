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


def _short(a, name=None) -> str:
    a = np.asarray(a)
    if a.size == 1 and a.ndim == 0:
        return fmt.num(a)
    return fmt.shape_str(a.shape)


def _rule(g: Graph, node, i, opnames):
    """The rule of input i written with the operands' names, as flat_code prints the traced vjp
    (e.g. `g * (1 - L) * L`); the docstring's maths where that reads badly."""
    arrays = g.arrays(node)
    text = None
    if arrays is not None and not any(a is None for a in arrays):
        try:
            text = rule_text(node.prim, arrays, node.params, i, opnames, g.name(node))
        except Exception:   # noqa: BLE001 - a rule that cannot be traced is described in words
            text = None
    if text is not None and len(text) <= 40 and not re.search(r"(?<![\w.])_\w+\(", text):
        return text
    doc = (type(node.prim).__doc__ or "").strip().splitlines()
    if doc and "   " in doc[0]:
        return doc[0].split("   ")[-1].strip().rstrip(".")
    return None


def explain(output: Tensor, file=None, params=None) -> str:
    """Print (to `file`, default stdout) and return the backward pass, one line per gradient.

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
    out = [f"backward of {root} = {fmt.summary(output.data)}, in execution order: "
           f"upstream × local → downstream",
           f"{'':{_w(g)}}  d{root}/d{root} = 1.00"]
    width = _w(g)

    def opname(node, i):
        e = node.edges[i]
        if e is not None:
            return g.name(e)
        x = g.arrays(node)[i]
        return fmt.num(x) if np.size(x) == 1 and np.ndim(x) == 0 else "c"

    def fan_in(src):
        parts = [(n, i) for n, i in g.consumers.get(id(src), ()) if (id(n), i) in g.edge_grad]
        if len(parts) > 1:
            terms = " + ".join(_short(g.edge_grad[(id(n), i)]) for n, i in parts)
            out.append(f"{'copy':<{width}}  d{root}/d{g.name(src)} = {terms} = "
                       f"{fmt.summary(g.grad(src))}  (copy gate / fan-out: gradients add)")

    for node in reversed(g.nodes):
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
        for i, e in enumerate(node.edges):
            down = g.edge_grad.get((id(node), i))
            if e is None or down is None:
                continue
            rule = _rule(g, node, i, names)
            if scalar:
                loc = fmt.num(np.asarray(locals_[i]).reshape(()))
                if node.prim.name == "mul" and node.edges[1 - i] is not None:
                    loc = f"{names[1 - i]}={fmt.num(np.asarray(arrays[1 - i]).reshape(()))}"
                elif rule and rule.startswith("g * ") and rule[4:] != loc:
                    loc = f"{rule[4:]} = {loc}"
                line = (f"{node.prim.name:<{width}}  [{fmt.num(np.asarray(up).reshape(()))}] × "
                        f"[{loc}] → d{root}/d{g.name(e)} = {fmt.num(np.asarray(down).reshape(()))}")
            else:
                line = (f"{node.prim.name:<{width}}  [g {_short(up)}] × [{rule or 'local'}] → "
                        f"d{root}/d{g.name(e)} {fmt.summary(down)}")
            gate = GATES.get(node.prim.name)
            out.append(line + (f"  ({gate})" if gate else ""))
    for t in g.leaves:
        fan_in(t)
    leaves = [t for t in g.leaves if g.grad(t) is not None]
    out.append("gradients: " + ", ".join(f"d{root}/d{g.name(t)} = {fmt.summary(g.grad(t))}"
                                         for t in leaves))
    text = "\n".join(out) + "\n"
    print(text, end="", file=file if file is not None else sys.stdout)
    return text


def _w(g: Graph) -> int:
    return max([4] + [len(n.prim.name) for n in g.nodes])
