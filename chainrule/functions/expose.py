"""The op surface, built from declarations: each primitive's class attributes (`api`, `method`,
`operators`, `ufunc`, `numpy`, `cli`, `functional`, `spelling`) and `@expose` on compositions.

An Exposure says where one public function appears; consumers (the cr namespace, Tensor methods and
operators, the NumPy dispatch tables, nn.functional, the CLI) subscribe with `on_expose` and install
it: once at import for everything known, and again for every primitive registered later.
`ops.unregister(name)` takes all of it back.
"""
from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

from ..ops.base import on_register, put
from .args import generate, plain, reflected


class Exposure(NamedTuple):
    key: str                  # the primitive's name, or the function's
    names: tuple              # public names in cr / chainrule.functions (may be empty)
    fn: Callable
    methods: tuple = ()       # Tensor method names
    operators: dict = {}      # Tensor dunder name -> function
    ufuncs: tuple = ()        # NumPy ufuncs sent to fn by Tensor.__array_ufunc__
    numpy: tuple = ()         # NumPy functions sent to fn by Tensor.__array_function__
    cli: tuple = ()           # names in the CLI expression language
    functional: tuple = ()    # names in cr.nn.functional


EXPOSED: dict[str, Exposure] = {}
CLI: dict[str, Callable] = {}         # the CLI whitelist (viz/expr.py reads this dict)
_LISTENERS: list = []
_UNDO: dict[str, list] = {}
_namespace: dict = {}                 # chainrule.functions' globals (set by the package)


def _names(value, default):
    """A declaration's names: False/None -> (), True -> default names, str -> (str,), tuple as is."""
    if not value:
        return ()
    if value is True:
        return tuple(default)
    return (value,) if isinstance(value, str) else tuple(value)


def on_expose(listener):
    """listener(exposure) -> undo callables; called for every exposure, now and later."""
    _LISTENERS.append(listener)
    for e in list(EXPOSED.values()):
        _UNDO.setdefault(e.key, []).extend(listener(e) or ())


def add(e: Exposure):
    if e.key in EXPOSED:
        raise ValueError(f"expose: {e.key!r} is exposed twice")
    EXPOSED[e.key] = e
    undo = _UNDO.setdefault(e.key, [])
    for n in e.names:
        undo.append(put(_namespace, n, e.fn))
    for n in e.cli:
        undo.append(put(CLI, n, e.fn))
    for listener in _LISTENERS:
        undo.extend(listener(e) or ())
    return e


def withdraw(key):
    """Take an exposure back from every consumer."""
    EXPOSED.pop(key, None)
    for undo in reversed(_UNDO.pop(key, [])):
        undo()


def _operators(names, fn, prim=None):
    """{dunder: function}; a reflected dunder (__radd__) swaps the operands. For a primitive of two
    inputs both sides call the engine directly (no extra frame on the hottest path)."""
    out = {}
    for op in names:
        if op.startswith("__r") and op not in ("__round__",):
            if prim is not None and getattr(fn, "_primitive", None) is prim:
                out[op] = reflected(prim)
            else:
                out[op] = (lambda f: lambda x, y: f(y, x))(fn)
            out[op].__name__ = op
        else:
            out[op] = fn
    return out


def expose(fn=None, *, name=None, aliases=(), method=False, operators=(), ufunc=(), numpy=(),
           cli=False, functional=False):
    """Decorator for compositions and no-gradient ops: declare how `fn` is exposed (as a primitive
    does with its class attributes). name=False: only the given tables (a NumPy adapter).

    >>> @expose(method=True, numpy=np.var)
    ... def var(x, axis=None): ...
    """
    def deco(f):
        main = () if name is False else ((name or f.__name__),) + tuple(aliases)
        _tuple = (lambda v: () if not v else (tuple(v) if isinstance(v, (tuple, list)) else (v,)))
        add(Exposure(key=main[0] if main else f"{f.__module__}.{f.__name__}", names=main, fn=f,
                     methods=_names(method, main), operators=_operators(_tuple(operators), f),
                     ufuncs=_tuple(ufunc), numpy=_tuple(numpy), cli=_names(cli, main),
                     functional=_names(functional, main)))
        return f
    return deco if fn is None else deco(fn)


def _from_primitive(prim):
    """Expose a registered primitive that declares `api`: the hand-written function of that name in
    chainrule.functions if there is one (argument handling beyond the primitive's), else one
    generated from its spelling."""
    if not prim.api:
        return ()
    names = _names(prim.api, ())
    hand = _namespace.get(names[0])
    fn = hand if hand is not None and getattr(hand, "_primitive", None) is None else \
        generate(prim, names[0])
    _tuple = (lambda v: () if not v else (tuple(v) if isinstance(v, (tuple, list)) else (v,)))
    ops = _tuple(prim.operators)
    if ops and getattr(fn, "_primitive", None) is not prim:
        fn_ops = plain(prim, names[0]) if prim.spelling is None else fn
    else:
        fn_ops = fn
    add(Exposure(key=f"primitive {prim.name}", names=names, fn=fn, methods=_names(prim.method, names),
                 operators=_operators(ops, fn_ops, prim),
                 ufuncs=_tuple(inspect.getattr_static(prim, "ufunc")),   # a function class
                 numpy=_tuple(inspect.getattr_static(prim, "numpy")),   # attribute would bind
 cli=_names(prim.cli, names[:1]),
                 functional=_names(prim.functional, names[:1])))
    return (lambda: withdraw(f"primitive {prim.name}"),)


def bind(namespace):
    """Called first by the package: public names (hand-written or generated) go into `namespace`."""
    global _namespace
    _namespace = namespace


def start():
    """Called last by the package: expose every primitive, now and whenever one is registered."""
    on_register(_from_primitive)
