"""Which module call made which nodes: `cr.viz.trace_modules(model)` records it for collapse="modules"."""
from __future__ import annotations

import contextlib
import weakref

from .. import autograd
from ..autograd import Node
from ..tensor import Tensor

_owner: "weakref.WeakKeyDictionary[Node, ModuleInfo]" = weakref.WeakKeyDictionary()


class ModuleInfo:
    """A module as the drawing knows it: its dotted path, class name and direct parameters."""
    __slots__ = ("path", "kind", "params")

    def __init__(self, path: str, module):
        self.path = path
        self.kind = type(module).__name__
        named = module.named_parameters(recurse=False) if hasattr(module, "named_parameters") else ()
        self.params = {id(p): n for n, p in named}


def owner(node) -> ModuleInfo | None:
    """The innermost traced module whose forward created `node`, or None."""
    return _owner.get(node)


def _claim(outputs, start_seq, info):
    """Mark the nodes made since `start_seq` that lead to `outputs` (inner calls claimed theirs first)."""
    stack = []
    items = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    for o in items:
        if isinstance(o, Tensor) and o.grad_fn is not None:
            stack.append(o.grad_fn)
    seen = set()
    while stack:
        n = stack.pop()
        if id(n) in seen or n.seq <= start_seq:
            continue
        seen.add(id(n))
        if n not in _owner:
            _owner[n] = info
        for e in n.edges or ():
            if isinstance(e, Node):
                stack.append(e)


@contextlib.contextmanager
def trace_modules(model):
    """Inside this block every submodule call of `model` labels the nodes it creates, so
    `draw(loss, params=model, collapse="modules")` can draw one box per module.

    >>> with cr.viz.trace_modules(model):
    ...     loss = F.cross_entropy(model(x), y)
    >>> cr.viz.draw(loss, params=model, collapse="modules")
    """
    if not hasattr(model, "named_modules"):
        raise TypeError(f"trace_modules: expected a Module with named_modules(), got "
                        f"{type(model).__name__}")
    mods = list(model.named_modules())
    if len(mods) > 1:
        mods = [(p, m) for p, m in mods if p]   # the root would swallow every node
    patched = []
    for path, mod in mods:
        info = ModuleInfo(path or type(mod).__name__, mod)
        orig = mod.forward

        def wrapper(*args, _orig=orig, _info=info, **kwargs):
            start = autograd.node_counter()
            out = _orig(*args, **kwargs)
            _claim(out, start, _info)
            return out

        # NOTE: an instance attribute shadows the class's forward; Module.__call__ calls self.forward.
        object.__setattr__(mod, "forward", wrapper)
        patched.append(mod)
    try:
        yield model
    finally:
        for mod in patched:
            try:
                object.__delattr__(mod, "forward")
            except AttributeError:
                pass
