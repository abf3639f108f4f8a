"""Kinks: which branch each relu/max/abs/hinge/clip/where of a graph took, to tell whether x−h and
x+h of a numerical gradient lie on different branches (then the numerical slope is no test of the
backward pass). Used by cr.gradcheck, cr.check_backward and cr.check.layer.

>>> x = cr.tensor([0.0, 1.0], requires_grad=True)
>>> crossed(branches(cr.relu(x - 1e-6).sum()), branches(cr.relu(x + 1e-6).sum()))
['relu #1']
"""
from __future__ import annotations

import numpy as np

from . import autograd


def _collect(out) -> list:
    """Every node of out's graph in creation order (iterative walk)."""
    root = getattr(out, "grad_fn", None)
    if root is None:
        return []
    seen, stack, nodes = {id(root)}, [root], []
    while stack:
        node = stack.pop()
        nodes.append(node)
        for e in node.edges or ():
            if isinstance(e, autograd.Node) and id(e) not in seen:
                seen.add(id(e))
                stack.append(e)
    nodes.sort(key=lambda nd: nd.seq)
    return nodes


def _arr(v):
    return None if isinstance(v, autograd.Meta) else np.asarray(getattr(v, "data", v))


def _branch(node):
    """Which side of its kink(s) each element of a kinked primitive is on; None if smooth."""
    name, a, p = node.prim.name, node.arrays, node.params or {}
    x = _arr(a[0]) if a else None
    if name == "relu":
        return np.asarray(node.ans) > 0
    if name in ("leaky_relu", "elu", "abs", "sign") and x is not None:
        return np.sign(x)
    if name in ("maximum", "minimum") and x is not None and _arr(a[1]) is not None:
        return np.sign(x - _arr(a[1]))
    if name in ("max", "min") and x is not None:
        ext = np.max if name == "max" else np.min
        return x == ext(x, axis=p.get("axis"), keepdims=True)
    if name == "clip" and x is not None:
        lo, hi = p.get("min"), p.get("max")
        return ((x < lo) if lo is not None else 0) - ((x > hi) if hi is not None else 0)
    if name == "where" and x is not None:
        return x.astype(bool)
    return None


def branches(out) -> list:
    """(op name, branch pattern) for every kinked primitive (relu, max, abs, hinge, ...) in out's
    graph, in execution order. Two evaluations crossed a kink when their patterns differ."""
    found = []
    for node in _collect(out):
        b = _branch(node)
        if b is not None:
            found.append((node.prim.name, b))
    return found


def crossed(before: list, after: list) -> list:
    """Names ('relu #2', ...) of the kinks whose branch differs between two branches() lists."""
    if [n for n, _ in before] != [n for n, _ in after]:
        return ["the graph itself (data-dependent control flow)"]
    names, count = [], {}
    for (name, b0), (_, b1) in zip(before, after):
        count[name] = count.get(name, 0) + 1
        if np.shape(b0) != np.shape(b1) or not np.array_equal(b0, b1):
            names.append(f"{name} #{count[name]}")
    return names
