"""Which module call made which nodes, for collapse="modules".

Module.__call__ notes (start seq, module) on the node of each call's output; nothing is stored per
node. Here, when drawing, each call claims the nodes that lead to its output and were made after
it started, innermost calls first.
"""
from __future__ import annotations

import contextlib

from ..autograd import Node


class ModuleInfo:
    """A module as the drawing knows it: its dotted path, class name and direct parameters."""
    __slots__ = ("path", "kind", "params", "module")

    def __init__(self, path: str, module):
        self.path = path
        self.kind = type(module).__name__
        self.module = module
        named = module.named_parameters(recurse=False) if hasattr(module, "named_parameters") else ()
        self.params = {id(p): n for n, p in named}


def _calls(node):
    """(start, module) for every module call whose output is this node, outermost first."""
    chain = getattr(node, "calls", None)
    while chain is not None:
        start, ref, chain = chain
        mod = ref()
        if mod is not None:
            yield start, mod


def owners(nodes, root=None) -> dict:
    """id(node) -> ModuleInfo of the innermost module call that created it (nodes: one graph's).

    root: the model (params=model), whose own box would swallow every node; without it, outermost
    calls of modules that have submodules play that part."""
    calls = []   # (start, node, module)
    for n in nodes:
        for start, mod in _calls(n):
            calls.append((start, n, mod))
    if not calls:
        return {}
    mods = {id(m): m for _, _, m in calls}
    paths = {}
    is_model = hasattr(root, "named_modules")
    if is_model:
        for p, m in root.named_modules():
            paths.setdefault(id(m), p)
    elif isinstance(root, dict):   # params={name: tensor}: a module's path from its parameters'
        names = {id(t): str(k) for k, t in root.items()}
        for k, m in mods.items():
            for t in getattr(m, "_parameters", {}).values():
                if t is not None and id(t) in names and "." in names[id(t)]:
                    paths[k] = names[id(t)].rsplit(".", 1)[0]
                    break
    skip = set()
    if is_model and root._modules:
        skip.add(id(root))
    if not is_model:
        inner = set()
        for m in mods.values():
            for _, sub in m.named_modules():
                if sub is not m:
                    inner.add(id(sub))
        skip = {k for k, m in mods.items() if k not in inner and m._modules}
        for k in (skip if isinstance(root, dict) else ()):   # params={name: tensor}: paths
            for p, sub in mods[k].named_modules():            # as params=model gives them
                if p:
                    paths.setdefault(id(sub), p)
    infos, kinds = {}, {}
    for k, m in mods.items():
        if k in skip:
            continue
        path = paths.get(k)
        if not path:
            kind = type(m).__name__
            kinds[kind] = kinds.get(kind, 0) + 1
            path = kind if kinds[kind] == 1 else f"{kind}#{kinds[kind]}"
        infos[k] = ModuleInfo(path, m)
    in_graph = {id(n) for n in nodes}
    owner: dict[int, ModuleInfo] = {}
    # innermost first: a call nested in another started later
    for start, out_node, mod in sorted(calls, key=lambda c: -c[0]):
        info = infos.get(id(mod))
        if info is None:
            continue
        stack, seen = [out_node], set()
        while stack:
            n = stack.pop()
            if id(n) in seen or n.seq <= start or id(n) not in in_graph:
                continue
            seen.add(id(n))
            owner.setdefault(id(n), info)
            for e in n.edges or ():
                if isinstance(e, Node):
                    stack.append(e)
    return owner


@contextlib.contextmanager
def trace_modules(model):
    """No longer needed: modules tag the nodes they create, so collapse="modules" works on any
    graph made by cr.nn modules. Kept so older code keeps running.

    >>> cr.viz.draw(loss, params=model, collapse="modules")
    """
    if not hasattr(model, "named_modules"):
        raise TypeError(f"trace_modules: expected a Module with named_modules(), got "
                        f"{type(model).__name__}")
    yield model
